package webhook

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff computes retry delays: exponential with full jitter, a random
// duration in [0, min(Max, Base·2^attempt)), so that many failing
// subscriptions do not retry in step.
type Backoff struct {
	Base time.Duration // default 1s
	Max  time.Duration // default 5m
	// Rand returns a float in [0,1); default math/rand/v2.
	Rand func() float64
}

// Delay returns the wait before retry number attempt (from 1).
func (b Backoff) Delay(attempt int) time.Duration {
	base, maxD := b.Base, b.Max
	if base <= 0 {
		base = time.Second
	}
	if maxD <= 0 {
		maxD = 5 * time.Minute
	}
	ceil := maxD
	if attempt < 40 {
		if d := base << uint(attempt-1); d > 0 && d < maxD {
			ceil = d
		}
	}
	r := rand.Float64
	if b.Rand != nil {
		r = b.Rand
	}
	return time.Duration(r() * float64(ceil))
}

// Sleep waits d or until ctx ends; it is the default Sleeper.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
