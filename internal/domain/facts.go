package domain

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/flagops/flagops/internal/errs"
)

// ScopeKind says what a fact (or secret) is attached to.
type ScopeKind string

// The scope kinds, from general to specific: that order is the resolution order.
const (
	ScopeWorkspace   ScopeKind = "workspace"
	ScopeEnvironment ScopeKind = "environment"
	ScopeTarget      ScopeKind = "target"
	ScopeProject     ScopeKind = "project"
	ScopeProjectEnv  ScopeKind = "project-environment" // written project/shop@prod
	ScopeDeployment  ScopeKind = "deployment"          // written deployment/shop@eu-1
)

// ScopeOrder lists the scope kinds from general to specific.
var ScopeOrder = []ScopeKind{ScopeWorkspace, ScopeEnvironment, ScopeTarget, ScopeProject, ScopeProjectEnv, ScopeDeployment}

// Scope names one place facts attach to. Only the fields its Kind needs are
// set: Environment for environment and project-environment, Target for target
// and deployment, Project for project, project-environment and deployment.
type Scope struct {
	Kind        ScopeKind
	Project     string
	Environment string
	Target      string
}

// Scope constructors, for readable call sites.
func WorkspaceScope() Scope             { return Scope{Kind: ScopeWorkspace} }
func EnvironmentScope(env string) Scope { return Scope{Kind: ScopeEnvironment, Environment: env} }
func TargetScope(target string) Scope   { return Scope{Kind: ScopeTarget, Target: target} }
func ProjectScope(project string) Scope { return Scope{Kind: ScopeProject, Project: project} }
func DeploymentScope(p, t string) Scope { return Scope{Kind: ScopeDeployment, Project: p, Target: t} }
func ProjectEnvScope(p, env string) Scope {
	return Scope{Kind: ScopeProjectEnv, Project: p, Environment: env}
}

// String writes the scope the way users do: "workspace", "environment/prod",
// "target/eu-1", "project/shop", "project/shop@prod", "deployment/shop@eu-1".
// ParseScope reads it back.
func (s Scope) String() string {
	switch s.Kind {
	case ScopeWorkspace:
		return "workspace"
	case ScopeEnvironment:
		return "environment/" + s.Environment
	case ScopeTarget:
		return "target/" + s.Target
	case ScopeProject:
		return "project/" + s.Project
	case ScopeProjectEnv:
		return "project/" + s.Project + "@" + s.Environment
	case ScopeDeployment:
		return "deployment/" + s.Project + "@" + s.Target
	}
	return string(s.Kind)
}

// ScopeSyntax is the human wording of the scope grammar.
const ScopeSyntax = "a scope is workspace, environment/ENV, target/TARGET, project/PROJECT, project/PROJECT@ENV or deployment/PROJECT@TARGET"

// ParseScope reads a scope written as String writes it.
func ParseScope(s string) (Scope, error) {
	if s == "workspace" {
		return WorkspaceScope(), nil
	}
	kind, rest, ok := strings.Cut(s, "/")
	if !ok || rest == "" {
		return Scope{}, errs.Field("scope", "%s is not a scope: %s", errs.Quote(s), ScopeSyntax)
	}
	var sc Scope
	switch kind {
	case "environment":
		sc = EnvironmentScope(rest)
	case "target":
		sc = TargetScope(rest)
	case "project":
		if p, e, ok := strings.Cut(rest, "@"); ok {
			sc = ProjectEnvScope(p, e)
		} else {
			sc = ProjectScope(rest)
		}
	case "deployment":
		p, t, ok := strings.Cut(rest, "@")
		if !ok {
			return Scope{}, errs.Field("scope", "%s: a deployment is written deployment/PROJECT@TARGET", errs.Quote(s))
		}
		sc = DeploymentScope(p, t)
	default:
		return Scope{}, errs.Field("scope", "%s is not a scope: %s", errs.Quote(s), ScopeSyntax)
	}
	if err := sc.Validate(); err != nil {
		return Scope{}, err
	}
	return sc, nil
}

