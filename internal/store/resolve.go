package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
)

// DeploymentFilter narrows ListDeployments; empty fields do not filter.
type DeploymentFilter struct {
	Project     string
	Environment string
	Target      string
}

// GetDeployment returns a deployment, or errs.NotFound when the project or
// target is missing or the target's environment is not the project's.
func (s *Store) GetDeployment(ctx context.Context, ws, project, target string) (domain.Deployment, error) {
	d := domain.Deployment{Workspace: ws, Project: project, Target: target}
	err := s.queryRow(ctx, "SELECT environment FROM deployments WHERE workspace = ? AND project = ? AND target = ?", ws, project, target).Scan(&d.Environment)
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Deployment{}, errs.New(errs.NotFound, "deployment %s in workspace %s", errs.Quote(project+"@"+target), errs.Quote(ws))
	}
	if err != nil {
		return domain.Deployment{}, fmt.Errorf("get deployment %s@%s: %w", project, target, err)
	}
	return d, nil
}

// ListDeployments lists deployments ordered by project then target.
func (s *Store) ListDeployments(ctx context.Context, ws string, f DeploymentFilter, p domain.Page) ([]domain.Deployment, string, error) {
	size := clampLimit(p.Size)
	q := "SELECT project, target, environment FROM deployments WHERE workspace = ?"
	args := []any{ws}
	for _, c := range []struct{ col, v string }{{"project", f.Project}, {"environment", f.Environment}, {"target", f.Target}} {
		if c.v != "" {
			q += " AND " + c.col + " = ?"
			args = append(args, c.v)
		}
	}
	if p.Token != "" {
		raw, err := base64.RawURLEncoding.DecodeString(p.Token)
		proj, tgt, ok := strings.Cut(string(raw), "@")
		if err != nil || !ok {
			return nil, "", errs.Field("page.token", "is not a page token of this list")
		}
		q += " AND (project > ? OR (project = ? AND target > ?))"
		args = append(args, proj, proj, tgt)
	}
	q += " ORDER BY project, target LIMIT ?"
	args = append(args, size+1)
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list deployments: %w", err)
	}
	defer rows.Close()
	var out []domain.Deployment
	for rows.Next() {
		d := domain.Deployment{Workspace: ws}
		if err := rows.Scan(&d.Project, &d.Target, &d.Environment); err != nil {
			return nil, "", fmt.Errorf("list deployments: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list deployments: %w", err)
	}
	next := ""
	if len(out) > size {
		out = out[:size]
		next = base64.RawURLEncoding.EncodeToString([]byte(out[size-1].Key()))
	}
	return out, next, nil
}

// ResolveFacts merges the facts of a deployment from general to specific.
//
// It reads the deployment (one query) and then the facts and facts
// revisions of its six scopes (one query); the deployment must exist, else
// errs.NotFound.
func (s *Store) ResolveFacts(ctx context.Context, ws, project, target string) (domain.Resolved, error) {
	d, err := s.GetDeployment(ctx, ws, project, target)
	if err != nil {
		return domain.Resolved{}, err
	}
	scopes := []string{
		domain.WorkspaceScope().String(),
		domain.EnvironmentScope(d.Environment).String(),
		domain.TargetScope(target).String(),
		domain.ProjectScope(project).String(),
		domain.ProjectEnvScope(project, d.Environment).String(),
		domain.DeploymentScope(project, target).String(),
	}
	rank := make(map[string]int, len(scopes))
	for i, sc := range scopes {
		rank[sc] = i
	}
	in := inList(len(scopes))
	args := append(append([]any{ws}, anys(scopes)...), append([]any{ws}, anys(scopes)...)...)
	rows, err := s.query(ctx, "SELECT scope, key, value, 0 FROM facts WHERE workspace = ? AND scope IN "+in+
		" UNION ALL SELECT scope, '', NULL, revision FROM fact_scopes WHERE workspace = ? AND scope IN "+in, args...)
	if err != nil {
		return domain.Resolved{}, fmt.Errorf("resolve facts of %s: %w", d.Key(), err)
	}
	defer rows.Close()
	res := domain.Resolved{Workspace: ws, Project: project, Environment: d.Environment, Target: target,
		Facts: map[string]json.RawMessage{}, Sources: map[string]string{}}
	best := map[string]int{}
	for rows.Next() {
		var scope, key string
		var value []byte
		var rev int64
		if err := rows.Scan(&scope, &key, &value, &rev); err != nil {
			return domain.Resolved{}, fmt.Errorf("resolve facts of %s: %w", d.Key(), err)
		}
		if value == nil {
			res.Revision = max(res.Revision, rev)
			continue
		}
		if r, seen := best[key]; seen && r > rank[scope] {
			continue
		}
		best[key] = rank[scope]
		res.Facts[key] = append(json.RawMessage(nil), value...)
		res.Sources[key] = scope
	}
	if err := rows.Err(); err != nil {
		return domain.Resolved{}, fmt.Errorf("resolve facts of %s: %w", d.Key(), err)
	}
	for k, v := range map[string]string{"workspace": ws, "project": project, "environment": d.Environment, "target": target} {
		b, _ := json.Marshal(v)
		res.Facts[k], res.Sources[k] = b, domain.SourceBuiltin
	}
	return res, nil
}
