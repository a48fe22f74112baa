package argocd_test

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/argocd"
	"github.com/flagops/flagops/internal/render"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
)

// estate starts a server with environment prod, its targets eu-1 and us-1,
// and projects shop and cart in prod.
func estate(t *testing.T) (*server.Server, servertest.Clients) {
	t.Helper()
	s := servertest.Start(t, server.Config{})
	c := servertest.NewClients(servertest.HTTP1Client(), s.URL())
	ctx := context.Background()
	meta := func(n string) *flagopsv1.ObjectMeta { return &flagopsv1.ObjectMeta{Name: n} }
	if _, err := c.Catalog.PutEnvironment(ctx, connect.NewRequest(&flagopsv1.PutEnvironmentRequest{Environment: &flagopsv1.Environment{Meta: meta("prod")}})); err != nil {
		t.Fatal(err)
	}
	for _, tg := range []string{"eu-1", "us-1"} {
		if _, err := c.Catalog.PutTarget(ctx, connect.NewRequest(&flagopsv1.PutTargetRequest{Target: &flagopsv1.Target{Meta: meta(tg), Environment: "prod"}})); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"shop", "cart"} {
		if _, err := c.Catalog.PutProject(ctx, connect.NewRequest(&flagopsv1.PutProjectRequest{Project: &flagopsv1.Project{Meta: meta(p), Environments: []string{"prod"}}})); err != nil {
			t.Fatal(err)
		}
	}
	return s, c
}

func setFact(t *testing.T, c servertest.Clients, scope, key string, v any) int64 {
	t.Helper()
	pv, err := structpb.NewValue(v)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Facts.SetFacts(context.Background(), connect.NewRequest(&flagopsv1.SetFactsRequest{Scope: scope, Values: map[string]*structpb.Value{key: pv}}))
	if err != nil {
		t.Fatal(err)
	}
	return resp.Msg.GetRevision()
}

// startAgent runs ag until the test ends and waits until it follows the log.
func startAgent(t *testing.T, ag *argocd.Agent) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ag.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	})
	select {
	case <-ag.Ready():
	case err := <-done:
		t.Fatalf("agent stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("agent not ready after 10s")
	}
}

