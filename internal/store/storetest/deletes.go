package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/store"
)

// summary writes change entries as "kind key op" lines, sorted, and checks
// they all share one revision.
func summary(t *testing.T, cs []domain.Change) []string {
	t.Helper()
	var out []string
	for i, c := range cs {
		if c.Revision != cs[0].Revision || c.Seq != i {
			t.Fatalf("entry %d is at %d/%d; want revision %d seq %d", i, c.Revision, c.Seq, cs[0].Revision, i)
		}
		out = append(out, fmt.Sprintf("%s %s %s", c.Kind, c.Key, c.Op))
	}
	slices.Sort(out)
	return out
}

func testDeleteEnvironment(t *testing.T, h *harness) {
	s, ctx := h.s, h.ctx
	h.env("prod")
	h.env("dev")
	h.target("eu-1", "prod")
	h.target("dev-1", "dev")
	h.set("all", "dev", "prod")
	h.project("shop", []string{"prod"}, nil)
	h.project("blog", nil, []string{"all"})
	h.setFacts(domain.EnvironmentScope("prod"), "a", "1")
	h.setFacts(domain.TargetScope("eu-1"), "b", "2")
	h.setFacts(domain.DeploymentScope("shop", "eu-1"), "c", "3")
	h.setFacts(domain.ProjectEnvScope("blog", "prod"), "d", "4")
	h.setFacts(domain.DeploymentScope("blog", "dev-1"), "e", "5")

	before := h.rev()
	err := s.DeleteEnvironment(ctx, ws, "prod", store.DeleteOptions{})
	wantKind(t, err, errs.FailedPrecondition, "")
	for _, dep := range []string{"project shop", "environment set all", "target eu-1"} {
		if !strings.Contains(err.Error(), dep) {
			t.Errorf("refusal %q does not name %q", err, dep)
		}
	}
	if h.rev() != before {
		t.Fatalf("a refused delete moved the revision")
	}

	if err := s.DeleteEnvironment(ctx, ws, "prod", store.DeleteOptions{Force: true}); err != nil {
		t.Fatalf("forced delete: %v", err)
	}
	got := summary(t, h.since(before))
	want := []string{
		"environment prod delete",
		"environmentset all update",
		"fact deployment/shop@eu-1:c delete",
		"fact environment/prod:a delete",
		"fact project/blog@prod:d delete",
		"fact target/eu-1:b delete",
		"project shop update",
		"target eu-1 delete",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("forced delete recorded\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	shop, err := s.GetProject(ctx, ws, "shop")
	if err != nil || len(shop.Environments) != 0 || len(shop.EffectiveEnvironments) != 0 {
		t.Fatalf("shop after delete = %+v, %v", shop, err)
	}
	all, err := s.GetEnvironmentSet(ctx, ws, "all")
	if err != nil || !slices.Equal(all.Environments, []string{"dev"}) {
		t.Fatalf("set after delete = %+v, %v", all, err)
	}
	if _, err := s.GetTarget(ctx, ws, "eu-1"); !errors.Is(err, errs.NotFound) {
		t.Fatalf("target after delete: %v", err)
	}
	// Facts of scopes that still exist stay.
	facts, _, err := s.GetFacts(ctx, ws, domain.DeploymentScope("blog", "dev-1"))
	if err != nil || len(facts) != 1 {
		t.Fatalf("blog@dev-1 facts = %+v, %v", facts, err)
	}
}

func testDeleteOthers(t *testing.T, h *harness) {
	s, ctx := h.s, h.ctx
	h.env("prod")
	h.target("eu-1", "prod")
	h.set("all", "prod")
	h.project("shop", nil, []string{"all"})
	h.project("blog", []string{"prod"}, nil)
	h.setFacts(domain.ProjectScope("shop"), "a", "1")
	h.setFacts(domain.DeploymentScope("shop", "eu-1"), "b", "2")
	h.setFacts(domain.DeploymentScope("blog", "eu-1"), "c", "3")
	h.setFacts(domain.WorkspaceScope(), "w", "0")

	t.Run("set", func(t *testing.T) {
		before := h.rev()
		err := s.DeleteEnvironmentSet(ctx, ws, "all", store.DeleteOptions{})
		wantKind(t, err, errs.FailedPrecondition, "")
		if !strings.Contains(err.Error(), "project shop") {
			t.Fatalf("refusal %v does not name project shop", err)
		}
		if err := s.DeleteEnvironmentSet(ctx, ws, "all", store.DeleteOptions{Force: true}); err != nil {
			t.Fatal(err)
		}
		// shop lost its only environment, so its deployment and facts went.
		want := []string{"environmentset all delete", "fact deployment/shop@eu-1:b delete", "project shop update"}
		if got := summary(t, h.since(before)); !slices.Equal(got, want) {
			t.Fatalf("recorded %v, want %v", got, want)
		}
	})
	t.Run("project", func(t *testing.T) {
		before := h.rev()
		if err := s.DeleteProject(ctx, ws, "shop", store.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		want := []string{"fact project/shop:a delete", "project shop delete"}
		if got := summary(t, h.since(before)); !slices.Equal(got, want) {
			t.Fatalf("recorded %v, want %v", got, want)
		}
		if _, err := s.GetProject(ctx, ws, "shop"); !errors.Is(err, errs.NotFound) {
			t.Fatalf("GetProject after delete: %v", err)
		}
	})
	t.Run("target", func(t *testing.T) {
		before := h.rev()
		if err := s.DeleteTarget(ctx, ws, "eu-1", store.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		want := []string{"fact deployment/blog@eu-1:c delete", "target eu-1 delete"}
		if got := summary(t, h.since(before)); !slices.Equal(got, want) {
			t.Fatalf("recorded %v, want %v", got, want)
		}
	})
	t.Run("workspace", func(t *testing.T) {
		wantKind(t, s.DeleteWorkspace(ctx, ws, store.DeleteOptions{Force: true}), errs.FailedPrecondition, "")
		if _, _, err := s.PutWorkspace(ctx, domain.Workspace{Meta: domain.Meta{Name: "team"}}, nil); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.PutEnvironment(ctx, domain.Environment{Meta: domain.Meta{Workspace: "team", Name: "dev"}}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetFacts(ctx, "team", domain.EnvironmentScope("dev"), map[string]json.RawMessage{"x": []byte("1")}, nil); err != nil {
			t.Fatal(err)
		}
		err := s.DeleteWorkspace(ctx, "team", store.DeleteOptions{})
		wantKind(t, err, errs.FailedPrecondition, "")
		if !strings.Contains(err.Error(), "environment dev") {
			t.Fatalf("refusal %v does not name environment dev", err)
		}
		before := h.rev()
		if err := s.DeleteWorkspace(ctx, "team", store.DeleteOptions{Force: true}); err != nil {
			t.Fatal(err)
		}
		want := []string{"environment dev delete", "fact environment/dev:x delete", "workspace team delete"}
		if got := summary(t, h.since(before)); !slices.Equal(got, want) {
			t.Fatalf("recorded %v, want %v", got, want)
		}
		if err := s.DeleteWorkspace(ctx, "team", store.DeleteOptions{}); !errors.Is(err, errs.NotFound) {
			t.Fatalf("second delete: %v", err)
		}
	})
}
