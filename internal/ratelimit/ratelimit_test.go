package ratelimit

import (
	"strconv"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestLimiterBucket(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	l := New(Limit{PerSecond: 2, Burst: 3}, c.now)
	tests := []struct {
		name    string
		advance time.Duration
		want    bool
		retryIn time.Duration
	}{
		{"burst 1", 0, true, 0},
		{"burst 2", 0, true, 0},
		{"burst 3", 0, true, 0},
		{"empty", 0, false, 500 * time.Millisecond},
		{"refilled one token", 500 * time.Millisecond, true, 0},
		{"empty again", 0, false, 500 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c.advance(tc.advance)
			ok, at := l.Allow("k")
			if ok != tc.want {
				t.Fatalf("allowed %v, want %v", ok, tc.want)
			}
			if !ok && at.Sub(c.t) != tc.retryIn {
				t.Fatalf("retry in %v, want %v", at.Sub(c.t), tc.retryIn)
			}
		})
	}
	if ok, _ := l.Allow("other"); !ok {
		t.Fatal("another key shares the bucket")
	}
}

// TestLimiterEvictsIdleBuckets: buckets of keys that stopped asking are
// dropped once full again, so memory follows the active keys; a bucket that
// is not full yet is kept, so eviction never hands out a fresh burst early.
func TestLimiterEvictsIdleBuckets(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	l := New(Limit{PerSecond: 10, Burst: 5}, c.now) // refills in 500ms
	for i := range 10_000 {
		l.Allow("key-" + strconv.Itoa(i))
	}
	for range 5 {
		l.Allow("busy")
	}
	if n := l.Len(); n != 10_001 {
		t.Fatalf("%d buckets, want 10001", n)
	}
	c.advance(499 * time.Millisecond)
	if ok, _ := l.Allow("busy"); !ok {
		t.Fatal("busy refilled nothing in 499ms")
	}
	if n := l.Len(); n != 10_001 {
		t.Fatalf("%d buckets before a refill period passed, want 10001", n)
	}
	c.advance(2 * time.Millisecond)
	l.Allow("late")
	// Every idle key is gone; busy spent a token 2ms ago and stays.
	if n := l.Len(); n != 2 {
		t.Fatalf("%d buckets after the idle keys' refill period, want 2 (busy and late)", n)
	}
	for range 4 {
		if ok, _ := l.Allow("busy"); !ok {
			t.Fatal("busy lost its refill")
		}
	}
	if ok, _ := l.Allow("busy"); ok {
		t.Fatal("busy got more than its bucket: its state was lost")
	}
}

func TestNilLimiterAllows(t *testing.T) {
	l := New(Limit{}, nil)
	if l != nil {
		t.Fatal("a zero limit made a limiter")
	}
	if ok, _ := l.Allow("k"); !ok || l.Len() != 0 {
		t.Fatal("a nil limiter refused")
	}
}
