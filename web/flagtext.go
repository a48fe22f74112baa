package web

import (
	"strings"

	"google.golang.org/protobuf/types/known/structpb"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
)

// The readable form of targeting: a rule reads "tier is enterprise → 5",
// a rollout is a bar of weighted parts.

// operatorWords are how a condition's operator reads, and how it reads
// negated.
var operatorWords = map[string][2]string{
	"equals":      {"is", "is not"},
	"in":          {"is one of", "is not one of"},
	"contains":    {"contains", "does not contain"},
	"starts_with": {"starts with", "does not start with"},
	"ends_with":   {"ends with", "does not end with"},
	"matches":     {"matches", "does not match"},
	"lt":          {"<", "is not <"},
	"lte":         {"≤", "is not ≤"},
	"gt":          {">", "is not >"},
	"gte":         {"≥", "is not ≥"},
	"semver_eq":   {"is version", "is not version"},
	"semver_lt":   {"is a version before", "is not a version before"},
	"semver_lte":  {"is a version at most", "is not a version at most"},
	"semver_gt":   {"is a version after", "is not a version after"},
	"semver_gte":  {"is a version at least", "is not a version at least"},
	"before":      {"is before", "is not before"},
	"after":       {"is after", "is not after"},
	"exists":      {"is set", "is not set"},
}

// conditionText reads one condition.
func conditionText(c *flagopsv1.Condition) string {
	words, ok := operatorWords[c.GetOperator()]
	w := c.GetOperator()
	if ok {
		w = words[0]
		if c.GetNegate() {
			w = words[1]
		}
	} else if c.GetNegate() {
		w = "not " + w
	}
	if c.GetOperator() == "exists" {
		return c.GetAttribute() + " " + w
	}
	vals := make([]string, 0, len(c.GetValues()))
	for _, v := range c.GetValues() {
		vals = append(vals, valueText(v))
	}
	if c.GetOperator() == "equals" && len(vals) > 1 {
		w = operatorWords["in"][0]
		if c.GetNegate() {
			w = operatorWords["in"][1]
		}
	}
	return c.GetAttribute() + " " + w + " " + strings.Join(vals, ", ")
}

// part is one weighted part of a rollout bar.
type part struct {
	Variation string
	Label     string
	Weight    int32
	// X is where the part starts on the bar (the weights before it).
	X      int32
	Colour int // 0..5, the variation's index modulo the palette
}

// serveText is how a served variation or rollout reads.
type serveText struct {
	Variation string // the variation's key
	Value     string // its value, as text
	Rollout   []part
	BucketBy  string
}

type ruleText struct {
	Index     int
	When      string
	Segment   string
	Serve     serveText
	RuleID    string
	Described string
}

type targetingText struct {
	Env           string
	Configured    bool
	Enabled       bool
	Off           serveText
	Prerequisites []string
	Rules         []ruleText
	Fallthrough   serveText
}

// variationIndex maps a flag's variation keys to their index and value.
type variationIndex map[string]struct {
	i     int
	value *structpb.Value
}

func indexVariations(f *flagopsv1.Flag) variationIndex {
	m := variationIndex{}
	for i, v := range f.GetVariations() {
		m[v.GetKey()] = struct {
			i     int
			value *structpb.Value
		}{i, v.GetValue()}
	}
	return m
}

func (vi variationIndex) serve(variation string, rollout []*flagopsv1.WeightedVariation, bucketBy string) serveText {
	s := serveText{Variation: variation, BucketBy: bucketBy}
	if variation != "" {
		s.Value = valueText(vi[variation].value)
	}
	var x int32
	for _, wv := range rollout {
		s.Rollout = append(s.Rollout, part{Variation: wv.GetVariation(), Label: valueText(vi[wv.GetVariation()].value),
			Weight: wv.GetWeight(), X: x, Colour: vi[wv.GetVariation()].i % 6})
		x += wv.GetWeight()
	}
	return s
}

// targetingOf reads a flag's targeting in one environment.
func targetingOf(f *flagopsv1.Flag, env string) targetingText {
	vi := indexVariations(f)
	t, ok := f.GetEnvironments()[env]
	out := targetingText{Env: env, Configured: ok}
	if !ok {
		return out
	}
	out.Enabled = t.GetEnabled()
	out.Off = vi.serve(t.GetOffVariation(), nil, "")
	for _, p := range t.GetPrerequisites() {
		out.Prerequisites = append(out.Prerequisites, p.GetFlag()+" is "+p.GetVariation())
	}
	for i, r := range t.GetRules() {
		conds := make([]string, 0, len(r.GetConditions()))
		for _, c := range r.GetConditions() {
			conds = append(conds, conditionText(c))
		}
		out.Rules = append(out.Rules, ruleText{Index: i, When: strings.Join(conds, " and "), Segment: r.GetSegment(),
			Serve: vi.serve(r.GetVariation(), r.GetRollout(), r.GetBucketBy()), RuleID: r.GetId(), Described: r.GetDescription()})
	}
	ft := t.GetFallthrough()
	out.Fallthrough = vi.serve(ft.GetVariation(), ft.GetRollout(), ft.GetBucketBy())
	return out
}

// segmentsUsed lists the segments a flag's rules use in env.
func segmentsUsed(f *flagopsv1.Flag, env string) []string {
	var out []string
	for _, r := range f.GetEnvironments()[env].GetRules() {
		if s := r.GetSegment(); s != "" && !contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

type segmentText struct {
	Key, Name        string
	Include, Exclude []string
	Rules            []string
}

func segmentOf(s *flagopsv1.Segment) segmentText {
	out := segmentText{Key: s.GetKey(), Name: s.GetName(), Include: s.GetInclude(), Exclude: s.GetExclude()}
	for _, r := range s.GetRules() {
		conds := make([]string, 0, len(r.GetConditions()))
		for _, c := range r.GetConditions() {
			conds = append(conds, conditionText(c))
		}
		out.Rules = append(out.Rules, strings.Join(conds, " and "))
	}
	return out
}
