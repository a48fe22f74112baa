package argocd_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flagops/flagops/internal/argocd"
	"github.com/flagops/flagops/internal/server/servertest"
)

// harness runs an agent against the fake Argo CD, with a feed, bundles and
// a reporter the test drives.
type harness struct {
	argo    *fakeArgo
	feed    *fakeFeed
	bundles *fakeBundles
	rep     *fakeReporter
	ag      *argocd.Agent
	rev     int64
}

// run starts an agent for target eu-1 (unless cfg names another) on argo.
func run(t *testing.T, argo *fakeArgo, cfg argocd.Config, client *argocd.Client) *harness {
	t.Helper()
	if cfg.Target == "" {
		cfg.Target = "eu-1"
	}
	if cfg.StatusInterval == 0 {
		cfg.StatusInterval = time.Hour
	}
	cfg.Logger = servertest.Logger()
	if client == nil {
		client = &argocd.Client{}
	}
	client.BaseURL, client.Token = argo.srv.URL, argoToken
	h := &harness{argo: argo, feed: &fakeFeed{events: make(chan argocd.Change)}, bundles: &fakeBundles{desired: map[string]string{}}, rep: &fakeReporter{}}
	ag, err := argocd.New(cfg, h.feed, h.bundles, client, h.rep)
	if err != nil {
		t.Fatal(err)
	}
	h.ag = ag
	startAgent(t, ag)
	return h
}

// send hands one change to the agent and waits until it has acted on it.
func (h *harness) send(t *testing.T, c argocd.Change) {
	t.Helper()
	h.feed.events <- c
	h.rev++
	waitHandled(t, h.ag, h.rev)
}

// version sets the desired version of deployment dep and tells the agent.
func (h *harness) version(t *testing.T, dep, v string) {
	t.Helper()
	h.bundles.set(dep, v)
	project, _, _ := strings.Cut(dep, "@")
	h.send(t, argocd.Change{Kind: "version", Key: project + "@prod"})
}

func helmParams(src map[string]any) map[string]any {
	out := map[string]any{}
	for _, p := range src["helm"].(map[string]any)["parameters"].([]any) {
		pm := p.(map[string]any)
		out[pm["name"].(string)] = pm["value"]
	}
	return out
}

// TestConcurrentEditSurvives: issue 17.1. Argo CD's PUT re-reads the
// Application and writes what it is sent over it (updateApp), so an edit
// made between the agent's read and its write was silently lost. The agent
// patches only its field, with a test of the value it read: an edit of
// another field survives, and an edit of the same field makes Argo CD
// refuse the patch, after which the agent reads again and patches again.
func TestConcurrentEditSurvives(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(a map[string]any)
	}{
		{"another field", func(a map[string]any) {
			src := a["spec"].(map[string]any)["source"].(map[string]any)
			src["helm"].(map[string]any)["parameters"].([]any)[1].(map[string]any)["value"] = "5"
			a["metadata"].(map[string]any)["labels"].(map[string]any)["team"] = "payments"
		}},
		{"the list reordered", func(a map[string]any) {
			src := a["spec"].(map[string]any)["source"].(map[string]any)
			helm := src["helm"].(map[string]any)
			params := helm["parameters"].([]any)
			params[1].(map[string]any)["value"] = "5"
			helm["parameters"] = append([]any{map[string]any{"name": "env", "value": "prod"}}, params...)
			a["metadata"].(map[string]any)["labels"].(map[string]any)["team"] = "payments"
		}},
		{"the same field", func(a map[string]any) {
			src := a["spec"].(map[string]any)["source"].(map[string]any)
			params := src["helm"].(map[string]any)["parameters"].([]any)
			params[0].(map[string]any)["value"] = "1.4.9"
			params[1].(map[string]any)["value"] = "5"
			a["metadata"].(map[string]any)["labels"].(map[string]any)["team"] = "payments"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			argo := newFakeArgo(t, helmApp("shop", "shop", "eu-1", "1.4.0"))
			h := run(t, argo, argocd.Config{VersionField: argocd.VersionField{Kind: argocd.FieldHelm, Name: "image.tag"}}, nil)
			argo.mu.Lock()
			argo.concurrent = tc.edit
			argo.mu.Unlock()
			h.version(t, "shop@eu-1", "1.5.0")
			a := argo.app("argocd/shop")
			params := helmParams(a["spec"].(map[string]any)["source"].(map[string]any))
			if params["image.tag"] != "1.5.0" || params["replicas"] != "5" || (params["env"] != nil && params["env"] != "prod") {
				t.Errorf("helm parameters %v: want image.tag 1.5.0 and the concurrent edits kept", params)
			}
			if a["metadata"].(map[string]any)["labels"].(map[string]any)["team"] != "payments" {
				t.Errorf("the concurrent label was lost: %v", a["metadata"])
			}
		})
	}
}

