package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/flag"
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

// TestPostgresRunDueRace runs the flag schedule executor on two instances
// sharing one database, many times over the same due steps: every step must
// be applied exactly once (one flag change per step in the log).
func TestPostgresRunDueRace(t *testing.T) {
	url := pgtest.URL(t)
	a, b := openPostgresURL(t, url), openPostgresURL(t, url)
	ctx := context.Background()
	if _, err := a.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	ws := domain.DefaultWorkspace
	if _, _, err := a.PutEnvironment(ctx, domain.Environment{Meta: domain.Meta{Workspace: ws, Name: "prod"}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.PutProject(ctx, domain.Project{Meta: domain.Meta{Workspace: ws, Name: "shop"}, Environments: []string{"prod"}}, nil); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	const flags, steps = 4, 5
	for i := range flags {
		key := "f" + string(rune('a'+i))
		if _, _, err := a.PutFlag(ctx, ws, flag.Flag{Project: "shop", Key: key, Environments: map[string]flag.Targeting{"prod": {Enabled: true}}}, nil); err != nil {
			t.Fatal(err)
		}
		r := flag.ProgressiveRollout{Project: "shop", Flag: key, Environment: "prod", Variation: "off"}
		for s := range steps {
			r.Steps = append(r.Steps, flag.RolloutStep{At: t0.Add(time.Duration(s) * time.Minute), Weight: (s + 1) * 20000})
		}
		if _, err := a.CreateSchedule(ctx, ws, store.Schedule{Rollout: &r}); err != nil {
			t.Fatal(err)
		}
	}
	from, _ := a.Revision(ctx)
	errc := make(chan error, 8)
	for _, s := range []*store.Store{a, b, a, b} {
		go func() {
			var err error
			for m := range steps + 1 {
				if err = s.RunDue(ctx, t0.Add(time.Duration(m)*time.Minute)); err != nil {
					break
				}
			}
			errc <- err
		}()
	}
	for range 4 {
		if err := <-errc; err != nil {
			t.Fatalf("RunDue: %v", err)
		}
	}
	chs, _, err := a.ListChanges(ctx, domain.ChangeQuery{FromRevision: from, Kind: domain.KindFlag, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(chs) != flags*steps {
		t.Fatalf("%d flag changes, want %d (each step exactly once)", len(chs), flags*steps)
	}
	f, _ := a.GetFlag(ctx, ws, "shop", "fa")
	if got := f.Environments["prod"].Fallthrough.Rollout; len(got) != 1 || got[0].Variation != "off" || got[0].Weight != flag.FullWeight {
		t.Fatalf("final fallthrough %+v", got)
	}
}