func waitHandled(t *testing.T, ag *argocd.Agent, rev int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for ag.Handled() < rev {
		if time.Now().After(deadline) {
			t.Fatalf("agent handled revision %d, want %d", ag.Handled(), rev)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestHardRefreshOnFactChange runs the agent for target eu-1 against a real
// server and the Argo CD fake: a fact change that alters one deployment's
// bundle hard-refreshes that deployment's Application, once, and no other.
func TestHardRefreshOnFactChange(t *testing.T) {
	s, c := estate(t)
	argo := newFakeArgo(t, pluginApp("shop-eu-1", "shop", "eu-1", "1.4.0"), pluginApp("cart-eu-1", "cart", "eu-1", "2.0.0"),
		pluginApp("shop-us-1", "shop", "us-1", "1.4.0"))
	ag, err := argocd.New(argocd.Config{Target: "eu-1", StatusInterval: time.Hour, MinBackoff: 10 * time.Millisecond, Logger: servertest.Logger()},
		&argocd.Feed{Changes: servertest.NewClients(servertest.HTTP1Client(), s.URL()).Changes},
		&render.Client{BaseURL: s.URL(), Token: servertest.AdminToken(s.URL())},
		&argocd.Client{BaseURL: argo.srv.URL, Token: argoToken}, nil)
	if err != nil {
		t.Fatal(err)
	}
	startAgent(t, ag)
	if r, u, _ := argo.snapshot(); len(r) != 0 || len(u) != 0 {
		t.Fatalf("at start: refreshes %v, updates %v; want none", r, u)
	}
	for _, tc := range []struct {
		name       string
		scope, key string
		value      any
		want       []string
	}{
		{"deployment fact", "deployment/shop@eu-1", "tier", "pro", []string{"argocd/shop-eu-1:hard"}},
		{"same deployment again", "deployment/shop@eu-1", "tier", "enterprise", []string{"argocd/shop-eu-1:hard"}},
		{"another target's deployment", "deployment/shop@us-1", "tier", "pro", nil},
		{"another target", "target/us-1", "zone", "b", nil},
		{"a project", "project/cart", "owner", "team-c", []string{"argocd/cart-eu-1:hard"}},
		{"the environment", "environment/prod", "region", "eu", []string{"argocd/cart-eu-1:hard", "argocd/shop-eu-1:hard"}},
		{"the target", "target/eu-1", "zone", "a", []string{"argocd/cart-eu-1:hard", "argocd/shop-eu-1:hard"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, _, _ := argo.snapshot()
			rev := setFact(t, c, tc.scope, tc.key, tc.value)
			waitHandled(t, ag, rev)
			after, updates, _ := argo.snapshot()
			got := after[len(before):]
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("refreshes %v, want %v", got, tc.want)
			}
			if len(updates) != 0 {
				t.Errorf("updates %v; want none", updates)
			}
		})
	}
}

// fakeFeed is a ChangeFeed the test drives.
type fakeFeed struct {
	events chan argocd.Change
	rev    int64
	mu     sync.Mutex
}

func (f *fakeFeed) Follow(ctx context.Context, _ string, from int64, fn func(int64, []argocd.Change)) error {
	fn(from, nil) // caught up
	for {
		select {
		case <-ctx.Done():
			return nil
		case c := <-f.events:
			f.mu.Lock()
			f.rev++
			rev := f.rev
			f.mu.Unlock()
			fn(rev, []argocd.Change{c})
		}
	}
}

func (f *fakeFeed) Revision(context.Context) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rev, nil
}

// fakeBundles answers bundles whose desired version the test sets, as the
// versions service will.
type fakeBundles struct {
	mu      sync.Mutex
	desired map[string]string // by project@target
	facts   map[string]int    // a fact per project@target, so tests move the inputs
	fetched []string          // project@target of every fetch
}

func (f *fakeBundles) Fetch(_ context.Context, req *render.BundleRequest) (*render.Bundle, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	dep := req.Project + "@" + req.Target
	f.fetched = append(f.fetched, dep)
	b := &render.Bundle{Deployment: render.Deployment{Workspace: "default", Project: req.Project, Environment: "prod", Target: req.Target},
		Facts: map[string]json.RawMessage{"n": json.RawMessage(strconv.Itoa(f.facts[dep]))}}
	if v, ok := f.desired[dep]; ok {
		b.Version = &render.Version{Desired: v}
	}
	b.InputsHash, _ = render.InputsHash(b.Facts, b.Flags, b.Version)
	return b, nil
}

// touch moves the inputs of a deployment without changing its version.
func (f *fakeBundles) touch(dep string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.facts == nil {
		f.facts = map[string]int{}
	}
	f.facts[dep]++
}

func (f *fakeBundles) deployments() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := slices.Clone(f.fetched)
	slices.Sort(out)
	return slices.Compact(out)
}

func (f *fakeBundles) set(dep string, v string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.desired[dep] = v
}

type fakeReporter struct {
	mu      sync.Mutex
	reports []argocd.DeployedReport
}

func (f *fakeReporter) ReportDeployed(_ context.Context, r argocd.DeployedReport) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reports = append(f.reports, r)
	return nil
}

// lastOf returns the last report of an Application.
func (f *fakeReporter) lastOf(app string) (argocd.DeployedReport, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.reports) - 1; i >= 0; i-- {
		if f.reports[i].Application == app {
			return f.reports[i], true
		}
	}
	return argocd.DeployedReport{}, false
}

