package domain

import (
	"regexp"
	"time"

	"github.com/flagops/flagops/internal/errs"
)

// Kinds of the versions, releases and promotions entries of the change log.
// Their keys start with "PROJECT@ENVIRONMENT" (or "PROJECT#" for releases), so
// that a watcher or a history query follows one channel with a key prefix.
const (
	KindVersion         = "version"
	KindDeployedVersion = "deployed-version"
	KindRelease         = "release"
	KindPromotion       = "promotion"
	KindPromotionPolicy = "promotion-policy"
)

// VersionChangeKey is the change-log key of a desired version: "shop@prod"
// for the environment-wide version, "shop@prod/eu-1" for a target's pin.
func VersionChangeKey(project, environment, target string) string {
	k := project + "@" + environment
	if target != "" {
		k += "/" + target
	}
	return k
}

// ReleaseChangeKey is the change-log key of a release: "shop#1.2.3".
func ReleaseChangeKey(project, version string) string { return project + "#" + version }

// MaxVersionLen bounds a version string.
const MaxVersionLen = 128

// versionRE accepts what build tooling writes as versions: semver, git
// describe output, dates, digests. No spaces, since versions end up in URLs,
// labels and shell commands.
var versionRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+:~-]*$`)

// ValidateVersion checks a version string.
func ValidateVersion(field, v string) error {
	switch {
	case v == "":
		return errs.Field(field, "is required")
	case len(v) > MaxVersionLen:
		return errs.Field(field, "is %d characters long; the limit is %d", len(v), MaxVersionLen)
	case !versionRE.MatchString(v):
		return errs.Field(field, "%s is not a version: use letters, digits and . _ + : ~ - (no spaces), starting with a letter or digit", errs.Quote(v))
	}
	return nil
}

// Deployment statuses an agent may report with a deployed version.
const (
	StatusProgressing = "progressing"
	StatusHealthy     = "healthy"
	StatusDegraded    = "degraded"
	StatusFailed      = "failed"
)

// ValidateStatus checks a reported status ("" is allowed: unknown).
func ValidateStatus(field, s string) error {
	switch s {
	case "", StatusProgressing, StatusHealthy, StatusDegraded, StatusFailed:
		return nil
	}
	return errs.Field(field, "%s is not one of progressing, healthy, degraded, failed", errs.Quote(s))
}

// DesiredVersion is the version a project should run in an environment, or
// on one target of it when Target is set (a pin). A pin overrides the
// environment-wide version until it is removed.
type DesiredVersion struct {
	Workspace   string    `json:"workspace,omitempty"`
	Project     string    `json:"project"`
	Environment string    `json:"environment"`
	Target      string    `json:"target,omitempty"`
	Version     string    `json:"version"`
	Reason      string    `json:"reason,omitempty"`
	Actor       string    `json:"actor,omitempty"`
	Revision    int64     `json:"revision,omitempty"`
	UpdatedAt   time.Time `json:"updatedAt,omitzero"`
}

// DeployedVersion is what an agent last reported as running on a target.
// Since is when the version (or a change into or out of healthy) last
// changed, which is when the current state began; ReportedAt is the last
// report, even one that changed nothing.
type DeployedVersion struct {
	Workspace   string    `json:"workspace,omitempty"`
	Project     string    `json:"project"`
	Environment string    `json:"environment"`
	Target      string    `json:"target"`
	Version     string    `json:"version"`
	Status      string    `json:"status,omitempty"`
	Message     string    `json:"message,omitempty"`
	Revision    int64     `json:"revision,omitempty"`
	Since       time.Time `json:"since,omitzero"`
	ReportedAt  time.Time `json:"reportedAt,omitzero"`
}

// DeploymentVersion is one deployment's desired and deployed versions.
// Pinned says the desired version comes from a pin on the target. Since,
// for a drifting deployment, is when the drift began: the later of the
// desired version being set and the deployed version changing.
type DeploymentVersion struct {
	Project     string    `json:"project"`
	Environment string    `json:"environment"`
	Target      string    `json:"target"`
	Desired     string    `json:"desired,omitempty"`
	Pinned      bool      `json:"pinned,omitempty"`
	Deployed    string    `json:"deployed,omitempty"`
	Status      string    `json:"status,omitempty"`
	Message     string    `json:"message,omitempty"`
	Since       time.Time `json:"since,omitzero"`
}

// VersionChange is the after (and before) document of a "version" change
// entry; Reason says why the version was set (a rollback, a promotion…).
type VersionChange struct {
	Version   string `json:"version"`
	Reason    string `json:"reason,omitempty"`
	Promotion int64  `json:"promotion,omitempty"`
}

// VersionHistoryEntry is one past desired version of an environment or pin.
type VersionHistoryEntry struct {
	Version  string    `json:"version"`
	Reason   string    `json:"reason,omitempty"`
	Actor    string    `json:"actor,omitempty"`
	Revision int64     `json:"revision"`
	Time     time.Time `json:"time"`
}
