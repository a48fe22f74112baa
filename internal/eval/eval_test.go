package eval

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/flag"
)

func raw(s string) json.RawMessage { return json.RawMessage(s) }

// boolFlag returns an enabled boolean flag in "test" whose targeting is t
// (with off/fallthrough defaulted).
func boolFlag(key string, t flag.Targeting) flag.Flag {
	f := flag.New(key, flag.TypeBoolean)
	f.Environments = map[string]flag.Targeting{"test": t}
	f.Default()
	return f
}

func mustCompile(t testing.TB, flags []flag.Flag, segs []flag.Segment) *Snapshot {
	t.Helper()
	s, err := Compile("test", 7, flags, segs)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return s
}

func cond(attr string, op flag.Operator, neg bool, values ...any) flag.Condition {
	return flag.Condition{Attribute: attr, Operator: op, Negate: neg, Values: values}
}

func TestOperators(t *testing.T) {
	attrs := map[string]any{
		"s":      "hello world",
		"n":      42.0,
		"i":      int64(7),
		"b":      true,
		"list":   []any{"a", 2.0, false},
		"ver":    "1.2.3-beta.2",
		"badver": "v1.2.3",
		"when":   "2026-06-01T12:00:00Z",
		"whenTZ": "2026-06-01T14:00:00+02:00",
		"epoch":  1780315200.0, // 2026-06-01T12:00:00Z
		"null":   nil,
		"obj":    map[string]any{"x": 1.0},
	}
	tests := []struct {
		name string
		c    flag.Condition
		want bool
	}{
		{"equals string", cond("s", flag.OpEquals, false, "hello world"), true},
		{"equals string no", cond("s", flag.OpEquals, false, "hello"), false},
		{"equals number", cond("n", flag.OpEquals, false, 42.0), true},
		{"equals int attr", cond("i", flag.OpEquals, false, 7), true},
		{"equals bool", cond("b", flag.OpEquals, false, true), true},
		{"equals wrong type", cond("n", flag.OpEquals, false, "42"), false},
		{"equals wrong type negated", cond("n", flag.OpEquals, true, "42"), false},
		{"equals object attr", cond("obj", flag.OpEquals, false, "x"), false},
		{"not equals", cond("s", flag.OpEquals, true, "bye"), true},
		{"not equals same", cond("s", flag.OpEquals, true, "hello world"), false},
		{"in string", cond("s", flag.OpIn, false, "x", "hello world"), true},
		{"in number", cond("n", flag.OpIn, false, 1, 42), true},
		{"in bool", cond("b", flag.OpIn, false, true), true},
		{"in no", cond("s", flag.OpIn, false, "x", "y"), false},
		{"not in", cond("s", flag.OpIn, true, "x", "y"), true},
		{"in wrong type", cond("list", flag.OpIn, false, "a"), false},
		{"in wrong type negated", cond("obj", flag.OpIn, true, "a"), false},
		{"contains substring", cond("s", flag.OpContains, false, "lo wo"), true},
		{"contains no", cond("s", flag.OpContains, false, "xyz"), false},
		{"not contains", cond("s", flag.OpContains, true, "xyz"), true},
		{"contains list element", cond("list", flag.OpContains, false, 2), true},
		{"contains list bool", cond("list", flag.OpContains, false, false), true},
		{"contains list no", cond("list", flag.OpContains, false, "z"), false},
		{"contains wrong type", cond("n", flag.OpContains, false, "4"), false},
		{"starts_with", cond("s", flag.OpStartsWith, false, "x", "hell"), true},
		{"starts_with no", cond("s", flag.OpStartsWith, false, "world"), false},
		{"not starts_with", cond("s", flag.OpStartsWith, true, "world"), true},
		{"starts_with wrong type", cond("n", flag.OpStartsWith, false, "4"), false},
		{"ends_with", cond("s", flag.OpEndsWith, false, "world"), true},
		{"ends_with no", cond("s", flag.OpEndsWith, false, "hello"), false},
		{"not ends_with", cond("s", flag.OpEndsWith, true, "hello"), true},
		{"ends_with wrong type", cond("b", flag.OpEndsWith, false, "e"), false},
		{"matches", cond("s", flag.OpMatches, false, `^hel+o\s`), true},
		{"matches no", cond("s", flag.OpMatches, false, `^world`), false},
		{"not matches", cond("s", flag.OpMatches, true, `^world`), true},
		{"matches wrong type", cond("n", flag.OpMatches, false, `.*`), false},
		{"lt", cond("n", flag.OpLT, false, 43), true},
		{"lt equal", cond("n", flag.OpLT, false, 42), false},
		{"not lt", cond("n", flag.OpLT, true, 42), true},
		{"lte", cond("n", flag.OpLTE, false, 42), true},
		{"lte no", cond("n", flag.OpLTE, false, 41.5), false},
		{"not lte", cond("n", flag.OpLTE, true, 41.5), true},
		{"gt", cond("n", flag.OpGT, false, 41), true},
		{"gt no", cond("n", flag.OpGT, false, 42), false},
		{"not gt", cond("n", flag.OpGT, true, 42), true},
		{"gte", cond("i", flag.OpGTE, false, 7), true},
		{"gte no", cond("i", flag.OpGTE, false, 8), false},
		{"not gte", cond("i", flag.OpGTE, true, 8), true},
		{"lt wrong type", cond("s", flag.OpLT, false, 1), false},
		{"lt wrong type negated", cond("s", flag.OpLT, true, 1), false},
		{"semver_eq", cond("ver", flag.OpSemverEQ, false, "1.2.3-beta.2"), true},
		{"semver_eq no", cond("ver", flag.OpSemverEQ, false, "1.2.3"), false},
		{"not semver_eq", cond("ver", flag.OpSemverEQ, true, "1.2.3"), true},
		{"semver_lt prerelease", cond("ver", flag.OpSemverLT, false, "1.2.3"), true},
		{"semver_lt no", cond("ver", flag.OpSemverLT, false, "1.2.3-beta.1"), false},
		{"not semver_lt", cond("ver", flag.OpSemverLT, true, "1.2.3-beta.1"), true},
		{"semver_lte", cond("ver", flag.OpSemverLTE, false, "1.2.3-beta.2"), true},
		{"not semver_lte", cond("ver", flag.OpSemverLTE, true, "1.2.3-beta.2"), false},
		{"semver_gt numeric ident", cond("ver", flag.OpSemverGT, false, "1.2.3-beta.11"), false},
		{"semver_gt", cond("ver", flag.OpSemverGT, false, "1.2.3-alpha"), true},
		{"not semver_gt", cond("ver", flag.OpSemverGT, true, "1.2.3-alpha"), false},
		{"semver_gte", cond("ver", flag.OpSemverGTE, false, "1.2.2"), true},
		{"semver_gte no", cond("ver", flag.OpSemverGTE, false, "2.0.0"), false},
		{"not semver_gte", cond("ver", flag.OpSemverGTE, true, "2.0.0"), true},
		{"semver unparsable attr", cond("badver", flag.OpSemverGTE, false, "0.0.1"), false},
		{"semver unparsable attr negated", cond("badver", flag.OpSemverGTE, true, "0.0.1"), false},
		{"semver wrong type", cond("n", flag.OpSemverEQ, false, "1.0.0"), false},
		{"before", cond("when", flag.OpBefore, false, "2026-06-02T00:00:00Z"), true},
		{"before no", cond("when", flag.OpBefore, false, "2026-06-01T12:00:00Z"), false},
		{"not before", cond("when", flag.OpBefore, true, "2026-06-01T12:00:00Z"), true},
		{"before offset attr", cond("whenTZ", flag.OpBefore, false, "2026-06-01T12:00:01Z"), true},
		{"before epoch attr", cond("epoch", flag.OpBefore, false, "2026-06-01T12:00:01Z"), true},
		{"after", cond("when", flag.OpAfter, false, "2026-01-01T00:00:00Z"), true},
		{"after no", cond("whenTZ", flag.OpAfter, false, "2026-06-01T12:00:00Z"), false},
		{"not after", cond("when", flag.OpAfter, true, "2027-01-01T00:00:00Z"), true},
		{"after bad time attr", cond("s", flag.OpAfter, false, "2026-01-01T00:00:00Z"), false},
		{"after wrong type", cond("b", flag.OpAfter, true, "2026-01-01T00:00:00Z"), false},
		{"exists", cond("s", flag.OpExists, false), true},
		{"exists missing", cond("nope", flag.OpExists, false), false},
		{"exists null", cond("null", flag.OpExists, false), false},
		{"not exists missing", cond("nope", flag.OpExists, true), true},
		{"not exists present", cond("s", flag.OpExists, true), false},
		{"missing attribute", cond("nope", flag.OpEquals, false, "x"), false},
		{"missing attribute negated", cond("nope", flag.OpEquals, true, "x"), false},
		{"targetingKey attribute", cond("targetingKey", flag.OpEquals, false, "user-1"), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := boolFlag("f", flag.Targeting{Enabled: true, Rules: []flag.Rule{
				{Conditions: []flag.Condition{tc.c}, Serve: flag.Serve{Variation: "on"}},
			}, Fallthrough: flag.Serve{Variation: "off"}})
			s := mustCompile(t, []flag.Flag{f}, nil)
			r := s.Evaluate("f", NewContext("user-1", attrs))
			if got := r.Reason == ReasonTargetingMatch; got != tc.want {
				t.Fatalf("matched = %v, want %v (result %+v)", got, tc.want, r)
			}
		})
	}
}

