package flag

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flagops/flagops/internal/errs"
)

// fields returns the field path of every error joined in err.
func fields(err error) []string {
	var out []string
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		out = append(out, errs.FieldOf(e))
	}
	if err != nil {
		walk(err)
	}
	return out
}

// valid returns a valid number flag to break in tests.
func valid() Flag {
	return Flag{Key: "replicas", Type: TypeNumber,
		Variations: []Variation{{Key: "free", Value: json.RawMessage("1")}, {Key: "pro", Value: json.RawMessage("3")}},
		Environments: map[string]Targeting{"prod": {
			Enabled: true, OffVariation: "free",
			Rules: []Rule{
				{Conditions: []Condition{{Attribute: "tier", Operator: OpEquals, Values: []any{"pro"}}}, Serve: Serve{Variation: "pro"}},
				{Segment: "beta", Serve: Serve{Rollout: []WeightedVariation{{Variation: "pro", Weight: 50000}, {Variation: "free", Weight: 50000}}}},
			},
			Fallthrough: Serve{Variation: "free"},
		}}}
}

func TestFlagValidate(t *testing.T) {
	rule := func(f *Flag, i int) *Rule { return &f.Environments["prod"].Rules[i] }
	cond0 := func(f *Flag) *Condition { return &rule(f, 0).Conditions[0] }
	tests := []struct {
		name   string
		break_ func(f *Flag)
		field  string
		rule   string
	}{
		{"bad key", func(f *Flag) { f.Key = "9lives" }, "key", "must be 1-128"},
		{"long key", func(f *Flag) { f.Key = "a" + strings.Repeat("b", 128) }, "key", "must be 1-128"},
		{"missing key", func(f *Flag) { f.Key = "" }, "key", "required"},
		{"bad project", func(f *Flag) { f.Project = "Shop!" }, "project", ""},
		{"bad tag", func(f *Flag) { f.Tags = []string{"ok", ""} }, "tags[1]", "tag"},
		{"bad type", func(f *Flag) { f.Type = "int" }, "type", "unknown type"},
		{"one variation", func(f *Flag) { f.Variations = f.Variations[:1]; f.Environments = nil }, "variations", "at least two"},
		{"duplicate variation", func(f *Flag) { f.Variations[1].Key = "free" }, "variations[1].key", "duplicate"},
		{"bad variation key", func(f *Flag) { f.Variations[0].Key = "-x" }, "variations[0].key", "variation key"},
		{"wrong value type", func(f *Flag) { f.Variations[1].Value = json.RawMessage(`"3"`) }, "variations[1].value", "not of the flag's type number"},
		{"invalid JSON value", func(f *Flag) { f.Variations[1].Value = json.RawMessage(`{`) }, "variations[1].value", "not valid JSON"},
		{"null value", func(f *Flag) { f.Variations[1].Value = json.RawMessage(`null`) }, "variations[1].value", "type"},
		{"missing value", func(f *Flag) { f.Variations[1].Value = nil }, "variations[1].value", "required"},
		{"bad environment name", func(f *Flag) { f.Environments["Prod"] = f.Environments["prod"] }, "environments.Prod", ""},
		{"unknown off variation", func(f *Flag) { t := f.Environments["prod"]; t.OffVariation = "x"; f.Environments["prod"] = t }, "environments.prod.offVariation", `"x" does not exist`},
		{"rule serves unknown variation", func(f *Flag) { rule(f, 0).Variation = "gold" }, "environments.prod.rules[0].variation", `"gold" does not exist`},
		{"rollout unknown variation", func(f *Flag) { rule(f, 1).Rollout[0].Variation = "gold" }, "environments.prod.rules[1].rollout[0].variation", "does not exist"},
		{"rollout duplicate variation", func(f *Flag) { rule(f, 1).Rollout[1].Variation = "pro" }, "environments.prod.rules[1].rollout[1].variation", "twice"},
		{"weights sum", func(f *Flag) { rule(f, 1).Rollout[0].Weight = 45000 }, "environments.prod.rules[1].rollout", "weights must sum to 100000 (100%), got 95000"},
		{"negative weight", func(f *Flag) { rule(f, 1).Rollout[0].Weight = -1; rule(f, 1).Rollout[1].Weight = 100001 }, "environments.prod.rules[1].rollout[0].weight", "0..100000"},
		{"variation and rollout", func(f *Flag) { rule(f, 1).Variation = "pro" }, "environments.prod.rules[1]", "not both"},
		{"nothing served", func(f *Flag) { t := f.Environments["prod"]; t.Fallthrough = Serve{}; f.Environments["prod"] = t }, "environments.prod.fallthrough", "required"},
		{"bucketBy without rollout", func(f *Flag) { rule(f, 0).BucketBy = "org" }, "environments.prod.rules[0].bucketBy", "only to a rollout"},
		{"bad bucketBy", func(f *Flag) { rule(f, 1).BucketBy = "org..id" }, "environments.prod.rules[1].bucketBy", "empty segment"},
		{"empty rule", func(f *Flag) { rule(f, 1).Segment = "" }, "environments.prod.rules[1]", "conditions or a segment"},
		{"bad segment key", func(f *Flag) { rule(f, 1).Segment = "_x" }, "environments.prod.rules[1].segment", "must be"},
		{"unknown operator", func(f *Flag) { cond0(f).Operator = "like" }, "environments.prod.rules[0].conditions[0].operator", `unknown operator "like"`},
		{"missing attribute", func(f *Flag) { cond0(f).Attribute = "" }, "environments.prod.rules[0].conditions[0].attribute", "required"},
		{"bad attribute path", func(f *Flag) { cond0(f).Attribute = "a..b" }, "environments.prod.rules[0].conditions[0].attribute", "empty segment"},
		{"equals two values", func(f *Flag) { cond0(f).Values = []any{"a", "b"} }, "environments.prod.rules[0].conditions[0].values", "exactly one"},
		{"in no values", func(f *Flag) { *cond0(f) = Condition{Attribute: "a", Operator: OpIn} }, "environments.prod.rules[0].conditions[0].values", "at least one"},
		{"exists with values", func(f *Flag) { *cond0(f) = Condition{Attribute: "a", Operator: OpExists, Values: []any{1}} }, "environments.prod.rules[0].conditions[0].values", "no values"},
		{"equals object", func(f *Flag) { cond0(f).Values = []any{map[string]any{}} }, "environments.prod.rules[0].conditions[0].values[0]", "string, number or boolean"},
		{"starts_with number", func(f *Flag) { *cond0(f) = Condition{Attribute: "a", Operator: OpStartsWith, Values: []any{"x", 1.0}} }, "environments.prod.rules[0].conditions[0].values[1]", "needs a string"},
		{"bad regex", func(f *Flag) { *cond0(f) = Condition{Attribute: "a", Operator: OpMatches, Values: []any{"a("}} }, "environments.prod.rules[0].conditions[0].values[0]", "bad regular expression"},
		{"regex not string", func(f *Flag) { *cond0(f) = Condition{Attribute: "a", Operator: OpMatches, Values: []any{1.0}} }, "environments.prod.rules[0].conditions[0].values[0]", "regular expression"},
		{"lt string", func(f *Flag) { *cond0(f) = Condition{Attribute: "a", Operator: OpLT, Values: []any{"5"}} }, "environments.prod.rules[0].conditions[0].values[0]", "needs a number"},
		{"bad semver", func(f *Flag) { *cond0(f) = Condition{Attribute: "a", Operator: OpSemverGTE, Values: []any{"v1.2"}} }, "environments.prod.rules[0].conditions[0].values[0]", "bad semver"},
		{"semver number", func(f *Flag) { *cond0(f) = Condition{Attribute: "a", Operator: OpSemverEQ, Values: []any{1.0}} }, "environments.prod.rules[0].conditions[0].values[0]", "version string"},
		{"bad time", func(f *Flag) { *cond0(f) = Condition{Attribute: "a", Operator: OpBefore, Values: []any{"2026-13-01"}} }, "environments.prod.rules[0].conditions[0].values[0]", "bad time"},
		{"time number", func(f *Flag) { *cond0(f) = Condition{Attribute: "a", Operator: OpAfter, Values: []any{1.0}} }, "environments.prod.rules[0].conditions[0].values[0]", "RFC 3339"},
		{"self prerequisite", func(f *Flag) {
			t := f.Environments["prod"]
			t.Prerequisites = []Prerequisite{{Flag: "replicas", Variation: "pro"}}
			f.Environments["prod"] = t
		}, "environments.prod.prerequisites[0].flag", "own prerequisite"},
		{"prerequisite without variation", func(f *Flag) {
			t := f.Environments["prod"]
			t.Prerequisites = []Prerequisite{{Flag: "other"}}
			f.Environments["prod"] = t
		}, "environments.prod.prerequisites[0].variation", "required"},
		{"duplicate prerequisite", func(f *Flag) {
			t := f.Environments["prod"]
			t.Prerequisites = []Prerequisite{{Flag: "o", Variation: "a"}, {Flag: "o", Variation: "b"}}
			f.Environments["prod"] = t
		}, "environments.prod.prerequisites[1].flag", "duplicate"},
	}
	f := valid()
	if err := f.Validate(); err != nil {
		t.Fatalf("valid flag: %v", err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := roundTrip(t, valid())
			tc.break_(&f)
			err := f.Validate()
			if !errors.Is(err, errs.Invalid) {
				t.Fatalf("err = %v, want Invalid", err)
			}
			if !slices.Contains(fields(err), tc.field) {
				t.Fatalf("fields = %q, want %q (err %v)", fields(err), tc.field, err)
			}
			if !strings.Contains(err.Error(), tc.rule) {
				t.Fatalf("err = %v, want it to say %q", err, tc.rule)
			}
		})
	}
}

