package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/store"
)

func testCatalogCRUD(t *testing.T, h *harness) {
	s, ctx := h.s, h.ctx
	start := h.rev()
	e, op, err := s.PutEnvironment(ctx, domain.Environment{Meta: domain.Meta{Workspace: ws, Name: "prod", Labels: map[string]string{"tier": "1"}}}, nil)
	if err != nil || op != domain.OpCreate || e.Revision != start+1 || e.CreatedAt.IsZero() {
		t.Fatalf("create = %+v, %s, %v", e, op, err)
	}
	got, err := s.GetEnvironment(ctx, ws, "prod")
	if err != nil || !reflect.DeepEqual(got, e) {
		t.Fatalf("Get = %+v, %v; want %+v", got, err, e)
	}
	// An identical Put is idempotent: OpNone, the stored object, no revision.
	again, op, err := s.PutEnvironment(ctx, domain.Environment{Meta: domain.Meta{Workspace: ws, Name: "prod", Labels: map[string]string{"tier": "1"}}}, nil)
	if err != nil || op != domain.OpNone || !reflect.DeepEqual(again, e) || h.rev() != e.Revision {
		t.Fatalf("idempotent put = %+v, %s, %v (revision %d)", again, op, err, h.rev())
	}
	upd, op, err := s.PutEnvironment(ctx, domain.Environment{Meta: domain.Meta{Workspace: ws, Name: "prod", Description: "production"}}, nil)
	if err != nil || op != domain.OpUpdate || upd.Revision != e.Revision+1 || !upd.CreatedAt.Equal(e.CreatedAt) || upd.Labels != nil {
		t.Fatalf("update = %+v, %s, %v", upd, op, err)
	}
	cs := h.since(e.Revision)
	if len(cs) != 1 || cs[0].Op != domain.OpUpdate || !strings.Contains(string(cs[0].Before), `"tier":"1"`) || !strings.Contains(string(cs[0].After), "production") {
		t.Fatalf("update change = %+v", cs)
	}
	if _, err := s.GetEnvironment(ctx, ws, "nope"); !errors.Is(err, errs.NotFound) || !strings.Contains(err.Error(), `environment "nope" in workspace "default"`) {
		t.Fatalf("Get missing = %v", err)
	}
	if _, err := s.GetTarget(ctx, ws, "nope"); !errors.Is(err, errs.NotFound) {
		t.Fatalf("GetTarget missing = %v", err)
	}
	if err := s.DeleteEnvironment(ctx, ws, "nope", store.DeleteOptions{}); !errors.Is(err, errs.NotFound) {
		t.Fatalf("Delete missing = %v", err)
	}

	// Keyset pagination visits every name once, in order.
	for i := range 6 {
		h.env(fmt.Sprintf("env-%d", i))
	}
	var names []string
	page := domain.Page{Size: 4}
	for pages := 0; ; pages++ {
		envs, next, err := s.ListEnvironments(ctx, ws, page)
		if err != nil || pages > 3 {
			t.Fatalf("ListEnvironments: %v (page %d)", err, pages)
		}
		for _, e := range envs {
			names = append(names, e.Name)
		}
		if next == "" {
			break
		}
		page.Token = next
	}
	want := []string{"env-0", "env-1", "env-2", "env-3", "env-4", "env-5", "prod"}
	if !slices.Equal(names, want) {
		t.Fatalf("listed %v, want %v", names, want)
	}

	h.target("eu-1", "prod")
	h.set("all", "prod", "env-1")
	h.project("shop", []string{"prod"}, []string{"all"})
	ts, _, err := s.ListTargets(ctx, ws, domain.Page{})
	if err != nil || len(ts) != 1 || ts[0].Environment != "prod" {
		t.Fatalf("ListTargets = %+v, %v", ts, err)
	}
	sets, _, err := s.ListEnvironmentSets(ctx, ws, domain.Page{})
	if err != nil || len(sets) != 1 || !slices.Equal(sets[0].Environments, []string{"env-1", "prod"}) {
		t.Fatalf("ListEnvironmentSets = %+v, %v", sets, err)
	}
	ps, _, err := s.ListProjects(ctx, ws, domain.Page{})
	if err != nil || len(ps) != 1 || !slices.Equal(ps[0].EffectiveEnvironments, []string{"env-1", "prod"}) {
		t.Fatalf("ListProjects = %+v, %v", ps, err)
	}
	w, op, err := s.PutWorkspace(ctx, domain.Workspace{Meta: domain.Meta{Name: "team-a"}}, nil)
	if err != nil || op != domain.OpCreate {
		t.Fatalf("PutWorkspace = %+v, %s, %v", w, op, err)
	}
	wss, _, err := s.ListWorkspaces(ctx, domain.Page{Size: 1})
	if err != nil || len(wss) != 1 || wss[0].Name != "default" {
		t.Fatalf("ListWorkspaces = %+v, %v", wss, err)
	}
	// Names are scoped by workspace.
	if _, _, err := s.PutEnvironment(ctx, domain.Environment{Meta: domain.Meta{Workspace: "team-a", Name: "prod"}}, nil); err != nil {
		t.Fatalf("prod in team-a: %v", err)
	}
	if _, _, err := s.PutEnvironment(ctx, domain.Environment{Meta: domain.Meta{Workspace: "missing", Name: "prod"}}, nil); errs.FieldOf(err) != "workspace" {
		t.Fatalf("env in missing workspace = %v", err)
	}
}

