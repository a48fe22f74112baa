package flag

// Operator is how a condition compares an attribute with its values.
type Operator string

// The operators. Every one can be negated with Condition.Negate.
const (
	// OpEquals: the attribute equals the single value (string, number or
	// boolean; types must agree).
	OpEquals Operator = "equals"
	// OpIn: the attribute equals one of the values.
	OpIn Operator = "in"
	// OpContains: a string attribute contains one of the string values, or a
	// list attribute holds an element equal to one of the values.
	OpContains Operator = "contains"
	// OpStartsWith, OpEndsWith: a string attribute starts (ends) with one of
	// the string values.
	OpStartsWith Operator = "starts_with"
	OpEndsWith   Operator = "ends_with"
	// OpMatches: a string attribute matches the single RE2 regular
	// expression (unanchored, as regexp.MatchString).
	OpMatches Operator = "matches"
	// OpLT … OpGTE compare a number attribute with the single number value.
	OpLT  Operator = "lt"
	OpLTE Operator = "lte"
	OpGT  Operator = "gt"
	OpGTE Operator = "gte"
	// OpSemverEQ … OpSemverGTE compare a string attribute, parsed as a strict
	// SemVer 2.0 version (no "v" prefix), with the single version value by
	// SemVer precedence (build metadata ignored).
	OpSemverEQ  Operator = "semver_eq"
	OpSemverLT  Operator = "semver_lt"
	OpSemverLTE Operator = "semver_lte"
	OpSemverGT  Operator = "semver_gt"
	OpSemverGTE Operator = "semver_gte"
	// OpBefore, OpAfter compare a time attribute (an RFC 3339 string, or a
	// number of seconds since the Unix epoch) with the single RFC 3339 value.
	OpBefore Operator = "before"
	OpAfter  Operator = "after"
	// OpExists: the attribute is present and not null. It takes no values.
	OpExists Operator = "exists"
)

// Operators lists every operator.
var Operators = []Operator{OpEquals, OpIn, OpContains, OpStartsWith, OpEndsWith, OpMatches,
	OpLT, OpLTE, OpGT, OpGTE, OpSemverEQ, OpSemverLT, OpSemverLTE, OpSemverGT, OpSemverGTE,
	OpBefore, OpAfter, OpExists}

// Valid reports whether op is a known operator.
func (op Operator) Valid() bool {
	for _, o := range Operators {
		if o == op {
			return true
		}
	}
	return false
}

// IsSemver reports whether op is one of the semver operators.
func (op Operator) IsSemver() bool {
	switch op {
	case OpSemverEQ, OpSemverLT, OpSemverLTE, OpSemverGT, OpSemverGTE:
		return true
	}
	return false
}

// IsNumeric reports whether op is one of lt, lte, gt, gte.
func (op Operator) IsNumeric() bool {
	switch op {
	case OpLT, OpLTE, OpGT, OpGTE:
		return true
	}
	return false
}
