package service

import (
	"context"
	"fmt"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/store"
)

// VersionStore is the part of the store the version use cases need.
type VersionStore interface {
	SetDesiredVersion(ctx context.Context, ws string, v store.SetVersion) (domain.DesiredVersion, int64, error)
	GetDesiredVersion(ctx context.Context, ws, project, env, target string) (domain.DesiredVersion, error)
	Unpin(ctx context.Context, ws, project, target string) (int64, error)
	Rollback(ctx context.Context, ws, project, env, target, to, reason string) (domain.DesiredVersion, int64, error)
	ReportDeployed(ctx context.Context, ws string, r domain.DeployedVersion) (domain.DeployedVersion, int64, error)
	DeploymentVersions(ctx context.Context, ws string, f store.VersionFilter) ([]domain.DeploymentVersion, error)
	Drift(ctx context.Context, ws string, f store.VersionFilter, limit int) ([]domain.DeploymentVersion, error)
	VersionHistory(ctx context.Context, ws, project, env, target string, limit int) ([]domain.VersionHistoryEntry, error)
	SetVersionPolicy(ctx context.Context, ws, project string, requireRelease bool) (int64, error)
	GetRelease(ctx context.Context, ws, project, version string) (domain.Release, error)
}

var _ VersionStore = (*store.Store)(nil)

// Versions sets desired versions, records deployed ones and answers drift
// and provisioning questions. It is safe for concurrent use.
type Versions struct {
	store VersionStore
}

// NewVersions returns the version use cases on st.
func NewVersions(st VersionStore) *Versions { return &Versions{store: st} }

// Limits of free text in version requests.
const (
	maxReason  = 1024
	maxMessage = 4096
)

// SetVersionRequest sets an environment's version, or pins a target when
// Target is set (Environment may then be empty). Unpin with Target set and
// Version empty removes the pin.
type SetVersionRequest struct {
	Workspace, Project, Environment, Target, Version, Reason string
	Unpin                                                    bool
}

func checkNames(fields ...[2]string) error {
	for _, f := range fields {
		if f[1] == "" {
			continue
		}
		if err := domain.ValidateName(f[0], f[1]); err != nil {
			return err
		}
	}
	return nil
}

func requireFields(fields ...[2]string) error {
	for _, f := range fields {
		if f[1] == "" {
			return errs.Field(f[0], "is required")
		}
	}
	return nil
}

// SetVersion sets a desired version as a person does: it pauses automatic
// promotion into the environment until someone resumes it. It returns the
// revision, 0 when nothing changed.
func (v *Versions) SetVersion(ctx context.Context, r SetVersionRequest) (domain.DesiredVersion, int64, error) {
	ws, err := workspace("workspace", r.Workspace)
	if err != nil {
		return domain.DesiredVersion{}, 0, err
	}
	if err := requireFields([2]string{"project", r.Project}); err != nil {
		return domain.DesiredVersion{}, 0, err
	}
	if r.Target == "" {
		if err := requireFields([2]string{"environment", r.Environment}); err != nil {
			return domain.DesiredVersion{}, 0, err
		}
	}
	if err := checkNames([2]string{"project", r.Project}, [2]string{"environment", r.Environment}, [2]string{"target", r.Target}); err != nil {
		return domain.DesiredVersion{}, 0, err
	}
	if r.Unpin {
		if r.Target == "" {
			return domain.DesiredVersion{}, 0, errs.Field("target", "is required to unpin")
		}
		rev, err := v.store.Unpin(ctx, ws, r.Project, r.Target)
		return domain.DesiredVersion{}, rev, err
	}
	if err := domain.ValidateVersion("version", r.Version); err != nil {
		return domain.DesiredVersion{}, 0, err
	}
	if len(r.Reason) > maxReason {
		return domain.DesiredVersion{}, 0, errs.Field("reason", "must be at most %d bytes", maxReason)
	}
	return v.store.SetDesiredVersion(ctx, ws, store.SetVersion{Project: r.Project, Environment: r.Environment, Target: r.Target,
		Version: r.Version, Reason: r.Reason, Pause: true})
}

// Rollback sets the previous version (or To, which must be in the history)
// in one call, and pauses automatic promotion into the environment.
func (v *Versions) Rollback(ctx context.Context, wsName, project, env, target, to, reason string) (domain.DesiredVersion, int64, error) {
	ws, err := workspace("workspace", wsName)
	if err != nil {
		return domain.DesiredVersion{}, 0, err
	}
	if err := requireFields([2]string{"project", project}); err != nil {
		return domain.DesiredVersion{}, 0, err
	}
	if target == "" {
		if err := requireFields([2]string{"environment", env}); err != nil {
			return domain.DesiredVersion{}, 0, err
		}
	}
	if err := checkNames([2]string{"project", project}, [2]string{"environment", env}, [2]string{"target", target}); err != nil {
		return domain.DesiredVersion{}, 0, err
	}
	if to != "" {
		if err := domain.ValidateVersion("to", to); err != nil {
			return domain.DesiredVersion{}, 0, err
		}
	}
	if len(reason) > maxReason {
		return domain.DesiredVersion{}, 0, errs.Field("reason", "must be at most %d bytes", maxReason)
	}
	return v.store.Rollback(ctx, ws, project, env, target, to, reason)
}

