package webhook_test

import (
	"context"
	"testing"
	"time"

	"github.com/flagops/flagops/internal/store/pgtest"
	"github.com/flagops/flagops/internal/webhook"
)

// TestPGLeader: of two processes on one database one leads; the other takes
// over when the first releases.
func TestPGLeader(t *testing.T) {
	url := pgtest.URL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a := webhook.PGLeader{URL: url, Key: 42, Retry: 20 * time.Millisecond}
	b := a
	actx, releaseA, err := a.Lead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan func(), 1)
	go func() {
		_, release, err := b.Lead(ctx)
		if err != nil {
			t.Error(err)
			return
		}
		got <- release
	}()
	select {
	case <-got:
		t.Fatal("a second leader while the first holds the lock")
	case <-time.After(200 * time.Millisecond):
	}
	if actx.Err() != nil {
		t.Fatal("the leader lost leadership without cause")
	}
	releaseA()
	if actx.Err() == nil {
		t.Fatal("release did not end the leadership context")
	}
	select {
	case release := <-got:
		release()
	case <-ctx.Done():
		t.Fatal("the second process never took over")
	}
}

func TestAlwaysLeads(t *testing.T) {
	lctx, release, err := webhook.Always{}.Lead(context.Background())
	if err != nil || lctx.Err() != nil {
		t.Fatal(err)
	}
	release()
	if lctx.Err() == nil {
		t.Fatal("release did not end the context")
	}
}