// roundTrip returns a deep copy of f through JSON.
func roundTrip[T any](t *testing.T, v T) T {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestValidateSet(t *testing.T) {
	seg := Segment{Key: "beta", Include: []string{"u1"}}
	withPrereq := func(key string, pre ...Prerequisite) Flag {
		f := New(key, TypeBoolean)
		f.Environments = map[string]Targeting{"prod": {Enabled: true, Prerequisites: pre}}
		f.Default()
		return f
	}
	tests := []struct {
		name  string
		flags []Flag
		segs  []Segment
		field string
		rule  string
	}{
		{"ok", []Flag{valid(), withPrereq("a", Prerequisite{Flag: "replicas", Variation: "pro"})}, []Segment{seg}, "", ""},
		{"missing segment", []Flag{valid()}, nil, "flags[0].environments.prod.rules[1].segment", `segment "beta" does not exist`},
		{"duplicate flag", []Flag{valid(), valid()}, []Segment{seg}, "flags[1].key", "duplicate flag key"},
		{"duplicate segment", []Flag{valid()}, []Segment{seg, seg}, "segments[1].key", "duplicate segment key"},
		{"invalid segment", []Flag{valid()}, []Segment{seg, {Key: "x", Rules: []SegmentRule{{Conditions: []Condition{{Attribute: "v", Operator: OpSemverLT, Values: []any{"1"}}}}}}},
			"segments[1].rules[0].conditions[0].values[0]", "bad semver"},
		{"segment rule without conditions", []Flag{valid()}, []Segment{seg, {Key: "x", Rules: []SegmentRule{{}}}}, "segments[1].rules[0].conditions", "at least one"},
		{"segment empty include", []Flag{valid()}, []Segment{seg, {Key: "x", Include: []string{""}}}, "segments[1].include[0]", "empty"},
		{"invalid flag is prefixed", []Flag{{Key: "x"}}, nil, "flags[0].type", "unknown type"},
		{"missing prerequisite", []Flag{withPrereq("a", Prerequisite{Flag: "b", Variation: "on"})}, nil, "flags[0].environments.prod.prerequisites[0].flag", `"b" does not exist`},
		{"prerequisite variation missing", []Flag{withPrereq("a", Prerequisite{Flag: "b", Variation: "maybe"}), withPrereq("b")}, nil, "flags[0].environments.prod.prerequisites[0].variation", `no variation "maybe"`},
		{"cycle", []Flag{
			withPrereq("a", Prerequisite{Flag: "b", Variation: "on"}),
			withPrereq("b", Prerequisite{Flag: "c", Variation: "on"}),
			withPrereq("c", Prerequisite{Flag: "a", Variation: "on"}),
		}, nil, "flags[0].environments.prod.prerequisites", "prerequisite cycle: a -> b -> c -> a"},
		{"cycle reached through another flag", []Flag{
			withPrereq("top", Prerequisite{Flag: "b", Variation: "on"}),
			withPrereq("b", Prerequisite{Flag: "c", Variation: "on"}),
			withPrereq("c", Prerequisite{Flag: "b", Variation: "on"}),
		}, nil, "flags[1].environments.prod.prerequisites", "prerequisite cycle: b -> c -> b"},
		{"mixed projects", []Flag{func() Flag { f := valid(); f.Project = "shop"; return f }()}, []Segment{{Project: "blog", Key: "beta"}}, "flags[0].project", "one project"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateSet(tc.flags, tc.segs)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("unexpected %v", err)
				}
				return
			}
			if !errors.Is(err, errs.Invalid) || !slices.Contains(fields(err), tc.field) || !strings.Contains(err.Error(), tc.rule) {
				t.Fatalf("err = %v (fields %q), want %s: %s", err, fields(err), tc.field, tc.rule)
			}
		})
	}
}