// Report records what an agent says runs on a target.
func (v *Versions) Report(ctx context.Context, wsName string, r domain.DeployedVersion) (domain.DeployedVersion, int64, error) {
	ws, err := workspace("workspace", wsName)
	if err != nil {
		return r, 0, err
	}
	if err := requireFields([2]string{"project", r.Project}, [2]string{"target", r.Target}); err != nil {
		return r, 0, err
	}
	if err := checkNames([2]string{"project", r.Project}, [2]string{"target", r.Target}); err != nil {
		return r, 0, err
	}
	if err := domain.ValidateVersion("version", r.Version); err != nil {
		return r, 0, err
	}
	if err := domain.ValidateStatus("status", r.Status); err != nil {
		return r, 0, err
	}
	if len(r.Message) > maxMessage {
		return r, 0, errs.Field("message", "must be at most %d bytes", maxMessage)
	}
	return v.store.ReportDeployed(ctx, ws, r)
}

// VersionsRequest selects deployments for Get and Drift.
type VersionsRequest struct {
	Workspace, Project, Environment, Target string
	Limit                                   int
}

func (r VersionsRequest) check() (string, store.VersionFilter, error) {
	ws, err := workspace("workspace", r.Workspace)
	if err != nil {
		return "", store.VersionFilter{}, err
	}
	if r.Limit < 0 {
		return "", store.VersionFilter{}, errs.Field("page_size", "must not be negative")
	}
	err = checkNames([2]string{"project", r.Project}, [2]string{"environment", r.Environment}, [2]string{"target", r.Target})
	return ws, store.VersionFilter{Project: r.Project, Environment: r.Environment, Target: r.Target}, err
}

// Get returns the desired and deployed versions of the selected deployments.
func (v *Versions) Get(ctx context.Context, r VersionsRequest) ([]domain.DeploymentVersion, error) {
	ws, f, err := r.check()
	if err != nil {
		return nil, err
	}
	out, err := v.store.DeploymentVersions(ctx, ws, f)
	if err != nil {
		return nil, fmt.Errorf("get versions: %w", err)
	}
	return out, nil
}

// Drift returns the selected deployments whose deployed version is not the
// desired one, oldest drift first.
func (v *Versions) Drift(ctx context.Context, r VersionsRequest) ([]domain.DeploymentVersion, error) {
	ws, f, err := r.check()
	if err != nil {
		return nil, err
	}
	out, err := v.store.Drift(ctx, ws, f, r.Limit)
	if err != nil {
		return nil, fmt.Errorf("drift: %w", err)
	}
	return out, nil
}

// History returns the desired versions an environment (or a pin) had,
// newest first.
func (v *Versions) History(ctx context.Context, r VersionsRequest) ([]domain.VersionHistoryEntry, error) {
	ws, _, err := r.check()
	if err != nil {
		return nil, err
	}
	if err := requireFields([2]string{"project", r.Project}, [2]string{"environment", r.Environment}); err != nil {
		return nil, err
	}
	return v.store.VersionHistory(ctx, ws, r.Project, r.Environment, r.Target, r.Limit)
}

// SetPolicy sets whether a project's versions need a release.
func (v *Versions) SetPolicy(ctx context.Context, wsName, project string, requireRelease bool) (int64, error) {
	ws, err := workspace("workspace", wsName)
	if err != nil {
		return 0, err
	}
	if err := domain.ValidateName("project", project); err != nil {
		return 0, err
	}
	return v.store.SetVersionPolicy(ctx, ws, project, requireRelease)
}

// Resolved is what a new server needs to fetch its binary.
type Resolved struct {
	Project     string          `json:"project"`
	Environment string          `json:"environment"`
	Version     string          `json:"version"`
	Platform    string          `json:"platform,omitempty"`
	Artifact    domain.Artifact `json:"artifact"`
	Revision    int64           `json:"revision"`
}

// Resolve answers which artifact a machine of platform in env should run:
// the environment's desired version and its release's artifact for the
// platform. platform may be empty when the release has one artifact.
func (v *Versions) Resolve(ctx context.Context, wsName, project, env, platform string) (Resolved, error) {
	ws, err := workspace("workspace", wsName)
	if err != nil {
		return Resolved{}, err
	}
	if err := checkNames([2]string{"project", project}, [2]string{"environment", env}); err != nil {
		return Resolved{}, err
	}
	if platform != "" {
		if err := domain.ValidatePlatform("platform", platform); err != nil {
			return Resolved{}, err
		}
	}
	d, err := v.store.GetDesiredVersion(ctx, ws, project, env, "")
	if err != nil {
		return Resolved{}, fmt.Errorf("resolve %s@%s: %w", project, env, err)
	}
	rel, err := v.store.GetRelease(ctx, ws, project, d.Version)
	if err != nil {
		return Resolved{}, fmt.Errorf("resolve %s@%s: version %s: %w", project, env, d.Version, err)
	}
	var match []domain.Artifact
	for _, a := range rel.Artifacts {
		if platform == "" || a.Platform == platform {
			match = append(match, a)
		}
	}
	switch {
	case len(match) == 0:
		return Resolved{}, errs.New(errs.NotFound, "release %s of %s has no artifact for platform %s", d.Version, project, errs.Quote(platform))
	case len(match) > 1:
		return Resolved{}, errs.Field("platform", "release %s of %s has %d artifacts; name the platform", d.Version, project, len(match))
	}
	return Resolved{Project: project, Environment: env, Version: d.Version, Platform: match[0].Platform, Artifact: match[0], Revision: d.Revision}, nil
}
