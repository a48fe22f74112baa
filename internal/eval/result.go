package eval

import (
	"encoding/json"

	"github.com/flagops/flagops/internal/flag"
)

// Reason says why a value was served, in OpenFeature terms.
type Reason string

// The reasons.
const (
	// ReasonStatic: the flag is enabled, has no rules and no prerequisites,
	// and its fallthrough is a plain variation: every context gets it.
	ReasonStatic Reason = "STATIC"
	// ReasonTargetingMatch: a rule matched and served a variation.
	ReasonTargetingMatch Reason = "TARGETING_MATCH"
	// ReasonSplit: a rollout (of a matched rule or of the fallthrough)
	// chose the variation by bucket.
	ReasonSplit Reason = "SPLIT"
	// ReasonDefault: no rule matched and the fallthrough served; or a
	// prerequisite failed and the off variation served (Metadata then holds
	// "prerequisiteFailed": the prerequisite's key).
	ReasonDefault Reason = "DEFAULT"
	// ReasonDisabled: the flag is disabled (or not configured) in the
	// environment and its off variation served.
	ReasonDisabled Reason = "DISABLED"
	// ReasonError: no value; see ErrorCode.
	ReasonError Reason = "ERROR"
)

// ErrorCode is an OpenFeature error code; empty when there is no error.
type ErrorCode string

// The error codes.
const (
	ErrFlagNotFound        ErrorCode = "FLAG_NOT_FOUND"
	ErrTypeMismatch        ErrorCode = "TYPE_MISMATCH"
	ErrParse               ErrorCode = "PARSE_ERROR"
	ErrTargetingKeyMissing ErrorCode = "TARGETING_KEY_MISSING"
	ErrInvalidContext      ErrorCode = "INVALID_CONTEXT"
	ErrGeneral             ErrorCode = "GENERAL"
)

// MetaPrerequisiteFailed is the Metadata key naming the prerequisite that
// failed. OpenFeature has no prerequisite reason; like LaunchDarkly and
// flagd we serve the off variation, and report it as DEFAULT plus this key
// (DISABLED would claim the flag is off, TARGETING_MATCH that a rule matched).
const MetaPrerequisiteFailed = "prerequisiteFailed"

// Result is the outcome of evaluating one flag.
//
// Value is the variation's decoded value and JSON its encoding (compact),
// so an HTTP layer can write it without encoding again. Both, and Metadata,
// are shared by every result of the snapshot: callers must not modify them.
// Value, JSON and Variant are empty when no variation was served (an error,
// or a disabled flag without an off variation): use the caller's default.
// Its JSON encoding uses OFREP's member names (key, value, variant, reason,
// errorCode, errorDetails, metadata).
type Result struct {
	FlagKey      string          `json:"key"`
	Value        any             `json:"value,omitempty"`
	JSON         json.RawMessage `json:"-"`
	Variant      string          `json:"variant,omitempty"`
	Reason       Reason          `json:"reason"`
	ErrorCode    ErrorCode       `json:"errorCode,omitempty"`
	ErrorMessage string          `json:"errorDetails,omitempty"`
	Metadata     map[string]any  `json:"metadata,omitempty"`
	// Explanation is set only by Snapshot.Explain.
	Explanation *Explanation `json:"explanation,omitempty"`
}

// Explanation is how a result was reached, for tools such as the eval CLI.
type Explanation struct {
	Environment   string              `json:"environment"`
	Revision      int64               `json:"revision"`
	Configured    bool                `json:"configured"`
	Enabled       bool                `json:"enabled"`
	Prerequisites []PrerequisiteCheck `json:"prerequisites,omitempty"`
	Rules         []RuleCheck         `json:"rules,omitempty"`
	// MatchedRule is the index of the rule that served, or -1.
	MatchedRule int `json:"matchedRule"`
	// Bucket is the rollout bucket (0..99999), or -1 when no rollout ran.
	Bucket   int    `json:"bucket"`
	BucketBy string `json:"bucketBy,omitempty"`
}

// PrerequisiteCheck is one evaluated prerequisite.
type PrerequisiteCheck struct {
	Flag string `json:"flag"`
	Want string `json:"want"`
	Got  string `json:"got"`
	Met  bool   `json:"met"`
}

// RuleCheck is one evaluated rule, with the conditions checked until one
// failed.
type RuleCheck struct {
	Index      int              `json:"index"`
	Conditions []ConditionCheck `json:"conditions,omitempty"`
	Segment    *SegmentCheck    `json:"segment,omitempty"`
	Matched    bool             `json:"matched"`
}

// ConditionCheck is one evaluated condition and the attribute value seen.
type ConditionCheck struct {
	Attribute string        `json:"attribute"`
	Operator  flag.Operator `json:"operator"`
	Negate    bool          `json:"negate,omitempty"`
	Values    []any         `json:"values,omitempty"`
	Value     any           `json:"value,omitempty"`
	Found     bool          `json:"found"`
	Matched   bool          `json:"matched"`
}

// SegmentCheck is how a segment membership was decided.
type SegmentCheck struct {
	Key      string `json:"key"`
	Excluded bool   `json:"excluded,omitempty"`
	Included bool   `json:"included,omitempty"`
	// Rule is the index of the segment rule that matched, or -1.
	Rule    int  `json:"rule"`
	Matched bool `json:"matched"`
}
