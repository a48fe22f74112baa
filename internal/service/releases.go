package service

import (
	"context"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/store"
)

// ReleaseStore is the part of the store the release use cases need.
type ReleaseStore interface {
	CreateRelease(ctx context.Context, ws string, r domain.Release) (domain.Release, int64, error)
	GetRelease(ctx context.Context, ws, project, version string) (domain.Release, error)
	ListReleases(ctx context.Context, ws, project string, limit int) ([]domain.Release, error)
	FindReleasesByCommit(ctx context.Context, ws, sha string) ([]domain.Release, error)
	FindReleasesByArtifact(ctx context.Context, ws, sha256 string) ([]domain.Release, error)
}

var _ ReleaseStore = (*store.Store)(nil)

// Releases records immutable releases and finds them. It is safe for
// concurrent use.
type Releases struct {
	store ReleaseStore
}

// NewReleases returns the release use cases on st.
func NewReleases(st ReleaseStore) *Releases { return &Releases{store: st} }

// Create validates and stores a release; a second create of the same
// version fails with errs.AlreadyExists.
func (r *Releases) Create(ctx context.Context, wsName string, rel domain.Release) (domain.Release, error) {
	ws, err := workspace("workspace", wsName)
	if err != nil {
		return rel, err
	}
	if err := rel.Validate(); err != nil {
		return rel, errs.Prefix("release", err)
	}
	out, _, err := r.store.CreateRelease(ctx, ws, rel)
	return out, err
}

// Get returns one release.
func (r *Releases) Get(ctx context.Context, wsName, project, version string) (domain.Release, error) {
	ws, err := workspace("workspace", wsName)
	if err != nil {
		return domain.Release{}, err
	}
	if err := domain.ValidateName("project", project); err != nil {
		return domain.Release{}, err
	}
	if err := domain.ValidateVersion("version", version); err != nil {
		return domain.Release{}, err
	}
	return r.store.GetRelease(ctx, ws, project, version)
}

// FindRequest selects releases: of a project, or containing a commit, or
// with an artifact digest (one of Commit and SHA256 at most).
type FindRequest struct {
	Workspace, Project, Commit, SHA256 string
	Limit                              int
}

// Find lists releases, newest first.
func (r *Releases) Find(ctx context.Context, q FindRequest) ([]domain.Release, error) {
	ws, err := workspace("workspace", q.Workspace)
	if err != nil {
		return nil, err
	}
	if err := checkNames([2]string{"project", q.Project}); err != nil {
		return nil, err
	}
	switch {
	case q.Commit != "" && q.SHA256 != "":
		return nil, errs.Field("sha256", "give a commit or an artifact digest, not both")
	case q.Commit != "":
		if err := domain.ValidateCommit("commit", q.Commit); err != nil {
			return nil, err
		}
		return filterProject(r.store.FindReleasesByCommit(ctx, ws, q.Commit))(q.Project)
	case q.SHA256 != "":
		if err := domain.ValidateSHA256("sha256", q.SHA256); err != nil {
			return nil, err
		}
		return filterProject(r.store.FindReleasesByArtifact(ctx, ws, q.SHA256))(q.Project)
	}
	return r.store.ListReleases(ctx, ws, q.Project, q.Limit)
}

func filterProject(rs []domain.Release, err error) func(string) ([]domain.Release, error) {
	return func(project string) ([]domain.Release, error) {
		if err != nil || project == "" {
			return rs, err
		}
		out := []domain.Release{}
		for _, r := range rs {
			if r.Project == project {
				out = append(out, r)
			}
		}
		return out, nil
	}
}
