package eval

import (
	"encoding/json"
	"testing"

	"github.com/flagops/flagops/internal/flag"
)

type fuzzDoc struct {
	Flags    []flag.Flag    `json:"flags"`
	Segments []flag.Segment `json:"segments"`
}

const seedDoc = `{"flags":[
 {"key":"replicas","type":"number","variations":[{"key":"free","value":1},{"key":"pro","value":3}],
  "environments":{"test":{"enabled":true,"offVariation":"free",
   "prerequisites":[{"flag":"gate","variation":"on"}],
   "rules":[{"conditions":[{"attribute":"tier","operator":"equals","values":["pro"]},{"attribute":"v","operator":"semver_gte","values":["1.2.3-rc.1"]}],"variation":"pro"},
            {"segment":"beta","rollout":[{"variation":"pro","weight":50000},{"variation":"free","weight":50000}],"bucketBy":"org.id"},
            {"conditions":[{"attribute":"email","operator":"matches","values":["^a.*@x\\.com$"],"negate":true},{"attribute":"t","operator":"before","values":["2026-01-01T00:00:00Z"]}],"variation":"free"}],
   "fallthrough":{"rollout":[{"variation":"pro","weight":1},{"variation":"free","weight":99999}]}}}},
 {"key":"gate","type":"boolean","variations":[{"key":"on","value":true},{"key":"off","value":false}],
  "environments":{"test":{"enabled":true,"offVariation":"off","rules":[{"conditions":[{"attribute":"n","operator":"gt","values":[3]}],"variation":"off"}],"fallthrough":{"variation":"on"}}}}],
 "segments":[{"key":"beta","include":["u1"],"exclude":["u2"],"rules":[{"conditions":[{"attribute":"tags","operator":"contains","values":["b",1,true]}]}]}]}`

var fuzzContexts = []Context{
	{},
	NewContext("u1", nil),
	NewContext("u2", map[string]any{"tier": "pro", "v": "1.2.3", "n": 2.0, "org": map[string]any{"id": 7.0}}),
	NewContext("u3", map[string]any{"tags": []any{"a", 1.0}, "email": "a@x.com", "t": "2025-01-01T00:00:00Z", "n": 9.0}),
}

// FuzzCompile builds flags and segments from fuzzed JSON: Compile must
// accept exactly what ValidateSet accepts, and evaluating what it compiled
// must not panic.
func FuzzCompile(f *testing.F) {
	f.Add([]byte(seedDoc))
	f.Add([]byte(`{"flags":[{"key":"a","type":"boolean","variations":[{"key":"on","value":true},{"key":"off","value":false}],"environments":{"test":{"enabled":true,"fallthrough":{"variation":"on"}}}}]}`))
	f.Add([]byte(`{"flags":[{"key":"a","type":"string","variations":[{"key":"x","value":"x"},{"key":"y","value":"y"}],"environments":{"test":{"enabled":true,"rules":[{"conditions":[{"attribute":"a.b","operator":"in","values":["x",2,false]}],"variation":"y"}],"fallthrough":{"variation":"x"}}}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var doc fuzzDoc
		if json.Unmarshal(data, &doc) != nil {
			return
		}
		verr := flag.ValidateSet(doc.Flags, doc.Segments)
		s, err := Compile("test", 1, doc.Flags, doc.Segments)
		if (verr == nil) != (err == nil) {
			t.Fatalf("ValidateSet = %v but Compile = %v", verr, err)
		}
		if err != nil {
			return
		}
		for _, ctx := range fuzzContexts {
			s.EvaluateAll(ctx, func(r Result) { checkResult(t, r) })
			for _, k := range s.Keys() {
				checkResult(t, s.Explain(k, ctx))
			}
		}
	})
}

// FuzzEvaluate evaluates a fixed snapshot against fuzzed contexts.
func FuzzEvaluate(f *testing.F) {
	var doc fuzzDoc
	if err := json.Unmarshal([]byte(seedDoc), &doc); err != nil {
		f.Fatal(err)
	}
	s, err := Compile("test", 1, doc.Flags, doc.Segments)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("u1", []byte(`{"tier":"pro","v":"1.2.3"}`))
	f.Add("", []byte(`{"org":{"id":"acme"},"tags":["b"],"n":4}`))
	f.Add("u9", []byte(`{"t":12345,"email":"b@x.com","v":"1.2.3-rc.1+b","tier":["pro"]}`))
	f.Add("u2", []byte(`{"org":{"id":[1]},"targetingKey":"k","org.id":null}`))
	f.Fuzz(func(t *testing.T, key string, attrs []byte) {
		var m map[string]any
		if json.Unmarshal(attrs, &m) != nil {
			return
		}
		for _, ctx := range []Context{NewContext(key, m), NewContext(key, nil).WithBase(m), NewContext("", m).WithBase(m)} {
			s.EvaluateAll(ctx, func(r Result) { checkResult(t, r) })
			checkResult(t, s.Explain("replicas", ctx))
		}
	})
}

func checkResult(t *testing.T, r Result) {
	t.Helper()
	switch r.Reason {
	case ReasonError:
		if r.ErrorCode == "" || r.Variant != "" || r.JSON != nil {
			t.Fatalf("bad error result %+v", r)
		}
	case ReasonStatic, ReasonTargetingMatch, ReasonSplit, ReasonDefault, ReasonDisabled:
		if r.ErrorCode != "" || (r.Variant != "") != (r.JSON != nil) {
			t.Fatalf("bad result %+v", r)
		}
	default:
		t.Fatalf("unknown reason %q", r.Reason)
	}
}