// TestPluginApplications: issue 17.2. Argo CD refuses a source with two
// types (ExplicitType: "multiple application sources defined"), so a Helm
// block on a plugin source is never written; the plugin's version is a
// plugin parameter.
func TestPluginApplications(t *testing.T) {
	t.Run("plugin parameter", func(t *testing.T) {
		argo := newFakeArgo(t, pluginApp("shop", "shop", "eu-1", "1.4.0"))
		f, err := argocd.ParseVersionField("plugin:version")
		if err != nil {
			t.Fatal(err)
		}
		h := run(t, argo, argocd.Config{VersionField: f}, nil)
		h.version(t, "shop@eu-1", "1.5.0")
		src := argo.source("argocd/shop")
		params := src["plugin"].(map[string]any)["parameters"].([]any)
		if params[1].(map[string]any)["string"] != "1.5.0" || params[0].(map[string]any)["string"] != "eu-1" {
			t.Errorf("plugin parameters %v: want version 1.5.0 and target kept", params)
		}
		if r := argo.rejections(); len(r) != 0 || src["helm"] != nil {
			t.Errorf("rejections %v, source %v: want a plain plugin source", r, src)
		}
	})
	t.Run("helm field on a plugin source", func(t *testing.T) {
		argo := newFakeArgo(t, pluginApp("shop", "shop", "eu-1", "1.4.0"))
		h := run(t, argo, argocd.Config{VersionField: argocd.VersionField{Kind: argocd.FieldHelm, Name: "image.tag"}}, nil)
		h.version(t, "shop@eu-1", "1.5.0")
		_, writes, _ := argo.snapshot()
		if r := argo.rejections(); len(r) != 0 || len(writes) != 0 {
			t.Errorf("writes %v, rejections %v: want nothing sent that Argo CD refuses", writes, r)
		}
	})
}

// TestApplicationsInAnyNamespace: issue 17.3. Applications are keyed by
// namespace and name, and every call names the namespace where Argo CD
// reads it: the query of GET, the body of PATCH and of sync (whose routes
// take body "*", ignoring the query).
func TestApplicationsInAnyNamespace(t *testing.T) {
	for _, tc := range []struct {
		name         string
		appNamespace string
		want         []string
	}{
		{"every namespace", "", []string{"team-a/cart", "team-b/cart"}},
		{"one namespace", "team-a", []string{"team-a/cart"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			argo := newFakeArgo(t, inNamespace(helmApp("cart", "cart", "eu-1", "2.0.0"), "team-a"),
				inNamespace(helmApp("cart", "cart", "eu-1", "2.0.0"), "team-b"), helmApp("cart", "cart", "us-1", "2.0.0"))
			h := run(t, argo, argocd.Config{VersionField: argocd.VersionField{Kind: argocd.FieldHelm, Name: "image.tag"}, SyncAfterUpdate: true},
				&argocd.Client{AppNamespace: tc.appNamespace})
			h.version(t, "cart@eu-1", "2.1.0")
			_, writes, syncs := argo.snapshot()
			slices.Sort(writes)
			slices.Sort(syncs)
			var wantWrites []string
			for _, k := range tc.want {
				wantWrites = append(wantWrites, k+":PATCH")
			}
			if !slices.Equal(writes, wantWrites) || !slices.Equal(syncs, tc.want) {
				t.Errorf("writes %v, syncs %v; want %v patched and synced", writes, syncs, tc.want)
			}
			if v := helmParams(argo.source("argocd/cart"))["image.tag"]; v != "2.0.0" {
				t.Errorf("another target's Application in Argo CD's namespace was changed to %v", v)
			}
		})
	}
}

