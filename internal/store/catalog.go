package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
)

// kindSpec tells putObject how to handle one catalog kind.
type kindSpec[T any] struct {
	kind  string
	table string
	meta  func(*T) *domain.Meta
	load  func(ctx context.Context, r reader, ws, name string) (T, bool, error)
	// prepare checks references and fills derived fields of the object to
	// write; it runs inside the transaction, before the comparison.
	prepare func(ctx context.Context, t *wtx, obj *T) error
	save    func(ctx context.Context, t *wtx, obj *T, create bool) error
	// shrinks reports whether an update from cur to next can remove
	// deployments or project environments, so that facts of scopes that no
	// longer exist must be dropped. Nil means it never can.
	shrinks func(cur, next *T) bool
}

// objectWhat names an object for messages, after checking that an object
// of a kind other than workspace names its workspace.
func objectWhat[T any](spec kindSpec[T], obj *T) (string, error) {
	m := spec.meta(obj)
	what := fmt.Sprintf("%s %s", spec.kind, errs.Quote(m.Name))
	if spec.kind != domain.KindWorkspace {
		if m.Workspace == "" {
			return "", errs.Field("workspace", "is required")
		}
		what += fmt.Sprintf(" in workspace %s", errs.Quote(m.Workspace))
	}
	return what, nil
}

// putObjectIn is the create-or-update of every catalog kind inside t:
// check the expected revision and references, return OpNone if nothing
// changes, else save and record one change entry.
func putObjectIn[T any](ctx context.Context, t *wtx, spec kindSpec[T], obj T, expected *int64) (T, domain.Op, error) {
	what, err := objectWhat(spec, &obj)
	if err != nil {
		return obj, "", err
	}
	out, op, err := putObjectTx(ctx, t, spec, obj, expected, what)
	if err != nil {
		return obj, "", fmt.Errorf("put %s: %w", what, err)
	}
	return out, op, nil
}

func putObjectTx[T any](ctx context.Context, t *wtx, spec kindSpec[T], obj T, expected *int64, what string) (T, domain.Op, error) {
	m := spec.meta(&obj)
	if spec.kind != domain.KindWorkspace {
		if _, ok, err := loadMeta(ctx, t.r(), "workspaces", "", m.Workspace, ""); err != nil {
			return obj, "", err
		} else if !ok {
			return obj, "", errs.Field("workspace", "workspace %s does not exist", errs.Quote(m.Workspace))
		}
	}
	cur, exists, err := spec.load(ctx, t.r(), m.Workspace, m.Name)
	if err != nil {
		return obj, "", err
	}
	var curRev int64
	if exists {
		curRev = spec.meta(&cur).Revision
	}
	if err := checkExpected(what, expected, curRev); err != nil {
		return obj, "", err
	}
	next := obj
	nm := spec.meta(&next)
	if spec.prepare != nil {
		if err := spec.prepare(ctx, t, &next); err != nil {
			return obj, "", err
		}
	}
	if exists {
		cm := spec.meta(&cur)
		nm.Revision, nm.CreatedAt, nm.UpdatedAt = cm.Revision, cm.CreatedAt, cm.UpdatedAt
		a, _ := json.Marshal(cur)
		b, _ := json.Marshal(next)
		if bytes.Equal(a, b) {
			return cur, domain.OpNone, nil
		}
	}
	nm.Revision, nm.UpdatedAt = t.rev, t.now
	op := domain.OpUpdate
	if !exists {
		nm.CreatedAt, op = t.now, domain.OpCreate
	}
	if err := spec.save(ctx, t, &next, !exists); err != nil {
		return obj, "", t.mapConstraint(err, "save "+what)
	}
	var before any
	if exists {
		before = cur
	}
	ws := m.Workspace
	if spec.kind == domain.KindWorkspace {
		ws = m.Name
	}
	if err := t.record(ws, spec.kind, m.Name, op, before, next); err != nil {
		return obj, "", err
	}
	if exists && spec.shrinks != nil && spec.shrinks(&cur, &next) {
		if err := t.dropOrphanFacts(ctx, ws); err != nil {
			return obj, "", err
		}
	}
	return next, op, nil
}

// lost reports whether before holds a name after lacks.
func lost(before, after []string) bool {
	for _, n := range before {
		if !slices.Contains(after, n) {
			return true
		}
	}
	return false
}

func notFound(kind, ws, name string) error {
	if kind == domain.KindWorkspace {
		return errs.New(errs.NotFound, "workspace %s", errs.Quote(name))
	}
	return errs.New(errs.NotFound, "%s %s in workspace %s", kindWords[kind], errs.Quote(name), errs.Quote(ws))
}

// kindWords are the kinds as messages name them.
var kindWords = map[string]string{
	domain.KindWorkspace: "workspace", domain.KindEnvironment: "environment", domain.KindTarget: "target",
	domain.KindEnvironmentSet: "environment set", domain.KindProject: "project",
}

