package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/store"
)

// backends lists the stores benchmarks run on; PostgreSQL is skipped when
// FLAGOPS_TEST_POSTGRES is unset.
var backends = []struct {
	name string
	open func(testing.TB) *store.Store
}{
	{"sqlite", openSQLite},
	{"postgres", openPostgres},
}

// benchCatalog migrates s and creates projects × targets deployments in one
// environment.
func benchCatalog(b *testing.B, s *store.Store, projects, targets int) {
	ctx := context.Background()
	if _, err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	m := func(name string) domain.Meta { return domain.Meta{Workspace: domain.DefaultWorkspace, Name: name} }
	if _, _, err := s.PutEnvironment(ctx, domain.Environment{Meta: m("prod")}, nil); err != nil {
		b.Fatal(err)
	}
	for i := range targets {
		if _, _, err := s.PutTarget(ctx, domain.Target{Meta: m(fmt.Sprintf("t-%03d", i)), Environment: "prod"}, nil); err != nil {
			b.Fatal(err)
		}
	}
	for i := range projects {
		if _, _, err := s.PutProject(ctx, domain.Project{Meta: m(fmt.Sprintf("p-%03d", i)), Environments: []string{"prod"}}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSetFact measures one fact write: one transaction, one revision.
func BenchmarkSetFact(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s := be.open(b)
			benchCatalog(b, s, 1, 1)
			ctx := context.Background()
			sc := domain.DeploymentScope("p-000", "t-000")
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := s.SetFacts(ctx, domain.DefaultWorkspace, sc, map[string]json.RawMessage{"n": []byte(fmt.Sprint(i))}, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBulkSetFacts measures setting 3 keys on 10,000 deployments in one
// transaction. Each iteration writes new values, so every fact changes.
func BenchmarkBulkSetFacts(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s := be.open(b)
			benchCatalog(b, s, 100, 100)
			ctx := context.Background()
			entries := make([]domain.FactsEntry, 0, 10000)
			for p := range 100 {
				for t := range 100 {
					entries = append(entries, domain.FactsEntry{Scope: domain.DeploymentScope(fmt.Sprintf("p-%03d", p), fmt.Sprintf("t-%03d", t))})
				}
			}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				v := []byte(fmt.Sprint(i))
				for j := range entries {
					entries[j].Values = map[string]json.RawMessage{"a": v, "b": v, "c": v}
				}
				if _, err := s.BulkSetFacts(ctx, domain.DefaultWorkspace, entries); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkResolveFacts measures resolving a deployment with facts on all
// six scopes.
func BenchmarkResolveFacts(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s := be.open(b)
			benchCatalog(b, s, 10, 10)
			ctx := context.Background()
			for _, sc := range []domain.Scope{
				domain.WorkspaceScope(), domain.EnvironmentScope("prod"), domain.TargetScope("t-001"),
				domain.ProjectScope("p-001"), domain.ProjectEnvScope("p-001", "prod"), domain.DeploymentScope("p-001", "t-001"),
			} {
				vals := map[string]json.RawMessage{}
				for k := range 5 {
					vals[fmt.Sprintf("k%d", k)] = json.RawMessage(fmt.Sprintf("%q", sc.String()))
				}
				if _, err := s.SetFacts(ctx, domain.DefaultWorkspace, sc, vals, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := s.ResolveFacts(ctx, domain.DefaultWorkspace, "p-001", "t-001"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