func TestAttributePaths(t *testing.T) {
	f := boolFlag("f", flag.Targeting{Enabled: true, Rules: []flag.Rule{
		{Conditions: []flag.Condition{cond("account.tier", flag.OpEquals, false, "pro")}, Serve: flag.Serve{Variation: "on"}},
	}, Fallthrough: flag.Serve{Variation: "off"}})
	s := mustCompile(t, []flag.Flag{f}, nil)
	tests := []struct {
		name string
		ctx  Context
		want string
	}{
		{"nested", NewContext("k", map[string]any{"account": map[string]any{"tier": "pro"}}), "on"},
		{"nested other", NewContext("k", map[string]any{"account": map[string]any{"tier": "free"}}), "off"},
		{"flat dotted key", NewContext("k", map[string]any{"account.tier": "pro"}), "on"},
		{"flat dotted key wins", NewContext("k", map[string]any{"account.tier": "free", "account": map[string]any{"tier": "pro"}}), "off"},
		{"not an object", NewContext("k", map[string]any{"account": "pro"}), "off"},
		{"from base", NewContext("k", nil).WithBase(map[string]any{"account": map[string]any{"tier": "pro"}}), "on"},
		{"caller wins over base", NewContext("k", map[string]any{"account.tier": "free"}).WithBase(map[string]any{"account.tier": "pro"}), "off"},
		{"caller null hides base", NewContext("k", map[string]any{"account.tier": nil}).WithBase(map[string]any{"account.tier": "pro"}), "off"},
		{"deep path falls through to base", NewContext("k", map[string]any{"account": map[string]any{}}).WithBase(map[string]any{"account": map[string]any{"tier": "pro"}}), "on"},
		{"empty context", Context{}, "off"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if r := s.Evaluate("f", tc.ctx); r.Variant != tc.want {
				t.Fatalf("variant = %q, want %q (%+v)", r.Variant, tc.want, r)
			}
		})
	}
}

