package store

import (
	"context"
	"fmt"
	"slices"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
)

// Tx is one write transaction of Write or DryRun. Every write made through
// it shares one revision, and its change entries are committed together
// with the state they describe, or not at all. Its methods are the
// resource-level reads and writes of the store; the SQL stays inside.
//
// A Tx is not safe for concurrent use and must not be used after the
// function it was given to returns. Its reads see every write made through
// it before, and every commit of other writers before it began: the
// revision counter's lock, taken first, serialises writers.
type Tx struct{ w *wtx }

// Write runs fn in one write transaction and commits it: one revision for
// everything fn writes, appended to the change log in the same transaction,
// then the commit hooks (OnCommit) and, on PostgreSQL, a notification to
// the other instances. It returns the committed revision, or 0 when fn
// wrote nothing (the transaction is rolled back and no revision is used).
//
// An error from fn rolls everything back. A write that lost a race with
// another writer is retried from the start, so fn must be safe to call
// again: it must not keep results of an attempt that failed.
func (s *Store) Write(ctx context.Context, fn func(*Tx) error) (int64, error) {
	return s.write(ctx, func(w *wtx) error { return fn(&Tx{w: w}) })
}

// DryRun runs fn exactly as Write would, with the same reads, checks and
// change entries, and then rolls the transaction back: nothing is
// committed, no revision is used and no one is notified. fn learns what
// Write would do from its Tx (Changes, Revision).
func (s *Store) DryRun(ctx context.Context, fn func(*Tx) error) error {
	_, err := s.run(ctx, func(w *wtx) error { return fn(&Tx{w: w}) }, true)
	return err
}

// Revision is the revision the transaction commits at (in a dry run, the
// one it would have committed at).
func (t *Tx) Revision() int64 { return t.w.rev }

// Changes returns a copy of the change entries written so far, in order.
func (t *Tx) Changes() []domain.Change { return slices.Clone(t.w.changes) }

// ChangeCount is len(Changes()) without the copy: a caller notes it before
// a write and reads the write's own entries with ChangesSince.
func (t *Tx) ChangeCount() int { return len(t.w.changes) }

// ChangesSince returns a copy of the change entries written after the
// first n.
func (t *Tx) ChangesSince(n int) []domain.Change { return slices.Clone(t.w.changes[n:]) }

// writeOne runs one write of a Tx in a transaction of its own.
func writeOne[T any](ctx context.Context, s *Store, fn func(t *Tx) (T, domain.Op, error)) (T, domain.Op, error) {
	var out T
	var op domain.Op
	_, err := s.Write(ctx, func(t *Tx) error {
		var err error
		out, op, err = fn(t)
		return err
	})
	if err != nil {
		return out, "", err
	}
	return out, op, nil
}

// PruneKinds are the kinds Refs lists and Delete removes, in the order a
// prune deletes them: what refers to others goes before what it refers to.
var PruneKinds = []string{
	domain.KindPromotionPolicy, domain.KindFlag, domain.KindSegment, domain.KindFact,
	domain.KindProject, domain.KindTarget, domain.KindEnvironmentSet, domain.KindEnvironment,
}

// catalogTables are the tables of the catalog kinds Refs lists.
var catalogTables = map[string]string{
	domain.KindEnvironment: "environments", domain.KindTarget: "targets",
	domain.KindEnvironmentSet: "environment_sets", domain.KindProject: "projects",
}

// Refs lists the stored objects of one kind (one of PruneKinds) in
// workspace ws, ordered by their change-log key.
func (t *Tx) Refs(ctx context.Context, ws, kind string) ([]domain.ObjectRef, error) {
	r := t.w.r()
	var out []domain.ObjectRef
	var err error
	switch kind {
	case domain.KindEnvironment, domain.KindTarget, domain.KindEnvironmentSet, domain.KindProject:
		var names []string
		names, err = r.strings(ctx, "SELECT name FROM "+catalogTables[kind]+" WHERE workspace = ? ORDER BY name", ws)
		for _, n := range names {
			out = append(out, domain.ObjectRef{Kind: kind, Name: n})
		}
	case domain.KindFlag, domain.KindSegment:
		table := map[string]string{domain.KindFlag: "flags", domain.KindSegment: "segments"}[kind]
		out, err = scanRefs(ctx, r, "SELECT project, key FROM "+table+" WHERE workspace = ? ORDER BY project, key", ws,
			func(v []string) (domain.ObjectRef, error) {
				return domain.ObjectRef{Kind: kind, Project: v[0], Name: v[1]}, nil
			})
	case domain.KindPromotionPolicy:
		out, err = scanRefs(ctx, r, "SELECT project, from_env, to_env FROM promotion_policies WHERE workspace = ? ORDER BY project, to_env, from_env", ws,
			func(v []string) (domain.ObjectRef, error) {
				return domain.ObjectRef{Kind: kind, Project: v[0], From: v[1], To: v[2]}, nil
			})
	case domain.KindFact:
		out, err = scanRefs(ctx, r, "SELECT scope, key FROM facts WHERE workspace = ? ORDER BY scope, key", ws,
			func(v []string) (domain.ObjectRef, error) {
				sc, err := domain.ParseScope(v[0])
				return domain.ObjectRef{Kind: kind, Scope: sc, Name: v[1]}, err
			})
	default:
		return nil, errs.Field("kind", "%q cannot be listed for a prune (one of %v)", kind, PruneKinds)
	}
	if err != nil {
		return nil, fmt.Errorf("list %s objects of workspace %q: %w", kind, ws, err)
	}
	return out, nil
}

// scanRefs reads rows of string columns into refs.
func scanRefs(ctx context.Context, r reader, q, ws string, build func([]string) (domain.ObjectRef, error)) ([]domain.ObjectRef, error) {
	rows, err := r.query(ctx, q, ws)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []domain.ObjectRef
	for rows.Next() {
		v := make([]string, len(cols))
		dest := make([]any, len(cols))
		for i := range v {
			dest[i] = &v[i]
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		ref, err := build(v)
		if err != nil {
			return nil, err
		}
		out = append(out, ref)
	}
	return out, rows.Err()
}

// Delete removes the object ref names from workspace ws, as the kind's own
// delete does without force: an object others still depend on is refused
// with errs.FailedPrecondition, before anything is written, so a caller may
// try it again once the dependents are gone.
func (t *Tx) Delete(ctx context.Context, ws string, ref domain.ObjectRef) error {
	switch ref.Kind {
	case domain.KindEnvironment:
		return t.DeleteEnvironment(ctx, ws, ref.Name, DeleteOptions{})
	case domain.KindTarget:
		return t.DeleteTarget(ctx, ws, ref.Name, DeleteOptions{})
	case domain.KindEnvironmentSet:
		return t.DeleteEnvironmentSet(ctx, ws, ref.Name, DeleteOptions{})
	case domain.KindProject:
		return t.DeleteProject(ctx, ws, ref.Name, DeleteOptions{})
	case domain.KindFlag:
		return t.DeleteFlag(ctx, ws, ref.Project, ref.Name, DeleteOptions{})
	case domain.KindSegment:
		return t.DeleteSegment(ctx, ws, ref.Project, ref.Name, DeleteOptions{})
	case domain.KindPromotionPolicy:
		return t.DeletePromotionPolicy(ctx, ws, ref.Project, ref.From, ref.To)
	case domain.KindFact:
		_, err := t.UnsetFacts(ctx, ws, ref.Scope, []string{ref.Name}, nil)
		return err
	}
	return errs.Field("kind", "%q cannot be deleted by a prune (one of %v)", ref.Kind, PruneKinds)
}
