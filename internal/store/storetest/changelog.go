package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/store"
)

func testDeployments(t *testing.T, h *harness) {
	s, ctx := h.s, h.ctx
	for _, e := range []string{"dev", "staging", "prod", "lab"} {
		h.env(e)
	}
	h.target("dev-1", "dev")
	h.target("stg-1", "staging")
	h.target("eu-1", "prod")
	h.target("us-1", "prod")
	h.target("lab-1", "lab")
	h.set("pre", "dev", "staging")
	p := h.project("shop", []string{"prod", "dev"}, []string{"pre"})
	if !slices.Equal(p.EffectiveEnvironments, []string{"dev", "prod", "staging"}) || !slices.Equal(p.Environments, []string{"dev", "prod"}) {
		t.Fatalf("put project = %+v", p)
	}
	h.project("blog", nil, []string{"pre"})
	got, err := s.GetProject(ctx, ws, "shop")
	if err != nil || !slices.Equal(got.EffectiveEnvironments, p.EffectiveEnvironments) {
		t.Fatalf("GetProject = %+v, %v", got, err)
	}
	// Changing the set changes the project's effective environments.
	h.set("pre", "dev", "lab")
	got, _ = s.GetProject(ctx, ws, "blog")
	if !slices.Equal(got.EffectiveEnvironments, []string{"dev", "lab"}) {
		t.Fatalf("blog after set change = %v", got.EffectiveEnvironments)
	}

	keys := func(f store.DeploymentFilter, size int) []string {
		var out []string
		page := domain.Page{Size: size}
		for {
			ds, next, err := s.ListDeployments(ctx, ws, f, page)
			if err != nil {
				t.Fatalf("ListDeployments: %v", err)
			}
			for _, d := range ds {
				out = append(out, d.Key()+"/"+d.Environment)
			}
			if next == "" {
				return out
			}
			page.Token = next
		}
	}
	all := []string{"blog@dev-1/dev", "blog@lab-1/lab", "shop@dev-1/dev", "shop@eu-1/prod", "shop@lab-1/lab", "shop@us-1/prod"}
	if got := keys(store.DeploymentFilter{}, 4); !slices.Equal(got, all) {
		t.Fatalf("deployments %v, want %v", got, all)
	}
	if got := keys(store.DeploymentFilter{Environment: "prod"}, 1); !slices.Equal(got, []string{"shop@eu-1/prod", "shop@us-1/prod"}) {
		t.Fatalf("prod deployments %v", got)
	}
	if got := keys(store.DeploymentFilter{Project: "blog", Target: "lab-1"}, 0); !slices.Equal(got, []string{"blog@lab-1/lab"}) {
		t.Fatalf("blog@lab-1 %v", got)
	}
	if d, err := s.GetDeployment(ctx, ws, "shop", "eu-1"); err != nil || d.Environment != "prod" {
		t.Fatalf("GetDeployment = %+v, %v", d, err)
	}
	if _, err := s.GetDeployment(ctx, ws, "blog", "eu-1"); !errors.Is(err, errs.NotFound) {
		t.Fatalf("GetDeployment of a non-deployment = %v", err)
	}

	// A project update that drops an environment takes the facts of the
	// deployments that went with it, in the same revision.
	h.setFacts(domain.DeploymentScope("shop", "eu-1"), "x", "1")
	h.setFacts(domain.ProjectEnvScope("shop", "prod"), "y", "2")
	before := h.rev()
	h.project("shop", []string{"dev"}, []string{"pre"})
	want := []string{"fact deployment/shop@eu-1:x delete", "fact project/shop@prod:y delete", "project shop update"}
	if got := summary(t, h.since(before)); !slices.Equal(got, want) {
		t.Fatalf("recorded %v, want %v", got, want)
	}
}

