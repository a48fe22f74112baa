package domain

import (
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/flagops/flagops/internal/errs"
)

// Release is a built version of a project: the commits it was built from
// (repository → full git hash, for every repository the build used), its
// artifacts, notes and labels. A release is immutable once created; a
// correction is a new release with a new version.
type Release struct {
	Workspace string            `json:"workspace,omitempty"`
	Project   string            `json:"project"`
	Version   string            `json:"version"`
	Commits   map[string]string `json:"commits,omitempty"`
	Artifacts []Artifact        `json:"artifacts,omitempty"`
	Notes     string            `json:"notes,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
	Actor     string            `json:"actor,omitempty"`
	Revision  int64             `json:"revision,omitempty"`
	CreatedAt time.Time         `json:"createdAt,omitzero"`
}

// Artifact is one file of a release, for one platform ("linux/amd64").
type Artifact struct {
	Name      string `json:"name"`
	Platform  string `json:"platform,omitempty"`
	URL       string `json:"url"`
	SHA256    string `json:"sha256"`
	Size      int64  `json:"size,omitempty"`
	Signature string `json:"signature,omitempty"`
}

var (
	sha1RE     = regexp.MustCompile(`^[0-9a-f]{40}$`)
	sha256RE   = regexp.MustCompile(`^[0-9a-f]{64}$`)
	platformRE = regexp.MustCompile(`^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$`)
	repoRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,255}$`)
)

// ValidateSHA256 checks a sha256 digest: 64 lower-case hex characters.
func ValidateSHA256(field, s string) error {
	if !sha256RE.MatchString(s) {
		return errs.Field(field, "must be 64 lower-case hex characters (a sha256 digest), got %d characters", len(s))
	}
	return nil
}

// ValidateCommit checks a full 40-hex git commit hash.
func ValidateCommit(field, s string) error {
	if !sha1RE.MatchString(s) {
		return errs.Field(field, "must be a full 40-character lower-case hex git commit hash")
	}
	return nil
}

// ValidatePlatform checks an "os/arch[/variant]" platform.
func ValidatePlatform(field, s string) error {
	if !platformRE.MatchString(s) {
		return errs.Field(field, "%s is not a platform such as linux/amd64", errs.Quote(s))
	}
	return nil
}

// Validate checks a release before it is created.
func (r *Release) Validate() error {
	if err := ValidateName("project", r.Project); err != nil {
		return err
	}
	if err := ValidateVersion("version", r.Version); err != nil {
		return err
	}
	for repo, sha := range r.Commits {
		f := "commits." + repo
		if !repoRE.MatchString(repo) {
			return errs.Field(f, "is not a repository name or URL")
		}
		if err := ValidateCommit(f, sha); err != nil {
			return err
		}
	}
	seen := map[string]bool{}
	for i, a := range r.Artifacts {
		f := fmt.Sprintf("artifacts[%d]", i)
		switch {
		case a.Name == "":
			return errs.Field(f+".name", "is required")
		case a.URL == "":
			return errs.Field(f+".url", "is required")
		case a.Size < 0:
			return errs.Field(f+".size", "must not be negative")
		}
		if a.Platform != "" {
			if err := ValidatePlatform(f+".platform", a.Platform); err != nil {
				return err
			}
		}
		if err := ValidateSHA256(f+".sha256", a.SHA256); err != nil {
			return err
		}
		k := a.Name + "\x00" + a.Platform
		if seen[k] {
			return errs.Field(f, "repeats artifact %s for platform %s", errs.Quote(a.Name), errs.Quote(a.Platform))
		}
		seen[k] = true
	}
	if len(r.Notes) > 64<<10 {
		return &errs.FieldError{Field: "notes", Rule: "is longer than 64 KiB", Kind: errs.TooLarge}
	}
	if err := (Meta{Name: r.Project, Labels: r.Labels}).Validate(); err != nil {
		return err
	}
	slices.SortFunc(r.Artifacts, func(a, b Artifact) int {
		if c := cmpStr(a.Platform, b.Platform); c != 0 {
			return c
		}
		return cmpStr(a.Name, b.Name)
	})
	return nil
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
