package store

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
)

// DeleteOptions control a delete. Force removes what depends on the object
// too, recording every removal in the change log at the same revision.
type DeleteOptions struct {
	Force    bool
	Expected *int64
}

// deleteRow removes one catalog row and records its deletion.
func (t *wtx) deleteRow(ctx context.Context, kind, table, ws, name string, before any) error {
	q, args := "DELETE FROM "+table+" WHERE workspace = ? AND name = ?", []any{ws, name}
	if table == "workspaces" {
		q, args = "DELETE FROM workspaces WHERE name = ?", []any{name}
	}
	if _, err := t.exec(ctx, q, args...); err != nil {
		return fmt.Errorf("delete %s %s: %w", kind, errs.Quote(name), err)
	}
	return t.record(ws, kind, name, domain.OpDelete, before, nil)
}

// forceUpdate rewrites a dependent object during a forced delete (an
// environment removed from a set, say) and records the update.
func forceUpdate[T any](ctx context.Context, t *wtx, spec kindSpec[T], ws, name string, mutate func(*T)) error {
	cur, ok, err := spec.load(ctx, t.r(), ws, name)
	if err != nil || !ok {
		return err
	}
	next := cur
	mutate(&next)
	if spec.prepare != nil {
		if err := spec.prepare(ctx, t, &next); err != nil {
			return err
		}
	}
	m := spec.meta(&next)
	m.Revision, m.UpdatedAt = t.rev, t.now
	if err := spec.save(ctx, t, &next, false); err != nil {
		return fmt.Errorf("update %s %s: %w", spec.kind, errs.Quote(name), err)
	}
	return t.record(ws, spec.kind, name, domain.OpUpdate, cur, next)
}

// without returns a copy of list without name (nil when empty).
func without(list []string, name string) []string {
	out := slices.DeleteFunc(slices.Clone(list), func(s string) bool { return s == name })
	if len(out) == 0 {
		return nil
	}
	return out
}

// dependents names the objects that refuse a delete, for its message.
type dependents []string

func (d *dependents) add(kind string, names []string) {
	for _, n := range names {
		*d = append(*d, kind+" "+n)
	}
}

func (d dependents) refuse(what string) error {
	return errs.New(errs.FailedPrecondition, "%s is used by %s; delete those first or force", what, strings.Join(d, ", "))
}

// DeleteEnvironment refuses (errs.FailedPrecondition, naming them) while
// targets, environment sets or projects use the environment, unless o.Force:
// then targets in it are deleted, and it is removed from sets and projects.
func (s *Store) DeleteEnvironment(ctx context.Context, ws, name string, o DeleteOptions) error {
	_, err := s.Write(ctx, func(t *Tx) error { return t.DeleteEnvironment(ctx, ws, name, o) })
	return err
}

// DeleteEnvironment is Store.DeleteEnvironment inside t.
func (t *Tx) DeleteEnvironment(ctx context.Context, ws, name string, o DeleteOptions) error {
	if err := t.w.deleteEnvironment(ctx, ws, name, o); err != nil {
		return fmt.Errorf("delete environment %s: %w", errs.Quote(name), err)
	}
	return nil
}

func (t *wtx) deleteEnvironment(ctx context.Context, ws, name string, o DeleteOptions) error {
	cur, ok, err := environmentSpec.load(ctx, t.r(), ws, name)
	if err != nil {
		return err
	}
	if !ok {
		return notFound(domain.KindEnvironment, ws, name)
	}
	if err := checkExpected(fmt.Sprintf("environment %s", errs.Quote(name)), o.Expected, cur.Revision); err != nil {
		return err
	}
	r := t.r()
	projects, err := r.strings(ctx, "SELECT project FROM project_environments WHERE workspace = ? AND environment = ? ORDER BY project", ws, name)
	if err != nil {
		return err
	}
	sets, err := r.strings(ctx, "SELECT set_name FROM environment_set_members WHERE workspace = ? AND environment = ? ORDER BY set_name", ws, name)
	if err != nil {
		return err
	}
	targets, err := r.strings(ctx, "SELECT name FROM targets WHERE workspace = ? AND environment = ? ORDER BY name", ws, name)
	if err != nil {
		return err
	}
	var deps dependents
	deps.add("project", projects)
	deps.add("environment set", sets)
	deps.add("target", targets)
	if len(deps) > 0 && !o.Force {
		return deps.refuse(fmt.Sprintf("environment %s", errs.Quote(name)))
	}
	for _, p := range projects {
		if err := forceUpdate(ctx, t, projectSpec, ws, p, func(p *domain.Project) { p.Environments = without(p.Environments, name) }); err != nil {
			return err
		}
	}
	for _, es := range sets {
		if err := forceUpdate(ctx, t, environmentSetSpec, ws, es, func(s *domain.EnvironmentSet) { s.Environments = without(s.Environments, name) }); err != nil {
			return err
		}
	}
	for _, tg := range targets {
		before, _, err := targetSpec.load(ctx, r, ws, tg)
		if err != nil {
			return err
		}
		if err := t.deleteRow(ctx, domain.KindTarget, "targets", ws, tg, before); err != nil {
			return err
		}
	}
	if err := t.deleteRow(ctx, domain.KindEnvironment, "environments", ws, name, cur); err != nil {
		return err
	}
	return t.dropOrphanFacts(ctx, ws)
}

