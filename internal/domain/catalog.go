// Package domain holds flagops' plain types: the catalog (workspaces,
// environments, targets, environment sets, projects, deployments), facts,
// scopes and the change log. They carry no protobuf and no SQL; every layer
// speaks them.
package domain

import (
	"regexp"
	"slices"
	"time"

	"github.com/flagops/flagops/internal/errs"
)

// DefaultWorkspace always exists and is used when a request names none.
const DefaultWorkspace = "default"

// Meta is what every catalog object carries. Revision is the revision of the
// change that last wrote the object; it is the object's ETag.
type Meta struct {
	Workspace   string            `json:"workspace,omitempty"`
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Revision    int64             `json:"revision,omitempty"`
	CreatedAt   time.Time         `json:"createdAt,omitzero"`
	UpdatedAt   time.Time         `json:"updatedAt,omitzero"`
}

// Workspace isolates a set of catalog objects, facts and flags. Its Meta's
// Workspace field is empty.
type Workspace struct {
	Meta
}

// Environment is a stage software goes through (dev, staging, prod). It is
// also a release channel.
type Environment struct {
	Meta
}

// Target is where software actually runs (a cluster, a region, an account).
// It belongs to exactly one environment.
type Target struct {
	Meta
	Environment string `json:"environment"`
}

// EnvironmentSet is a named list of environments that projects can inherit.
type EnvironmentSet struct {
	Meta
	Environments []string `json:"environments"`
}

// Project is an application, service or model that is deployed. Its
// environments are the union of its direct Environments and those of its
// EnvironmentSets, merged by name; EffectiveEnvironments holds that union,
// sorted, and is filled in by the store on read (it is derived, never written).
type Project struct {
	Meta
	Environments          []string `json:"environments,omitempty"`
	EnvironmentSets       []string `json:"environmentSets,omitempty"`
	EffectiveEnvironments []string `json:"effectiveEnvironments,omitempty"`
}

// Deployment is a project on a target: derived, never created by hand. It
// exists while the target's environment is one of the project's effective
// environments.
type Deployment struct {
	Workspace   string `json:"workspace,omitempty"`
	Project     string `json:"project"`
	Target      string `json:"target"`
	Environment string `json:"environment"`
}

// Key is the deployment's name, "project@target".
func (d Deployment) Key() string { return d.Project + "@" + d.Target }

// nameRE is the grammar of catalog names: a DNS label (RFC 1123), so names fit
// in hostnames, Kubernetes objects and URLs unchanged.
var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// NameRule is the human wording of the name grammar, used in errors and docs.
const NameRule = "must be 1-63 lowercase letters, digits or '-', starting and ending with a letter or digit"

// ValidateName checks a catalog name; field names the request field.
func ValidateName(field, name string) error {
	if name == "" {
		return errs.Field(field, "is required")
	}
	if !nameRE.MatchString(name) {
		return errs.Field(field, "%s %s", errs.Quote(name), NameRule)
	}
	return nil
}

// Limits on free-form text, so that one request cannot grow a row without bound.
const (
	MaxDescription = 4096
	MaxLabels      = 64
	MaxLabelValue  = 256
)

// Validate checks the fields every object shares.
func (m Meta) Validate() error {
	if err := ValidateName("name", m.Name); err != nil {
		return err
	}
	if m.Workspace != "" {
		if err := ValidateName("workspace", m.Workspace); err != nil {
			return err
		}
	}
	if len(m.Description) > MaxDescription {
		return errs.Field("description", "must be at most %d bytes", MaxDescription)
	}
	if len(m.Labels) > MaxLabels {
		return errs.Field("labels", "must have at most %d entries", MaxLabels)
	}
	for k, v := range m.Labels {
		if !labelKeyRE.MatchString(k) {
			return errs.Field("labels."+k, "label key must match %s", labelKeyRE)
		}
		if len(v) > MaxLabelValue {
			return errs.Field("labels."+k, "must be at most %d bytes", MaxLabelValue)
		}
	}
	return nil
}

var labelKeyRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._/-]{0,126}[A-Za-z0-9])?$`)

// Validate checks a target.
func (t Target) Validate() error {
	if err := t.Meta.Validate(); err != nil {
		return err
	}
	return ValidateName("environment", t.Environment)
}

// Validate checks an environment set.
func (s EnvironmentSet) Validate() error {
	if err := s.Meta.Validate(); err != nil {
		return err
	}
	return validateNames("environments", s.Environments)
}

// Validate checks a project.
func (p Project) Validate() error {
	if err := p.Meta.Validate(); err != nil {
		return err
	}
	if err := validateNames("environments", p.Environments); err != nil {
		return err
	}
	return validateNames("environmentSets", p.EnvironmentSets)
}

func validateNames(field string, names []string) error {
	for i, n := range names {
		if err := ValidateName("", n); err != nil {
			return errs.Prefix(field+"["+itoa(i)+"]", err)
		}
		if slices.Index(names, n) != i {
			return errs.Field(field+"["+itoa(i)+"]", "%s is listed twice", errs.Quote(n))
		}
	}
	return nil
}

// Normalize sorts the name lists of a project so that equal projects compare
// equal, whatever order a document listed them in.
func (p *Project) Normalize() {
	p.Environments = sortedCopy(p.Environments)
	p.EnvironmentSets = sortedCopy(p.EnvironmentSets)
}

// Normalize sorts the environments of a set.
func (s *EnvironmentSet) Normalize() { s.Environments = sortedCopy(s.Environments) }

func sortedCopy(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	out := slices.Clone(in)
	slices.Sort(out)
	return out
}
