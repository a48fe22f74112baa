package flag

import (
	"encoding/json"
	"errors"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
)

// keyRE is the grammar of flag and segment keys.
var keyRE = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_.-]{0,127}$`)

// KeyRule is the human wording of keyRE.
const KeyRule = "must be 1-128 characters: a letter, then letters, digits, '_', '.' or '-'"

// variationKeyRE is the grammar of variation keys.
var variationKeyRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$`)

// tagRE is the grammar of flag tags.
var tagRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.:/-]{0,63}$`)

// ValidateKey checks a flag or segment key.
func ValidateKey(field, key string) error {
	if key == "" {
		return errs.Field(field, "key is required")
	}
	if !keyRE.MatchString(key) {
		return errs.Field(field, "key %s %s", errs.Quote(key), KeyRule)
	}
	return nil
}

// problems collects field errors; err joins them (nil when there are none).
// Each is an *errs.FieldError, so errs.FieldOf(err) names the first.
type problems []error

func (p *problems) add(prefix string, err error) {
	if err == nil {
		return
	}
	// Flatten joined errors so every field error gets the prefix.
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			p.add(prefix, e)
		}
		return
	}
	*p = append(*p, errs.Prefix(prefix, err))
}

func (p *problems) field(field, format string, args ...any) {
	*p = append(*p, errs.Field(field, format, args...))
}

func (p problems) err() error { return errors.Join(p...) }

// Validate checks f on its own: keys, type, variations and their values,
// and every environment's targeting (operators, regexes, semvers, times,
// weights, served variations). References to other flags and to segments
// are checked by ValidateSet. Every problem is reported as an
// *errs.FieldError (joined with errors.Join) naming the field path, such as
// "environments.prod.rules[2].rollout".
func (f *Flag) Validate() error {
	var p problems
	p.add("", ValidateKey("key", f.Key))
	if f.Project != "" {
		p.add("", domain.ValidateName("project", f.Project))
	}
	for i, tag := range f.Tags {
		if !tagRE.MatchString(tag) {
			p.field("tags["+strconv.Itoa(i)+"]", "tag %s must be 1-64 letters, digits, '_', '.', ':', '/' or '-', starting with a letter or digit", errs.Quote(clip(tag)))
		}
	}
	if !f.Type.Valid() {
		p.field("type", "unknown type %s: must be boolean, string, number or object", errs.Quote(f.Type))
	}
	if len(f.Variations) < 2 {
		p.field("variations", "a flag needs at least two variations, got %d", len(f.Variations))
	}
	seen := make(map[string]bool, len(f.Variations))
	for i, v := range f.Variations {
		field := "variations[" + strconv.Itoa(i) + "]"
		switch {
		case !variationKeyRE.MatchString(v.Key):
			p.field(field+".key", "variation key %s must be 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit", errs.Quote(v.Key))
		case seen[v.Key]:
			p.field(field+".key", "duplicate variation key %s", errs.Quote(v.Key))
		}
		seen[v.Key] = true
		if f.Type.Valid() {
			p.add(field+".value", checkValue(f.Type, v.Value))
		}
	}
	for _, env := range slices.Sorted(maps.Keys(f.Environments)) {
		t := f.Environments[env]
		prefix := "environments." + env
		p.add("environments", domain.ValidateName(env, env))
		p.add(prefix, t.validate(f.Key, seen))
	}
	return p.err()
}

// checkValue checks that raw is a JSON value of type t.
func checkValue(t Type, raw json.RawMessage) error {
	if len(raw) == 0 {
		return errs.Field("", "value is required")
	}
	if len(raw) > domain.MaxJSONValue {
		return &errs.FieldError{Rule: "value must be at most " + strconv.Itoa(domain.MaxJSONValue) + " bytes", Kind: errs.TooLarge}
	}
	if err := domain.CheckJSONDepth("", raw); err != nil {
		return err
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return errs.Field("", "value is not valid JSON: %v", err)
	}
	ok := false
	switch v.(type) {
	case bool:
		ok = t == TypeBoolean
	case string:
		ok = t == TypeString
	case float64:
		ok = t == TypeNumber
	case map[string]any, []any:
		ok = t == TypeObject
	}
	if !ok {
		return errs.Field("", "value %s is not of the flag's type %s", clip(string(raw)), t)
	}
	return nil
}

func (t *Targeting) validate(flagKey string, variations map[string]bool) error {
	var p problems
	if t.OffVariation != "" && !variations[t.OffVariation] {
		p.field("offVariation", "variation %s does not exist", errs.Quote(t.OffVariation))
	}
	seen := map[string]bool{}
	for i, pr := range t.Prerequisites {
		field := "prerequisites[" + strconv.Itoa(i) + "]"
		p.add(field, ValidateKey("flag", pr.Flag))
		switch {
		case pr.Flag == flagKey:
			p.field(field+".flag", "a flag cannot be its own prerequisite")
		case seen[pr.Flag]:
			p.field(field+".flag", "duplicate prerequisite %s", errs.Quote(pr.Flag))
		}
		seen[pr.Flag] = true
		if pr.Variation == "" {
			p.field(field+".variation", "variation is required")
		}
	}
	for i, r := range t.Rules {
		p.add("rules["+strconv.Itoa(i)+"]", r.validate(variations))
	}
	p.add("fallthrough", t.Fallthrough.validate(variations))
	return p.err()
}

func (r *Rule) validate(variations map[string]bool) error {
	var p problems
	if len(r.Conditions) == 0 && r.Segment == "" {
		p.field("", "a rule needs conditions or a segment")
	}
	if r.Segment != "" {
		p.add("", ValidateKey("segment", r.Segment))
	}
	for i, c := range r.Conditions {
		p.add("conditions["+strconv.Itoa(i)+"]", c.Validate())
	}
	p.add("", r.Serve.validate(variations))
	return p.err()
}

func (s *Serve) validate(variations map[string]bool) error {
	var p problems
	switch {
	case s.Variation != "" && len(s.Rollout) > 0:
		p.field("", "serve either a variation or a rollout, not both")
	case s.Variation == "" && len(s.Rollout) == 0:
		p.field("", "a variation or a rollout is required")
	case s.Variation != "":
		if !variations[s.Variation] {
			p.field("variation", "variation %s does not exist", errs.Quote(s.Variation))
		}
	default:
		sum := 0
		seen := map[string]bool{}
		for i, w := range s.Rollout {
			field := "rollout[" + strconv.Itoa(i) + "]"
			switch {
			case !variations[w.Variation]:
				p.field(field+".variation", "variation %s does not exist", errs.Quote(w.Variation))
			case seen[w.Variation]:
				p.field(field+".variation", "variation %s appears twice in the rollout", errs.Quote(w.Variation))
			}
			seen[w.Variation] = true
			if w.Weight < 0 || w.Weight > FullWeight {
				p.field(field+".weight", "weight must be 0..100000 (thousandths of a percent), got %d", w.Weight)
			}
			sum += w.Weight
		}
		if sum != FullWeight {
			p.field("rollout", "weights must sum to 100000 (100%%), got %d", sum)
		}
	}
	if s.BucketBy != "" {
		p.add("bucketBy", validatePath(s.BucketBy))
	}
	if s.BucketBy != "" && len(s.Rollout) == 0 {
		p.field("bucketBy", "bucketBy applies only to a rollout")
	}
	return p.err()
}

func validatePath(path string) error {
	if path == "" {
		return errs.Field("", "attribute is required")
	}
	for _, part := range strings.Split(path, ".") {
		if part == "" {
			return errs.Field("", "attribute path %s has an empty segment", errs.Quote(path))
		}
	}
	return nil
}

// Validate checks the condition: a known operator, the number of values it
// takes, and each value's type and syntax (regex, semver, RFC 3339 time).
func (c Condition) Validate() error {
	var p problems
	p.add("attribute", validatePath(c.Attribute))
	if !c.Operator.Valid() {
		p.field("operator", "unknown operator %s", errs.Quote(c.Operator))
		return p.err()
	}
	switch c.Operator {
	case OpExists:
		if len(c.Values) != 0 {
			p.field("values", "operator exists takes no values, got %d", len(c.Values))
		}
		return p.err()
	case OpIn, OpContains, OpStartsWith, OpEndsWith:
		if len(c.Values) == 0 {
			p.field("values", "operator %s needs at least one value", c.Operator)
		}
	default:
		if len(c.Values) != 1 {
			p.field("values", "operator %s takes exactly one value, got %d", c.Operator, len(c.Values))
		}
	}
	for i, v := range c.Values {
		p.add("values["+strconv.Itoa(i)+"]", checkOperand(c.Operator, v))
	}
	return p.err()
}

func checkOperand(op Operator, v any) error {
	s, isStr := v.(string)
	_, isNum := Number(v)
	_, isBool := v.(bool)
	switch {
	case op == OpEquals || op == OpIn || op == OpContains:
		if !isStr && !isNum && !isBool {
			return errs.Field("", "operator %s needs a string, number or boolean, got %T", op, v)
		}
	case op == OpStartsWith || op == OpEndsWith:
		if !isStr {
			return errs.Field("", "operator %s needs a string, got %T", op, v)
		}
	case op == OpMatches:
		if !isStr {
			return errs.Field("", "operator matches needs a regular expression string, got %T", v)
		}
		if _, err := regexp.Compile(s); err != nil {
			return errs.Field("", "bad regular expression %s: %v", errs.Quote(clip(s)), err)
		}
	case op.IsNumeric():
		if !isNum {
			return errs.Field("", "operator %s needs a number, got %T", op, v)
		}
	case op.IsSemver():
		if !isStr {
			return errs.Field("", "operator %s needs a version string, got %T", op, v)
		}
		if _, err := ParseSemver(s); err != nil {
			return errs.Field("", "bad semver %s: %v", errs.Quote(clip(s)), err)
		}
	case op == OpBefore || op == OpAfter:
		if !isStr {
			return errs.Field("", "operator %s needs an RFC 3339 time string, got %T", op, v)
		}
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			return errs.Field("", "bad time %s: must be RFC 3339 (2006-01-02T15:04:05Z07:00)", errs.Quote(clip(s)))
		}
	}
	return nil
}

// Number converts a numeric value (float64 as decoded from JSON, any Go
// integer or float type, or json.Number) to float64. It does not allocate.
func Number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case int32:
		return float64(n), true
	case uint:
		return float64(n), true
	case uint64:
		return float64(n), true
	case uint32:
		return float64(n), true
	case float32:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

// Validate checks the segment on its own; ValidateSet checks it with the
// flags that use it.
func (s *Segment) Validate() error {
	var p problems
	p.add("", ValidateKey("key", s.Key))
	if s.Project != "" {
		p.add("", domain.ValidateName("project", s.Project))
	}
	for i, k := range s.Include {
		if k == "" {
			p.field("include["+strconv.Itoa(i)+"]", "targeting key is empty")
		}
	}
	for i, k := range s.Exclude {
		if k == "" {
			p.field("exclude["+strconv.Itoa(i)+"]", "targeting key is empty")
		}
	}
	for i, r := range s.Rules {
		field := "rules[" + strconv.Itoa(i) + "]"
		if len(r.Conditions) == 0 {
			p.field(field+".conditions", "a segment rule needs at least one condition")
		}
		for j, c := range r.Conditions {
			p.add(field+".conditions["+strconv.Itoa(j)+"]", c.Validate())
		}
	}
	return p.err()
}

// ValidateSet checks flags and segments that are evaluated together (one
// project): each on its own, unique keys, one project, segment references,
// prerequisite references (flag and variation exist) and prerequisite
// cycles in any environment. Field paths start with "flags[i]" or
// "segments[i]".
func ValidateSet(flags []Flag, segments []Segment) error {
	var p problems
	project := ""
	checkProject := func(field, proj string) {
		if proj == "" {
			return
		}
		if project == "" {
			project = proj
		} else if proj != project {
			p.field(field, "project %s differs from %s: a set holds one project", errs.Quote(proj), errs.Quote(project))
		}
	}
	segs := make(map[string]bool, len(segments))
	for i := range segments {
		s := &segments[i]
		field := "segments[" + strconv.Itoa(i) + "]"
		p.add(field, s.Validate())
		checkProject(field+".project", s.Project)
		if segs[s.Key] {
			p.field(field+".key", "duplicate segment key %s", errs.Quote(s.Key))
		}
		segs[s.Key] = true
	}
	byKey := make(map[string]*Flag, len(flags))
	for i := range flags {
		f := &flags[i]
		field := "flags[" + strconv.Itoa(i) + "]"
		p.add(field, f.Validate())
		checkProject(field+".project", f.Project)
		if byKey[f.Key] != nil {
			p.field(field+".key", "duplicate flag key %s", errs.Quote(f.Key))
		}
		byKey[f.Key] = f
	}
	for i := range flags {
		f := &flags[i]
		for _, env := range slices.Sorted(maps.Keys(f.Environments)) {
			t := f.Environments[env]
			prefix := "flags[" + strconv.Itoa(i) + "].environments." + env
			for j, r := range t.Rules {
				if r.Segment != "" && !segs[r.Segment] {
					p.field(prefix+".rules["+strconv.Itoa(j)+"].segment", "segment %s does not exist", errs.Quote(r.Segment))
				}
			}
			for j, pr := range t.Prerequisites {
				field := prefix + ".prerequisites[" + strconv.Itoa(j) + "]"
				pf := byKey[pr.Flag]
				if pf == nil {
					p.field(field+".flag", "prerequisite flag %s does not exist", errs.Quote(pr.Flag))
				} else if _, ok := pf.Variation(pr.Variation); !ok {
					p.field(field+".variation", "flag %s has no variation %s", errs.Quote(pr.Flag), errs.Quote(pr.Variation))
				}
			}
			if cycle := prereqCycle(byKey, env, f.Key); cycle != nil {
				p.field(prefix+".prerequisites", "prerequisite cycle: %s", strings.Join(cycle, " -> "))
			} else if n := prereqCost(byKey, env, f.Key, map[string]int{}); n > MaxPrerequisiteEvaluations {
				p.field(prefix+".prerequisites", "evaluating the flag would evaluate more than %d prerequisites (shared prerequisites count each time they are reached)", MaxPrerequisiteEvaluations)
			}
		}
	}
	return p.err()
}

// MaxPrerequisiteEvaluations bounds the prerequisites one evaluation may
// reach, counting a prerequisite shared by several paths once per path: the
// engine does not memoize, so a wide diamond-shaped graph would otherwise
// cost exponential time.
const MaxPrerequisiteEvaluations = 100

// prereqCost returns how many prerequisite evaluations evaluating key in env
// costs (capped just above the limit).
func prereqCost(byKey map[string]*Flag, env, key string, memo map[string]int) int {
	if n, ok := memo[key]; ok {
		return n
	}
	memo[key] = 0 // a cycle reached from key is reported on its own flags
	n := 0
	if f := byKey[key]; f != nil {
		for _, pr := range f.Environments[env].Prerequisites {
			n += 1 + prereqCost(byKey, env, pr.Flag, memo)
			if n > MaxPrerequisiteEvaluations {
				n = MaxPrerequisiteEvaluations + 1
				break
			}
		}
	}
	memo[key] = n
	return n
}

// prereqCycle returns a prerequisite path in env that leads from start back
// to start, or nil.
func prereqCycle(byKey map[string]*Flag, env, start string) []string {
	visited := map[string]bool{}
	var path []string
	var walk func(key string) bool
	walk = func(key string) bool {
		path = append(path, key)
		f := byKey[key]
		if f != nil {
			for _, pr := range f.Environments[env].Prerequisites {
				if pr.Flag == start {
					path = append(path, start)
					return true
				}
				if !visited[pr.Flag] {
					visited[pr.Flag] = true
					if walk(pr.Flag) {
						return true
					}
				}
			}
		}
		path = path[:len(path)-1]
		return false
	}
	if walk(start) {
		return path
	}
	return nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:61] + "..."
	}
	return s
}
