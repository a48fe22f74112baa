// Package storetest is the conformance suite every store backend must pass.
// Run it from a backend's test with a function that opens a fresh, empty
// store for each subtest.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/store"
)

// Run runs the conformance suite. open must return a store on a fresh,
// empty database (migrated or not; the suite migrates it) and arrange for
// it to be closed when the test ends.
func Run(t *testing.T, open func(t *testing.T) *store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h *harness)
	}{
		{"Migrate", testMigrate},
		{"CatalogPutGetList", testCatalogCRUD},
		{"ExpectedRevision", testExpectedRevision},
		{"WriteTx", testWriteTx},
		{"Validation", testValidation},
		{"DeleteEnvironmentRefusedAndForced", testDeleteEnvironment},
		{"DeleteSetProjectTargetWorkspace", testDeleteOthers},
		{"EffectiveEnvironmentsAndDeployments", testDeployments},
		{"FactsSetUnsetGet", testFacts},
		{"ResolveFacts", testResolve},
		{"BulkSetFacts", testBulk},
		{"History", testHistory},
		{"Compaction", testCompaction},
		{"ConcurrentWriters", testConcurrency},
		{"Webhooks", testWebhooks},
		{"VersionsPinAndDrift", testVersionsPinAndDrift},
		{"VersionsRollbackAndValidation", testVersionsRollbackAndValidation},
		{"Releases", testReleases},
		{"PromotionExactlyOnce", testPromotionExactlyOnce},
		{"Secrets", testSecrets},
		{"ResolveSecrets", testResolveSecrets},
		{"APIKeys", testAPIKeys},
		{"DeleteWorkspaceWithSecrets", testDeleteWorkspaceWithSecrets},
		{"MasterKeyRotationUnderLoad", testRotationUnderLoad},
	}
	tests = append(tests, flagTests...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			if _, err := s.Migrate(context.Background()); err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			tc.fn(t, &harness{t: t, s: s, ctx: context.Background()})
		})
	}
}

// harness bundles a store with helpers that fail the test on error.
type harness struct {
	t   *testing.T
	s   *store.Store
	ctx context.Context
}

const ws = domain.DefaultWorkspace

func ptr(v int64) *int64 { return &v }

func meta(name string) domain.Meta { return domain.Meta{Workspace: ws, Name: name} }

func (h *harness) env(name string) domain.Environment {
	h.t.Helper()
	e, _, err := h.s.PutEnvironment(h.ctx, domain.Environment{Meta: meta(name)}, nil)
	if err != nil {
		h.t.Fatalf("PutEnvironment %s: %v", name, err)
	}
	return e
}

func (h *harness) target(name, env string) domain.Target {
	h.t.Helper()
	tg, _, err := h.s.PutTarget(h.ctx, domain.Target{Meta: meta(name), Environment: env}, nil)
	if err != nil {
		h.t.Fatalf("PutTarget %s: %v", name, err)
	}
	return tg
}

func (h *harness) set(name string, envs ...string) domain.EnvironmentSet {
	h.t.Helper()
	es, _, err := h.s.PutEnvironmentSet(h.ctx, domain.EnvironmentSet{Meta: meta(name), Environments: envs}, nil)
	if err != nil {
		h.t.Fatalf("PutEnvironmentSet %s: %v", name, err)
	}
	return es
}

func (h *harness) project(name string, envs, sets []string) domain.Project {
	h.t.Helper()
	p, _, err := h.s.PutProject(h.ctx, domain.Project{Meta: meta(name), Environments: envs, EnvironmentSets: sets}, nil)
	if err != nil {
		h.t.Fatalf("PutProject %s: %v", name, err)
	}
	return p
}

func (h *harness) setFacts(sc domain.Scope, kv ...string) int64 {
	h.t.Helper()
	vals := map[string]json.RawMessage{}
	for i := 0; i < len(kv); i += 2 {
		vals[kv[i]] = json.RawMessage(kv[i+1])
	}
	rev, err := h.s.SetFacts(h.ctx, ws, sc, vals, nil)
	if err != nil {
		h.t.Fatalf("SetFacts %s: %v", sc, err)
	}
	return rev
}

func (h *harness) rev() int64 {
	h.t.Helper()
	r, err := h.s.Revision(h.ctx)
	if err != nil {
		h.t.Fatalf("Revision: %v", err)
	}
	return r
}

// since returns every change after rev.
func (h *harness) since(rev int64) []domain.Change {
	h.t.Helper()
	var out []domain.Change
	for {
		cs, err := h.s.ChangesSince(h.ctx, rev, 1000)
		if err != nil {
			h.t.Fatalf("ChangesSince %d: %v", rev, err)
		}
		if len(cs) == 0 {
			return out
		}
		out = append(out, cs...)
		rev = cs[len(cs)-1].Revision
	}
}

// wantKind fails unless err is of kind (and, when field is not "", names it).
func wantKind(t *testing.T, err, kind error, field string) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("error %v: want kind %v", err, kind)
	}
	if field != "" && errs.FieldOf(err) != field {
		t.Fatalf("error %v: want field %q, got %q", err, field, errs.FieldOf(err))
	}
}

func testMigrate(t *testing.T, h *harness) {
	n, err := h.s.Migrate(h.ctx)
	if err != nil || n != 0 {
		t.Fatalf("second Migrate = %d, %v; want 0, nil", n, err)
	}
	applied, latest, err := h.s.MigrationStatus(h.ctx)
	if err != nil || applied != latest || latest < 1 {
		t.Fatalf("MigrationStatus = %d, %d, %v", applied, latest, err)
	}
	w, err := h.s.GetWorkspace(h.ctx, ws)
	if err != nil {
		t.Fatalf("GetWorkspace default: %v", err)
	}
	cs := h.since(0)
	if len(cs) != 1 || cs[0].Kind != domain.KindWorkspace || cs[0].Op != domain.OpCreate || cs[0].Revision != w.Revision {
		t.Fatalf("changes after Migrate = %+v; want one workspace create at %d", cs, w.Revision)
	}
	if err := h.s.Ping(h.ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if h.s.Dialect() == "sqlite" {
		// SQLite is single-process: ListenCommits has nothing to listen to.
		if err := h.s.ListenCommits(h.ctx, func(int64) {}); err != nil {
			t.Fatalf("ListenCommits on sqlite = %v", err)
		}
	}
}
