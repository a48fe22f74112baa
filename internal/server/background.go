package server

import (
	"context"
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flagops/flagops/internal/gitwrite"
	"github.com/flagops/flagops/internal/leader"
	"github.com/flagops/flagops/internal/scheduler"
	"github.com/flagops/flagops/internal/secrets"
	"github.com/flagops/flagops/internal/webhook"
)

// The background jobs (the webhook dispatcher, git write-back, the
// scheduler) each run on the one instance holding their lease
// (internal/leader), on SQLite and PostgreSQL alike, with the context that
// carries the lease's term, so that every write they make is fenced.

// leaderConfig is the leader election configuration of this server.
func (s *Server) leaderConfig() leader.Config {
	return leader.Config{
		LeaseDuration: s.cfg.LeaseDuration,
		RenewInterval: s.cfg.LeaseRenewInterval,
		Pause:         s.cfg.LeaderPause,
		Logger:        s.log,
	}
}

// elector returns a new Elector of the lease name, remembered for metrics.
// All of this server's electors share one holder id.
func (s *Server) elector(name string) *leader.Elector {
	if s.electors == nil {
		s.electors = map[string]*leader.Elector{}
		s.holder = leader.NewHolder()
	}
	cfg := s.leaderConfig()
	cfg.Holder = s.holder
	e := leader.New(s.store, name, cfg)
	s.electors[name] = e
	return e
}

// startBackground starts the jobs that follow the change log: the webhook
// dispatcher (always) and git write-back (when configured). Both are woken
// by the hub and poll as a safety net.
func (s *Server) startBackground(kr *secrets.Keyring) error {
	ctx, cancel := context.WithCancel(context.Background())
	s.bgCancel = cancel
	opt := s.cfg.Webhooks
	opt.Logger = s.log
	opt.Keyring = kr
	s.dispatcher = webhook.NewDispatcher(s.store, opt)
	wakes := []func(int64){s.dispatcher.Notify}
	dispatch := s.elector(leader.Webhooks)
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		dispatch.Run(ctx, func(lctx context.Context) { _ = s.dispatcher.Run(lctx) })
	}()
	if s.cfg.GitWritebackConfig != "" {
		cfg, err := gitwrite.LoadConfig(s.cfg.GitWritebackConfig)
		if err != nil {
			return fmt.Errorf("git write-back: %w", err)
		}
		followers := gitwrite.Followers(cfg, s.store, s.log)
		for _, f := range followers {
			if _, err := f.Begin(ctx); err != nil {
				return fmt.Errorf("git write-back %s: %w", f.Name, err)
			}
			wakes = append(wakes, f.Notify)
		}
		// One instance pushes: two would race each other's commits.
		write := s.elector(leader.GitWrite)
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			write.Run(ctx, func(lctx context.Context) { runFollowers(lctx, followers) })
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

// runFollowers runs the followers until ctx (the lease) ends.
func runFollowers(ctx context.Context, followers []*gitwrite.Follower) {
	var wg sync.WaitGroup
	for _, f := range followers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = f.Run(ctx)
		}()
	}
	wg.Wait()
}

// startScheduler runs the background tasks (promotions, scheduled flag
// changes and progressive rollouts) while this instance holds the
// scheduler's lease. Each task re-checks state inside its own transactions,
// which the lease's term fences, so a due item runs exactly once even across
// a failover or a stalled leader's return.
func (s *Server) startScheduler() {
	ctx, cancel := context.WithCancel(context.Background())
	s.stopScheduler, s.schedulerDone = cancel, make(chan struct{})
	if s.cfg.SchedulerInterval < 0 {
		close(s.schedulerDone)
		return
	}
	sch := scheduler.New(s.cfg.Clock, s.log,
		scheduler.Task{Name: "promotions", Run: s.promotions.Tick},
		scheduler.Task{Name: "flag-schedules", Run: s.store.RunDue})
	e := s.elector(leader.Scheduler)
	go func() {
		defer close(s.schedulerDone)
		e.Run(ctx, func(lctx context.Context) { _ = sch.Run(lctx, s.cfg.SchedulerInterval) })
	}()
}

// registerLeaderMetrics exports, per lease this instance campaigns for,
// whether it leads, the term it holds and how many of its actions the fence
// refused.
func (s *Server) registerLeaderMetrics(reg prometheus.Registerer) {
	for name, e := range s.electors {
		labels := prometheus.Labels{"lease": name}
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "flagops_leader", ConstLabels: labels,
				Help: "1 while this instance holds the lease of a background job, else 0."},
				func() float64 {
					if e.Term() > 0 {
						return 1
					}
					return 0
				}),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "flagops_leader_term", ConstLabels: labels,
				Help: "The term (fencing token) of the lease this instance holds, 0 when it does not hold it."},
				func() float64 { return float64(e.Term()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "flagops_leader_fenced_total", ConstLabels: labels,
				Help: "Writes and checks of this instance refused because its lease had moved to a newer term."},
				func() float64 { return float64(e.Refused()) }),
		)
	}
}