func TestSegments(t *testing.T) {
	seg := flag.Segment{Key: "beta", Include: []string{"inc", "both"}, Exclude: []string{"exc", "both"},
		Rules: []flag.SegmentRule{{Conditions: []flag.Condition{cond("email", flag.OpEndsWith, false, "@example.com")}}}}
	f := boolFlag("f", flag.Targeting{Enabled: true, Rules: []flag.Rule{
		{Segment: "beta", Serve: flag.Serve{Variation: "on"}},
	}, Fallthrough: flag.Serve{Variation: "off"}})
	s := mustCompile(t, []flag.Flag{f}, []flag.Segment{seg})
	staff := map[string]any{"email": "a@example.com"}
	tests := []struct {
		name, key string
		attrs     map[string]any
		want      string
	}{
		{"included", "inc", nil, "on"},
		{"excluded by key even if rule matches", "exc", staff, "off"},
		{"exclude wins over include", "both", nil, "off"},
		{"rule match", "someone", staff, "on"},
		{"no match", "someone", map[string]any{"email": "a@other.org"}, "off"},
		{"no key, rule match", "", staff, "on"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if r := s.Evaluate("f", NewContext(tc.key, tc.attrs)); r.Variant != tc.want {
				t.Fatalf("variant = %q, want %q (%+v)", r.Variant, tc.want, r)
			}
		})
	}
	t.Run("segment and conditions", func(t *testing.T) {
		f := boolFlag("g", flag.Targeting{Enabled: true, Rules: []flag.Rule{
			{Segment: "beta", Conditions: []flag.Condition{cond("country", flag.OpEquals, false, "fr")}, Serve: flag.Serve{Variation: "on"}},
		}, Fallthrough: flag.Serve{Variation: "off"}})
		s := mustCompile(t, []flag.Flag{f}, []flag.Segment{seg})
		if r := s.Evaluate("g", NewContext("inc", map[string]any{"country": "de"})); r.Variant != "off" {
			t.Fatalf("condition should be required too: %+v", r)
		}
		if r := s.Evaluate("g", NewContext("inc", map[string]any{"country": "fr"})); r.Variant != "on" {
			t.Fatalf("want on: %+v", r)
		}
	})
}