func TestDefault(t *testing.T) {
	f := New("dark-mode", TypeBoolean)
	if len(f.Variations) != 2 || f.Variations[0].Key != "on" || string(f.Variations[0].Value) != "true" ||
		f.Variations[1].Key != "off" || string(f.Variations[1].Value) != "false" {
		t.Fatalf("variations = %+v", f.Variations)
	}
	if dt := f.DefaultTargeting(); dt.Enabled || dt.OffVariation != "off" || dt.Fallthrough.Variation != "on" {
		t.Fatalf("DefaultTargeting = %+v", dt)
	}
	f.Environments = map[string]Targeting{"prod": {Enabled: true}, "dev": {OffVariation: "on"}}
	f.Default()
	if p := f.Environments["prod"]; p.OffVariation != "off" || p.Fallthrough.Variation != "on" {
		t.Fatalf("prod = %+v", p)
	}
	if d := f.Environments["dev"]; d.OffVariation != "on" {
		t.Fatalf("Default overwrote a set field: %+v", d)
	}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	var untyped Flag
	untyped.Key = "x"
	untyped.Default()
	if untyped.Type != TypeBoolean || len(untyped.Variations) != 2 {
		t.Fatalf("untyped = %+v", untyped)
	}
	if s := New("s", TypeString); len(s.Variations) != 0 {
		t.Fatalf("string flag got variations %+v", s.Variations)
	}
}

