// Package scheduler runs background tasks on exactly one flagops instance at
// a time: every tick, the instance that holds leadership runs every task
// with the current time.
//
// The scheduler does not decide what is due. Each task selects its own due
// work and acts on each item in a transaction that re-checks the item's
// state, so an item runs exactly once even if two instances ran the task at
// once (during a failover, say): leadership makes that rare, the
// transactional check makes it harmless. Because tasks compare stored state
// with the time they are given rather than remembering anything in memory, a
// restarted or newly elected instance picks up exactly where the last one
// stopped.
package scheduler

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Task is one kind of background work. Run is called every tick with the
// scheduler clock's time; it must be idempotent for a given state of the
// store (see the package comment) and return promptly when ctx ends.
type Task struct {
	Name string
	Run  func(ctx context.Context, now time.Time) error
}

// Clock tells the time and waits. Real code uses SystemClock; tests use a
// FakeClock and never sleep for schedule time.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives once d has passed on this clock.
	After(d time.Duration) <-chan time.Time
}

// Locker is leadership among instances. TryLock returns whether this
// instance holds it now; it is called every tick, so it must be cheap while
// held and must notice a lost lock (a dropped connection). Unlock gives it
// up. PostgreSQL implements it with an advisory lock held on a dedicated
// connection (store.LeaderLock); SQLite is single-instance and always leads.
type Locker interface {
	TryLock(ctx context.Context) (bool, error)
	Unlock(ctx context.Context) error
}

// AlwaysLeader is the Locker of a single-instance deployment.
type AlwaysLeader struct{}

// TryLock always succeeds.
func (AlwaysLeader) TryLock(context.Context) (bool, error) { return true, nil }

// Unlock does nothing.
func (AlwaysLeader) Unlock(context.Context) error { return nil }

// Scheduler runs tasks every tick while it leads. Tick and Run may be called
// from one goroutine at a time.
type Scheduler struct {
	clock Clock
	lock  Locker
	log   *slog.Logger
	tasks []Task

	// mu guards leader; it is never held across a task.
	mu     sync.Mutex
	leader bool
}

// New returns a scheduler of tasks. logger may be nil (slog.Default).
func New(clock Clock, lock Locker, logger *slog.Logger, tasks ...Task) *Scheduler {
	if logger == nil {
		logger = slog.Default()
	}
	return &Scheduler{clock: clock, lock: lock, log: logger, tasks: tasks}
}

// Leader reports whether the last tick found this instance leading.
func (s *Scheduler) Leader() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leader
}

// Tick takes or checks leadership and, when leading, runs every task once
// with the clock's time. A task's error is logged and returned (joined with
// the others); it does not stop the other tasks.
func (s *Scheduler) Tick(ctx context.Context) error {
	ok, err := s.lock.TryLock(ctx)
	if err != nil {
		s.setLeader(false)
		return err
	}
	if s.setLeader(ok) != ok {
		s.log.Info("scheduler: leadership changed", "leader", ok)
	}
	if !ok {
		return nil
	}
	now := s.clock.Now()
	var errs []error
	for _, t := range s.tasks {
		if err := t.Run(ctx, now); err != nil {
			s.log.Warn("scheduler: task failed", "task", t.Name, "err", err)
			errs = append(errs, err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	return errors.Join(errs...)
}

// setLeader stores v and returns the previous value.
func (s *Scheduler) setLeader(v bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.leader
	s.leader = v
	return old
}

// Run ticks every interval until ctx ends, then gives up leadership.
func (s *Scheduler) Run(ctx context.Context, interval time.Duration) error {
	defer func() {
		if err := s.lock.Unlock(context.WithoutCancel(ctx)); err != nil {
			s.log.Warn("scheduler: unlock", "err", err)
		}
	}()
	for {
		_ = s.Tick(ctx) // logged in Tick; the next tick retries
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.clock.After(interval):
		}
	}
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now.
func (SystemClock) Now() time.Time { return time.Now() }

// After is time.After.
func (SystemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
