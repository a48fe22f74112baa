// Package scheduler runs background tasks every tick: promotions, scheduled
// flag changes and progressive rollouts.
//
// The scheduler does not decide who runs it: the server runs it only while
// this instance holds the scheduler's lease (internal/leader), with a context
// that carries the lease's term, so that every write a task makes is fenced
// and a stalled leader that resumes after another took over writes nothing.
//
// Nor does it decide what is due. Each task selects its own due work and
// acts on each item in a transaction that re-checks the item's state, so an
// item runs exactly once even if two instances ran the task at once:
// leadership makes that rare, fencing refuses the stale one, and the
// transactional check makes it harmless. Because tasks compare stored state
// with the time they are given rather than remembering anything in memory, a
// restarted or newly elected instance picks up exactly where the last one
// stopped.
package scheduler

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/flagops/flagops/internal/domain"
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

// Scheduler runs tasks every tick. Tick and Run may be called from one
// goroutine at a time.
type Scheduler struct {
	clock Clock
	log   *slog.Logger
	tasks []Task
}

// New returns a scheduler of tasks. logger may be nil (slog.Default).
func New(clock Clock, logger *slog.Logger, tasks ...Task) *Scheduler {
	if logger == nil {
		logger = slog.Default()
	}
	return &Scheduler{clock: clock, log: logger, tasks: tasks}
}

// Tick runs every task once with the clock's time. A task's error is logged
// and returned (joined with the others); it does not stop the other tasks,
// except a write refused for a stale leadership term: this instance no
// longer leads, and the rest would be refused too.
func (s *Scheduler) Tick(ctx context.Context) error {
	now := s.clock.Now()
	var errs []error
	for _, t := range s.tasks {
		if err := t.Run(ctx, now); err != nil {
			s.log.Warn("scheduler: task failed", "task", t.Name, "err", err)
			errs = append(errs, err)
			if errors.Is(err, domain.ErrStaleTerm) {
				break
			}
		}
		if ctx.Err() != nil {
			break
		}
	}
	return errors.Join(errs...)
}

// Run ticks at once and then every interval until ctx ends.
func (s *Scheduler) Run(ctx context.Context, interval time.Duration) error {
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