func testExpectedRevision(t *testing.T, h *harness) {
	s, ctx := h.s, h.ctx
	e, _, err := s.PutEnvironment(ctx, domain.Environment{Meta: meta("dev")}, ptr(0))
	if err != nil {
		t.Fatalf("create with expected 0: %v", err)
	}
	_, _, err = s.PutEnvironment(ctx, domain.Environment{Meta: meta("dev")}, ptr(0))
	wantKind(t, err, errs.Conflict, "")
	_, _, err = s.PutEnvironment(ctx, domain.Environment{Meta: domain.Meta{Workspace: ws, Name: "dev", Description: "x"}}, ptr(e.Revision+5))
	wantKind(t, err, errs.Conflict, "")
	upd, _, err := s.PutEnvironment(ctx, domain.Environment{Meta: domain.Meta{Workspace: ws, Name: "dev", Description: "x"}}, ptr(e.Revision))
	if err != nil {
		t.Fatalf("update with current revision: %v", err)
	}
	// The old revision is now stale.
	_, _, err = s.PutEnvironment(ctx, domain.Environment{Meta: domain.Meta{Workspace: ws, Name: "dev", Description: "y"}}, ptr(e.Revision))
	wantKind(t, err, errs.Conflict, "")
	err = s.DeleteEnvironment(ctx, ws, "dev", store.DeleteOptions{Expected: ptr(e.Revision)})
	wantKind(t, err, errs.Conflict, "")
	if err := s.DeleteEnvironment(ctx, ws, "dev", store.DeleteOptions{Expected: ptr(upd.Revision)}); err != nil {
		t.Fatalf("delete with current revision: %v", err)
	}
	// Facts compare with the scope's facts revision.
	rev := h.setFacts(domain.WorkspaceScope(), "a", "1")
	if _, err := h.s.SetFacts(ctx, ws, domain.WorkspaceScope(), map[string]json.RawMessage{"a": []byte("2")}, ptr(rev-1)); !errors.Is(err, errs.Conflict) {
		t.Fatalf("stale facts write = %v", err)
	}
	if _, err := h.s.SetFacts(ctx, ws, domain.WorkspaceScope(), map[string]json.RawMessage{"b": []byte("2")}, ptr(0)); !errors.Is(err, errs.Conflict) {
		t.Fatalf("facts write expecting an unwritten scope = %v", err)
	}
	if _, err := h.s.SetFacts(ctx, ws, domain.WorkspaceScope(), map[string]json.RawMessage{"a": []byte("2")}, ptr(rev)); err != nil {
		t.Fatalf("facts write with current revision: %v", err)
	}
}

func testValidation(t *testing.T, h *harness) {
	s, ctx := h.s, h.ctx
	h.env("prod")
	h.set("all", "prod")
	cases := []struct {
		name  string
		err   error
		field string
	}{
		{"bad name", second(s.PutEnvironment(ctx, domain.Environment{Meta: meta("Bad_Name")}, nil)), "name"},
		{"missing workspace field", second(s.PutEnvironment(ctx, domain.Environment{Meta: domain.Meta{Name: "x"}}, nil)), "workspace"},
		{"target without environment", second(s.PutTarget(ctx, domain.Target{Meta: meta("eu-1")}, nil)), "environment"},
		{"target in missing environment", second(s.PutTarget(ctx, domain.Target{Meta: meta("eu-1"), Environment: "nope"}, nil)), "environment"},
		{"set with missing environment", second(s.PutEnvironmentSet(ctx, domain.EnvironmentSet{Meta: meta("s"), Environments: []string{"prod", "zzz"}}, nil)), "environments[1]"},
		{"set listing twice", second(s.PutEnvironmentSet(ctx, domain.EnvironmentSet{Meta: meta("s"), Environments: []string{"prod", "prod"}}, nil)), "environments[1]"},
		{"project with missing environment", second(s.PutProject(ctx, domain.Project{Meta: meta("p"), Environments: []string{"nope"}}, nil)), "environments[0]"},
		{"project with missing set", second(s.PutProject(ctx, domain.Project{Meta: meta("p"), EnvironmentSets: []string{"all", "zzz"}}, nil)), "environmentSets[1]"},
		{"builtin fact key", thirdFacts(s.SetFacts(ctx, ws, domain.WorkspaceScope(), map[string]json.RawMessage{"project": []byte(`"x"`)}, nil)), "facts.project"},
		{"bad fact value", thirdFacts(s.SetFacts(ctx, ws, domain.WorkspaceScope(), map[string]json.RawMessage{"a": []byte(`{`)}, nil)), "facts.a"},
		{"missing scope object", thirdFacts(s.SetFacts(ctx, ws, domain.TargetScope("nope"), map[string]json.RawMessage{"a": []byte(`1`)}, nil)), "scope"},
		{"missing deployment", thirdFacts(s.SetFacts(ctx, ws, domain.DeploymentScope("p", "t"), map[string]json.RawMessage{"a": []byte(`1`)}, nil)), "scope"},
		{"bad scope", thirdFacts(s.SetFacts(ctx, ws, domain.Scope{Kind: "nope"}, map[string]json.RawMessage{"a": []byte(`1`)}, nil)), "scope"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { wantKind(t, c.err, errs.Invalid, c.field) })
	}
	if h.rev() != 3 {
		t.Fatalf("failed writes moved the revision to %d", h.rev())
	}
}

func second[T any](_ T, _ domain.Op, err error) error { return err }
func thirdFacts(_ int64, err error) error             { return err }