func TestPrerequisites(t *testing.T) {
	parent := boolFlag("parent", flag.Targeting{Enabled: true, Rules: []flag.Rule{
		{Conditions: []flag.Condition{cond("plan", flag.OpEquals, false, "pro")}, Serve: flag.Serve{Variation: "on"}},
	}, Fallthrough: flag.Serve{Variation: "off"}})
	disabled := boolFlag("disabled", flag.Targeting{Enabled: false, OffVariation: "on"})
	unconfigured := flag.New("unconfigured", flag.TypeBoolean)
	child := func(pre string) flag.Flag {
		return boolFlag("child-"+pre, flag.Targeting{Enabled: true,
			Prerequisites: []flag.Prerequisite{{Flag: pre, Variation: "on"}},
			Fallthrough:   flag.Serve{Variation: "on"}})
	}
	grandchild := boolFlag("grandchild", flag.Targeting{Enabled: true,
		Prerequisites: []flag.Prerequisite{{Flag: "child-parent", Variation: "on"}},
		Fallthrough:   flag.Serve{Variation: "on"}})
	s := mustCompile(t, []flag.Flag{parent, disabled, unconfigured, child("parent"), child("disabled"), child("unconfigured"), grandchild}, nil)
	tests := []struct {
		name, flag string
		attrs      map[string]any
		variant    string
		reason     Reason
		failed     string
	}{
		{"met", "child-parent", map[string]any{"plan": "pro"}, "on", ReasonDefault, ""},
		{"unmet", "child-parent", map[string]any{"plan": "free"}, "off", ReasonDefault, "parent"},
		{"prerequisite disabled (even serving the wanted variation)", "child-disabled", nil, "off", ReasonDefault, "disabled"},
		{"prerequisite not configured in environment", "child-unconfigured", nil, "off", ReasonDefault, "unconfigured"},
		{"chain met", "grandchild", map[string]any{"plan": "pro"}, "on", ReasonDefault, ""},
		{"chain unmet", "grandchild", map[string]any{"plan": "free"}, "off", ReasonDefault, "child-parent"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := s.Evaluate(tc.flag, NewContext("k", tc.attrs))
			if r.Variant != tc.variant || r.Reason != tc.reason {
				t.Fatalf("got %q/%s, want %q/%s", r.Variant, r.Reason, tc.variant, tc.reason)
			}
			got, _ := r.Metadata[MetaPrerequisiteFailed].(string)
			if got != tc.failed {
				t.Fatalf("prerequisiteFailed = %q, want %q", got, tc.failed)
			}
		})
	}
	t.Run("missing prerequisite flag", func(t *testing.T) {
		_, err := Compile("test", 1, []flag.Flag{child("ghost")}, nil)
		if !errors.Is(err, errs.Invalid) || errs.FieldOf(err) != "flags[0].environments.test.prerequisites[0].flag" {
			t.Fatalf("err = %v (field %q)", err, errs.FieldOf(err))
		}
	})
}

