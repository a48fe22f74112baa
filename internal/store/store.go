// Package store is flagops' revisioned store: state tables kept as projections
// of one change log, written in one transaction per mutation, on SQLite (the
// embedded default) or PostgreSQL.
//
// CONTRACT STUB: the exported API below is fixed; the bodies are filled in by
// the store implementation. Callers may rely on every documented behaviour.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"

	"github.com/flagops/flagops/internal/domain"
)

// Options selects and configures a backend. DatabaseURL (postgres://…)
// selects PostgreSQL; otherwise SQLite at DataDir/flagops.db (DataDir is
// created 0700 when missing).
type Options struct {
	DataDir     string
	DatabaseURL string
	Logger      *slog.Logger
}

// Store is safe for concurrent use.
type Store struct{}

var errStub = errors.New("store: not implemented yet")

// Open connects to the backend. It does not migrate: call Migrate.
func Open(ctx context.Context, opt Options) (*Store, error) { return nil, errStub }

// Migrate applies every pending embedded migration and ensures the default
// workspace exists. It returns how many migrations it applied.
func (s *Store) Migrate(ctx context.Context) (int, error) { return 0, errStub }

// MigrationStatus returns the applied and the latest known migration versions.
func (s *Store) MigrationStatus(ctx context.Context) (applied, latest int, err error) {
	return 0, 0, errStub
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return errStub }

// Close releases the connections.
func (s *Store) Close() error { return nil }

// Dialect returns "sqlite" or "postgres".
func (s *Store) Dialect() string { return "" }

// OnCommit registers fn to be called, after every committed write of this
// process, with the revision it committed. fn must not block.
func (s *Store) OnCommit(fn func(rev int64)) {}

// ListenCommits calls fn with the revision of every write committed by any
// process sharing the database (PostgreSQL LISTEN/NOTIFY, reconnecting until
// ctx ends). On SQLite it returns at once: SQLite is single-process. A
// notification is only a wake-up: read the log with ChangesSince.
func (s *Store) ListenCommits(ctx context.Context, fn func(rev int64)) error { return nil }

// Revision returns the last committed revision (0 for an empty log).
func (s *Store) Revision(ctx context.Context) (int64, error) { return 0, errStub }

// CompactedRevision returns the highest revision removed by Compact (0 if
// none): ChangesSince(after) with after < CompactedRevision fails with
// errs.Compacted.
func (s *Store) CompactedRevision(ctx context.Context) (int64, error) { return 0, errStub }

// Compact removes change entries with revision <= through.
func (s *Store) Compact(ctx context.Context, through int64) error { return errStub }

// ChangesSince returns up to limit change entries with revision > after, in
// (revision, seq) order; it never splits a revision's entries across calls
// unless one revision alone exceeds limit.
func (s *Store) ChangesSince(ctx context.Context, after int64, limit int) ([]domain.Change, error) {
	return nil, errStub
}

// ListChanges answers history queries.
func (s *Store) ListChanges(ctx context.Context, q domain.ChangeQuery) ([]domain.Change, string, error) {
	return nil, "", errStub
}

// Writes. Every write appends its change entries and bumps the revision in
// the same transaction as the state change, and records domain.OriginFrom(ctx).
// expected: nil writes unconditionally; a pointer to 0 requires that the
// object does not exist; any other value requires the object's current
// revision to equal it, else errs.Conflict. A Put that changes nothing
// returns the stored object and domain.OpNone and appends nothing.

// PutWorkspace creates or updates a workspace.
func (s *Store) PutWorkspace(ctx context.Context, w domain.Workspace, expected *int64) (domain.Workspace, domain.Op, error) {
	return w, "", errStub
}

// GetWorkspace returns a workspace or errs.NotFound.
func (s *Store) GetWorkspace(ctx context.Context, name string) (domain.Workspace, error) {
	return domain.Workspace{}, errStub
}

// ListWorkspaces lists workspaces by name.
func (s *Store) ListWorkspaces(ctx context.Context, p domain.Page) ([]domain.Workspace, string, error) {
	return nil, "", errStub
}

// DeleteWorkspace deletes an empty workspace; a non-empty one (or "default")
// is refused with errs.FailedPrecondition unless force (not for default).
func (s *Store) DeleteWorkspace(ctx context.Context, name string, o DeleteOptions) error {
	return errStub
}

// DeleteOptions control a delete. Force removes what depends on the object
// too, recording every removal in the change log at the same revision.
type DeleteOptions struct {
	Force    bool
	Expected *int64
}