// DeleteTarget deletes a target and the facts of its target and deployment
// scopes, recording each removal.
func (s *Store) DeleteTarget(ctx context.Context, ws, name string, o DeleteOptions) error {
	_, err := s.Write(ctx, func(t *Tx) error { return t.DeleteTarget(ctx, ws, name, o) })
	return err
}

// DeleteTarget is Store.DeleteTarget inside t.
func (t *Tx) DeleteTarget(ctx context.Context, ws, name string, o DeleteOptions) error {
	return deleteLeaf(ctx, t.w, targetSpec, ws, name, o, nil)
}

// DeleteProject deletes a project and the facts of its project,
// project-environment and deployment scopes, recording each removal. A
// project with flags or segments is refused unless o.Force, which deletes
// them too.
func (s *Store) DeleteProject(ctx context.Context, ws, name string, o DeleteOptions) error {
	_, err := s.Write(ctx, func(t *Tx) error { return t.DeleteProject(ctx, ws, name, o) })
	return err
}

// DeleteProject is Store.DeleteProject inside t.
func (t *Tx) DeleteProject(ctx context.Context, ws, name string, o DeleteOptions) error {
	return deleteLeaf(ctx, t.w, projectSpec, ws, name, o, func(ctx context.Context, t *wtx) error {
		return t.dropProjectFlags(ctx, ws, name, o.Force)
	})
}

// deleteLeaf deletes an object nothing in the catalog refers to, and the
// facts of scopes that no longer exist.
// before, when not nil, runs after the checks and before the row goes.
func deleteLeaf[T any](ctx context.Context, t *wtx, spec kindSpec[T], ws, name string, o DeleteOptions, before func(context.Context, *wtx) error) error {
	if err := deleteLeafIn(ctx, t, spec, ws, name, o, before); err != nil {
		return fmt.Errorf("delete %s %s: %w", kindWords[spec.kind], errs.Quote(name), err)
	}
	return nil
}

func deleteLeafIn[T any](ctx context.Context, t *wtx, spec kindSpec[T], ws, name string, o DeleteOptions, before func(context.Context, *wtx) error) error {
	cur, ok, err := spec.load(ctx, t.r(), ws, name)
	if err != nil {
		return err
	}
	if !ok {
		return notFound(spec.kind, ws, name)
	}
	if err := checkExpected(fmt.Sprintf("%s %s", kindWords[spec.kind], errs.Quote(name)), o.Expected, spec.meta(&cur).Revision); err != nil {
		return err
	}
	if before != nil {
		if err := before(ctx, t); err != nil {
			return err
		}
	}
	if err := t.deleteRow(ctx, spec.kind, spec.table, ws, name, cur); err != nil {
		return err
	}
	return t.dropOrphanFacts(ctx, ws)
}

// DeleteEnvironmentSet refuses while projects use the set, unless o.Force:
// then the set is removed from them.
func (s *Store) DeleteEnvironmentSet(ctx context.Context, ws, name string, o DeleteOptions) error {
	_, err := s.Write(ctx, func(t *Tx) error { return t.DeleteEnvironmentSet(ctx, ws, name, o) })
	return err
}

// DeleteEnvironmentSet is Store.DeleteEnvironmentSet inside t.
func (t *Tx) DeleteEnvironmentSet(ctx context.Context, ws, name string, o DeleteOptions) error {
	if err := t.w.deleteEnvironmentSet(ctx, ws, name, o); err != nil {
		return fmt.Errorf("delete environment set %s: %w", errs.Quote(name), err)
	}
	return nil
}

