package flagsync_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/eval"
	"github.com/flagops/flagops/internal/flag"
	"github.com/flagops/flagops/internal/flagsync"
	"github.com/flagops/flagops/internal/snapshot"
	"github.com/flagops/flagops/internal/store"
	"github.com/flagops/flagops/internal/store/pgtest"
	"github.com/flagops/flagops/internal/watch"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

const ws = domain.DefaultWorkspace

type factCall struct{ project, target string }

type fixture struct {
	st    *store.Store
	reg   *snapshot.Registry
	sync  *flagsync.Sync
	mu    sync.Mutex
	facts []factCall
}

func start(t *testing.T, st *store.Store) *fixture {
	t.Helper()
	ctx := context.Background()
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, e := range []string{"dev", "prod"} {
		if _, _, err := st.PutEnvironment(ctx, domain.Environment{Meta: domain.Meta{Workspace: ws, Name: e}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := st.PutProject(ctx, domain.Project{Meta: domain.Meta{Workspace: ws, Name: "shop"}, Environments: []string{"prod"}}, nil); err != nil {
		t.Fatal(err)
	}
	hub := watch.New(st, watch.Options{Logger: quiet})
	if err := hub.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hub.Close)
	f := &fixture{st: st, reg: snapshot.New()}
	f.sync = flagsync.New(st, hub, flagsync.Options{Sink: f.reg, Logger: quiet, OnFacts: func(_, p, tg string, _ int64) {
		f.mu.Lock()
		f.facts = append(f.facts, factCall{p, tg})
		f.mu.Unlock()
	}})
	if err := f.sync.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return f
}

// waitRev waits until the snapshot of env reflects rev and returns how long
// that took.
func (f *fixture) waitRev(t *testing.T, env string, rev int64) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < 5*time.Second {
		if s := f.reg.Get(ws, "shop", env); s != nil && s.Revision() >= rev {
			return time.Since(start)
		}
		time.Sleep(200 * time.Microsecond)
	}
	t.Fatalf("snapshot of %s never reached revision %d", env, rev)
	return 0
}

func testSync(t *testing.T, st *store.Store) {
	ctx := context.Background()
	f := start(t, st)
	if f.reg.Get(ws, "shop", "prod") == nil {
		t.Fatal("no snapshot of shop/prod after Start")
	}
	tests := []struct {
		name  string
		write func() int64
		check func(t *testing.T)
	}{
		{"flag write is visible", func() int64 {
			fl, _, err := st.PutFlag(ctx, ws, flag.Flag{Project: "shop", Key: "checkout", Environments: map[string]flag.Targeting{"prod": {Enabled: true}}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			return fl.Revision
		}, func(t *testing.T) {
			r := f.reg.Get(ws, "shop", "prod").Evaluate("checkout", eval.Context{})
			if string(r.JSON) != "true" {
				t.Fatalf("checkout = %s", r.JSON)
			}
		}},
		{"project gains an environment", func() int64 {
			p, _, err := st.PutProject(ctx, domain.Project{Meta: domain.Meta{Workspace: ws, Name: "shop"}, Environments: []string{"dev", "prod"}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			f.waitRev(t, "dev", p.Revision)
			return p.Revision
		}, func(t *testing.T) {
			if f.reg.Get(ws, "shop", "dev").Len() != 1 {
				t.Fatal("dev snapshot lacks the flag")
			}
		}},
		{"project loses an environment", func() int64 {
			p, _, err := st.PutProject(ctx, domain.Project{Meta: domain.Meta{Workspace: ws, Name: "shop"}, Environments: []string{"prod"}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			return p.Revision
		}, func(t *testing.T) {
			if f.reg.Get(ws, "shop", "dev") != nil {
				t.Fatal("dev snapshot survived")
			}
		}},
		{"fact change is passed on", func() int64 {
			rev, err := st.SetFacts(ctx, ws, domain.ProjectScope("shop"), map[string]json.RawMessage{"tier": json.RawMessage(`"pro"`)}, nil)
			if err != nil {
				t.Fatal(err)
			}
			return rev
		}, func(t *testing.T) {
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.facts) == 0 || f.facts[len(f.facts)-1] != (factCall{"shop", ""}) {
				t.Fatalf("fact calls %+v", f.facts)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rev := tc.write()
			f.sync.Fresh(ctx)
			if f.sync.Revision() < rev {
				t.Fatalf("Fresh returned at revision %d, before the write's %d", f.sync.Revision(), rev)
			}
			tc.check(t)
		})
	}
	t.Run("latency", func(t *testing.T) {
		var lat []time.Duration
		for i := range 50 {
			fl, _, err := st.PutFlag(ctx, ws, flag.Flag{Project: "shop", Key: "checkout", Description: time.Now().String(),
				Environments: map[string]flag.Targeting{"prod": {Enabled: i%2 == 0}}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			lat = append(lat, f.waitRev(t, "prod", fl.Revision))
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		t.Logf("%s: flag write → snapshot visible: p50 %v, p95 %v, max %v (n=%d, target < 50ms)",
			st.Dialect(), lat[len(lat)/2], lat[len(lat)*95/100], lat[len(lat)-1], len(lat))
		if lat[len(lat)/2] > 50*time.Millisecond {
			t.Errorf("median latency %v over 50ms", lat[len(lat)/2])
		}
	})
}

func TestSyncSQLite(t *testing.T) {
	st, err := store.Open(context.Background(), store.Options{DataDir: t.TempDir(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	testSync(t, st)
}

func TestSyncPostgres(t *testing.T) {
	if os.Getenv("FLAGOPS_TEST_POSTGRES") == "" {
		t.Skip("FLAGOPS_TEST_POSTGRES is not set")
	}
	st, err := store.Open(context.Background(), store.Options{DatabaseURL: pgtest.URL(t), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	testSync(t, st)
}