func TestReasonsAndErrors(t *testing.T) {
	rollout := []flag.WeightedVariation{{Variation: "on", Weight: 50000}, {Variation: "off", Weight: 50000}}
	flags := []flag.Flag{
		boolFlag("static", flag.Targeting{Enabled: true, Fallthrough: flag.Serve{Variation: "on"}}),
		boolFlag("disabled", flag.Targeting{Enabled: false}),
		boolFlag("split", flag.Targeting{Enabled: true, Fallthrough: flag.Serve{Rollout: rollout}}),
		boolFlag("rulesplit", flag.Targeting{Enabled: true, Rules: []flag.Rule{
			{Conditions: []flag.Condition{cond("x", flag.OpExists, false)}, Serve: flag.Serve{Rollout: rollout}},
		}, Fallthrough: flag.Serve{Variation: "off"}}),
		boolFlag("byattr", flag.Targeting{Enabled: true, Fallthrough: flag.Serve{Rollout: rollout, BucketBy: "org.id"}}),
		boolFlag("rules", flag.Targeting{Enabled: true, Rules: []flag.Rule{
			{Conditions: []flag.Condition{cond("x", flag.OpEquals, false, 1)}, Serve: flag.Serve{Variation: "on"}},
		}, Fallthrough: flag.Serve{Variation: "off"}}),
		flag.New("unconfigured", flag.TypeBoolean),
	}
	nooff := boolFlag("nooff", flag.Targeting{Enabled: false, Fallthrough: flag.Serve{Variation: "on"}})
	t2 := nooff.Environments["test"]
	t2.OffVariation = ""
	nooff.Environments["test"] = t2
	flags = append(flags, nooff)
	s := mustCompile(t, flags, nil)
	tests := []struct {
		name, flag string
		ctx        Context
		reason     Reason
		code       ErrorCode
		variant    string
	}{
		{"static", "static", Context{}, ReasonStatic, "", "on"},
		{"disabled", "disabled", Context{}, ReasonDisabled, "", "off"},
		{"disabled without off variation", "nooff", Context{}, ReasonDisabled, "", ""},
		{"not configured in environment", "unconfigured", Context{}, ReasonDisabled, "", ""},
		{"split", "split", NewContext("k", nil), ReasonSplit, "", "*"},
		{"split from targetingKey attribute", "split", NewContext("", map[string]any{"targetingKey": "k"}), ReasonSplit, "", "*"},
		{"rule rollout", "rulesplit", NewContext("k", map[string]any{"x": 1}), ReasonSplit, "", "*"},
		{"targeting match", "rules", NewContext("k", map[string]any{"x": 1}), ReasonTargetingMatch, "", "on"},
		{"default", "rules", NewContext("k", nil), ReasonDefault, "", "off"},
		{"not found", "nope", Context{}, ReasonError, ErrFlagNotFound, ""},
		{"targeting key missing", "split", Context{}, ReasonError, ErrTargetingKeyMissing, ""},
		{"rule rollout without key", "rulesplit", NewContext("", map[string]any{"x": 1}), ReasonError, ErrTargetingKeyMissing, ""},
		{"bucketBy string", "byattr", NewContext("", map[string]any{"org": map[string]any{"id": "acme"}}), ReasonSplit, "", "*"},
		{"bucketBy number", "byattr", NewContext("", map[string]any{"org": map[string]any{"id": 42}}), ReasonSplit, "", "*"},
		{"bucketBy missing", "byattr", NewContext("k", nil), ReasonError, ErrInvalidContext, ""},
		{"bucketBy wrong type", "byattr", NewContext("k", map[string]any{"org": map[string]any{"id": true}}), ReasonError, ErrInvalidContext, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := s.Evaluate(tc.flag, tc.ctx)
			if r.Reason != tc.reason || r.ErrorCode != tc.code {
				t.Fatalf("got %s/%s (%s), want %s/%s", r.Reason, r.ErrorCode, r.ErrorMessage, tc.reason, tc.code)
			}
			if tc.code != "" && (r.ErrorMessage == "" || r.Value != nil || r.JSON != nil) {
				t.Fatalf("error result should have a message and no value: %+v", r)
			}
			if tc.variant != "*" && r.Variant != tc.variant {
				t.Fatalf("variant = %q, want %q", r.Variant, tc.variant)
			}
			if tc.variant == "*" && r.Variant != "on" && r.Variant != "off" {
				t.Fatalf("variant = %q", r.Variant)
			}
			if r.FlagKey != tc.flag {
				t.Fatalf("FlagKey = %q", r.FlagKey)
			}
		})
	}
	t.Run("type mismatch", func(t *testing.T) {
		if r := s.EvaluateType("static", flag.TypeString, Context{}); r.ErrorCode != ErrTypeMismatch {
			t.Fatalf("%+v", r)
		}
		if r := s.EvaluateType("static", flag.TypeBoolean, Context{}); r.ErrorCode != "" || r.Value != true {
			t.Fatalf("%+v", r)
		}
	})
}