func (t *wtx) deleteEnvironmentSet(ctx context.Context, ws, name string, o DeleteOptions) error {
	cur, ok, err := environmentSetSpec.load(ctx, t.r(), ws, name)
	if err != nil {
		return err
	}
	if !ok {
		return notFound(domain.KindEnvironmentSet, ws, name)
	}
	if err := checkExpected(fmt.Sprintf("environment set %s", errs.Quote(name)), o.Expected, cur.Revision); err != nil {
		return err
	}
	projects, err := t.r().strings(ctx, "SELECT project FROM project_sets WHERE workspace = ? AND set_name = ? ORDER BY project", ws, name)
	if err != nil {
		return err
	}
	var deps dependents
	deps.add("project", projects)
	if len(deps) > 0 && !o.Force {
		return deps.refuse(fmt.Sprintf("environment set %s", errs.Quote(name)))
	}
	for _, p := range projects {
		if err := forceUpdate(ctx, t, projectSpec, ws, p, func(p *domain.Project) { p.EnvironmentSets = without(p.EnvironmentSets, name) }); err != nil {
			return err
		}
	}
	if err := t.deleteRow(ctx, domain.KindEnvironmentSet, "environment_sets", ws, name, cur); err != nil {
		return err
	}
	return t.dropOrphanFacts(ctx, ws)
}

// DeleteWorkspace deletes an empty workspace; a non-empty one (or "default")
// is refused with errs.FailedPrecondition unless force (not for default).
func (s *Store) DeleteWorkspace(ctx context.Context, name string, o DeleteOptions) error {
	if name == domain.DefaultWorkspace {
		return errs.New(errs.FailedPrecondition, "workspace %s cannot be deleted", errs.Quote(name))
	}
	_, err := s.write(ctx, func(t *wtx) error {
		cur, ok, err := workspaceSpec.load(ctx, t.r(), "", name)
		if err != nil {
			return err
		}
		if !ok {
			return notFound(domain.KindWorkspace, "", name)
		}
		if err := checkExpected(fmt.Sprintf("workspace %s", errs.Quote(name)), o.Expected, cur.Revision); err != nil {
			return err
		}
		r := t.r()
		var deps dependents
		names := map[string][]string{}
		for _, k := range []struct{ kind, table string }{
			{domain.KindProject, "projects"}, {domain.KindEnvironmentSet, "environment_sets"},
			{domain.KindTarget, "targets"}, {domain.KindEnvironment, "environments"},
		} {
			ns, err := r.strings(ctx, "SELECT name FROM "+k.table+" WHERE workspace = ? ORDER BY name", name)
			if err != nil {
				return err
			}
			names[k.table] = ns
			deps.add(kindWords[k.kind], ns)
		}
		var facts int
		if err := r.queryRow(ctx, "SELECT COUNT(*) FROM facts WHERE workspace = ?", name).Scan(&facts); err != nil {
			return err
		}
		if facts > 0 {
			deps = append(deps, fmt.Sprintf("%d facts", facts))
		}
		secrets, err := r.workspaceSecrets(ctx, name)
		if err != nil {
			return err
		}
		if len(secrets) > 0 {
			deps = append(deps, fmt.Sprintf("%d secrets", len(secrets)))
		}
		if len(deps) > 0 && !o.Force {
			return errs.New(errs.FailedPrecondition, "workspace %s is not empty: it holds %s; delete those first or force", errs.Quote(name), strings.Join(deps, ", "))
		}
		if err := t.dropFacts(ctx, name, func(domain.Scope) bool { return false }); err != nil {
			return err
		}
		for _, p := range names["projects"] {
			if err := t.dropProjectFlags(ctx, name, p, true); err != nil {
				return err
			}
		}
		if err := t.dropSecrets(ctx, name, secrets); err != nil {
			return err
		}
		if err := deleteAll(ctx, t, projectSpec, name, names["projects"]); err != nil {
			return err
		}
		if err := deleteAll(ctx, t, environmentSetSpec, name, names["environment_sets"]); err != nil {
			return err
		}
		if err := deleteAll(ctx, t, targetSpec, name, names["targets"]); err != nil {
			return err
		}
		if err := deleteAll(ctx, t, environmentSpec, name, names["environments"]); err != nil {
			return err
		}
		if _, err := t.exec(ctx, "DELETE FROM fact_scopes WHERE workspace = ?", name); err != nil {
			return err
		}
		return t.deleteRow(ctx, domain.KindWorkspace, "workspaces", name, name, cur)
	})
	if err != nil {
		return fmt.Errorf("delete workspace %s: %w", errs.Quote(name), err)
	}
	return nil
}

func deleteAll[T any](ctx context.Context, t *wtx, spec kindSpec[T], ws string, names []string) error {
	for _, n := range names {
		cur, _, err := spec.load(ctx, t.r(), ws, n)
		if err != nil {
			return err
		}
		if err := t.deleteRow(ctx, spec.kind, spec.table, ws, n, cur); err != nil {
			return err
		}
	}
	return nil
}
