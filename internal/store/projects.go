package store

import (
	"context"
	"fmt"
	"slices"

	"github.com/flagops/flagops/internal/domain"
)

// --- environment sets ---

var environmentSetSpec = kindSpec[domain.EnvironmentSet]{
	kind: domain.KindEnvironmentSet, table: "environment_sets",
	shrinks: func(cur, next *domain.EnvironmentSet) bool { return lost(cur.Environments, next.Environments) },
	meta:    func(es *domain.EnvironmentSet) *domain.Meta { return &es.Meta },
	load: func(ctx context.Context, r reader, ws, name string) (domain.EnvironmentSet, bool, error) {
		m, ok, err := loadMeta(ctx, r, "environment_sets", ws, name, "")
		if err != nil || !ok {
			return domain.EnvironmentSet{}, ok, err
		}
		envs, err := r.strings(ctx, "SELECT environment FROM environment_set_members WHERE workspace = ? AND set_name = ? ORDER BY environment", ws, name)
		return domain.EnvironmentSet{Meta: m, Environments: envs}, true, err
	},
	prepare: func(ctx context.Context, t *wtx, es *domain.EnvironmentSet) error {
		return requireNames(ctx, t, "environments", es.Workspace, es.Environments, "environments", "environment %s does not exist", true)
	},
	save: func(ctx context.Context, t *wtx, es *domain.EnvironmentSet, create bool) error {
		if err := t.saveMeta(ctx, "environment_sets", &es.Meta, create, nil); err != nil {
			return err
		}
		return t.replaceMembers(ctx, "environment_set_members", "set_name", "environment", es.Workspace, es.Name, es.Environments, create)
	},
}

// replaceMembers rewrites the member rows of one owner.
func (t *wtx) replaceMembers(ctx context.Context, table, ownerCol, memberCol, ws, owner string, members []string, create bool) error {
	if !create {
		if _, err := t.exec(ctx, "DELETE FROM "+table+" WHERE workspace = ? AND "+ownerCol+" = ?", ws, owner); err != nil {
			return fmt.Errorf("replace %s: %w", table, err)
		}
	}
	rows := make([][]any, len(members))
	for i, m := range members {
		rows[i] = []any{ws, owner, m}
	}
	return t.insertRows(ctx, table, []string{"workspace", ownerCol, memberCol}, rows, "")
}

// PutEnvironmentSet: every environment must exist.
func (s *Store) PutEnvironmentSet(ctx context.Context, es domain.EnvironmentSet, expected *int64) (domain.EnvironmentSet, domain.Op, error) {
	return writeOne(ctx, s, func(t *Tx) (domain.EnvironmentSet, domain.Op, error) { return t.PutEnvironmentSet(ctx, es, expected) })
}

// PutEnvironmentSet is Store.PutEnvironmentSet inside t.
func (t *Tx) PutEnvironmentSet(ctx context.Context, es domain.EnvironmentSet, expected *int64) (domain.EnvironmentSet, domain.Op, error) {
	es.Normalize()
	if err := es.Validate(); err != nil {
		return es, "", err
	}
	return putObjectIn(ctx, t.w, environmentSetSpec, es, expected)
}

// GetEnvironmentSet returns an environment set or errs.NotFound.
func (s *Store) GetEnvironmentSet(ctx context.Context, ws, name string) (domain.EnvironmentSet, error) {
	return getObject(ctx, s, environmentSetSpec, ws, name)
}

// ListEnvironmentSets lists a workspace's environment sets by name.
func (s *Store) ListEnvironmentSets(ctx context.Context, ws string, p domain.Page) ([]domain.EnvironmentSet, string, error) {
	out, next, err := listMeta(ctx, s, "environment_sets", ws, p, "", func(m domain.Meta, _ []any) domain.EnvironmentSet {
		return domain.EnvironmentSet{Meta: m}
	})
	if err != nil || len(out) == 0 {
		return out, next, err
	}
	members, err := s.r().pairs(ctx, "SELECT set_name, environment FROM environment_set_members WHERE workspace = ? AND set_name >= ? AND set_name <= ? ORDER BY set_name, environment",
		ws, out[0].Name, out[len(out)-1].Name)
	if err != nil {
		return nil, "", fmt.Errorf("list environment sets: %w", err)
	}
	for i := range out {
		out[i].Environments = members[out[i].Name]
	}
	return out, next, nil
}

// pairs queries (owner, member) rows into owner → members, each list sorted
// in Go so that the order does not depend on the database's collation.
func (r reader) pairs(ctx context.Context, q string, args ...any) (map[string][]string, error) {
	rows, err := r.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var o, m string
		if err := rows.Scan(&o, &m); err != nil {
			return nil, err
		}
		out[o] = append(out[o], m)
	}
	for _, ms := range out {
		slices.Sort(ms)
	}
	return out, rows.Err()
}

// --- projects ---

