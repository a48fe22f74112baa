// Package flag is the feature-flag model: flags, their typed variations,
// per-environment targeting (rules, rollouts, prerequisites), segments, and
// the scheduled-change types. It is pure data plus validation: no I/O. The
// evaluation engine that runs it lives in internal/eval.
//
// Every type round-trips through encoding/json with lowerCamelCase names and
// is shaped to be written by hand in YAML:
//
//	kind: Flag
//	project: shop
//	key: replicas
//	type: number
//	variations:                      # a list: its order is the flag's order
//	  - {key: free, value: 1}
//	  - {key: pro, value: 3}
//	  - {key: enterprise, value: 5}
//	environments:
//	  prod:
//	    enabled: true
//	    offVariation: free
//	    rules:
//	      - conditions: [{attribute: tier, operator: equals, values: [pro]}]
//	        variation: pro
//	      - segment: beta-users
//	        rollout: [{variation: pro, weight: 50000}, {variation: free, weight: 50000}]
//	    fallthrough: {variation: free}
package flag

import (
	"encoding/json"
	"slices"
)

// Type is the type of every variation value of a flag.
type Type string

// The flag types. An object flag's values are JSON objects or arrays.
const (
	TypeBoolean Type = "boolean"
	TypeString  Type = "string"
	TypeNumber  Type = "number"
	TypeObject  Type = "object"
)

// Valid reports whether t is one of the four types.
func (t Type) Valid() bool {
	switch t {
	case TypeBoolean, TypeString, TypeNumber, TypeObject:
		return true
	}
	return false
}

// FullWeight is 100% in rollout weights, which are thousandths of a percent.
const FullWeight = 100000

// Flag is a feature flag of a project. Variations are a list (not a map) so
// their order is stable and chosen by the author. Environments maps an
// environment name to the flag's targeting there; an environment without an
// entry evaluates as disabled with no value.
type Flag struct {
	Project     string   `json:"project,omitempty"`
	Key         string   `json:"key"`
	Name        string   `json:"name,omitempty"`
	Description string   `json:"description,omitempty"`
	Tags        []string `json:"tags,omitempty"`
	Type        Type     `json:"type"`
	// Salt is mixed into the rollout hash; changing it reshuffles every
	// rollout of the flag. See docs/rollout-hashing.md.
	Salt         string               `json:"salt,omitempty"`
	Variations   []Variation          `json:"variations"`
	Environments map[string]Targeting `json:"environments,omitempty"`
	// Revision is the revision of the change that last wrote the flag.
	Revision int64 `json:"revision,omitempty"`
}

// Variation is one value a flag can serve, named by Key.
type Variation struct {
	Key         string          `json:"key"`
	Value       json.RawMessage `json:"value"`
	Name        string          `json:"name,omitempty"`
	Description string          `json:"description,omitempty"`
}

// Targeting is how a flag is served in one environment. When Enabled is
// false, OffVariation is served (or no value, when it is empty). When
// enabled, prerequisites are checked first, then Rules in order; the first
// matching rule serves; otherwise Fallthrough serves.
type Targeting struct {
	Enabled       bool           `json:"enabled"`
	OffVariation  string         `json:"offVariation,omitempty"`
	Prerequisites []Prerequisite `json:"prerequisites,omitempty"`
	Rules         []Rule         `json:"rules,omitempty"`
	Fallthrough   Serve          `json:"fallthrough"`
}

// Prerequisite requires flag Flag (in the same project and environment) to
// be enabled and to serve Variation for the same context.
type Prerequisite struct {
	Flag      string `json:"flag"`
	Variation string `json:"variation"`
}

// Serve is what a rule or the fallthrough serves: exactly one of a
// Variation or a weighted Rollout. BucketBy names the context attribute the
// rollout hashes (the targeting key when empty).
type Serve struct {
	Variation string              `json:"variation,omitempty"`
	Rollout   []WeightedVariation `json:"rollout,omitempty"`
	BucketBy  string              `json:"bucketBy,omitempty"`
}

// WeightedVariation is one slice of a rollout; Weight is in thousandths of a
// percent (FullWeight is 100%).
type WeightedVariation struct {
	Variation string `json:"variation"`
	Weight    int    `json:"weight"`
}