// getObject returns one object or errs.NotFound.
func getObject[T any](ctx context.Context, s *Store, spec kindSpec[T], ws, name string) (T, error) {
	obj, ok, err := spec.load(ctx, s.r(), ws, name)
	if err != nil {
		var zero T
		return zero, fmt.Errorf("get %s %s: %w", spec.kind, errs.Quote(name), err)
	}
	if !ok {
		var zero T
		return zero, notFound(spec.kind, ws, name)
	}
	return obj, nil
}

// --- workspaces ---

var workspaceSpec = kindSpec[domain.Workspace]{
	kind: domain.KindWorkspace, table: "workspaces",
	meta: func(w *domain.Workspace) *domain.Meta { return &w.Meta },
	load: func(ctx context.Context, r reader, _, name string) (domain.Workspace, bool, error) {
		m, ok, err := loadMeta(ctx, r, "workspaces", "", name, "")
		return domain.Workspace{Meta: m}, ok, err
	},
	save: func(ctx context.Context, t *wtx, w *domain.Workspace, create bool) error {
		return t.saveMeta(ctx, "workspaces", &w.Meta, create, nil)
	},
}

// PutWorkspace creates or updates a workspace.
func (s *Store) PutWorkspace(ctx context.Context, w domain.Workspace, expected *int64) (domain.Workspace, domain.Op, error) {
	return writeOne(ctx, s, func(t *Tx) (domain.Workspace, domain.Op, error) { return t.PutWorkspace(ctx, w, expected) })
}

// PutWorkspace is Store.PutWorkspace inside t.
func (t *Tx) PutWorkspace(ctx context.Context, w domain.Workspace, expected *int64) (domain.Workspace, domain.Op, error) {
	w.Workspace = ""
	if err := w.Validate(); err != nil {
		return w, "", err
	}
	return putObjectIn(ctx, t.w, workspaceSpec, w, expected)
}

// GetWorkspace returns a workspace or errs.NotFound.
func (s *Store) GetWorkspace(ctx context.Context, name string) (domain.Workspace, error) {
	return getObject(ctx, s, workspaceSpec, "", name)
}

// ListWorkspaces lists workspaces by name.
func (s *Store) ListWorkspaces(ctx context.Context, p domain.Page) ([]domain.Workspace, string, error) {
	size, after, err := pageOf(p)
	if err != nil {
		return nil, "", err
	}
	rows, err := s.query(ctx, "SELECT "+metaCols+" FROM workspaces WHERE name > ? ORDER BY name LIMIT ?", after, size+1)
	if err != nil {
		return nil, "", fmt.Errorf("list workspaces: %w", err)
	}
	defer rows.Close()
	var out []domain.Workspace
	for rows.Next() {
		var w domain.Workspace
		if err := scanMeta(rows, &w.Meta); err != nil {
			return nil, "", fmt.Errorf("list workspaces: %w", err)
		}
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list workspaces: %w", err)
	}
	next := ""
	if len(out) > size {
		out = out[:size]
		next = pageToken(out[size-1].Name)
	}
	return out, next, nil
}

// --- environments ---

var environmentSpec = kindSpec[domain.Environment]{
	kind: domain.KindEnvironment, table: "environments",
	meta: func(e *domain.Environment) *domain.Meta { return &e.Meta },
	load: func(ctx context.Context, r reader, ws, name string) (domain.Environment, bool, error) {
		m, ok, err := loadMeta(ctx, r, "environments", ws, name, "")
		return domain.Environment{Meta: m}, ok, err
	},
	save: func(ctx context.Context, t *wtx, e *domain.Environment, create bool) error {
		return t.saveMeta(ctx, "environments", &e.Meta, create, nil)
	},
}

// PutEnvironment creates or updates an environment (Meta.Workspace required).
func (s *Store) PutEnvironment(ctx context.Context, e domain.Environment, expected *int64) (domain.Environment, domain.Op, error) {
	return writeOne(ctx, s, func(t *Tx) (domain.Environment, domain.Op, error) { return t.PutEnvironment(ctx, e, expected) })
}

// PutEnvironment is Store.PutEnvironment inside t.
func (t *Tx) PutEnvironment(ctx context.Context, e domain.Environment, expected *int64) (domain.Environment, domain.Op, error) {
	if err := e.Validate(); err != nil {
		return e, "", err
	}
	return putObjectIn(ctx, t.w, environmentSpec, e, expected)
}

// GetEnvironment returns an environment or errs.NotFound.
func (s *Store) GetEnvironment(ctx context.Context, ws, name string) (domain.Environment, error) {
	return getObject(ctx, s, environmentSpec, ws, name)
}

