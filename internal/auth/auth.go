// Package auth decides who a caller is and what they may do. Every RPC and
// every HTTP route passes through Authenticate and then Authorize, so that
// adding API keys and roles later changes this package only.
//
// For now there are no credentials: every caller is allowed, and a caller
// may name itself with the X-Flagops-Actor header (recorded in the change
// log), else it is "anonymous".
package auth

import (
	"context"
	"net/http"
	"regexp"
)

// ActorHeader lets a caller name itself until API keys exist.
const ActorHeader = "X-Flagops-Actor"

// Anonymous is the actor of a caller that did not name itself.
const Anonymous = "anonymous"

// Principal is the authenticated caller.
type Principal struct {
	// Actor is the name recorded in the change log.
	Actor string
}

// actorRE bounds what a caller may write into the change log as its name.
var actorRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@:/+-]{0,127}$`)

// Authenticate returns the caller's principal from the request headers. An
// actor header that is not a plausible name is ignored (anonymous) rather than
// refused, as it proves nothing yet.
func Authenticate(ctx context.Context, h http.Header) (Principal, error) {
	if a := h.Get(ActorHeader); a != "" && actorRE.MatchString(a) {
		return Principal{Actor: a}, nil
	}
	return Principal{Actor: Anonymous}, nil
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
// Connect procedure such as "/flagops.v1.FactService/SetFacts", or "GET
// /metrics" for a plain HTTP route) with req (the request message, or nil).
// It returns nil or an error of kind errs.Unauthenticated or errs.Denied.
//
// For now it allows everything; it is the one place a later change adds
// keys and roles.
func Authorize(ctx context.Context, procedure string, req any) error {
	return nil
}