// TestJSONShape checks the hand-written shape (as YAML would decode to) and
// the round trip.
func TestJSONShape(t *testing.T) {
	const doc = `{
	  "project": "shop", "key": "replicas", "type": "number", "tags": ["infra"],
	  "variations": [{"key": "free", "value": 1}, {"key": "pro", "value": 3}],
	  "environments": {"prod": {
	    "enabled": true, "offVariation": "free",
	    "prerequisites": [{"flag": "billing", "variation": "on"}],
	    "rules": [
	      {"conditions": [{"attribute": "tier", "operator": "equals", "values": ["pro"]}], "variation": "pro"},
	      {"segment": "beta-users", "rollout": [{"variation": "pro", "weight": 50000}, {"variation": "free", "weight": 50000}], "bucketBy": "org.id"}
	    ],
	    "fallthrough": {"variation": "free"}
	  }}
	}`
	var f Flag
	if err := json.Unmarshal([]byte(doc), &f); err != nil {
		t.Fatal(err)
	}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	r := f.Environments["prod"].Rules[1]
	if r.Segment != "beta-users" || len(r.Rollout) != 2 || r.BucketBy != "org.id" || f.Environments["prod"].Rules[0].Variation != "pro" {
		t.Fatalf("decoded = %+v", f)
	}
	b, _ := json.Marshal(f)
	for _, want := range []string{`"offVariation":"free"`, `"variations":[{"key":"free","value":1}`, `"rules":[{"conditions":[{"attribute":"tier","operator":"equals","values":["pro"]}],"variation":"pro"}`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("encoding lacks %s:\n%s", want, b)
		}
	}
	again := roundTrip(t, f)
	b2, _ := json.Marshal(again)
	if string(b) != string(b2) {
		t.Fatalf("round trip changed:\n%s\n%s", b, b2)
	}
	seg := Segment{Key: "beta", Include: []string{"a"}, Exclude: []string{"b"}, Rules: []SegmentRule{{Conditions: []Condition{{Attribute: "x", Operator: OpExists, Negate: true}}}}}
	sb, _ := json.Marshal(seg)
	if string(sb) != `{"key":"beta","include":["a"],"exclude":["b"],"rules":[{"conditions":[{"attribute":"x","operator":"exists","negate":true}]}]}` {
		t.Fatalf("segment = %s", sb)
	}
	if got := roundTrip(t, seg); got.Rules[0].Conditions[0].Negate != true {
		t.Fatal("segment round trip")
	}
}

