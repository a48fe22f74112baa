package flag

import (
	"strconv"
	"time"

	"github.com/flagops/flagops/internal/domain"
)

// ScheduledChange changes a flag's targeting in one environment at a time:
// either replaces it with Targeting or applies Patch to it (exactly one is
// set). Running it is the scheduler's job, not this package's.
type ScheduledChange struct {
	ID          string          `json:"id,omitempty"`
	Project     string          `json:"project,omitempty"`
	Flag        string          `json:"flag"`
	Environment string          `json:"environment"`
	At          time.Time       `json:"at"`
	Targeting   *Targeting      `json:"targeting,omitempty"`
	Patch       *TargetingPatch `json:"patch,omitempty"`
}

// TargetingPatch changes the fields of a Targeting that are set (non-nil).
type TargetingPatch struct {
	Enabled       *bool           `json:"enabled,omitempty"`
	OffVariation  *string         `json:"offVariation,omitempty"`
	Prerequisites *[]Prerequisite `json:"prerequisites,omitempty"`
	Rules         *[]Rule         `json:"rules,omitempty"`
	Fallthrough   *Serve          `json:"fallthrough,omitempty"`
}

// Apply returns t with the patch's set fields replaced.
func (p TargetingPatch) Apply(t Targeting) Targeting {
	if p.Enabled != nil {
		t.Enabled = *p.Enabled
	}
	if p.OffVariation != nil {
		t.OffVariation = *p.OffVariation
	}
	if p.Prerequisites != nil {
		t.Prerequisites = *p.Prerequisites
	}
	if p.Rules != nil {
		t.Rules = *p.Rules
	}
	if p.Fallthrough != nil {
		t.Fallthrough = *p.Fallthrough
	}
	return t
}

// Validate checks the change's shape. Whether the resulting targeting is
// valid for the flag is checked when it is applied (Flag.Validate).
func (c *ScheduledChange) Validate() error {
	var p problems
	p.add("", ValidateKey("flag", c.Flag))
	p.add("", domain.ValidateName("environment", c.Environment))
	if c.At.IsZero() {
		p.field("at", "time is required")
	}
	switch {
	case c.Targeting == nil && c.Patch == nil:
		p.field("targeting", "either targeting or patch is required")
	case c.Targeting != nil && c.Patch != nil:
		p.field("patch", "set either targeting or patch, not both")
	}
	// The rules' conditions need no flag to be checked, and are checked
	// now: the change is stored until it runs, and a condition value must
	// be a scalar (never a deeply nested value that readers cannot decode).
	switch {
	case c.Targeting != nil:
		p.add("targeting", validateRuleConditions(c.Targeting.Rules))
	case c.Patch != nil && c.Patch.Rules != nil:
		p.add("patch", validateRuleConditions(*c.Patch.Rules))
	}
	return p.err()
}

// validateRuleConditions checks the conditions of rules on their own.
func validateRuleConditions(rules []Rule) error {
	var p problems
	for i, r := range rules {
		for j, c := range r.Conditions {
			p.add("rules["+strconv.Itoa(i)+"].conditions["+strconv.Itoa(j)+"]", c.Validate())
		}
	}
	return p.err()
}

// ProgressiveRollout moves a flag toward Variation in steps: at each step's
// time, Variation's weight in the rollout of rule Rule (the fallthrough when
// Rule is nil) becomes the step's Weight and the other variations share the
// rest. Executing it is the scheduler's job.
type ProgressiveRollout struct {
	ID          string        `json:"id,omitempty"`
	Project     string        `json:"project,omitempty"`
	Flag        string        `json:"flag"`
	Environment string        `json:"environment"`
	Rule        *int          `json:"rule,omitempty"`
	Variation   string        `json:"variation"`
	Steps       []RolloutStep `json:"steps"`
}

// RolloutStep is one step of a ProgressiveRollout; Weight is in thousandths
// of a percent.
type RolloutStep struct {
	At     time.Time `json:"at"`
	Weight int       `json:"weight"`
}

// Validate checks the rollout: a step at least, strictly increasing times,
// weights within 0..100000 that never decrease.
func (r *ProgressiveRollout) Validate() error {
	var p problems
	p.add("", ValidateKey("flag", r.Flag))
	p.add("", domain.ValidateName("environment", r.Environment))
	if r.Rule != nil && *r.Rule < 0 {
		p.field("rule", "rule index must be >= 0, got %d", *r.Rule)
	}
	if r.Variation == "" {
		p.field("variation", "variation is required")
	}
	if len(r.Steps) == 0 {
		p.field("steps", "at least one step is required")
	}
	for i, s := range r.Steps {
		field := "steps[" + strconv.Itoa(i) + "]"
		if s.At.IsZero() {
			p.field(field+".at", "time is required")
		}
		if s.Weight < 0 || s.Weight > FullWeight {
			p.field(field+".weight", "weight must be 0..100000, got %d", s.Weight)
		}
		if i > 0 {
			prev := r.Steps[i-1]
			if !s.At.After(prev.At) {
				p.field(field+".at", "times must increase: %s is not after %s", s.At.Format(time.RFC3339), prev.At.Format(time.RFC3339))
			}
			if s.Weight < prev.Weight {
				p.field(field+".weight", "weights must not decrease: %d after %d", s.Weight, prev.Weight)
			}
		}
	}
	return p.err()
}