// all returns every report of an Application.
func (f *fakeReporter) all(app string) []argocd.DeployedReport {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []argocd.DeployedReport
	for _, r := range f.reports {
		if r.Application == app {
			out = append(out, r)
		}
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestVersionSync: a version change (the change kind the versions service
// writes) makes the agent patch the configured field of that deployment's
// Application, sync it, and leave the others alone, for each kind of field
// on the kind of source that holds it.
func TestVersionSync(t *testing.T) {
	for _, tc := range []struct {
		field string
		app   func(name, project, target, tag string) map[string]any
		read  func(src map[string]any) any
		want  any
	}{
		{"helm:image.tag", helmApp, func(src map[string]any) any {
			return src["helm"].(map[string]any)["parameters"].([]any)[0].(map[string]any)["value"]
		}, "1.5.0"},
		{"targetRevision", helmApp, func(src map[string]any) any { return src["targetRevision"] }, "1.5.0"},
		{"kustomize:registry.example.com:5000/shop", kustomizeApp, func(src map[string]any) any {
			return src["kustomize"].(map[string]any)["images"].([]any)[0]
		}, "registry.example.com:5000/shop:1.5.0"},
		{"plugin:version", pluginApp, func(src map[string]any) any {
			return src["plugin"].(map[string]any)["parameters"].([]any)[1].(map[string]any)["string"]
		}, "1.5.0"},
	} {
		t.Run(tc.field, func(t *testing.T) {
			argo := newFakeArgo(t, tc.app("shop-eu-1", "shop", "eu-1", "1.4.0"), tc.app("cart-eu-1", "cart", "eu-1", "2.0.0"))
			field, err := argocd.ParseVersionField(tc.field)
			if err != nil {
				t.Fatal(err)
			}
			feed := &fakeFeed{events: make(chan argocd.Change)}
			bundles := &fakeBundles{desired: map[string]string{}}
			rep := &fakeReporter{}
			ag, err := argocd.New(argocd.Config{Target: "eu-1", VersionField: field, SyncAfterUpdate: true, StatusInterval: time.Hour, Logger: servertest.Logger()},
				feed, bundles, &argocd.Client{BaseURL: argo.srv.URL, Token: argoToken}, rep)
			if err != nil {
				t.Fatal(err)
			}
			startAgent(t, ag)
			bundles.set("shop@eu-1", "1.5.0")
			feed.events <- argocd.Change{Kind: "version", Key: "shop@prod"}
			waitHandled(t, ag, 1)
			_, writes, syncs := argo.snapshot()
			if !slices.Equal(writes, []string{"argocd/shop-eu-1:PATCH"}) || !slices.Equal(syncs, []string{"argocd/shop-eu-1"}) {
				t.Errorf("writes %v, syncs %v; want argocd/shop-eu-1 patched and synced only", writes, syncs)
			}
			if r := argo.rejections(); len(r) != 0 {
				t.Errorf("Argo CD refused writes: %v", r)
			}
			if got := tc.read(argo.source("argocd/shop-eu-1")); got != tc.want {
				t.Errorf("field %s = %v, want %v", tc.field, got, tc.want)
			}
			if src := argo.source("argocd/shop-eu-1"); src["repoURL"] != "https://git.example.com/apps.git" || src["path"] == nil {
				t.Errorf("the patch lost fields of spec.source: %v", src)
			}
			// The same version again changes nothing.
			feed.events <- argocd.Change{Kind: "version", Key: "shop@prod"}
			waitHandled(t, ag, 2)
			if _, writes, _ := argo.snapshot(); len(writes) != 1 {
				t.Errorf("writes %v after an unchanged version; want one", writes)
			}
			waitFor(t, "the synced version reported", func() bool {
				r, ok := rep.lastOf("argocd/shop-eu-1")
				return ok && r.Version == "1.5.0" && r.SyncStatus == "Synced" && r.HealthStatus == "Healthy"
			})
		})
	}
}

// TestRefreshRetried: a hard refresh Argo CD refused is asked again on the
// next status tick, though the inputs did not move again.
func TestRefreshRetried(t *testing.T) {
	argo := newFakeArgo(t, pluginApp("shop-eu-1", "shop", "eu-1", "1.4.0"))
	argo.failRefreshes = 1
	feed := &fakeFeed{events: make(chan argocd.Change)}
	bundles := &fakeBundles{desired: map[string]string{}}
	ag, err := argocd.New(argocd.Config{Target: "eu-1", StatusInterval: 20 * time.Millisecond, Logger: servertest.Logger()},
		feed, bundles, &argocd.Client{BaseURL: argo.srv.URL, Token: argoToken}, nil)
	if err != nil {
		t.Fatal(err)
	}
	startAgent(t, ag)
	bundles.set("shop@eu-1", "1.5.0") // moves the inputs hash; no version field, so no update
	feed.events <- argocd.Change{Kind: "version", Key: "shop@prod"}
	waitHandled(t, ag, 1)
	deadline := time.Now().Add(5 * time.Second)
	for {
		refreshes, updates, _ := argo.snapshot()
		if len(refreshes) > 0 {
			time.Sleep(100 * time.Millisecond) // a few more ticks must not refresh again
			refreshes, updates, _ = argo.snapshot()
			if !slices.Equal(refreshes, []string{"argocd/shop-eu-1:hard"}) || len(updates) != 0 {
				t.Errorf("refreshes %v, updates %v; want one hard refresh", refreshes, updates)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the failed refresh was not retried")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