func TestValues(t *testing.T) {
	f := flag.Flag{Key: "cfg", Type: flag.TypeObject, Variations: []flag.Variation{
		{Key: "a", Value: raw(`{ "replicas" : 3, "tags": ["x"] }`)},
		{Key: "b", Value: raw(`[1, 2]`)},
	}, Environments: map[string]flag.Targeting{"test": {Enabled: true, OffVariation: "b", Fallthrough: flag.Serve{Variation: "a"}}}}
	s := mustCompile(t, []flag.Flag{f}, nil)
	r := s.Evaluate("cfg", Context{})
	if string(r.JSON) != `{"replicas":3,"tags":["x"]}` {
		t.Fatalf("JSON = %s", r.JSON)
	}
	m, ok := r.Value.(map[string]any)
	if !ok || m["replicas"] != 3.0 {
		t.Fatalf("Value = %#v", r.Value)
	}
}

func TestEvaluateAll(t *testing.T) {
	s := mustCompile(t, []flag.Flag{
		boolFlag("b", flag.Targeting{Enabled: true, Fallthrough: flag.Serve{Variation: "on"}}),
		boolFlag("a", flag.Targeting{Enabled: false}),
	}, nil)
	var keys []string
	s.EvaluateAll(Context{}, func(r Result) { keys = append(keys, r.FlagKey+"="+r.Variant) })
	if len(keys) != 2 || keys[0] != "a=off" || keys[1] != "b=on" {
		t.Fatalf("EvaluateAll = %v", keys)
	}
	if rs := s.AppendAll(nil, Context{}); len(rs) != 2 || rs[1].Variant != "on" {
		t.Fatalf("AppendAll = %+v", rs)
	}
	if s.Environment() != "test" || s.Revision() != 7 || s.Len() != 2 || s.Keys()[0] != "a" {
		t.Fatalf("accessors: %s %d %d %v", s.Environment(), s.Revision(), s.Len(), s.Keys())
	}
}

func TestExplain(t *testing.T) {
	seg := flag.Segment{Key: "beta", Include: []string{"k"}}
	f := boolFlag("f", flag.Targeting{Enabled: true, Rules: []flag.Rule{
		{Conditions: []flag.Condition{cond("x", flag.OpEquals, false, 1)}, Serve: flag.Serve{Variation: "on"}},
		{Segment: "beta", Serve: flag.Serve{Rollout: []flag.WeightedVariation{{Variation: "on", Weight: 100000}}}},
	}, Fallthrough: flag.Serve{Variation: "off"}})
	s := mustCompile(t, []flag.Flag{f}, []flag.Segment{seg})
	r := s.Explain("f", NewContext("k", map[string]any{"x": 2}))
	ex := r.Explanation
	if ex == nil || ex.MatchedRule != 1 || len(ex.Rules) != 2 || ex.Rules[0].Matched || !ex.Rules[1].Matched {
		t.Fatalf("explanation = %+v", ex)
	}
	if c := ex.Rules[0].Conditions[0]; c.Attribute != "x" || c.Value != 2 || c.Matched {
		t.Fatalf("condition check = %+v", c)
	}
	if sc := ex.Rules[1].Segment; sc == nil || !sc.Included || !sc.Matched {
		t.Fatalf("segment check = %+v", sc)
	}
	if ex.Bucket != Bucket("f", "", "k") {
		t.Fatalf("bucket = %d", ex.Bucket)
	}
	if r.Reason != ReasonSplit || r.Variant != "on" {
		t.Fatalf("result = %+v", r)
	}
	if _, err := json.Marshal(ex); err != nil {
		t.Fatal(err)
	}
	if s.Evaluate("f", NewContext("k", nil)).Explanation != nil {
		t.Fatal("Evaluate must not explain")
	}
}

