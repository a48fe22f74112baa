package server

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/flagops/flagops/internal/gitwrite"
	"github.com/flagops/flagops/internal/secrets"
	"github.com/flagops/flagops/internal/webhook"
)

// startBackground starts the jobs that follow the change log: the webhook
// dispatcher (always) and git write-back (when configured). Both are woken
// by the hub and poll as a safety net.
func (s *Server) startBackground(kr *secrets.Keyring) error {
	ctx, cancel := context.WithCancel(context.Background())
	s.bgCancel = cancel
	opt := s.cfg.Webhooks
	opt.Logger = s.log
	opt.Keyring = kr
	if s.cfg.DatabaseURL != "" {
		opt.Leader = webhook.PGLeader{URL: s.cfg.DatabaseURL, Key: webhook.DispatcherLockID}
	}
	s.dispatcher = webhook.NewDispatcher(s.store, opt)
	wakes := []func(int64){s.dispatcher.Notify}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		s.dispatcher.Run(ctx)
	}()
	if s.cfg.GitWritebackConfig != "" {
		cfg, err := gitwrite.LoadConfig(s.cfg.GitWritebackConfig)
		if err != nil {
			return fmt.Errorf("git write-back: %w", err)
		}
		followers := gitwrite.Followers(cfg, s.store, s.log)
		var leader webhook.Leader = webhook.Always{}
		if s.cfg.DatabaseURL != "" {
			// One instance pushes: two would race each other's commits.
			leader = webhook.PGLeader{URL: s.cfg.DatabaseURL, Key: gitwrite.LockID}
		}
		for _, f := range followers {
			if _, err := f.Begin(ctx); err != nil {
				return fmt.Errorf("git write-back %s: %w", f.Name, err)
			}
			wakes = append(wakes, f.Notify)
		}
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			runLed(ctx, leader, followers, s.log)
		}()
	}
	// Wake-ups come from the hub, which hears commits of every instance.
	for _, wake := range wakes {
		s.hub.OnAdvance(wake)
	}
	return nil
}

// stopBackground ends the background jobs and waits for them.
func (s *Server) stopBackground() {
	if s.bgCancel != nil {
		s.bgCancel()
	}
	s.bg.Wait()
}

// runLed runs the followers while this process holds leader, taking it
// again whenever it is lost, until ctx ends.
func runLed(ctx context.Context, leader webhook.Leader, followers []*gitwrite.Follower, log *slog.Logger) {
	for ctx.Err() == nil {
		lctx, release, err := leader.Lead(ctx)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("git write-back: cannot take leadership; retrying", "err", err)
				_ = webhook.Sleep(ctx, 5*time.Second)
			}
			continue
		}
		var wg sync.WaitGroup
		for _, f := range followers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				f.Run(lctx)
			}()
		}
		wg.Wait()
		release()
	}
}
