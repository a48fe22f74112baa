package domain_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/flagops/flagops/internal/domain"
)

// FuzzParseScope checks that ParseScope never panics on any text (scopes
// arrive in API requests, fact hook bodies and manifests), and that a scope
// it accepts is valid and writes back as the same text.
func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"workspace", "environment/prod", "target/eu-1", "project/shop", "project/shop@prod",
		"deployment/shop@eu-1", "deployment/shop", "cluster/x", "environment/", "project/@", "deployment/@eu-1",
		"environment/Prod!", "project/a@b@c", "workspace/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sc, err := domain.ParseScope(s)
		if err != nil {
			return
		}
		if verr := sc.Validate(); verr != nil {
			t.Fatalf("ParseScope(%q) accepted a scope that does not validate: %v", s, verr)
		}
		if got := sc.String(); got != s {
			t.Fatalf("ParseScope(%q) writes back as %q", s, got)
		}
	})
}

// FuzzFactKeyAndValue checks the fact key grammar and value normalisation
// on any input: no panic, an accepted key keeps the documented rule, and a
// normalised value is valid, compact, not null, within the limit and
// normalises to itself.
func FuzzFactKeyAndValue(f *testing.F) {
	for _, s := range [][2]string{{"tier", `"pro"`}, {"limits.cpu", `{"a": [1, 2.5]}`}, {"9lives", `1`}, {"project", `null`},
		{"a..b", ` [ ] `}, {"a-b_c.d", `"\u0000"`}, {strings.Repeat("k", 129), `{"a":`}} {
		f.Add(s[0], []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, key string, value []byte) {
		if domain.ValidateFactKey("values."+key, key) == nil {
			if key == "" || len(key) > domain.MaxFactKey || strings.Contains(key, "..") ||
				strings.HasPrefix(key, ".") || strings.HasSuffix(key, ".") {
				t.Fatalf("ValidateFactKey accepted %q", key)
			}
		}
		v, err := domain.NormalizeFactValue("values.k", value)
		if err != nil {
			return
		}
		if !json.Valid(v) || string(v) == "null" || len(v) > domain.MaxFactValue {
			t.Fatalf("NormalizeFactValue(%q) = %q", value, v)
		}
		again, err := domain.NormalizeFactValue("values.k", v)
		if err != nil || string(again) != string(v) {
			t.Fatalf("NormalizeFactValue is not idempotent on %q: %q, %v", v, again, err)
		}
	})
}