func TestCompileRejectsInvalid(t *testing.T) {
	f := boolFlag("f", flag.Targeting{Enabled: true, Rules: []flag.Rule{
		{Segment: "ghost", Serve: flag.Serve{Variation: "on"}},
	}, Fallthrough: flag.Serve{Variation: "off"}})
	_, err := Compile("test", 1, []flag.Flag{f}, nil)
	if !errors.Is(err, errs.Invalid) || errs.FieldOf(err) != "flags[0].environments.test.rules[0].segment" {
		t.Fatalf("err = %v", err)
	}
}

func TestParseContext(t *testing.T) {
	tests := []struct {
		name, in string
		key      string
		attrs    int
		field    string
	}{
		{"key and attributes", `{"targetingKey":"u1","tier":"pro","account":{"id":1}}`, "u1", 2, ""},
		{"no key", `{"tier":"pro"}`, "", 1, ""},
		{"null key", `{"targetingKey":null}`, "", 0, ""},
		{"empty", `{}`, "", 0, ""},
		{"not an object", `[1]`, "", 0, "context"},
		{"not JSON", `{`, "", 0, "context"},
		{"key not a string", `{"targetingKey":5}`, "", 0, "context.targetingKey"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseContext([]byte(tc.in))
			if tc.field != "" {
				if !errors.Is(err, errs.Invalid) || errs.FieldOf(err) != tc.field {
					t.Fatalf("err = %v", err)
				}
				r := ErrorResult("f", ErrParse, err.Error())
				if r.Reason != ReasonError || r.ErrorCode != ErrParse || r.FlagKey != "f" {
					t.Fatalf("ErrorResult = %+v", r)
				}
				return
			}
			if err != nil || c.TargetingKey != tc.key || len(c.Attributes) != tc.attrs {
				t.Fatalf("ParseContext = %+v, %v", c, err)
			}
		})
	}
	c, _ := ParseContext([]byte(`{"account":{"tier":"pro"}}`))
	if v, ok := c.Lookup("account.tier"); !ok || v != "pro" {
		t.Fatalf("Lookup = %v, %v", v, ok)
	}
}

// TestConcurrent evaluates one snapshot from several goroutines (run with
// -race): a Snapshot is immutable.
func TestConcurrent(t *testing.T) {
	s := benchSnapshot(t)
	ctx := benchContext()
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 200 {
				s.Evaluate("checkout", ctx)
				s.Explain("flag-1", ctx)
			}
		}()
	}
	for range 4 {
		<-done
	}
}

func TestResultJSON(t *testing.T) {
	s := mustCompile(t, []flag.Flag{boolFlag("f", flag.Targeting{Enabled: true, Fallthrough: flag.Serve{Variation: "off"}})}, nil)
	b, err := json.Marshal(s.Evaluate("f", Context{}))
	if err != nil || string(b) != `{"key":"f","value":false,"variant":"off","reason":"STATIC"}` {
		t.Fatalf("%s %v", b, err)
	}
	b, _ = json.Marshal(s.Evaluate("g", Context{}))
	if string(b) != `{"key":"g","reason":"ERROR","errorCode":"FLAG_NOT_FOUND","errorDetails":"flag not found in this environment"}` {
		t.Fatalf("%s", b)
	}
}
