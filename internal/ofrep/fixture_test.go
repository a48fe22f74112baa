package ofrep

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/eval"
	"github.com/flagops/flagops/internal/flag"
	"github.com/flagops/flagops/internal/snapshot"
)

// testFlags are the flags of project "shop" used by the tests.
const testFlags = `[
 {"key": "tier-replicas", "type": "number",
  "variations": [{"key": "one", "value": 1}, {"key": "three", "value": 3}],
  "environments": {"prod": {"enabled": true, "offVariation": "one",
    "rules": [{"conditions": [{"attribute": "tier", "operator": "equals", "values": ["pro"]}], "variation": "three"}],
    "fallthrough": {"variation": "one"}}}},
 {"key": "rollout-50", "type": "boolean",
  "environments": {"prod": {"enabled": true,
    "fallthrough": {"rollout": [{"variation": "on", "weight": 50000}, {"variation": "off", "weight": 50000}]}}}},
 {"key": "by-org", "type": "boolean",
  "environments": {"prod": {"enabled": true,
    "fallthrough": {"bucketBy": "org", "rollout": [{"variation": "on", "weight": 50000}, {"variation": "off", "weight": 50000}]}}}},
 {"key": "no-value", "type": "string",
  "variations": [{"key": "a", "value": "a"}, {"key": "b", "value": "b"}],
  "environments": {"prod": {"enabled": false, "fallthrough": {"variation": "a"}}}}
]`

func testSnapshot(t testing.TB, rev int64, extra ...flag.Flag) *eval.Snapshot {
	t.Helper()
	var flags []flag.Flag
	if err := json.Unmarshal([]byte(testFlags), &flags); err != nil {
		t.Fatal(err)
	}
	flags = append(flags, extra...)
	for i := range flags {
		flags[i].Default()
	}
	s, err := eval.Compile("prod", rev, flags, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var testKeys = StaticAuth{
	"k-prod":   {Workspace: "w", Environment: "prod", KeyID: "k1"},
	"k-shop":   {Workspace: "w", Environment: "prod", Project: "shop", KeyID: "k2"},
	"k-denied": {Workspace: "w"},
}

// fakeFacts is a FactResolver over a map of target → facts whose revision
// tests move; it counts calls.
type fakeFacts struct {
	mu    sync.Mutex
	facts map[string]map[string]any
	rev   int64
	calls int
	err   error
}

// Every target of fakeFacts is in environment prod, except "stage-1", in
// staging.
func (f *fakeFacts) Resolve(_ context.Context, ws, project, target string) (Facts, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return Facts{}, f.err
	}
	m, ok := f.facts[target]
	if !ok {
		return Facts{}, errs.New(errs.NotFound, "deployment %s@%s", project, target)
	}
	env := "prod"
	if target == "stage-1" {
		env = "staging"
	}
	return Facts{Values: m, Revision: f.rev, Environment: env}, nil
}

func (f *fakeFacts) set(target string, facts map[string]any, rev int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.facts[target], f.rev = facts, rev
}

type fixture struct {
	reg   *snapshot.Registry
	facts *fakeFacts
	cache *FactCache
	h     *Handler
	evals int
}

func newFixture(t testing.TB, mod func(*Options)) *fixture {
	t.Helper()
	fx := &fixture{reg: snapshot.New(), facts: &fakeFacts{facts: map[string]map[string]any{
		"eu":      {"tier": "pro", "region": "eu"},
		"us":      {"tier": "free"},
		"stage-1": {"tier": "pro"},
	}, rev: 10}}
	fx.reg.Replace("w", "shop", "prod", testSnapshot(t, 100))
	fx.cache = NewFactCache(fx.facts, fx.reg.FactsChanged)
	o := Options{Auth: testKeys, Snapshots: fx.reg, Facts: fx.cache}
	if mod != nil {
		mod(&o)
	}
	h, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	h.onEvaluate = func() { fx.evals++ }
	fx.h = h
	return fx
}

// do sends a request through the handler in-process.
func (fx *fixture) do(method, path, body string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	fx.h.ServeHTTP(w, r)
	return w
}

func bearerKey(k string) []string { return []string{"Authorization", "Bearer " + k} }

func decodeJSON(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	if w.Body.Len() == 0 {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("response is not JSON: %v: %s", err, w.Body)
	}
	return m
}

var _ http.Handler = (*Handler)(nil)
