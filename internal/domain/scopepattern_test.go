package domain_test

import (
	"testing"

	"github.com/flagops/flagops/internal/domain"
)

// TestScopePattern: wildcards stand for whole names of the pattern's own
// kind; nothing but "workspace" matches the workspace scope.
func TestScopePattern(t *testing.T) {
	tests := []struct {
		pattern string
		match   []string
		miss    []string
	}{
		{"deployment/*@eu-1", []string{"deployment/shop@eu-1", "deployment/cart@eu-1"},
			[]string{"deployment/shop@us-1", "target/eu-1", "environment/prod", "workspace", "project/shop@eu-1"}},
		{"environment/prod", []string{"environment/prod"}, []string{"environment/dev", "project/shop@prod", "workspace"}},
		{"environment/*", []string{"environment/prod", "environment/dev"}, []string{"target/eu-1", "workspace"}},
		{"project/shop@*", []string{"project/shop@prod"}, []string{"project/shop", "project/cart@prod"}},
		{"deployment/*@*", []string{"deployment/a@b"}, []string{"workspace", "target/b"}},
		{"workspace", []string{"workspace"}, []string{"environment/prod"}},
	}
	for _, tc := range tests {
		t.Run(tc.pattern, func(t *testing.T) {
			p, err := domain.ParseScopePattern(tc.pattern)
			if err != nil {
				t.Fatal(err)
			}
			if p.String() != tc.pattern {
				t.Errorf("String = %q", p.String())
			}
			for _, s := range tc.match {
				if sc, _ := domain.ParseScope(s); !p.Match(sc) {
					t.Errorf("%s does not match %s", tc.pattern, s)
				}
			}
			for _, s := range tc.miss {
				if sc, _ := domain.ParseScope(s); p.Match(sc) {
					t.Errorf("%s matches %s", tc.pattern, s)
				}
			}
		})
	}
	for _, bad := range []string{"", "*", "deployment/sh*@eu-1", "deployment/*", "env/prod", "environment/Prod", "workspace/*"} {
		t.Run("refuses "+bad, func(t *testing.T) {
			if _, err := domain.ParseScopePattern(bad); err == nil {
				t.Errorf("ParseScopePattern(%q) accepted", bad)
			}
		})
	}
}
