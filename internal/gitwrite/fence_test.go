package gitwrite

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/leader"
	"github.com/flagops/flagops/internal/store"
	"github.com/flagops/flagops/internal/store/pgtest"
)

// termFence fences with a given term of the git write-back lease.
type termFence int64

func (f termFence) Term() (string, int64)    { return leader.GitWrite, int64(f) }
func (termFence) Wait(context.Context) error { return nil }
func (termFence) Refused()                   {}

// TestStaleFollowerWritesNothing: a follower acting on a term its lease no
// longer has (it stalled and another instance took over) neither applies a
// change (the push is preceded by a check of the term) nor moves its cursor;
// on the current term it applies the change once.
func TestStaleFollowerWritesNothing(t *testing.T) {
	backends := map[string]func(t *testing.T) store.Options{
		"sqlite":   func(t *testing.T) store.Options { return store.Options{DataDir: t.TempDir()} },
		"postgres": func(t *testing.T) store.Options { return store.Options{DatabaseURL: pgtest.URL(t)} },
	}
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			opt := backends[name](t)
			opt.Logger = quiet
			ctx := context.Background()
			st, err := store.Open(ctx, opt)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if _, err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			var applied atomic.Int32
			f := &Follower{Name: "tag", Log: st, Kind: domain.KindFact, Key: "workspace:tag", Value: ValueAt(""),
				Apply:        func(context.Context, domain.Change, string) error { applied.Add(1); return nil },
				PollInterval: 20 * time.Millisecond, Logger: quiet}
			start, err := f.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.SetFacts(ctx, domain.DefaultWorkspace, domain.Scope{Kind: domain.ScopeWorkspace},
				map[string]json.RawMessage{"tag": json.RawMessage(`"v2"`)}, nil); err != nil {
				t.Fatal(err)
			}
			stale, _, err := st.AcquireLease(ctx, leader.GitWrite, "a", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.ReleaseLease(ctx, leader.GitWrite, "a", stale); err != nil {
				t.Fatal(err)
			}
			current, _, err := st.AcquireLease(ctx, leader.GitWrite, "b", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			run := func(term int64) domain.Cursor {
				t.Helper()
				rctx, cancel := context.WithTimeout(domain.WithFence(ctx, termFence(term)), 300*time.Millisecond)
				defer cancel()
				_ = f.Run(rctx)
				cur, _, err := st.FollowerCursor(ctx, "tag")
				if err != nil {
					t.Fatal(err)
				}
				return cur
			}
			if cur := run(stale); applied.Load() != 0 || cur != start {
				t.Fatalf("the stale follower applied %d changes and moved its cursor from %v to %v", applied.Load(), start, cur)
			}
			if cur := run(current); applied.Load() != 1 || cur == start {
				t.Fatalf("on the current term: applied %d changes, cursor %v; want one, moved", applied.Load(), cur)
			}
		})
	}
}