// ListEnvironments lists a workspace's environments by name.
func (s *Store) ListEnvironments(ctx context.Context, ws string, p domain.Page) ([]domain.Environment, string, error) {
	return listMeta(ctx, s, "environments", ws, p, "", func(m domain.Meta, _ []any) domain.Environment {
		return domain.Environment{Meta: m}
	})
}

// --- targets ---

var targetSpec = kindSpec[domain.Target]{
	kind: domain.KindTarget, table: "targets",
	shrinks: func(cur, next *domain.Target) bool { return cur.Environment != next.Environment },
	meta:    func(t *domain.Target) *domain.Meta { return &t.Meta },
	load: func(ctx context.Context, r reader, ws, name string) (domain.Target, bool, error) {
		var env string
		m, ok, err := loadMeta(ctx, r, "targets", ws, name, "environment", &env)
		return domain.Target{Meta: m, Environment: env}, ok, err
	},
	prepare: func(ctx context.Context, t *wtx, tg *domain.Target) error {
		return requireNames(ctx, t, "environments", tg.Workspace, []string{tg.Environment}, "environment", "environment %s does not exist", false)
	},
	save: func(ctx context.Context, t *wtx, tg *domain.Target, create bool) error {
		return t.saveMeta(ctx, "targets", &tg.Meta, create, []string{"environment"}, tg.Environment)
	},
}

// PutTarget: the environment must exist (errs.Invalid naming field "environment").
func (s *Store) PutTarget(ctx context.Context, tg domain.Target, expected *int64) (domain.Target, domain.Op, error) {
	return writeOne(ctx, s, func(t *Tx) (domain.Target, domain.Op, error) { return t.PutTarget(ctx, tg, expected) })
}

// PutTarget is Store.PutTarget inside t.
func (t *Tx) PutTarget(ctx context.Context, tg domain.Target, expected *int64) (domain.Target, domain.Op, error) {
	if err := tg.Validate(); err != nil {
		return tg, "", err
	}
	return putObjectIn(ctx, t.w, targetSpec, tg, expected)
}

// GetTarget returns a target or errs.NotFound.
func (s *Store) GetTarget(ctx context.Context, ws, name string) (domain.Target, error) {
	return getObject(ctx, s, targetSpec, ws, name)
}

// ListTargets lists a workspace's targets by name.
func (s *Store) ListTargets(ctx context.Context, ws string, p domain.Page) ([]domain.Target, string, error) {
	return listMeta(ctx, s, "targets", ws, p, "environment", func(m domain.Meta, extra []any) domain.Target {
		return domain.Target{Meta: m, Environment: *extra[0].(*string)}
	}, new(string))
}

// requireNames checks that every name exists in table (of workspace ws);
// the first missing one is reported as field[i] (or field alone when
// indexed is false).
func requireNames(ctx context.Context, t *wtx, table, ws string, names []string, field, format string, indexed bool) error {
	if len(names) == 0 {
		return nil
	}
	found, err := t.r().strings(ctx, "SELECT name FROM "+table+" WHERE workspace = ? AND name IN "+inList(len(names)),
		append([]any{ws}, anys(names)...)...)
	if err != nil {
		return fmt.Errorf("check %s: %w", field, err)
	}
	have := make(map[string]bool, len(found))
	for _, n := range found {
		have[n] = true
	}
	for i, n := range names {
		if !have[n] {
			f := field
			if indexed {
				f = fmt.Sprintf("%s[%d]", field, i)
			}
			return errs.Field(f, format, errs.Quote(n))
		}
	}
	return nil
}

// listMeta lists one page of a workspace's rows of table, with extraCols
// scanned into extra and build making the domain object.
func listMeta[T any](ctx context.Context, s *Store, table, ws string, p domain.Page, extraCols string, build func(domain.Meta, []any) T, extra ...any) ([]T, string, error) {
	size, after, err := pageOf(p)
	if err != nil {
		return nil, "", err
	}
	cols := metaCols
	if extraCols != "" {
		cols += ", " + extraCols
	}
	rows, err := s.query(ctx, "SELECT "+cols+" FROM "+table+" WHERE workspace = ? AND name > ? ORDER BY name LIMIT ?", ws, after, size+1)
	if err != nil {
		return nil, "", fmt.Errorf("list %s: %w", table, err)
	}
	defer rows.Close()
	var out []T
	var last string
	for rows.Next() {
		m := domain.Meta{Workspace: ws}
		if err := scanMeta(rows, &m, extra...); err != nil {
			return nil, "", fmt.Errorf("list %s: %w", table, err)
		}
		out = append(out, build(m, extra))
		last = m.Name
		if len(out) == size {
			break
		}
	}
	more := rows.Next()
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list %s: %w", table, err)
	}
	if more {
		return out, pageToken(last), nil
	}
	return out, "", nil
}
