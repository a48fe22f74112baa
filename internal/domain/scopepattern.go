package domain

import (
	"strings"

	"github.com/flagops/flagops/internal/errs"
)

// Wildcard stands for any name in a ScopePattern.
const Wildcard = "*"

// ScopePatternSyntax is the human wording of the scope pattern grammar.
const ScopePatternSyntax = "a scope pattern is a scope in which any name may be * (workspace, environment/ENV, target/TARGET, project/PROJECT, project/PROJECT@ENV, deployment/PROJECT@TARGET; for example deployment/*@eu-1 or environment/*)"

// ScopePattern is a scope whose names may be Wildcard: "deployment/*@eu-1"
// is every deployment on target eu-1, "environment/*" every environment.
// A pattern matches scopes of its own kind only: "environment/prod" does not
// match the targets or deployments in prod, and no pattern but "workspace"
// matches the workspace scope.
type ScopePattern struct {
	// Scope holds the pattern's kind and names, each a name or Wildcard.
	Scope Scope
}

// ParseScopePattern reads a pattern written as a scope with wildcards.
func ParseScopePattern(s string) (ScopePattern, error) {
	// A placeholder that is a valid name but never a parsed name's whole
	// value lets ParseScope check everything else.
	const placeholder = "x-wildcard-x"
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == '/' || r == '@' })
	for _, p := range parts {
		if strings.Contains(p, Wildcard) && p != Wildcard {
			return ScopePattern{}, errs.Field("scope", "%s: * stands for a whole name, not part of one", errs.Quote(s))
		}
	}
	sc, err := ParseScope(strings.ReplaceAll(s, Wildcard, placeholder))
	if err != nil {
		return ScopePattern{}, errs.Field("scope", "%s is not a scope pattern: %s", errs.Quote(s), ScopePatternSyntax)
	}
	for _, name := range []*string{&sc.Project, &sc.Environment, &sc.Target} {
		if *name == placeholder {
			*name = Wildcard
		}
	}
	return ScopePattern{Scope: sc}, nil
}

// String writes the pattern as ParseScopePattern reads it.
func (p ScopePattern) String() string { return p.Scope.String() }

// Match reports whether sc is one of the scopes the pattern names.
func (p ScopePattern) Match(sc Scope) bool {
	name := func(pat, v string) bool { return pat == Wildcard || pat == v }
	return p.Scope.Kind == sc.Kind && name(p.Scope.Project, sc.Project) &&
		name(p.Scope.Environment, sc.Environment) && name(p.Scope.Target, sc.Target)
}

// MatchAny reports whether any of patterns matches sc.
func MatchAny(patterns []ScopePattern, sc Scope) bool {
	for _, p := range patterns {
		if p.Match(sc) {
			return true
		}
	}
	return false
}