var projectSpec = kindSpec[domain.Project]{
	kind: domain.KindProject, table: "projects",
	shrinks: func(cur, next *domain.Project) bool {
		return lost(cur.EffectiveEnvironments, next.EffectiveEnvironments)
	},
	meta: func(p *domain.Project) *domain.Meta { return &p.Meta },
	load: loadProject,
	prepare: func(ctx context.Context, t *wtx, p *domain.Project) error {
		if err := requireNames(ctx, t, "environments", p.Workspace, p.Environments, "environments", "environment %s does not exist", true); err != nil {
			return err
		}
		if err := requireNames(ctx, t, "environment_sets", p.Workspace, p.EnvironmentSets, "environmentSets", "environment set %s does not exist", true); err != nil {
			return err
		}
		eff := slices.Clone(p.Environments)
		if len(p.EnvironmentSets) > 0 {
			fromSets, err := t.r().strings(ctx, "SELECT DISTINCT environment FROM environment_set_members WHERE workspace = ? AND set_name IN "+inList(len(p.EnvironmentSets)),
				append([]any{p.Workspace}, anys(p.EnvironmentSets)...)...)
			if err != nil {
				return fmt.Errorf("read environments of sets: %w", err)
			}
			eff = append(eff, fromSets...)
		}
		p.EffectiveEnvironments = sortedUnique(eff)
		return nil
	},
	save: func(ctx context.Context, t *wtx, p *domain.Project, create bool) error {
		if err := t.saveMeta(ctx, "projects", &p.Meta, create, nil); err != nil {
			return err
		}
		if err := t.replaceMembers(ctx, "project_environments", "project", "environment", p.Workspace, p.Name, p.Environments, create); err != nil {
			return err
		}
		return t.replaceMembers(ctx, "project_sets", "project", "set_name", p.Workspace, p.Name, p.EnvironmentSets, create)
	},
}

func sortedUnique(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	slices.Sort(in)
	return slices.Compact(in)
}

func loadProject(ctx context.Context, r reader, ws, name string) (domain.Project, bool, error) {
	m, ok, err := loadMeta(ctx, r, "projects", ws, name, "")
	if err != nil || !ok {
		return domain.Project{}, ok, err
	}
	p := domain.Project{Meta: m}
	if err := fillProjects(ctx, r, ws, name, name, []*domain.Project{&p}); err != nil {
		return domain.Project{}, false, err
	}
	return p, true, nil
}

// fillProjects fills the environments, sets and effective environments of
// the projects named from first to last (inclusive), in three queries.
func fillProjects(ctx context.Context, r reader, ws, first, last string, ps []*domain.Project) error {
	q := func(sel, table, col string) (map[string][]string, error) {
		return r.pairs(ctx, "SELECT "+sel+" FROM "+table+" WHERE workspace = ? AND project >= ? AND project <= ? ORDER BY project, "+col, ws, first, last)
	}
	envs, err := q("project, environment", "project_environments", "environment")
	if err != nil {
		return fmt.Errorf("read project environments: %w", err)
	}
	sets, err := q("project, set_name", "project_sets", "set_name")
	if err != nil {
		return fmt.Errorf("read project environment sets: %w", err)
	}
	eff, err := q("project, environment", "project_effective_environments", "environment")
	if err != nil {
		return fmt.Errorf("read project effective environments: %w", err)
	}
	for _, p := range ps {
		p.Environments, p.EnvironmentSets, p.EffectiveEnvironments = envs[p.Name], sets[p.Name], eff[p.Name]
	}
	return nil
}

// PutProject: every environment and set must exist.
func (s *Store) PutProject(ctx context.Context, p domain.Project, expected *int64) (domain.Project, domain.Op, error) {
	return writeOne(ctx, s, func(t *Tx) (domain.Project, domain.Op, error) { return t.PutProject(ctx, p, expected) })
}

// PutProject is Store.PutProject inside t.
func (t *Tx) PutProject(ctx context.Context, p domain.Project, expected *int64) (domain.Project, domain.Op, error) {
	p.Normalize()
	p.EffectiveEnvironments = nil
	if err := p.Validate(); err != nil {
		return p, "", err
	}
	return putObjectIn(ctx, t.w, projectSpec, p, expected)
}

// GetProject returns a project, its effective environments filled, or
// errs.NotFound.
func (s *Store) GetProject(ctx context.Context, ws, name string) (domain.Project, error) {
	return getObject(ctx, s, projectSpec, ws, name)
}

// ListProjects lists a workspace's projects by name, effective environments
// filled.
func (s *Store) ListProjects(ctx context.Context, ws string, p domain.Page) ([]domain.Project, string, error) {
	out, next, err := listMeta(ctx, s, "projects", ws, p, "", func(m domain.Meta, _ []any) domain.Project {
		return domain.Project{Meta: m}
	})
	if err != nil || len(out) == 0 {
		return out, next, err
	}
	ptrs := make([]*domain.Project, len(out))
	for i := range out {
		ptrs[i] = &out[i]
	}
	if err := fillProjects(ctx, s.r(), ws, out[0].Name, out[len(out)-1].Name, ptrs); err != nil {
		return nil, "", fmt.Errorf("list projects: %w", err)
	}
	return out, next, nil
}