func testHistory(t *testing.T, h *harness) {
	s, ctx := h.s, h.ctx
	h.env("prod")
	mid := time.Now()
	time.Sleep(2 * time.Millisecond)
	h.env("dev")
	h.target("eu-1", "prod")
	for i := range 5 {
		h.setFacts(domain.TargetScope("eu-1"), "n", fmt.Sprint(i))
	}
	h.setFacts(domain.EnvironmentScope("prod"), "n", "1")
	count := func(q domain.ChangeQuery) []domain.Change {
		t.Helper()
		var out []domain.Change
		for pages := 0; ; pages++ {
			cs, next, err := s.ListChanges(ctx, q)
			if err != nil || pages > 20 {
				t.Fatalf("ListChanges %+v: %v", q, err)
			}
			out = append(out, cs...)
			if next == "" {
				return out
			}
			q.PageToken = next
		}
	}
	cases := []struct {
		name string
		q    domain.ChangeQuery
		want int
	}{
		{"all", domain.ChangeQuery{}, 10},
		{"all paged", domain.ChangeQuery{Limit: 3}, 10},
		{"by kind", domain.ChangeQuery{Kind: domain.KindEnvironment}, 2},
		{"by key", domain.ChangeQuery{Kind: domain.KindFact, Key: "target/eu-1:n", Limit: 2}, 5},
		{"by key prefix", domain.ChangeQuery{KeyPrefix: "environment/"}, 1},
		{"by workspace", domain.ChangeQuery{Workspace: "other"}, 0},
		{"by revision range", domain.ChangeQuery{FromRevision: 2, ToRevision: 4}, 2},
		{"since", domain.ChangeQuery{Since: mid}, 8},
		{"until", domain.ChangeQuery{Until: mid}, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := count(c.q)
			if len(got) != c.want {
				t.Fatalf("got %d entries, want %d: %+v", len(got), c.want, got)
			}
			for i := 1; i < len(got); i++ {
				if got[i].Revision < got[i-1].Revision || (got[i].Revision == got[i-1].Revision && got[i].Seq <= got[i-1].Seq) {
					t.Fatalf("entries out of order at %d", i)
				}
			}
		})
	}
	if _, _, err := s.ListChanges(ctx, domain.ChangeQuery{PageToken: "!!"}); !errors.Is(err, errs.Invalid) {
		t.Fatalf("bad token = %v", err)
	}
}

func testCompaction(t *testing.T, h *harness) {
	s, ctx := h.s, h.ctx
	for i := range 5 {
		h.env(fmt.Sprintf("e-%d", i))
	}
	if err := s.Compact(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if c, err := s.CompactedRevision(ctx); err != nil || c != 3 {
		t.Fatalf("CompactedRevision = %d, %v", c, err)
	}
	_, err := s.ChangesSince(ctx, 2, 10)
	wantKind(t, err, errs.Compacted, "")
	cs, err := s.ChangesSince(ctx, 3, 10)
	if err != nil || len(cs) != 3 || cs[0].Revision != 4 {
		t.Fatalf("ChangesSince(3) = %+v, %v", cs, err)
	}
	// Compacting to an older revision does nothing.
	if err := s.Compact(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.CompactedRevision(ctx); c != 3 {
		t.Fatalf("compacted revision moved back to %d", c)
	}
}

func testConcurrency(t *testing.T, h *harness) {
	s, ctx := h.s, h.ctx
	const writers, each = 8, 500
	start := h.rev()
	var hooked atomic.Int64
	s.OnCommit(func(int64) { hooked.Add(1) })

	done := make(chan struct{})
	var seen []int64
	readErr := make(chan error, 1)
	go func() {
		// The reader follows the log while writers commit: it must see every
		// revision exactly once and in order.
		last := start
		finishing := false
		for {
			// Once the writers are done, one more read is needed: the read
			// that came back empty may have started before the last commit.
			select {
			case <-done:
				finishing = true
			default:
			}
			cs, err := s.ChangesSince(ctx, last, 1000)
			if err != nil {
				readErr <- err
				return
			}
			for _, c := range cs {
				seen = append(seen, c.Revision)
				last = c.Revision
			}
			if len(cs) == 0 {
				if finishing {
					readErr <- nil
					return
				}
				time.Sleep(time.Millisecond)
			}
		}
	}()
	var wg sync.WaitGroup
	errc := make(chan error, writers)
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("w%d", g)
			for i := range each {
				if _, err := s.SetFacts(ctx, ws, domain.WorkspaceScope(), map[string]json.RawMessage{key: []byte(fmt.Sprint(i))}, nil); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	close(errc)
	for err := range errc {
		t.Fatalf("writer: %v", err)
	}
	if err := <-readErr; err != nil {
		t.Fatalf("reader: %v", err)
	}
	end := h.rev()
	if end != start+writers*each {
		t.Fatalf("revision %d after %d writes from %d", end, writers*each, start)
	}
	if len(seen) != writers*each {
		t.Fatalf("reader saw %d entries, want %d", len(seen), writers*each)
	}
	for i, r := range seen {
		if r != start+int64(i)+1 {
			t.Fatalf("reader saw revision %d at position %d; want %d", r, i, start+int64(i)+1)
		}
	}
	if hooked.Load() != writers*each {
		t.Fatalf("OnCommit called %d times", hooked.Load())
	}
}
