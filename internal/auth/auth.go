// Package auth decides who a caller is and what they may do. Every RPC and
// every HTTP route passes through Authenticator.Authenticate and then
// Authorize: Authorize is the only place that decides, and it decides from
// one table (policy.go) mapping each procedure or route to the permission it
// needs and the resource it touches.
//
// Callers present an API key as "Authorization: Bearer fo_…". A key is
// looked up by the SHA-256 of its token, the stored hash is compared in
// constant time, and an expired or revoked key is refused on the very next
// request: nothing is cached. Tokens are never logged, stored or recorded.
package auth

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
)

// ActorHeader lets a caller name itself when authentication is off
// (--insecure-dev). With API keys the actor is the key.
const ActorHeader = "X-Flagops-Actor"

// Anonymous is the actor of a caller without a key (or, in insecure-dev
// mode, without an actor header).
const Anonymous = "anonymous"

// Principal is the authenticated caller.
type Principal struct {
	// Actor is the name recorded in the change log: "key/NAME" for a key.
	Actor string
	// Key is the caller's key; zero for an anonymous caller.
	Key domain.APIKey
	// Insecure is set in insecure-dev mode, where authorization is off.
	Insecure bool

	// envOf finds a target's environment, for environment bindings.
	envOf func(ctx context.Context, ws, target string) (string, error)
}

// Authenticated reports whether the principal presented a valid key (or
// authentication is off).
func (p Principal) Authenticated() bool { return p.Insecure || p.Key.ID != "" }