// PutEnvironment creates or updates an environment (Meta.Workspace required).
func (s *Store) PutEnvironment(ctx context.Context, e domain.Environment, expected *int64) (domain.Environment, domain.Op, error) {
	return e, "", errStub
}
func (s *Store) GetEnvironment(ctx context.Context, ws, name string) (domain.Environment, error) {
	return domain.Environment{}, errStub
}
func (s *Store) ListEnvironments(ctx context.Context, ws string, p domain.Page) ([]domain.Environment, string, error) {
	return nil, "", errStub
}

// DeleteEnvironment refuses (errs.FailedPrecondition, naming them) while
// targets, environment sets or projects use the environment, unless o.Force:
// then targets in it are deleted, and it is removed from sets and projects.
func (s *Store) DeleteEnvironment(ctx context.Context, ws, name string, o DeleteOptions) error {
	return errStub
}

// PutTarget: the environment must exist (errs.Invalid naming field "environment").
func (s *Store) PutTarget(ctx context.Context, t domain.Target, expected *int64) (domain.Target, domain.Op, error) {
	return t, "", errStub
}
func (s *Store) GetTarget(ctx context.Context, ws, name string) (domain.Target, error) {
	return domain.Target{}, errStub
}
func (s *Store) ListTargets(ctx context.Context, ws string, p domain.Page) ([]domain.Target, string, error) {
	return nil, "", errStub
}
func (s *Store) DeleteTarget(ctx context.Context, ws, name string, o DeleteOptions) error {
	return errStub
}

// PutEnvironmentSet: every environment must exist.
func (s *Store) PutEnvironmentSet(ctx context.Context, es domain.EnvironmentSet, expected *int64) (domain.EnvironmentSet, domain.Op, error) {
	return es, "", errStub
}
func (s *Store) GetEnvironmentSet(ctx context.Context, ws, name string) (domain.EnvironmentSet, error) {
	return domain.EnvironmentSet{}, errStub
}
func (s *Store) ListEnvironmentSets(ctx context.Context, ws string, p domain.Page) ([]domain.EnvironmentSet, string, error) {
	return nil, "", errStub
}
func (s *Store) DeleteEnvironmentSet(ctx context.Context, ws, name string, o DeleteOptions) error {
	return errStub
}

// PutProject: every environment and set must exist.
func (s *Store) PutProject(ctx context.Context, p domain.Project, expected *int64) (domain.Project, domain.Op, error) {
	return p, "", errStub
}
func (s *Store) GetProject(ctx context.Context, ws, name string) (domain.Project, error) {
	return domain.Project{}, errStub
}
func (s *Store) ListProjects(ctx context.Context, ws string, p domain.Page) ([]domain.Project, string, error) {
	return nil, "", errStub
}
func (s *Store) DeleteProject(ctx context.Context, ws, name string, o DeleteOptions) error {
	return errStub
}

// DeploymentFilter narrows ListDeployments; empty fields do not filter.
type DeploymentFilter struct {
	Project     string
	Environment string
	Target      string
}

func (s *Store) GetDeployment(ctx context.Context, ws, project, target string) (domain.Deployment, error) {
	return domain.Deployment{}, errStub
}
func (s *Store) ListDeployments(ctx context.Context, ws string, f DeploymentFilter, p domain.Page) ([]domain.Deployment, string, error) {
	return nil, "", errStub
}

// SetFacts sets keys of one scope (values already validated and compact). The
// scope's objects must exist (a deployment scope needs the deployment).
// expected compares with the scope's facts revision (see GetFacts). It
// returns the new revision, or the current one when nothing changed.
func (s *Store) SetFacts(ctx context.Context, ws string, sc domain.Scope, values map[string]json.RawMessage, expected *int64) (int64, error) {
	return 0, errStub
}

// UnsetFacts removes keys of a scope; keys that are not set are ignored.
func (s *Store) UnsetFacts(ctx context.Context, ws string, sc domain.Scope, keys []string, expected *int64) (int64, error) {
	return 0, errStub
}

// GetFacts returns a scope's facts sorted by key and the scope's facts
// revision (the last revision that set or unset any of its keys).
func (s *Store) GetFacts(ctx context.Context, ws string, sc domain.Scope) ([]domain.Fact, int64, error) {
	return nil, 0, errStub
}

// BulkSetFacts sets the facts of many scopes in one transaction and one
// revision: all or nothing.
func (s *Store) BulkSetFacts(ctx context.Context, ws string, entries []domain.FactsEntry) (int64, error) {
	return 0, errStub
}

// ResolveFacts merges the facts of a deployment from general to specific.
func (s *Store) ResolveFacts(ctx context.Context, ws, project, target string) (domain.Resolved, error) {
	return domain.Resolved{}, errStub
}
