package ofrep

import (
	"math"
	"sync"
	"time"
)

// limiter is a token bucket per key. Buckets are kept for every key seen;
// keys are API keys, so their number is bounded by the keys issued.
type limiter struct {
	rate  float64 // tokens per second
	burst float64
	now   func() time.Time

	mu      sync.Mutex // guards buckets
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(rl RateLimit, now func() time.Time) *limiter {
	burst := float64(rl.Burst)
	if burst < 1 {
		burst = 1
	}
	return &limiter{rate: rl.PerSecond, burst: burst, now: now, buckets: make(map[string]*bucket)}
}

// allow takes a token from key's bucket. When none is left it returns
// false and the time at which one will be.
func (l *limiter) allow(key string) (bool, time.Time) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = math.Min(l.burst, b.tokens+el*l.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, time.Time{}
	}
	wait := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	return false, now.Add(wait)
}
