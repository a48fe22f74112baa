package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
)

// SetVersion asks for a desired version. Target set pins that target;
// Environment may then be empty (the target's environment is used).
// RequireReleaseCheck is applied by the store: when the project's version
// policy requires a release, the version must have one. Pause records a
// hold on automatic promotion into the environment, as a person's change
// does, so that automation never overrides it.
type SetVersion struct {
	Project     string
	Environment string
	Target      string
	Version     string
	Reason      string
	Pause       bool
}

// VersionFilter narrows version and drift reads; empty fields do not filter.
type VersionFilter struct {
	Project     string
	Environment string
	Target      string
}

// deploymentVersionsSelect joins every deployment with its effective
// desired version (the pin, else the environment-wide one) and its reported
// state, in one set-based query. The caller appends conditions after WHERE.
const deploymentVersionsSelect = `SELECT d.project, d.environment, d.target,
	COALESCE(p.version, e.version, ''), CASE WHEN p.version IS NULL THEN 0 ELSE 1 END,
	COALESCE(dv.version, ''), COALESCE(dv.status, ''), COALESCE(dv.message, ''),
	COALESCE(p.updated_at, e.updated_at, 0), COALESCE(dv.since, 0)
FROM deployments d
LEFT JOIN desired_versions p ON p.workspace = d.workspace AND p.project = d.project AND p.environment = d.environment AND p.target = d.target
LEFT JOIN desired_versions e ON e.workspace = d.workspace AND e.project = d.project AND e.environment = d.environment AND e.target = ''
LEFT JOIN deployed_versions dv ON dv.workspace = d.workspace AND dv.project = d.project AND dv.target = d.target
WHERE d.workspace = ?`

