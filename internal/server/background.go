package server

import (
	"context"
	"fmt"

	"github.com/flagops/flagops/internal/gitwrite"
	"github.com/flagops/flagops/internal/webhook"
)

// startBackground starts the jobs that follow the change log: the webhook
// dispatcher (always) and git write-back (when configured). Both are woken
// by the hub and poll as a safety net.
func (s *Server) startBackground() error {
	ctx, cancel := context.WithCancel(context.Background())
	s.bgCancel = cancel
	opt := s.cfg.Webhooks
	opt.Logger = s.log
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
		for _, f := range gitwrite.Followers(cfg, s.store, s.log) {
			wakes = append(wakes, f.Notify)
			s.bg.Add(1)
			go func() {
				defer s.bg.Done()
				f.Run(ctx)
			}()
		}
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
