package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
)

// CreateRelease stores a release, validated by the caller. Releases are
// immutable: a second create of the same version fails with
// errs.AlreadyExists, whatever it contains.
func (s *Store) CreateRelease(ctx context.Context, ws string, r domain.Release) (domain.Release, int64, error) {
	var out domain.Release
	rev, err := s.Write(ctx, func(t *Tx) error {
		var err error
		out, err = t.CreateRelease(ctx, ws, r)
		return err
	})
	if err != nil {
		return domain.Release{}, 0, err
	}
	out.Revision = rev
	return out, rev, nil
}

// CreateRelease is Store.CreateRelease inside t; the release returned
// carries the transaction's revision.
func (t *Tx) CreateRelease(ctx context.Context, ws string, r domain.Release) (domain.Release, error) {
	if err := t.w.createRelease(ctx, ws, &r); err != nil {
		return domain.Release{}, fmt.Errorf("create release %s of %s: %w", r.Version, r.Project, err)
	}
	r.Workspace, r.Revision = ws, t.w.rev
	return r, nil
}

// GetRelease is Store.GetRelease inside t.
func (t *Tx) GetRelease(ctx context.Context, ws, project, version string) (domain.Release, error) {
	return getRelease(ctx, t.w.r(), ws, project, version)
}

// createRelease fills in r's workspace, actor, revision and time.
func (t *wtx) createRelease(ctx context.Context, ws string, r *domain.Release) error {
	if err := requireWorkspace(ctx, t.r(), ws); err != nil {
		return err
	}
	if _, ok, err := loadProject(ctx, t.r(), ws, r.Project); err != nil {
		return err
	} else if !ok {
		return errs.Field("project", "project %s does not exist", errs.Quote(r.Project))
	}
	if _, err := getRelease(ctx, t.r(), ws, r.Project, r.Version); err == nil {
		return errs.New(errs.AlreadyExists, "release %s of %s (releases are immutable: a correction is a new version)", r.Version, r.Project)
	} else if !errors.Is(err, errs.NotFound) {
		return err
	}
	r.Workspace, r.Actor, r.Revision, r.CreatedAt = ws, t.origin.Actor, t.rev, t.now
	body, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("marshal release: %w", err)
	}
	if err := t.insertRows(ctx, "releases", []string{"workspace", "project", "version", "body", "revision", "created_at"},
		[][]any{{ws, r.Project, r.Version, string(body), t.rev, t.now.UnixNano()}}, ""); err != nil {
		return t.mapConstraint(err, "release "+r.Version)
	}
	var commits [][]any
	for repo, sha := range r.Commits {
		commits = append(commits, []any{ws, r.Project, r.Version, repo, sha})
	}
	if err := t.insertRows(ctx, "release_commits", []string{"workspace", "project", "version", "repository", "sha"}, commits, ""); err != nil {
		return err
	}
	var arts [][]any
	for _, a := range r.Artifacts {
		arts = append(arts, []any{ws, r.Project, r.Version, a.Name, a.Platform, a.SHA256})
	}
	if err := t.insertRows(ctx, "release_artifacts", []string{"workspace", "project", "version", "name", "platform", "sha256"}, arts, ""); err != nil {
		return err
	}
	after := *r
	after.Workspace, after.Revision, after.CreatedAt = "", 0, time.Time{}
	return t.record(ws, domain.KindRelease, domain.ReleaseChangeKey(r.Project, r.Version), domain.OpCreate, nil, after)
}

func getRelease(ctx context.Context, r reader, ws, project, version string) (domain.Release, error) {
	var body []byte
	err := r.queryRow(ctx, "SELECT body FROM releases WHERE workspace = ? AND project = ? AND version = ?", ws, project, version).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Release{}, errs.New(errs.NotFound, "release %s of %s", version, project)
	}
	if err != nil {
		return domain.Release{}, fmt.Errorf("read release %s of %s: %w", version, project, err)
	}
	var rel domain.Release
	if err := json.Unmarshal(body, &rel); err != nil {
		return domain.Release{}, fmt.Errorf("decode release %s of %s: %w", version, project, err)
	}
	return rel, nil
}

// GetRelease returns one release, or errs.NotFound.
func (s *Store) GetRelease(ctx context.Context, ws, project, version string) (domain.Release, error) {
	return getRelease(ctx, s.r(), ws, project, version)
}

func (s *Store) releases(ctx context.Context, q string, args ...any) ([]domain.Release, error) {
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list releases: %w", err)
	}
	defer rows.Close()
	out := []domain.Release{}
	for rows.Next() {
		var body []byte
		if err := rows.Scan(&body); err != nil {
			return nil, fmt.Errorf("list releases: %w", err)
		}
		var rel domain.Release
		if err := json.Unmarshal(body, &rel); err != nil {
			return nil, fmt.Errorf("decode release: %w", err)
		}
		out = append(out, rel)
	}
	return out, rows.Err()
}

// ListReleases lists a project's releases (every project's when project is
// ""), newest first.
func (s *Store) ListReleases(ctx context.Context, ws, project string, limit int) ([]domain.Release, error) {
	if project == "" {
		return s.releases(ctx, "SELECT body FROM releases WHERE workspace = ? ORDER BY revision DESC LIMIT ?", ws, clampLimit(limit))
	}
	return s.releases(ctx, "SELECT body FROM releases WHERE workspace = ? AND project = ? ORDER BY revision DESC LIMIT ?", ws, project, clampLimit(limit))
}

// FindReleasesByCommit returns the releases built from a commit, in any
// repository, newest first.
func (s *Store) FindReleasesByCommit(ctx context.Context, ws, sha string) ([]domain.Release, error) {
	return s.releases(ctx, `SELECT r.body FROM releases r WHERE r.workspace = ? AND EXISTS (SELECT 1 FROM release_commits c
		WHERE c.sha = ? AND c.workspace = r.workspace AND c.project = r.project AND c.version = r.version) ORDER BY r.revision DESC LIMIT ?`, ws, sha, maxLimit)
}

// FindReleasesByArtifact returns the releases with an artifact of that
// sha256 digest, newest first.
func (s *Store) FindReleasesByArtifact(ctx context.Context, ws, sha256 string) ([]domain.Release, error) {
	return s.releases(ctx, `SELECT r.body FROM releases r WHERE r.workspace = ? AND EXISTS (SELECT 1 FROM release_artifacts a
		WHERE a.sha256 = ? AND a.workspace = r.workspace AND a.project = r.project AND a.version = r.version) ORDER BY r.revision DESC LIMIT ?`, ws, sha256, maxLimit)
}
