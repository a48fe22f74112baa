package eval

import (
	"encoding/json"
	"strconv"
	"testing"

	"github.com/flagops/flagops/internal/flag"
)

// benchSnapshot has flag "checkout" with five rules (the last one on a
// segment) and 99 more flags like it.
func benchSnapshot(tb testing.TB) *Snapshot {
	seg := flag.Segment{Key: "beta", Include: []string{"vip-1", "vip-2"}, Exclude: []string{"banned"},
		Rules: []flag.SegmentRule{{Conditions: []flag.Condition{
			cond("email", flag.OpEndsWith, false, "@example.com"),
			cond("account.tier", flag.OpIn, false, "pro", "enterprise"),
		}}}}
	mk := func(key string) flag.Flag {
		return boolFlag(key, flag.Targeting{Enabled: true, Rules: []flag.Rule{
			{Conditions: []flag.Condition{cond("country", flag.OpIn, false, "fr", "de", "it")}, Serve: flag.Serve{Variation: "on"}},
			{Conditions: []flag.Condition{cond("app.version", flag.OpSemverLT, false, "1.0.0")}, Serve: flag.Serve{Variation: "off"}},
			{Conditions: []flag.Condition{cond("email", flag.OpMatches, false, `^admin@`)}, Serve: flag.Serve{Variation: "on"}},
			{Conditions: []flag.Condition{cond("age", flag.OpGTE, false, 65), cond("beta", flag.OpEquals, false, true)}, Serve: flag.Serve{Variation: "on"}},
			{Segment: "beta", Serve: flag.Serve{Rollout: []flag.WeightedVariation{{Variation: "on", Weight: 30000}, {Variation: "off", Weight: 70000}}}},
		}, Fallthrough: flag.Serve{Variation: "off"}})
	}
	flags := []flag.Flag{mk("checkout")}
	for i := range 99 {
		flags = append(flags, mk("flag-"+strconv.Itoa(i)))
	}
	return mustCompile(tb, flags, []flag.Segment{seg})
}

func benchContext() Context {
	return NewContext("user-123", map[string]any{
		"country": "us",
		"email":   "jane@example.com",
		"age":     34.0,
		"app":     map[string]any{"version": "2.3.1"},
	}).WithBase(map[string]any{
		"account": map[string]any{"tier": "pro"},
		"project": "shop", "environment": "prod",
	})
}

// BenchmarkEvaluate walks all five rules and lands in the segment rule's
// rollout.
func BenchmarkEvaluate(b *testing.B) {
	s, ctx := benchSnapshot(b), benchContext()
	if r := s.Evaluate("checkout", ctx); r.Reason != ReasonSplit {
		b.Fatalf("unexpected %+v", r)
	}
	b.ReportAllocs()
	for b.Loop() {
		s.Evaluate("checkout", ctx)
	}
}

func BenchmarkEvaluateAll100(b *testing.B) {
	s, ctx := benchSnapshot(b), benchContext()
	dst := make([]Result, 0, s.Len())
	b.ReportAllocs()
	for b.Loop() {
		dst = s.AppendAll(dst[:0], ctx)
	}
}

func BenchmarkRollout(b *testing.B) {
	s := mustCompile(b, []flag.Flag{boolFlag("r", flag.Targeting{Enabled: true, Fallthrough: flag.Serve{
		Rollout: []flag.WeightedVariation{{Variation: "on", Weight: 25000}, {Variation: "off", Weight: 75000}}}})}, nil)
	ctx := NewContext("user-123", nil)
	b.ReportAllocs()
	for b.Loop() {
		s.Evaluate("r", ctx)
	}
}

// TestEvaluateDoesNotAllocate holds the engine to zero allocations on the
// paths a server serves: rules, segments, rollouts, prerequisites, errors.
func TestEvaluateDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	s := benchSnapshot(t)
	ctx := benchContext()
	for _, key := range []string{"checkout", "flag-3", "missing"} {
		if n := testing.AllocsPerRun(100, func() { s.Evaluate(key, ctx) }); n != 0 {
			t.Errorf("Evaluate(%s) allocates %v times", key, n)
		}
	}
	var doc fuzzDoc
	if err := json.Unmarshal([]byte(seedDoc), &doc); err != nil {
		t.Fatal(err)
	}
	ps := mustCompile(t, doc.Flags, doc.Segments)
	for _, c := range fuzzContexts {
		if n := testing.AllocsPerRun(100, func() { ps.Evaluate("replicas", c) }); n != 0 {
			t.Errorf("Evaluate(replicas, %v) allocates %v times", c, n)
		}
	}
	dst := make([]Result, 0, s.Len())
	if n := testing.AllocsPerRun(20, func() { dst = s.AppendAll(dst[:0], ctx) }); n != 0 {
		t.Errorf("AppendAll allocates %v times", n)
	}
}