// actorRE bounds what a caller may write into the change log as its name.
var actorRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@:/+-]{0,127}$`)

// KeyStore is what authentication needs from the store.
type KeyStore interface {
	APIKeyByHash(ctx context.Context, tokenHash string) (domain.APIKey, string, error)
	TouchAPIKey(ctx context.Context, id string, at time.Time, every time.Duration) error
	GetTarget(ctx context.Context, ws, name string) (domain.Target, error)
}

// TouchEvery bounds how often a key's last-used time is written: at most
// once a minute per key, not once per request.
const TouchEvery = time.Minute

// Authenticator turns request headers into a Principal. It is safe for
// concurrent use.
type Authenticator struct {
	store KeyStore
	log   *slog.Logger
	now   func() time.Time
	// insecure turns authentication and authorization off (--insecure-dev).
	insecure bool
}

// NewAuthenticator returns an authenticator on st. With insecure set every
// caller is allowed and may name itself with ActorHeader.
func NewAuthenticator(st KeyStore, log *slog.Logger, insecure bool) *Authenticator {
	if log == nil {
		log = slog.Default()
	}
	return &Authenticator{store: st, log: log, now: time.Now, insecure: insecure}
}

// Authenticate returns the caller's principal. No Authorization header gives
// an anonymous principal (which Authorize allows on public routes only). A
// header that is not a valid, usable key is errs.Unauthenticated: the error
// says why (malformed, unknown, expired, revoked) but never repeats the token.
func (a *Authenticator) Authenticate(ctx context.Context, h http.Header) (Principal, error) {
	if a == nil {
		return Principal{Actor: Anonymous}, nil
	}
	if a.insecure {
		if name := h.Get(ActorHeader); name != "" && actorRE.MatchString(name) {
			return Principal{Actor: name, Insecure: true}, nil
		}
		return Principal{Actor: Anonymous, Insecure: true}, nil
	}
	token, err := TokenOf(h)
	if err != nil || token == "" {
		return Principal{Actor: Anonymous}, err
	}
	if !wellFormed(token) {
		return Principal{}, errs.New(errs.Unauthenticated, "the bearer token is not a flagops API token (%s…)", TokenPrefix)
	}
	hash := HashToken(token)
	k, stored, err := a.store.APIKeyByHash(ctx, hash)
	if errs.KindOf(err) == errs.NotFound {
		return Principal{}, errs.New(errs.Unauthenticated, "unknown API key")
	}
	if err != nil {
		return Principal{}, fmt.Errorf("authenticate: %w", err)
	}
	// The lookup was by hash; comparing again in constant time keeps the
	// decision itself free of timing differences whatever the index does.
	if !hashesEqual(stored, hash) {
		return Principal{}, errs.New(errs.Unauthenticated, "unknown API key")
	}
	now := a.now()
	switch {
	case !k.RevokedAt.IsZero():
		return Principal{}, errs.New(errs.Unauthenticated, "API key %s was revoked", errs.Quote(k.Name))
	case !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt):
		return Principal{}, errs.New(errs.Unauthenticated, "API key %s expired at %s", errs.Quote(k.Name), k.ExpiresAt.Format(time.RFC3339))
	}
	if k.LastUsedAt.IsZero() || now.Sub(k.LastUsedAt) >= TouchEvery {
		if err := a.store.TouchAPIKey(context.WithoutCancel(ctx), k.ID, now, TouchEvery); err != nil {
			a.log.Warn("auth: recording last use of a key failed", "key_id", k.ID, "err", err)
		}
	}
	return Principal{Actor: "key/" + k.Name, Key: k, envOf: a.targetEnv}, nil
}

// APIKeyHeader carries a token where a client cannot set Authorization;
// OFREP names it as the alternative to a bearer token.
const APIKeyHeader = "X-API-Key"

// TokenOf returns the token of "Authorization: Bearer TOKEN", else of
// X-API-Key, else "". An Authorization header of another scheme is an
// errs.Unauthenticated error.
func TokenOf(h http.Header) (string, error) {
	authz := h.Get("Authorization")
	if authz == "" {
		return strings.TrimSpace(h.Get(APIKeyHeader)), nil
	}
	scheme, token, ok := strings.Cut(authz, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", errs.New(errs.Unauthenticated, "the Authorization header must be \"Bearer TOKEN\"")
	}
	return strings.TrimSpace(token), nil
}

func (a *Authenticator) targetEnv(ctx context.Context, ws, target string) (string, error) {
	t, err := a.store.GetTarget(ctx, ws, target)
	if err != nil {
		return "", err
	}
	return t.Environment, nil
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal ctx carries, and whether it carries one.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Authorize decides whether the principal in ctx may call procedure (a
// Connect procedure such as "/flagops.v1.FactService/SetFacts", or a route
// pattern such as "GET /metrics") with req (the request message, or nil).
// It returns nil, or an error of kind errs.Unauthenticated (no valid key),
// errs.Denied (the key's bindings do not allow it, or the procedure has no
// policy entry) or errs.Invalid (the request names no valid resource).
func Authorize(ctx context.Context, procedure string, req any) error {
	p, _ := PrincipalFrom(ctx)
	rule, ok := policy[procedure]
	if !ok {
		return errs.New(errs.Denied, "%s has no access policy; it is denied until one is added to internal/auth/policy.go", procedure)
	}
	if rule.Permission == Public || p.Insecure {
		return nil
	}
	if !p.Authenticated() {
		return errs.New(errs.Unauthenticated, "%s needs an API key (Authorization: Bearer TOKEN)", procedure)
	}
	if rule.Permission == Self || rule.Permission == EachObject {
		return nil
	}
	resources, err := rule.Resources(req)
	if err != nil {
		return err
	}
	for _, r := range resources {
		if !p.allows(ctx, rule.Permission, r) {
			return errs.New(errs.Denied, "key %s may not %s %s", errs.Quote(p.Key.Name), rule.Permission, r)
		}
	}
	if len(resources) == 0 && !p.hasPermission(rule.Permission) {
		return errs.New(errs.Denied, "key %s may not %s", errs.Quote(p.Key.Name), rule.Permission)
	}
	return nil
}

// hasPermission reports whether any binding's role grants perm.
func (p Principal) hasPermission(perm Permission) bool {
	for _, b := range p.Key.Bindings {
		if RoleHas(b.Role, perm) {
			return true
		}
	}
	return false
}

// allows reports whether one of p's bindings grants perm over r.
func (p Principal) allows(ctx context.Context, perm Permission, r Resource) bool {
	for _, b := range p.Key.Bindings {
		if RoleHas(b.Role, perm) && p.covers(ctx, b, r) {
			return true
		}
	}
	return false
}

// covers reports whether binding b contains resource r (see Resource).
func (p Principal) covers(ctx context.Context, b domain.Binding, r Resource) bool {
	switch {
	case r.Global:
		return true
	case r.KeyEnvironment:
		// The binding names the environment (and workspace) evaluated in;
		// a "*" binding would leave the workspace open.
		return b.Scope.Kind == domain.ScopeEnvironment && b.Workspace != domain.AllWorkspaces
	case b.Workspace == domain.AllWorkspaces:
		if r.AllWorkspaces {
			return b.Scope.Kind == domain.ScopeWorkspace
		}
	case r.AllWorkspaces || b.Workspace != r.Workspace:
		return false
	}
	switch b.Scope.Kind {
	case domain.ScopeWorkspace:
		return true
	case domain.ScopeProject:
		return r.Project == b.Scope.Project
	case domain.ScopeTarget:
		return r.Target == b.Scope.Target
	case domain.ScopeEnvironment:
		if r.Environment != "" {
			return r.Environment == b.Scope.Environment
		}
		if r.Target == "" || p.envOf == nil {
			return false
		}
		env, err := p.envOf(ctx, r.Workspace, r.Target)
		return err == nil && env == b.Scope.Environment
	}
	return false
}

// String writes a resource for error messages.
func (r Resource) String() string {
	switch {
	case r.Global:
		return "on this server"
	case r.KeyEnvironment:
		return "in the environment of a binding of the key"
	case r.AllWorkspaces:
		return "in every workspace"
	}
	var parts []string
	for _, f := range []struct{ k, v string }{{"project", r.Project}, {"environment", r.Environment}, {"target", r.Target}} {
		if f.v != "" {
			parts = append(parts, f.k+" "+f.v)
		}
	}
	s := "in workspace " + r.Workspace
	if len(parts) > 0 {
		s = strings.Join(parts, ", ") + " " + s
	}
	return s
}

// EvaluationScope returns where p evaluates flags over OFREP, which names
// no environment: the workspace and environment of p's one environment
// binding whose role grants flags.evaluate and, when p also has such a
// binding at a project scope of that workspace, that project. A key with no
// such environment binding, or with several, is errs.Denied: there is no
// one environment to choose.
func (p Principal) EvaluationScope() (ws, env, project string, err error) {
	if !p.Authenticated() || p.Insecure {
		return "", "", "", errs.New(errs.Unauthenticated, "flag evaluation needs an API key")
	}
	var envs, projects []domain.Binding
	for _, b := range p.Key.Bindings {
		if !RoleHas(b.Role, FlagsEvaluate) || b.Workspace == domain.AllWorkspaces {
			continue
		}
		switch b.Scope.Kind {
		case domain.ScopeEnvironment:
			envs = append(envs, b)
		case domain.ScopeProject:
			projects = append(projects, b)
		}
	}
	switch len(envs) {
	case 0:
		return "", "", "", errs.New(errs.Denied, "key %s may not evaluate flags: it needs %s bound to one environment (ROLE@environment/ENV)", errs.Quote(p.Key.Name), FlagsEvaluate)
	case 1:
	default:
		return "", "", "", errs.New(errs.Denied, "key %s is bound to %d environments for %s; an evaluation key selects one", errs.Quote(p.Key.Name), len(envs), FlagsEvaluate)
	}
	ws, env = envs[0].Workspace, envs[0].Scope.Environment
	for _, b := range projects {
		if b.Workspace != ws {
			continue
		}
		if project != "" && project != b.Scope.Project {
			return "", "", "", errs.New(errs.Denied, "key %s is bound to several projects for %s; an evaluation key fixes at most one", errs.Quote(p.Key.Name), FlagsEvaluate)
		}
		project = b.Scope.Project
	}
	return ws, env, project, nil
}