// Rule matches a context when all its Conditions hold and, if Segment is
// set, the context is in that segment. A rule needs at least one of the two.
// Its Serve fields are inlined in JSON (variation, rollout, bucketBy).
type Rule struct {
	ID          string      `json:"id,omitempty"`
	Description string      `json:"description,omitempty"`
	Conditions  []Condition `json:"conditions,omitempty"`
	Segment     string      `json:"segment,omitempty"`
	Serve
}

// Condition tests one context attribute. Attribute is a path: "tier", or
// "account.tier" for a nested object (a flat key "account.tier" is tried
// first, since fact keys may contain dots); "targetingKey" is the context's
// targeting key. Values are JSON scalars whose meaning depends on Operator.
//
// A missing attribute, or one of the wrong type for the operator, makes the
// condition false even when Negate is set: "tier not equals pro" does not
// match a context without a tier. Test absence with exists and Negate.
type Condition struct {
	Attribute string   `json:"attribute"`
	Operator  Operator `json:"operator"`
	Values    []any    `json:"values,omitempty"`
	Negate    bool     `json:"negate,omitempty"`
}

// Segment is a reusable set of contexts in a project: a context is in the
// segment when its targeting key is not in Exclude and either is in Include
// or matches any of Rules. Exclude wins over Include, Include over Rules.
type Segment struct {
	Project     string        `json:"project,omitempty"`
	Key         string        `json:"key"`
	Name        string        `json:"name,omitempty"`
	Description string        `json:"description,omitempty"`
	Include     []string      `json:"include,omitempty"`
	Exclude     []string      `json:"exclude,omitempty"`
	Rules       []SegmentRule `json:"rules,omitempty"`
	Revision    int64         `json:"revision,omitempty"`
}

// SegmentRule matches when all its conditions hold.
type SegmentRule struct {
	ID         string      `json:"id,omitempty"`
	Conditions []Condition `json:"conditions"`
}

// The variation keys a new boolean flag gets.
const (
	VariationOn  = "on"
	VariationOff = "off"
)

// New returns a flag of the given key and type with defaults applied (see
// Flag.Default).
func New(key string, t Type) Flag {
	f := Flag{Key: key, Type: t}
	f.Default()
	return f
}

// Default fills in what a hand-written flag may leave out: a boolean flag
// without variations gets "on" (true) and "off" (false), and each of its
// environments without an off variation or fallthrough serves "off" when
// disabled and "on" when enabled. It never overwrites a set field.
func (f *Flag) Default() {
	if f.Type == "" && len(f.Variations) == 0 {
		f.Type = TypeBoolean
	}
	if f.Type != TypeBoolean {
		return
	}
	if len(f.Variations) == 0 {
		f.Variations = []Variation{
			{Key: VariationOn, Value: json.RawMessage("true")},
			{Key: VariationOff, Value: json.RawMessage("false")},
		}
	}
	if !f.hasVariation(VariationOn) || !f.hasVariation(VariationOff) {
		return
	}
	for env, t := range f.Environments {
		if t.OffVariation == "" {
			t.OffVariation = VariationOff
		}
		if t.Fallthrough.Variation == "" && len(t.Fallthrough.Rollout) == 0 {
			t.Fallthrough.Variation = VariationOn
		}
		f.Environments[env] = t
	}
}

// DefaultTargeting is the targeting of a new environment of f: disabled,
// serving the last variation when off and the first when on (for a default
// boolean flag: "off" and "on").
func (f *Flag) DefaultTargeting() Targeting {
	var t Targeting
	if n := len(f.Variations); n > 0 {
		t.OffVariation = f.Variations[n-1].Key
		t.Fallthrough.Variation = f.Variations[0].Key
	}
	if f.hasVariation(VariationOn) && f.hasVariation(VariationOff) {
		t.OffVariation, t.Fallthrough.Variation = VariationOff, VariationOn
	}
	return t
}

// Variation returns the variation with the given key.
func (f *Flag) Variation(key string) (Variation, bool) {
	i := slices.IndexFunc(f.Variations, func(v Variation) bool { return v.Key == key })
	if i < 0 {
		return Variation{}, false
	}
	return f.Variations[i], true
}

func (f *Flag) hasVariation(key string) bool {
	_, ok := f.Variation(key)
	return ok
}
