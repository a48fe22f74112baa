package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/store"
	"github.com/flagops/flagops/internal/store/pgtest"
	"github.com/flagops/flagops/internal/store/storetest"
)

// openPostgres opens a store on a fresh PostgreSQL database.
func openPostgres(t testing.TB) *store.Store {
	return openPostgresURL(t, pgtest.URL(t))
}

func openPostgresURL(t testing.TB, url string) *store.Store {
	s, err := store.Open(context.Background(), store.Options{DatabaseURL: url, Logger: quiet})
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestPostgres(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *store.Store { return openPostgres(t) })
}

// TestPostgresListenCommits checks that two instances on one database hear
// each other's commits, and that two instances migrating together do not race.
func TestPostgresListenCommits(t *testing.T) {
	url := pgtest.URL(t)
	a, b := openPostgresURL(t, url), openPostgresURL(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errc := make(chan error, 2)
	for _, s := range []*store.Store{a, b} {
		go func() { _, err := s.Migrate(ctx); errc <- err }()
	}
	for range 2 {
		if err := <-errc; err != nil {
			t.Fatalf("concurrent Migrate: %v", err)
		}
	}

	lctx, stop := context.WithCancel(ctx)
	heard := make(chan int64, 16)
	listening := make(chan error, 1)
	go func() { listening <- b.ListenCommits(lctx, func(rev int64) { heard <- rev }) }()

	// LISTEN takes effect asynchronously: write until b hears a's commit.
	var want int64
	deadline := time.After(20 * time.Second)
	for i := 0; ; i++ {
		e, _, err := a.PutEnvironment(ctx, domain.Environment{Meta: domain.Meta{Workspace: domain.DefaultWorkspace, Name: "prod", Description: time.Now().String()}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		want = e.Revision
		select {
		case rev := <-heard:
			if rev > want {
				t.Fatalf("heard revision %d, newer than the last write %d", rev, want)
			}
			stop()
			if err := <-listening; err != context.Canceled {
				t.Fatalf("ListenCommits returned %v after cancel", err)
			}
			return
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			t.Fatal("b never heard a's commits")
		}
	}
}