func scanDeploymentVersions(rows *sql.Rows) ([]domain.DeploymentVersion, error) {
	defer rows.Close()
	var out []domain.DeploymentVersion
	for rows.Next() {
		var v domain.DeploymentVersion
		var pinned int
		var desiredAt, deployedSince int64
		if err := rows.Scan(&v.Project, &v.Environment, &v.Target, &v.Desired, &pinned, &v.Deployed, &v.Status, &v.Message, &desiredAt, &deployedSince); err != nil {
			return nil, fmt.Errorf("scan deployment version: %w", err)
		}
		v.Pinned = pinned == 1
		if v.Desired != v.Deployed {
			v.Since = fromNanos(max(desiredAt, deployedSince))
		} else if deployedSince > 0 {
			v.Since = fromNanos(deployedSince)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func (f VersionFilter) where(q string, args []any) (string, []any) {
	for _, c := range []struct{ col, v string }{{"d.project", f.Project}, {"d.environment", f.Environment}, {"d.target", f.Target}} {
		if c.v != "" {
			q += " AND " + c.col + " = ?"
			args = append(args, c.v)
		}
	}
	return q, args
}

// DeploymentVersions returns the desired and deployed versions of every
// deployment the filter selects, ordered by project, environment, target.
func (s *Store) DeploymentVersions(ctx context.Context, ws string, f VersionFilter) ([]domain.DeploymentVersion, error) {
	q, args := f.where(deploymentVersionsSelect, []any{ws})
	rows, err := s.query(ctx, q+" ORDER BY d.project, d.environment, d.target", args...)
	if err != nil {
		return nil, fmt.Errorf("read versions: %w", err)
	}
	return scanDeploymentVersions(rows)
}

// Drift returns the deployments whose deployed version differs from the
// desired one (including those that never reported), oldest drift first,
// at most limit (default 100, capped at 1000) of them. It is one query: the
// database compares the versions, not a loop here.
func (s *Store) Drift(ctx context.Context, ws string, f VersionFilter, limit int) ([]domain.DeploymentVersion, error) {
	q, args := f.where(deploymentVersionsSelect, []any{ws})
	q += ` AND COALESCE(p.version, e.version) IS NOT NULL AND (dv.version IS NULL OR dv.version <> COALESCE(p.version, e.version))
ORDER BY CASE WHEN COALESCE(p.updated_at, e.updated_at) > COALESCE(dv.since, 0) THEN COALESCE(p.updated_at, e.updated_at) ELSE dv.since END, d.project, d.target LIMIT ?`
	rows, err := s.query(ctx, q, append(args, clampLimit(limit))...)
	if err != nil {
		return nil, fmt.Errorf("read drift: %w", err)
	}
	return scanDeploymentVersions(rows)
}

// GetDesiredVersion returns the environment-wide desired version (target
// "") or a pin, or errs.NotFound.
func (s *Store) GetDesiredVersion(ctx context.Context, ws, project, env, target string) (domain.DesiredVersion, error) {
	return getDesired(ctx, s.r(), ws, project, env, target)
}

func getDesired(ctx context.Context, r reader, ws, project, env, target string) (domain.DesiredVersion, error) {
	v := domain.DesiredVersion{Workspace: ws, Project: project, Environment: env, Target: target}
	var at int64
	err := r.queryRow(ctx, `SELECT version, reason, actor, revision, updated_at FROM desired_versions
		WHERE workspace = ? AND project = ? AND environment = ? AND target = ?`, ws, project, env, target).
		Scan(&v.Version, &v.Reason, &v.Actor, &v.Revision, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return domain.DesiredVersion{}, errs.New(errs.NotFound, "no desired version for %s", domain.VersionChangeKey(project, env, target))
	}
	if err != nil {
		return domain.DesiredVersion{}, fmt.Errorf("read desired version of %s: %w", domain.VersionChangeKey(project, env, target), err)
	}
	v.UpdatedAt = fromNanos(at)
	return v, nil
}

// checkVersionTarget checks that the project runs in env (and on target,
// when set, which must be in env) and returns env (filled in from the
// target when empty).
func checkVersionTarget(ctx context.Context, r reader, ws, project, env, target string) (string, error) {
	if err := requireWorkspace(ctx, r, ws); err != nil {
		return "", err
	}
	if _, ok, err := loadProject(ctx, r, ws, project); err != nil {
		return "", err
	} else if !ok {
		return "", errs.Field("project", "project %s does not exist", errs.Quote(project))
	}
	if target != "" {
		var tenv string
		err := r.queryRow(ctx, "SELECT environment FROM deployments WHERE workspace = ? AND project = ? AND target = ?", ws, project, target).Scan(&tenv)
		if errors.Is(err, sql.ErrNoRows) {
			return "", errs.Field("target", "%s is not a target of project %s (unknown target, or its environment is not the project's)", errs.Quote(target), errs.Quote(project))
		}
		if err != nil {
			return "", fmt.Errorf("read deployment %s@%s: %w", project, target, err)
		}
		if env != "" && env != tenv {
			return "", errs.Field("target", "%s is in environment %s, not %s", errs.Quote(target), errs.Quote(tenv), errs.Quote(env))
		}
		return tenv, nil
	}
	var n int
	if err := r.queryRow(ctx, "SELECT COUNT(*) FROM project_effective_environments WHERE workspace = ? AND project = ? AND environment = ?", ws, project, env).Scan(&n); err != nil {
		return "", fmt.Errorf("read environments of %s: %w", project, err)
	}
	if n == 0 {
		return "", errs.Field("environment", "%s is not an environment of project %s (unknown environment, or not one of the project's)", errs.Quote(env), errs.Quote(project))
	}
	return env, nil
}

// requireRelease refuses version when the project's policy requires a
// release and there is none.
func requireRelease(ctx context.Context, r reader, ws, project, version string) error {
	var req int
	err := r.queryRow(ctx, "SELECT require_release FROM version_policies WHERE workspace = ? AND project = ?", ws, project).Scan(&req)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && req == 0) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read version policy of %s: %w", project, err)
	}
	var n int
	if err := r.queryRow(ctx, "SELECT COUNT(*) FROM releases WHERE workspace = ? AND project = ? AND version = ?", ws, project, version).Scan(&n); err != nil {
		return fmt.Errorf("read release %s#%s: %w", project, version, err)
	}
	if n == 0 {
		return &errs.FieldError{Field: "version", Rule: fmt.Sprintf("project %q requires a release and %q has none; create the release first", project, version), Kind: errs.FailedPrecondition}
	}
	return nil
}

// setDesired writes one desired version with its history row and change
// entry; it reports whether anything changed. The caller has checked the
// names.
func (t *wtx) setDesired(ctx context.Context, ws, project, env, target, version, reason string, promotion int64) (bool, error) {
	if err := requireRelease(ctx, t.r(), ws, project, version); err != nil {
		return false, err
	}
	old, err := getDesired(ctx, t.r(), ws, project, env, target)
	had := err == nil
	if err != nil && !errors.Is(err, errs.NotFound) {
		return false, err
	}
	if had && old.Version == version {
		return false, nil
	}
	actor := t.origin.Actor
	if had {
		_, err = t.exec(ctx, `UPDATE desired_versions SET version = ?, reason = ?, actor = ?, revision = ?, updated_at = ?
			WHERE workspace = ? AND project = ? AND environment = ? AND target = ?`,
			version, reason, actor, t.rev, t.now.UnixNano(), ws, project, env, target)
	} else {
		err = t.insertRows(ctx, "desired_versions", []string{"workspace", "project", "environment", "target", "version", "reason", "actor", "revision", "updated_at"},
			[][]any{{ws, project, env, target, version, reason, actor, t.rev, t.now.UnixNano()}}, "")
	}
	if err != nil {
		return false, fmt.Errorf("write desired version: %w", err)
	}
	if err := t.insertRows(ctx, "version_history", []string{"workspace", "project", "environment", "target", "revision", "version", "reason", "actor", "time"},
		[][]any{{ws, project, env, target, t.rev, version, reason, actor, t.now.UnixNano()}}, ""); err != nil {
		return false, err
	}
	op, before := domain.OpCreate, any(nil)
	if had {
		op, before = domain.OpUpdate, domain.VersionChange{Version: old.Version, Reason: old.Reason}
	}
	return true, t.record(ws, domain.KindVersion, domain.VersionChangeKey(project, env, target), op, before,
		domain.VersionChange{Version: version, Reason: reason, Promotion: promotion})
}

// pause holds automatic promotion into env of project, for a person's
// change. Without a policy promoting into env there is nothing to hold, and
// a hold would only surprise whoever writes the first policy later (creating
// a policy is a person's decision too).
func (t *wtx) pause(ctx context.Context, ws, project, env, reason string) error {
	var n int
	if err := t.queryRow(ctx, "SELECT COUNT(*) FROM promotion_policies WHERE workspace = ? AND project = ? AND to_env = ?", ws, project, env).Scan(&n); err != nil {
		return fmt.Errorf("read promotion policies: %w", err)
	}
	if n == 0 {
		return nil
	}
	return t.putHold(ctx, domain.Hold{Workspace: ws, Project: project, Environment: env, Reason: reason, Actor: t.origin.Actor, Since: t.now})
}

// SetDesiredVersion sets an environment-wide version or pins a target. It
// returns the stored version and the revision (0 when nothing changed).
func (s *Store) SetDesiredVersion(ctx context.Context, ws string, v SetVersion) (domain.DesiredVersion, int64, error) {
	var out domain.DesiredVersion
	rev, err := s.write(ctx, func(t *wtx) error {
		env, err := checkVersionTarget(ctx, t.r(), ws, v.Project, v.Environment, v.Target)
		if err != nil {
			return err
		}
		changed, err := t.setDesired(ctx, ws, v.Project, env, v.Target, v.Version, v.Reason, 0)
		if err != nil {
			return err
		}
		// Only a change pauses automation: re-setting the current version
		// (an idempotent deploy script) must not hold promotions.
		if changed && v.Pause {
			if err := t.pause(ctx, ws, v.Project, env, "manual version change by "+t.origin.Actor); err != nil {
				return err
			}
		}
		out, err = getDesired(ctx, t.r(), ws, v.Project, env, v.Target)
		return err
	})
	if err != nil {
		return domain.DesiredVersion{}, 0, fmt.Errorf("set version of %s: %w", domain.VersionChangeKey(v.Project, v.Environment, v.Target), err)
	}
	return out, rev, nil
}

// Unpin removes a target's pin, so the environment-wide version applies to
// it again. It returns the revision, or 0 when there was no pin.
func (s *Store) Unpin(ctx context.Context, ws, project, target string) (int64, error) {
	rev, err := s.write(ctx, func(t *wtx) error {
		env, err := checkVersionTarget(ctx, t.r(), ws, project, "", target)
		if err != nil {
			return err
		}
		old, err := getDesired(ctx, t.r(), ws, project, env, target)
		if errors.Is(err, errs.NotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := t.exec(ctx, "DELETE FROM desired_versions WHERE workspace = ? AND project = ? AND environment = ? AND target = ?", ws, project, env, target); err != nil {
			return fmt.Errorf("delete pin: %w", err)
		}
		return t.record(ws, domain.KindVersion, domain.VersionChangeKey(project, env, target), domain.OpDelete,
			domain.VersionChange{Version: old.Version, Reason: old.Reason}, nil)
	})
	if err != nil {
		return 0, fmt.Errorf("unpin %s@%s: %w", project, target, err)
	}
	return rev, nil
}

// Rollback sets the environment-wide version (or the target's pin) back to
// an earlier one from its history: to, when given (it must be in the
// history), else the latest version before the current one that differs
// from it. It pauses automatic promotion into the environment.
func (s *Store) Rollback(ctx context.Context, ws, project, env, target, to, reason string) (domain.DesiredVersion, int64, error) {
	var out domain.DesiredVersion
	rev, err := s.write(ctx, func(t *wtx) error {
		env, err := checkVersionTarget(ctx, t.r(), ws, project, env, target)
		if err != nil {
			return err
		}
		cur, err := getDesired(ctx, t.r(), ws, project, env, target)
		if err != nil {
			return errs.New(errs.FailedPrecondition, "nothing to roll back: %s has no desired version", domain.VersionChangeKey(project, env, target))
		}
		hist, err := versionHistory(ctx, t.r(), ws, project, env, target, maxLimit)
		if err != nil {
			return err
		}
		pick := ""
		for _, h := range hist {
			if to != "" && h.Version == to || to == "" && h.Version != cur.Version {
				pick = h.Version
				break
			}
		}
		switch {
		case pick == "" && to != "":
			return errs.Field("to", "%s was never the desired version of %s", errs.Quote(to), domain.VersionChangeKey(project, env, target))
		case pick == "":
			return errs.New(errs.FailedPrecondition, "no earlier version of %s to roll back to", domain.VersionChangeKey(project, env, target))
		}
		if reason == "" {
			reason = "rollback from " + cur.Version + " to " + pick
		}
		if _, err := t.setDesired(ctx, ws, project, env, target, pick, reason, 0); err != nil {
			return err
		}
		if err := t.pause(ctx, ws, project, env, "rollback by "+t.origin.Actor); err != nil {
			return err
		}
		out, err = getDesired(ctx, t.r(), ws, project, env, target)
		return err
	})
	if err != nil {
		return domain.DesiredVersion{}, 0, fmt.Errorf("roll back %s: %w", domain.VersionChangeKey(project, env, target), err)
	}
	return out, rev, nil
}

func versionHistory(ctx context.Context, r reader, ws, project, env, target string, limit int) ([]domain.VersionHistoryEntry, error) {
	rows, err := r.query(ctx, `SELECT version, reason, actor, revision, time FROM version_history
		WHERE workspace = ? AND project = ? AND environment = ? AND target = ? ORDER BY revision DESC LIMIT ?`,
		ws, project, env, target, clampLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("read version history: %w", err)
	}
	defer rows.Close()
	var out []domain.VersionHistoryEntry
	for rows.Next() {
		var h domain.VersionHistoryEntry
		var at int64
		if err := rows.Scan(&h.Version, &h.Reason, &h.Actor, &h.Revision, &at); err != nil {
			return nil, fmt.Errorf("read version history: %w", err)
		}
		h.Time = fromNanos(at)
		out = append(out, h)
	}
	return out, rows.Err()
}

// VersionHistory returns the desired versions of an environment (or a pin),
// newest first.
func (s *Store) VersionHistory(ctx context.Context, ws, project, env, target string, limit int) ([]domain.VersionHistoryEntry, error) {
	return versionHistory(ctx, s.r(), ws, project, env, target, limit)
}

// healthy reports whether a reported status counts as healthy for soak
// times: an agent that reports no status is trusted on its version alone.
func healthy(status string) bool { return status == "" || status == domain.StatusHealthy }

// ReportDeployed records what an agent says runs on a target. A report
// that changes nothing (same version, status and message) writes nothing.
func (s *Store) ReportDeployed(ctx context.Context, ws string, r domain.DeployedVersion) (domain.DeployedVersion, int64, error) {
	rev, err := s.write(ctx, func(t *wtx) error {
		env, err := checkVersionTarget(ctx, t.r(), ws, r.Project, "", r.Target)
		if err != nil {
			return err
		}
		r.Workspace, r.Environment = ws, env
		var old domain.DeployedVersion
		var since, reported int64
		err = t.queryRow(ctx, "SELECT version, status, message, since, reported_at FROM deployed_versions WHERE workspace = ? AND project = ? AND target = ?",
			ws, r.Project, r.Target).Scan(&old.Version, &old.Status, &old.Message, &since, &reported)
		had := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read deployed version: %w", err)
		}
		if had && old.Version == r.Version && old.Status == r.Status && old.Message == r.Message {
			return nil
		}
		r.Since, r.ReportedAt, r.Revision = t.now, t.now, t.rev
		if had && old.Version == r.Version && healthy(old.Status) == healthy(r.Status) {
			r.Since = fromNanos(since)
		}
		if had {
			_, err = t.exec(ctx, `UPDATE deployed_versions SET version = ?, status = ?, message = ?, revision = ?, since = ?, reported_at = ?
				WHERE workspace = ? AND project = ? AND target = ?`, r.Version, r.Status, r.Message, t.rev, r.Since.UnixNano(), t.now.UnixNano(), ws, r.Project, r.Target)
		} else {
			err = t.insertRows(ctx, "deployed_versions", []string{"workspace", "project", "target", "version", "status", "message", "revision", "since", "reported_at"},
				[][]any{{ws, r.Project, r.Target, r.Version, r.Status, r.Message, t.rev, r.Since.UnixNano(), t.now.UnixNano()}}, "")
		}
		if err != nil {
			return fmt.Errorf("write deployed version: %w", err)
		}
		op, before := domain.OpCreate, any(nil)
		if had {
			old.Project, old.Target, old.Environment = r.Project, r.Target, env
			op, before = domain.OpUpdate, old
		}
		after := r
		after.Workspace, after.Revision, after.ReportedAt = "", 0, time.Time{}
		return t.record(ws, domain.KindDeployedVersion, domain.VersionChangeKey(r.Project, env, r.Target), op, before, after)
	})
	if err != nil {
		return domain.DeployedVersion{}, 0, fmt.Errorf("report deployed version of %s@%s: %w", r.Project, r.Target, err)
	}
	return r, rev, nil
}

// SetVersionPolicy sets whether setting a version of project requires a
// release of it.
func (s *Store) SetVersionPolicy(ctx context.Context, ws, project string, requireRel bool) (int64, error) {
	rev, err := s.write(ctx, func(t *wtx) error {
		if _, ok, err := loadProject(ctx, t.r(), ws, project); err != nil {
			return err
		} else if !ok {
			return errs.Field("project", "project %s does not exist", errs.Quote(project))
		}
		var cur int
		err := t.queryRow(ctx, "SELECT require_release FROM version_policies WHERE workspace = ? AND project = ?", ws, project).Scan(&cur)
		had := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		want := 0
		if requireRel {
			want = 1
		}
		if had && cur == want {
			return nil
		}
		if _, err := t.exec(ctx, "DELETE FROM version_policies WHERE workspace = ? AND project = ?", ws, project); err != nil {
			return err
		}
		if err := t.insertRows(ctx, "version_policies", []string{"workspace", "project", "require_release", "revision"}, [][]any{{ws, project, want, t.rev}}, ""); err != nil {
			return err
		}
		return t.record(ws, domain.KindPromotionPolicy, project+"#versions", domain.OpUpdate, nil, map[string]bool{"requireRelease": requireRel})
	})
	if err != nil {
		return 0, fmt.Errorf("set version policy of %s: %w", project, err)
	}
	return rev, nil
}
