// Package ratelimit is the per-key token bucket that bounds flag
// evaluations. The server builds one Limiter and hands it to every
// evaluation path (OFREP single and bulk, the OFREP event stream's opening
// and Connect FlagService/Evaluate), so a key has one budget however it
// asks.
package ratelimit

import (
	"math"
	"sync"
	"time"
)

// Limit is a token bucket per key: PerSecond requests per second on
// average, bursts of up to Burst (at least 1). The zero value is no limit.
type Limit struct {
	PerSecond float64
	Burst     int
}

// Limiter keeps a bucket per key. A bucket left alone long enough to refill
// completely holds nothing a new bucket would not, so it is evicted: memory
// is bounded by the keys active within about two refill periods, not by
// every key ever seen. A nil *Limiter allows everything. It is safe for
// concurrent use.
type Limiter struct {
	rate  float64 // tokens per second
	burst float64
	// idle is how long a bucket takes to refill from empty; an untouched
	// bucket older than that is full and can go.
	idle time.Duration
	now  func() time.Time

	mu        sync.Mutex // guards buckets and lastSweep
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

// New returns a limiter for l on the clock now (nil: time.Now), or nil when
// l.PerSecond is not positive.
func New(l Limit, now func() time.Time) *Limiter {
	if l.PerSecond <= 0 {
		return nil
	}
	if now == nil {
		now = time.Now
	}
	burst := math.Max(float64(l.Burst), 1)
	idle := time.Duration(burst / l.PerSecond * float64(time.Second))
	return &Limiter{rate: l.PerSecond, burst: burst, idle: max(idle, time.Millisecond), now: now,
		buckets: make(map[string]*bucket), lastSweep: now()}
}

// Allow takes a token from key's bucket. When none is left it returns false
// and the time at which one will be.
func (l *Limiter) Allow(key string) (bool, time.Time) {
	if l == nil {
		return true, time.Time{}
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
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

// sweep drops the buckets untouched for a whole refill period, at most once
// per period, so its cost is spread over the calls of that period.
func (l *Limiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < l.idle {
		return
	}
	l.lastSweep = now
	for k, b := range l.buckets {
		if now.Sub(b.last) >= l.idle {
			delete(l.buckets, k)
		}
	}
}

// Len returns how many buckets the limiter holds.
func (l *Limiter) Len() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