// Validate checks that the scope has exactly the names its kind needs, each a
// valid name.
func (s Scope) Validate() error {
	check := func(field, v string) error {
		if err := ValidateName("", v); err != nil {
			return errs.Prefix("scope."+field, err)
		}
		return nil
	}
	var need []string
	switch s.Kind {
	case ScopeWorkspace:
	case ScopeEnvironment:
		need = []string{"environment", s.Environment}
	case ScopeTarget:
		need = []string{"target", s.Target}
	case ScopeProject:
		need = []string{"project", s.Project}
	case ScopeProjectEnv:
		need = []string{"project", s.Project, "environment", s.Environment}
	case ScopeDeployment:
		need = []string{"project", s.Project, "target", s.Target}
	default:
		return errs.Field("scope", "unknown scope kind %s: %s", errs.Quote(s.Kind), ScopeSyntax)
	}
	for i := 0; i < len(need); i += 2 {
		if err := check(need[i], need[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// Fact is one JSON value attached to a scope. Value is compact JSON.
type Fact struct {
	Scope     Scope
	Key       string
	Value     json.RawMessage
	Revision  int64
	UpdatedAt time.Time
}

// FactsEntry is the facts of one scope in a bulk write.
type FactsEntry struct {
	Scope  Scope
	Values map[string]json.RawMessage
}

// Resolved is the merged facts of one deployment. Sources maps every key to
// the scope (as Scope.String writes it) its value came from, or "builtin".
// Revision is the highest revision that wrote any of the scopes merged
// (including unsets), so it moves whenever the result can have changed.
type Resolved struct {
	Workspace   string                     `json:"workspace"`
	Project     string                     `json:"project"`
	Environment string                     `json:"environment"`
	Target      string                     `json:"target"`
	Facts       map[string]json.RawMessage `json:"facts"`
	Sources     map[string]string          `json:"sources"`
	Revision    int64                      `json:"revision"`
}

// SourceBuiltin is the source of the built-in facts.
const SourceBuiltin = "builtin"

// BuiltinFacts are set by flagops for every deployment and cannot be set by hand.
var BuiltinFacts = []string{"workspace", "project", "environment", "target", "version"}

// factKeyRE is the grammar of fact keys: segments of a letter followed by
// letters, digits, '_' or '-', joined by '.'.
var factKeyRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*(\.[A-Za-z][A-Za-z0-9_-]*)*$`)

// Limits on facts.
const (
	MaxFactKey   = 128
	MaxFactValue = MaxJSONValue
)

// FactKeyRule is the human wording of the key grammar.
const FactKeyRule = "must be 1-128 characters: letters, digits, '_' and '-', in segments joined by '.', each segment starting with a letter"

// ValidateFactKey checks a key against the grammar and the built-in names.
func ValidateFactKey(field, key string) error {
	if key == "" {
		return errs.Field(field, "fact key is required")
	}
	if len(key) > MaxFactKey || !factKeyRE.MatchString(key) {
		return errs.Field(field, "fact key %s %s", errs.Quote(key), FactKeyRule)
	}
	for _, b := range BuiltinFacts {
		if key == b {
			return errs.Field(field, "fact key %s is built in and cannot be set", errs.Quote(key))
		}
	}
	return nil
}

// NormalizeFactValue checks that v is one JSON value (not null; null is not a
// value, unset the key instead) of at most MaxFactValue bytes, nested at most
// MaxJSONDepth deep, and returns it compacted. Every write of a fact (the
// API, fact hooks, apply) passes through it.
func NormalizeFactValue(field string, v []byte) (json.RawMessage, error) {
	if len(v) > MaxFactValue {
		return nil, &errs.FieldError{Field: field, Rule: "value must be at most " + strconv.Itoa(MaxFactValue) + " bytes", Kind: errs.TooLarge}
	}
	if err := CheckJSONDepth(field, v); err != nil {
		return nil, err
	}
	if !json.Valid(v) {
		return nil, errs.Field(field, "value must be valid JSON")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, v); err != nil {
		return nil, errs.Field(field, "value must be valid JSON")
	}
	if buf.String() == "null" {
		return nil, errs.Field(field, "value must not be null; unset the key instead")
	}
	return json.RawMessage(buf.Bytes()), nil
}

func itoa(i int) string { return strconv.Itoa(i) }
