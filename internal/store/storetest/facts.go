package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
)

func testFacts(t *testing.T, h *harness) {
	s, ctx := h.s, h.ctx
	h.env("prod")
	sc := domain.EnvironmentScope("prod")
	rev, err := s.SetFacts(ctx, ws, sc, map[string]json.RawMessage{"tier": []byte(` "gold" `), "size": []byte(`{"a": 1}`)}, nil)
	if err != nil || rev != h.rev() {
		t.Fatalf("SetFacts = %d, %v (revision %d)", rev, err, h.rev())
	}
	facts, frev, err := s.GetFacts(ctx, ws, sc)
	if err != nil || frev != rev || len(facts) != 2 || facts[0].Key != "size" || string(facts[0].Value) != `{"a":1}` || string(facts[1].Value) != `"gold"` {
		t.Fatalf("GetFacts = %+v, %d, %v", facts, frev, err)
	}
	cs := h.since(rev - 1)
	if len(cs) != 2 || cs[0].Key != "environment/prod:size" || string(cs[0].After) != `{"a":1}` || cs[0].Op != domain.OpCreate {
		t.Fatalf("changes = %+v", cs)
	}
	// Setting equal values changes nothing and takes no revision.
	again, err := s.SetFacts(ctx, ws, sc, map[string]json.RawMessage{"tier": []byte(`"gold"`)}, nil)
	if err != nil || again != rev || h.rev() != rev {
		t.Fatalf("idempotent SetFacts = %d, %v (revision %d)", again, err, h.rev())
	}
	// A partly equal set records only the key that changed.
	rev2, err := s.SetFacts(ctx, ws, sc, map[string]json.RawMessage{"tier": []byte(`"silver"`), "size": []byte(`{"a":1}`)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cs = h.since(rev)
	if len(cs) != 1 || cs[0].Op != domain.OpUpdate || string(cs[0].Before) != `"gold"` || string(cs[0].After) != `"silver"` || cs[0].Revision != rev2 {
		t.Fatalf("update changes = %+v", cs)
	}
	rev3, err := s.UnsetFacts(ctx, ws, sc, []string{"tier", "nope"}, nil)
	if err != nil || rev3 != rev2+1 {
		t.Fatalf("UnsetFacts = %d, %v", rev3, err)
	}
	if r, err := s.UnsetFacts(ctx, ws, sc, []string{"tier"}, nil); err != nil || r != rev3 || h.rev() != rev3 {
		t.Fatalf("idempotent UnsetFacts = %d, %v", r, err)
	}
	facts, frev, err = s.GetFacts(ctx, ws, sc)
	if err != nil || frev != rev3 || len(facts) != 1 {
		t.Fatalf("GetFacts after unset = %+v, %d, %v", facts, frev, err)
	}
	// Origin is recorded on every entry.
	octx := domain.WithOrigin(ctx, domain.Origin{Actor: "alice", RequestID: "req-1"})
	if _, err := s.SetFacts(octx, ws, sc, map[string]json.RawMessage{"x": []byte("1")}, nil); err != nil {
		t.Fatal(err)
	}
	cs = h.since(rev3)
	if len(cs) != 1 || cs[0].Actor != "alice" || cs[0].RequestID != "req-1" {
		t.Fatalf("origin not recorded: %+v", cs)
	}
}

func testResolve(t *testing.T, h *harness) {
	s, ctx := h.s, h.ctx
	h.env("prod")
	h.env("dev")
	h.target("eu-1", "prod")
	h.target("dev-1", "dev")
	h.project("shop", []string{"prod"}, nil)
	h.setFacts(domain.WorkspaceScope(), "a", `"ws"`, "b", `"ws"`, "c", `"ws"`, "d", `"ws"`, "e", `"ws"`, "f", `"ws"`)
	h.setFacts(domain.EnvironmentScope("prod"), "b", `"env"`, "c", `"env"`, "d", `"env"`, "e", `"env"`, "f", `"env"`)
	h.setFacts(domain.EnvironmentScope("dev"), "z", `"dev"`)
	h.setFacts(domain.TargetScope("eu-1"), "c", `"target"`, "d", `"target"`, "e", `"target"`, "f", `"target"`)
	h.setFacts(domain.ProjectScope("shop"), "d", `"project"`, "e", `"project"`, "f", `"project"`)
	h.setFacts(domain.ProjectEnvScope("shop", "prod"), "e", `"projectenv"`, "f", `"projectenv"`)
	last := h.setFacts(domain.DeploymentScope("shop", "eu-1"), "f", `"deployment"`)

	res, err := s.ResolveFacts(ctx, ws, "shop", "eu-1")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"a": `"ws"`, "b": `"env"`, "c": `"target"`, "d": `"project"`, "e": `"projectenv"`, "f": `"deployment"`,
		"workspace": `"default"`, "project": `"shop"`, "environment": `"prod"`, "target": `"eu-1"`,
	}
	wantSrc := map[string]string{
		"a": "workspace", "b": "environment/prod", "c": "target/eu-1", "d": "project/shop", "e": "project/shop@prod",
		"f": "deployment/shop@eu-1", "workspace": "builtin", "project": "builtin", "environment": "builtin", "target": "builtin",
	}
	got := map[string]string{}
	for k, v := range res.Facts {
		got[k] = string(v)
	}
	if !maps.Equal(got, want) || !maps.Equal(res.Sources, wantSrc) || res.Revision != last || res.Environment != "prod" {
		t.Fatalf("resolved %+v\nfacts %v\nwant %v\nsources %v\nwant %v", res, got, want, res.Sources, wantSrc)
	}
	// Unsetting the deployment's key moves the revision and uncovers the
	// next most specific value.
	unset, err := s.UnsetFacts(ctx, ws, domain.DeploymentScope("shop", "eu-1"), []string{"f"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err = s.ResolveFacts(ctx, ws, "shop", "eu-1")
	if err != nil || res.Revision != unset || string(res.Facts["f"]) != `"projectenv"` || res.Sources["f"] != "project/shop@prod" {
		t.Fatalf("after unset: %+v, %v (want revision %d)", res, err, unset)
	}
	// A fact on an unrelated scope does not move the revision.
	h.setFacts(domain.EnvironmentScope("dev"), "z", `"dev2"`)
	if res2, _ := s.ResolveFacts(ctx, ws, "shop", "eu-1"); res2.Revision != unset {
		t.Fatalf("unrelated write moved the resolve revision to %d", res2.Revision)
	}
	if _, err := s.ResolveFacts(ctx, ws, "shop", "dev-1"); !errors.Is(err, errs.NotFound) {
		t.Fatalf("resolve of a non-deployment = %v", err)
	}
}

func testBulk(t *testing.T, h *harness) {
	s, ctx := h.s, h.ctx
	const projects, targets = 100, 100
	h.env("prod")
	for i := range targets {
		h.target(fmt.Sprintf("t-%03d", i), "prod")
	}
	for i := range projects {
		h.project(fmt.Sprintf("p-%03d", i), []string{"prod"}, nil)
	}
	entries := make([]domain.FactsEntry, 0, projects*targets)
	for p := range projects {
		for tg := range targets {
			entries = append(entries, domain.FactsEntry{
				Scope: domain.DeploymentScope(fmt.Sprintf("p-%03d", p), fmt.Sprintf("t-%03d", tg)),
				Values: map[string]json.RawMessage{
					"replicas": []byte(fmt.Sprint(p + tg)),
					"region":   []byte(`"eu"`),
				},
			})
		}
	}
	before := h.rev()
	start := time.Now()
	rev, err := s.BulkSetFacts(ctx, ws, entries)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("BulkSetFacts of %d deployments × 2 keys on %s took %v", len(entries), s.Dialect(), time.Since(start))
	if rev != before+1 || h.rev() != rev {
		t.Fatalf("bulk took revision %d (was %d, now %d); want exactly one", rev, before, h.rev())
	}
	cs, err := s.ChangesSince(ctx, before, 10)
	if err != nil || len(cs) != 2*len(entries) {
		t.Fatalf("ChangesSince returned %d entries, %v; want the whole revision (%d)", len(cs), err, 2*len(entries))
	}
	res, err := s.ResolveFacts(ctx, ws, "p-042", "t-007")
	if err != nil || string(res.Facts["replicas"]) != "49" {
		t.Fatalf("resolved %+v, %v", res.Facts, err)
	}
	// Re-sending the same values changes nothing.
	if again, err := s.BulkSetFacts(ctx, ws, entries); err != nil || again != rev || h.rev() != rev {
		t.Fatalf("idempotent bulk = %d, %v", again, err)
	}
	// All or nothing: a bad scope at the end leaves every value as it was.
	for i := range entries {
		entries[i].Values = map[string]json.RawMessage{"replicas": []byte("0")}
	}
	entries = append(entries, domain.FactsEntry{Scope: domain.DeploymentScope("p-000", "nope"), Values: map[string]json.RawMessage{"a": []byte("1")}})
	_, err = s.BulkSetFacts(ctx, ws, entries)
	wantKind(t, err, errs.Invalid, fmt.Sprintf("entries[%d].scope", len(entries)-1))
	if h.rev() != rev {
		t.Fatalf("failed bulk moved the revision")
	}
	if res, _ := s.ResolveFacts(ctx, ws, "p-042", "t-007"); string(res.Facts["replicas"]) != "49" {
		t.Fatalf("failed bulk changed a value: %s", res.Facts["replicas"])
	}
}
