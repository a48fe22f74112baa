package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/scheduler"
)

func TestTick(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tests := []struct {
		name    string
		errA    error
		wantRun []string
	}{
		{"a failing task does not stop the others", errors.New("boom"), []string{"a", "b"}},
		{"a stale term stops the tick", fmt.Errorf("write: %w", domain.ErrStaleTerm), []string{"a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ran []string
			var seen time.Time
			clock := scheduler.NewFakeClock(start)
			s := scheduler.New(clock, log,
				scheduler.Task{Name: "a", Run: func(_ context.Context, now time.Time) error {
					ran, seen = append(ran, "a"), now
					return tc.errA
				}},
				scheduler.Task{Name: "b", Run: func(context.Context, time.Time) error { ran = append(ran, "b"); return nil }},
			)
			err := s.Tick(context.Background())
			if !errors.Is(err, tc.errA) || !slices.Equal(ran, tc.wantRun) {
				t.Fatalf("Tick = %v, ran %v; want %v, ran %v", err, ran, tc.errA, tc.wantRun)
			}
			if !seen.Equal(start) {
				t.Fatalf("task saw %v; want the clock's %v", seen, start)
			}
		})
	}
}

// TestRunFollowsTheFakeClock checks that Run ticks once per interval of the
// fake clock, without sleeping for schedule time.
func TestRunFollowsTheFakeClock(t *testing.T) {
	clock := scheduler.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	ticks := make(chan time.Time, 10)
	s := scheduler.New(clock, slog.New(slog.NewTextHandler(io.Discard, nil)),
		scheduler.Task{Name: "t", Run: func(_ context.Context, now time.Time) error { ticks <- now; return nil }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx, time.Minute) }()
	first := <-ticks
	for i := 1; i <= 3; i++ {
		// Advance until Run's waiter has been registered and fires.
		var got time.Time
		for got.IsZero() {
			clock.Advance(time.Minute)
			select {
			case got = <-ticks:
			case <-time.After(10 * time.Millisecond):
			}
		}
		if got.Sub(first) < time.Duration(i)*time.Minute {
			t.Fatalf("tick %d at %v; want at least %v after %v", i, got, time.Duration(i)*time.Minute, first)
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v; want context.Canceled", err)
	}
}