// TestStaleSynced: issue 17.5. Right after a write Argo CD still says
// Synced, for the source it last compared (status.sync.comparedTo); the
// agent reports the version it compared, not the one just written, until
// the new one is synced.
func TestStaleSynced(t *testing.T) {
	argo := newFakeArgo(t, helmApp("shop", "shop", "eu-1", "1.4.0"))
	h := run(t, argo, argocd.Config{VersionField: argocd.VersionField{Kind: argocd.FieldHelm, Name: "image.tag"}, StatusInterval: 20 * time.Millisecond}, nil)
	h.version(t, "shop@eu-1", "1.5.0")
	time.Sleep(150 * time.Millisecond) // several status ticks, before the controller compares
	for _, r := range h.rep.all("argocd/shop") {
		if r.Version == "1.5.0" {
			t.Fatalf("report %+v claims 1.5.0 deployed before Argo CD compared it", r)
		}
	}
	if r, _ := h.rep.lastOf("argocd/shop"); r.Version != "1.4.0" || r.SyncStatus != "Synced" {
		t.Fatalf("last report %+v: want 1.4.0, still synced", r)
	}
	argo.reconcile("argocd/shop") // the controller compares: OutOfSync
	waitFor(t, "OutOfSync reported without a version", func() bool {
		r, _ := h.rep.lastOf("argocd/shop")
		return r.SyncStatus == "OutOfSync" && r.Version == ""
	})
	if err := (&argocd.Client{BaseURL: argo.srv.URL, Token: argoToken}).Sync(context.Background(), argocd.AppKey{Namespace: argoNS, Name: "shop"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "1.5.0 reported once synced", func() bool {
		r, _ := h.rep.lastOf("argocd/shop")
		return r.SyncStatus == "Synced" && r.Version == "1.5.0"
	})
}

// TestFailedSyncReported: issue 17.5. A sync that ends Failed
// (status.operationState.phase) is reported as a failed deployment of the
// version it tried, with Argo CD's message.
func TestFailedSyncReported(t *testing.T) {
	argo := newFakeArgo(t, helmApp("shop", "shop", "eu-1", "1.4.0"))
	argo.failOps = "one or more objects failed to apply: Deployment.apps \"shop\" is invalid"
	h := run(t, argo, argocd.Config{VersionField: argocd.VersionField{Kind: argocd.FieldHelm, Name: "image.tag"}, SyncAfterUpdate: true,
		StatusInterval: 20 * time.Millisecond}, nil)
	h.version(t, "shop@eu-1", "1.5.0")
	waitFor(t, "the failed sync reported", func() bool {
		r, _ := h.rep.lastOf("argocd/shop")
		return r.SyncFailed() && r.Version == "1.5.0" && strings.Contains(r.OperationMessage, "failed to apply")
	})
}

// TestSyncRetriedWhileOperationRuns: issue 17.5. Argo CD refuses a sync
// while another operation runs (SetAppOperation: "another operation is
// already in progress"); the agent asks again on its status ticks until
// Argo CD accepts.
func TestSyncRetriedWhileOperationRuns(t *testing.T) {
	argo := newFakeArgo(t, helmApp("shop", "shop", "eu-1", "1.4.0"))
	argo.do("argocd/shop", func(a map[string]any) {
		a["operation"] = map[string]any{"sync": map[string]any{"revision": "c0ffee1"}}
	})
	h := run(t, argo, argocd.Config{VersionField: argocd.VersionField{Kind: argocd.FieldHelm, Name: "image.tag"}, SyncAfterUpdate: true,
		StatusInterval: 20 * time.Millisecond}, nil)
	h.version(t, "shop@eu-1", "1.5.0")
	time.Sleep(60 * time.Millisecond)
	if _, _, syncs := argo.snapshot(); len(syncs) != 0 {
		t.Fatalf("syncs %v accepted while an operation ran", syncs)
	}
	argo.finishOp("argocd/shop") // the running operation ends
	waitFor(t, "the sync asked again and accepted", func() bool {
		_, _, syncs := argo.snapshot()
		return slices.Equal(syncs, []string{"argocd/shop"})
	})
}

// TestSlowApplicationDoesNotHoldUpOthers: issue 17.6. A hard refresh
// answers only once Argo CD's controller has reconciled the Application
// (Server.Get); one whose controller never does must not stall the agent:
// the call times out, the others are refreshed meanwhile, and the stuck
// refresh is asked again on a later tick.
func TestSlowApplicationDoesNotHoldUpOthers(t *testing.T) {
	argo := newFakeArgo(t, pluginApp("cart-eu-1", "cart", "eu-1", "2.0.0"), pluginApp("shop-eu-1", "shop", "eu-1", "1.4.0"))
	argo.stuck["argocd/cart-eu-1"] = true
	h := run(t, argo, argocd.Config{StatusInterval: 50 * time.Millisecond}, &argocd.Client{Timeout: 300 * time.Millisecond})
	h.bundles.touch("cart@eu-1")
	h.bundles.touch("shop@eu-1")
	start := time.Now()
	h.feed.events <- argocd.Change{Kind: "fact", Key: "target/eu-1:zone"}
	waitFor(t, "the other Application's refresh", func() bool {
		refreshes, _, _ := argo.snapshot()
		return slices.Contains(refreshes, "argocd/shop-eu-1:hard")
	})
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the other Application waited %s", d)
	}
	argo.mu.Lock()
	argo.stuck["argocd/cart-eu-1"] = false
	argo.mu.Unlock()
	waitFor(t, "the stuck refresh asked again", func() bool {
		refreshes, _, _ := argo.snapshot()
		n := 0
		for _, r := range refreshes {
			if r == "argocd/cart-eu-1:hard" {
				n++
			}
		}
		return n >= 2
	})
	waitHandled(t, h.ag, 1)
}

