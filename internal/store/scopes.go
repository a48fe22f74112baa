package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
)

// catalog is the part of a workspace's catalog that decides which fact
// scopes exist. It is loaded once per write that checks many scopes.
type catalog struct {
	envs      map[string]bool
	targets   map[string]string // target → environment
	projects  map[string]bool
	effective map[string]map[string]bool // project → effective environments
}

// loadCatalog loads the workspace's catalog, or only the objects sc names
// when sc is not nil (enough to check that one scope).
func loadCatalog(ctx context.Context, r reader, ws string, sc *domain.Scope) (*catalog, error) {
	c := &catalog{envs: map[string]bool{}, targets: map[string]string{}, projects: map[string]bool{}, effective: map[string]map[string]bool{}}
	filter := func(col, v string) (string, []any) {
		if sc == nil {
			return "", []any{ws}
		}
		return " AND " + col + " = ?", []any{ws, v}
	}
	skip := func(v string) bool { return sc != nil && v == "" }
	var envName, targetName, projectName string
	if sc != nil {
		envName, targetName, projectName = sc.Environment, sc.Target, sc.Project
	}
	if !skip(envName) {
		f, args := filter("name", envName)
		envs, err := r.strings(ctx, "SELECT name FROM environments WHERE workspace = ?"+f, args...)
		if err != nil {
			return nil, fmt.Errorf("load environments: %w", err)
		}
		for _, e := range envs {
			c.envs[e] = true
		}
	}
	if !skip(targetName) {
		f, args := filter("name", targetName)
		ts, err := r.pairs(ctx, "SELECT name, environment FROM targets WHERE workspace = ?"+f, args...)
		if err != nil {
			return nil, fmt.Errorf("load targets: %w", err)
		}
		for t, envs := range ts {
			c.targets[t] = envs[0]
		}
	}
	if !skip(projectName) {
		f, args := filter("name", projectName)
		ps, err := r.strings(ctx, "SELECT name FROM projects WHERE workspace = ?"+f, args...)
		if err != nil {
			return nil, fmt.Errorf("load projects: %w", err)
		}
		for _, p := range ps {
			c.projects[p] = true
		}
		f, args = filter("project", projectName)
		eff, err := r.pairs(ctx, "SELECT project, environment FROM project_effective_environments WHERE workspace = ?"+f, args...)
		if err != nil {
			return nil, fmt.Errorf("load project environments: %w", err)
		}
		for p, envs := range eff {
			m := map[string]bool{}
			for _, e := range envs {
				m[e] = true
			}
			c.effective[p] = m
		}
	}
	return c, nil
}

// scopeError returns nil when the objects sc names exist (for a deployment:
// the target's environment is one of the project's), else an Invalid error
// on field "scope" saying what is missing.
func (c *catalog) scopeError(sc domain.Scope) error {
	missing := func(format string, args ...any) error { return errs.Field("scope", format, args...) }
	needProject := func() error {
		if !c.projects[sc.Project] {
			return missing("project %q does not exist", sc.Project)
		}
		return nil
	}
	switch sc.Kind {
	case domain.ScopeEnvironment:
		if !c.envs[sc.Environment] {
			return missing("environment %s does not exist", sc.Environment)
		}
	case domain.ScopeTarget:
		if _, ok := c.targets[sc.Target]; !ok {
			return missing("target %q does not exist", sc.Target)
		}
	case domain.ScopeProject:
		return needProject()
	case domain.ScopeProjectEnv:
		if err := needProject(); err != nil {
			return err
		}
		if !c.envs[sc.Environment] {
			return missing("environment %s does not exist", sc.Environment)
		}
		if !c.effective[sc.Project][sc.Environment] {
			return missing("environment %q is not one of project %q's environments", sc.Environment, sc.Project)
		}
	case domain.ScopeDeployment:
		if err := needProject(); err != nil {
			return err
		}
		env, ok := c.targets[sc.Target]
		if !ok {
			return missing("target %q does not exist", sc.Target)
		}
		if !c.effective[sc.Project][env] {
			return missing("deployment %s@%s does not exist: target %q is in environment %q, which is not one of project %q's environments",
				sc.Project, sc.Target, sc.Target, env, sc.Project)
		}
	}
	return nil
}

// requireWorkspace fails with an Invalid "workspace" error when ws does not exist.
func requireWorkspace(ctx context.Context, r reader, ws string) error {
	var n string
	err := r.queryRow(ctx, "SELECT name FROM workspaces WHERE name = ?", ws).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return errs.Field("workspace", "workspace %s does not exist", errs.Quote(ws))
	}
	return err
}

// dropFacts deletes the facts of every scope keep refuses, recording one
// change per key and moving the scopes' facts revisions.
func (t *wtx) dropFacts(ctx context.Context, ws string, keep func(domain.Scope) bool) error {
	rows, err := t.query(ctx, "SELECT scope, key, value FROM facts WHERE workspace = ? ORDER BY scope, key", ws)
	if err != nil {
		return fmt.Errorf("read facts: %w", err)
	}
	type fact struct {
		scope, key string
		value      []byte
	}
	var gone []fact
	var scopes []string
	verdict := map[string]bool{}
	for rows.Next() {
		var f fact
		if err := rows.Scan(&f.scope, &f.key, &f.value); err != nil {
			rows.Close()
			return fmt.Errorf("read facts: %w", err)
		}
		k, seen := verdict[f.scope]
		if !seen {
			sc, err := domain.ParseScope(f.scope)
			k = err == nil && keep(sc)
			verdict[f.scope] = k
			if !k {
				scopes = append(scopes, f.scope)
			}
		}
		if !k {
			gone = append(gone, fact{f.scope, f.key, append([]byte(nil), f.value...)})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read facts: %w", err)
	}
	for i := 0; i < len(scopes); i += chunkRows {
		chunk := scopes[i:min(i+chunkRows, len(scopes))]
		if _, err := t.exec(ctx, "DELETE FROM facts WHERE workspace = ? AND scope IN "+inList(len(chunk)), append([]any{ws}, anys(chunk)...)...); err != nil {
			return fmt.Errorf("delete facts: %w", err)
		}
	}
	for _, f := range gone {
		t.recordRaw(ws, domain.KindFact, f.scope+":"+f.key, domain.OpDelete, f.value, nil)
	}
	return t.bumpScopes(ctx, ws, scopes)
}

// dropOrphanFacts deletes the facts of scopes whose objects no longer exist,
// and the flag targeting of environments that are no longer their
// project's (so that every stored flag stays writable as it is).
func (t *wtx) dropOrphanFacts(ctx context.Context, ws string) error {
	c, err := loadCatalog(ctx, t.r(), ws, nil)
	if err != nil {
		return err
	}
	if err := t.dropFacts(ctx, ws, func(sc domain.Scope) bool { return c.scopeError(sc) == nil }); err != nil {
		return err
	}
	return t.dropOrphanFlagEnvironments(ctx, ws, c)
}

// bumpScopes sets the facts revision of scopes to the transaction's revision.
func (t *wtx) bumpScopes(ctx context.Context, ws string, scopes []string) error {
	rows := make([][]any, len(scopes))
	for i, sc := range scopes {
		rows[i] = []any{ws, sc, t.rev}
	}
	return t.insertRows(ctx, "fact_scopes", []string{"workspace", "scope", "revision"}, rows,
		"ON CONFLICT (workspace, scope) DO UPDATE SET revision = excluded.revision")
}
