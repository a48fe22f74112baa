package service_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/service"
	"github.com/flagops/flagops/internal/store"
)

// open returns a migrated store on a fresh SQLite file: the services are
// tested against the real store.
func open(t *testing.T) *store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestFactsValidation(t *testing.T) {
	st := open(t)
	f := service.NewFacts(st)
	ctx := context.Background()
	one := map[string]json.RawMessage{"a": json.RawMessage(`1`)}
	neg := int64(-1)
	tests := []struct {
		name  string
		call  func() error
		kind  error
		field string
	}{
		{"empty scope", func() error { _, err := f.SetFacts(ctx, "", "", one, nil); return err }, errs.Invalid, "scope"},
		{"bad scope name", func() error { _, err := f.SetFacts(ctx, "", "project/Shop", one, nil); return err }, errs.Invalid, "scope.project"},
		{"bad workspace", func() error { _, err := f.SetFacts(ctx, "No", "workspace", one, nil); return err }, errs.Invalid, "workspace"},
		{"no values", func() error { _, err := f.SetFacts(ctx, "", "workspace", nil, nil); return err }, errs.Invalid, "values"},
		{"invalid JSON", func() error {
			_, err := f.SetFacts(ctx, "", "workspace", map[string]json.RawMessage{"a": json.RawMessage(`{`)}, nil)
			return err
		}, errs.Invalid, "values.a"},
		{"negative expected revision", func() error { _, err := f.SetFacts(ctx, "", "workspace", one, &neg); return err }, errs.Invalid, "expected_revision"},
		{"unset without keys", func() error { _, err := f.UnsetFacts(ctx, "", "workspace", nil, nil); return err }, errs.Invalid, "keys"},
		{"unset a bad key", func() error { _, err := f.UnsetFacts(ctx, "", "workspace", []string{"ok", "b@d"}, nil); return err }, errs.Invalid, "keys[1]"},
		{"bulk with the same scope twice", func() error {
			_, err := f.BulkSetFacts(ctx, "", []service.BulkEntry{{Scope: "workspace", Values: one}, {Scope: "workspace", Values: one}})
			return err
		}, errs.Invalid, "entries[1].scope"},
		{"bulk with a bad scope", func() error {
			_, err := f.BulkSetFacts(ctx, "", []service.BulkEntry{{Scope: "deployment/shop", Values: one}})
			return err
		}, errs.Invalid, "entries[0].scope"},
		{"history of a bad key", func() error { _, _, err := f.FactHistory(ctx, "", "workspace", "", 0, ""); return err }, errs.Invalid, "key"},
		{"resolve a missing deployment", func() error { _, err := f.ResolveFacts(ctx, "", "shop", "eu-1"); return err }, errs.NotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, tt.kind) {
				t.Fatalf("want %v, got %v", tt.kind, err)
			}
			if got := errs.FieldOf(err); got != tt.field {
				t.Fatalf("field %q, want %q (%v)", got, tt.field, err)
			}
		})
	}
}

func TestCatalogDefaults(t *testing.T) {
	st := open(t)
	c := service.NewCatalog(st)
	ctx := context.Background()
	// The workspace defaults to "default"; name lists are sorted.
	if _, _, err := c.PutEnvironment(ctx, domain.Environment{Meta: domain.Meta{Name: "prod"}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.PutEnvironment(ctx, domain.Environment{Meta: domain.Meta{Name: "dev"}}, nil); err != nil {
		t.Fatal(err)
	}
	p, _, err := c.PutProject(ctx, domain.Project{Meta: domain.Meta{Name: "shop"}, Environments: []string{"prod", "dev"},
		EffectiveEnvironments: []string{"ignored"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Workspace != domain.DefaultWorkspace || p.Environments[0] != "dev" || len(p.EffectiveEnvironments) != 2 {
		t.Fatalf("project: %+v", p)
	}
	// A workspace belongs to no workspace.
	_, _, err = c.PutWorkspace(ctx, domain.Workspace{Meta: domain.Meta{Name: "x", Workspace: "default"}}, nil)
	if errs.FieldOf(err) != "workspace.workspace" {
		t.Fatalf("want field workspace.workspace, got %v", err)
	}
	// Validation errors name the object's field.
	_, _, err = c.PutProject(ctx, domain.Project{Meta: domain.Meta{Name: "api"}, Environments: []string{"dev", "dev"}}, nil)
	if errs.FieldOf(err) != "project.environments[1]" {
		t.Fatalf("want field project.environments[1], got %v", err)
	}
}