func TestScheduledChange(t *testing.T) {
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	on := true
	tests := []struct {
		name  string
		c     ScheduledChange
		field string
	}{
		{"ok patch", ScheduledChange{Flag: "f", Environment: "prod", At: at, Patch: &TargetingPatch{Enabled: &on}}, ""},
		{"ok full", ScheduledChange{Flag: "f", Environment: "prod", At: at, Targeting: &Targeting{}}, ""},
		{"neither", ScheduledChange{Flag: "f", Environment: "prod", At: at}, "targeting"},
		{"both", ScheduledChange{Flag: "f", Environment: "prod", At: at, Targeting: &Targeting{}, Patch: &TargetingPatch{}}, "patch"},
		{"no time", ScheduledChange{Flag: "f", Environment: "prod", Patch: &TargetingPatch{}}, "at"},
		{"bad flag", ScheduledChange{Flag: "1f", Environment: "prod", At: at, Patch: &TargetingPatch{}}, "flag"},
		{"bad env", ScheduledChange{Flag: "f", Environment: "", At: at, Patch: &TargetingPatch{}}, "environment"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Validate()
			if (tc.field == "") != (err == nil) || tc.field != "" && !slices.Contains(fields(err), tc.field) {
				t.Fatalf("err = %v (fields %q), want field %q", err, fields(err), tc.field)
			}
			roundTrip(t, tc.c)
		})
	}
	rules := []Rule{{Segment: "s", Serve: Serve{Variation: "on"}}}
	got := TargetingPatch{Enabled: &on, Rules: &rules}.Apply(Targeting{OffVariation: "off"})
	if !got.Enabled || got.OffVariation != "off" || len(got.Rules) != 1 {
		t.Fatalf("Apply = %+v", got)
	}
}

func TestProgressiveRollout(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	step := func(h, w int) RolloutStep { return RolloutStep{At: t0.Add(time.Duration(h) * time.Hour), Weight: w} }
	neg := -1
	tests := []struct {
		name  string
		steps []RolloutStep
		rule  *int
		field string
	}{
		{"ok", []RolloutStep{step(0, 1000), step(1, 10000), step(2, 10000), step(24, 100000)}, nil, ""},
		{"no steps", nil, nil, "steps"},
		{"time not increasing", []RolloutStep{step(1, 1000), step(1, 2000)}, nil, "steps[1].at"},
		{"weight decreasing", []RolloutStep{step(0, 5000), step(1, 2000)}, nil, "steps[1].weight"},
		{"weight too high", []RolloutStep{step(0, 100001)}, nil, "steps[0].weight"},
		{"weight negative", []RolloutStep{step(0, -5)}, nil, "steps[0].weight"},
		{"zero time", []RolloutStep{{Weight: 1}}, nil, "steps[0].at"},
		{"bad rule", []RolloutStep{step(0, 1)}, &neg, "rule"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ProgressiveRollout{Flag: "f", Environment: "prod", Variation: "on", Rule: tc.rule, Steps: tc.steps}
			err := r.Validate()
			if (tc.field == "") != (err == nil) || tc.field != "" && !slices.Contains(fields(err), tc.field) {
				t.Fatalf("err = %v (fields %q), want field %q", err, fields(err), tc.field)
			}
			roundTrip(t, r)
		})
	}
}

func TestPrerequisiteBudget(t *testing.T) {
	// A chain of diamonds: each level requires both flags of the next, so
	// evaluating the top costs 2+4+…+2^n evaluations.
	mk := func(levels int) []Flag {
		var flags []Flag
		for l := 0; l <= levels; l++ {
			for _, side := range []string{"a", "b"} {
				f := New("l"+strconv.Itoa(l)+side, TypeBoolean)
				tg := Targeting{Enabled: true}
				if l < levels {
					next := "l" + strconv.Itoa(l+1)
					tg.Prerequisites = []Prerequisite{{Flag: next + "a", Variation: "on"}, {Flag: next + "b", Variation: "on"}}
				}
				f.Environments = map[string]Targeting{"prod": tg}
				f.Default()
				flags = append(flags, f)
			}
		}
		return flags
	}
	if err := ValidateSet(mk(5), nil); err != nil { // 62 evaluations
		t.Fatalf("5 levels: %v", err)
	}
	err := ValidateSet(mk(6), nil) // 126 evaluations
	if !slices.Contains(fields(err), "flags[0].environments.prod.prerequisites") || !strings.Contains(err.Error(), "more than 100") {
		t.Fatalf("6 levels: %v", err)
	}
}