// TestSameCommitRenders: issue 17.7. The repo server's manifest cache key
// holds the commit, not targetRevision (reposerver/cache,
// manifestCacheKey), so a new tag on the same commit renders nothing by
// itself: the agent refreshes hard. A new Helm value moves the key and
// renders without one.
func TestSameCommitRenders(t *testing.T) {
	for _, tc := range []struct {
		field       argocd.VersionField
		wantRefresh bool
	}{
		{argocd.VersionField{Kind: argocd.FieldTargetRevision}, true},
		{argocd.VersionField{Kind: argocd.FieldHelm, Name: "image.tag"}, false},
	} {
		t.Run(tc.field.String(), func(t *testing.T) {
			app := helmApp("shop", "shop", "eu-1", "v1.4.0")
			app["spec"].(map[string]any)["source"].(map[string]any)["targetRevision"] = "v1.4.0"
			argo := newFakeArgo(t)
			argo.commits["v1.4.0"], argo.commits["v1.5.0"] = "c1", "c1" // two tags, one commit
			argo.autoReconcile = true
			argo.add(app)
			h := run(t, argo, argocd.Config{VersionField: tc.field}, nil)
			before := argo.renderCount("argocd/shop")
			h.version(t, "shop@eu-1", "v1.5.0")
			refreshes, writes, _ := argo.snapshot()
			if len(writes) != 1 {
				t.Fatalf("writes %v, want one", writes)
			}
			if got := argo.renderCount("argocd/shop"); got <= before {
				t.Errorf("renders %d after the version change, %d before: the new inputs were not rendered", got, before)
			}
			if got := len(refreshes) > 0; got != tc.wantRefresh {
				t.Errorf("refreshes %v, want a hard refresh: %v", refreshes, tc.wantRefresh)
			}
		})
	}
}

// TestMultiSourceApplications: the version field is found in the one
// source of spec.sources that holds it (here a chart from a Helm
// repository next to a ref source), and status.sync.revisions is reported.
func TestMultiSourceApplications(t *testing.T) {
	for _, field := range []string{"targetRevision", "helm:image.tag"} {
		t.Run(field, func(t *testing.T) {
			app := appOf("shop", labelled("shop", "eu-1"), nil)
			spec := app["spec"].(map[string]any)
			delete(spec, "source")
			spec["sources"] = []any{
				map[string]any{"repoURL": "https://charts.example.com", "chart": "shop", "targetRevision": "1.4.0",
					"helm": map[string]any{"valueFiles": []any{"$values/shop/values.yaml"}, "parameters": []any{map[string]any{"name": "image.tag", "value": "1.4.0"}}}},
				map[string]any{"repoURL": "https://git.example.com/values.git", "targetRevision": "main", "ref": "values"},
			}
			argo := newFakeArgo(t, app)
			f, err := argocd.ParseVersionField(field)
			if err != nil {
				t.Fatal(err)
			}
			h := run(t, argo, argocd.Config{VersionField: f, SyncAfterUpdate: true, StatusInterval: 20 * time.Millisecond}, nil)
			h.version(t, "shop@eu-1", "1.5.0")
			waitFor(t, "1.5.0 reported synced", func() bool {
				r, _ := h.rep.lastOf("argocd/shop")
				return r.Version == "1.5.0" && r.SyncStatus == "Synced" && len(r.Revisions) == 2
			})
			srcs := argo.app("argocd/shop")["spec"].(map[string]any)["sources"].([]any)
			if ref := srcs[1].(map[string]any); ref["targetRevision"] != "main" || ref["helm"] != nil {
				t.Errorf("the ref source was changed: %v", ref)
			}
		})
	}
}

type fakeProjects []string

func (p fakeProjects) Projects(context.Context, string) ([]string, error) { return p, nil }

// TestApplicationNamedLikeProject: issue 20.4. An Application without
// flagops labels whose name is a project's is that project's on the
// agent's target; labels override the name (and keep another target's
// Applications out), and an apps file overrides both.
func TestApplicationNamedLikeProject(t *testing.T) {
	apps := func() []map[string]any {
		return []map[string]any{
			helmApp("shop", "", "", "1.0.0"),         // no labels: the project shop
			helmApp("web", "cart", "eu-1", "1.0.0"),  // labelled: the project cart
			helmApp("cart", "cart", "us-1", "1.0.0"), // another target's
			helmApp("random", "", "", "1.0.0"),       // not a project
		}
	}
	for _, tc := range []struct {
		name   string
		static map[argocd.AppKey]string
		want   []string
	}{
		{"names and labels", nil, []string{"argocd/shop:PATCH", "argocd/web:PATCH"}},
		{"apps file", map[argocd.AppKey]string{{Namespace: argoNS, Name: "random"}: "shop"}, []string{"argocd/random:PATCH"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var fixtures []map[string]any
			for _, a := range apps() {
				if labels := a["metadata"].(map[string]any)["labels"].(map[string]any); labels["flagops.dev/project"] == "" {
					delete(a["metadata"].(map[string]any), "labels")
				}
				fixtures = append(fixtures, a)
			}
			argo := newFakeArgo(t, fixtures...)
			h := run(t, argo, argocd.Config{Projects: fakeProjects{"shop", "cart"}, Static: tc.static,
				VersionField: argocd.VersionField{Kind: argocd.FieldHelm, Name: "image.tag"}}, nil)
			h.bundles.set("shop@eu-1", "1.5.0")
			h.version(t, "cart@eu-1", "1.5.0")
			_, writes, _ := argo.snapshot()
			slices.Sort(writes)
			if !slices.Equal(writes, tc.want) {
				t.Errorf("writes %v, want %v", writes, tc.want)
			}
		})
	}
}

// TestFakeIsTheRealServer pins the behaviours of Argo CD the old agent got
// wrong, on the fake itself, so that the fake cannot drift back to the
// kinder server its documentation suggests: PUT keeps no concurrent edit
// and never answers 409 (issue 17.1), a query appNamespace is ignored by
// sync (17.3), and a plugin source refuses a Helm block (17.2).
func TestFakeIsTheRealServer(t *testing.T) {
	argo := newFakeArgo(t, helmApp("shop", "shop", "eu-1", "1.4.0"), inNamespace(pluginApp("shop", "shop", "eu-1", "1.4.0"), "team-a"))
	call := func(method, path, body string) int {
		req, _ := http.NewRequest(method, argo.srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+argoToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	t.Run("PUT overwrites a concurrent edit", func(t *testing.T) {
		stale, _ := json.Marshal(argo.app("argocd/shop")) // read, with its resourceVersion
		argo.do("argocd/shop", func(a map[string]any) {
			a["metadata"].(map[string]any)["labels"].(map[string]any)["team"] = "payments"
			argo.bump(a)
		})
		if code := call(http.MethodPut, "/api/v1/applications/shop", string(stale)); code != http.StatusOK {
			t.Fatalf("PUT with a stale resourceVersion answered %d, want 200 as Argo CD does", code)
		}
		if argo.app("argocd/shop")["metadata"].(map[string]any)["labels"].(map[string]any)["team"] != nil {
			t.Fatal("the concurrent edit survived a PUT; Argo CD's updateApp overwrites it")
		}
	})
	t.Run("sync ignores a query appNamespace", func(t *testing.T) {
		call(http.MethodPost, "/api/v1/applications/shop/sync?appNamespace=team-a", `{"name":"shop"}`)
		if _, _, syncs := argo.snapshot(); !slices.Equal(syncs, []string{"argocd/shop"}) {
			t.Fatalf("syncs %v, want the Application of Argo CD's namespace", syncs)
		}
	})
	t.Run("a plugin source refuses a helm block", func(t *testing.T) {
		patch := `[{"op":"add","path":"/spec/source/helm","value":{"parameters":[{"name":"image.tag","value":"1.5.0"}]}}]`
		body, _ := json.Marshal(map[string]string{"name": "shop", "appNamespace": "team-a", "patch": patch, "patchType": "json"})
		if code := call(http.MethodPatch, "/api/v1/applications/shop", string(body)); code != http.StatusBadRequest {
			t.Fatalf("answered %d, want 400", code)
		}
	})
}
