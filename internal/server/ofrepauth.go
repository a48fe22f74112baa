package server

import (
	"context"
	"net/http"

	"github.com/flagops/flagops/internal/api"
	"github.com/flagops/flagops/internal/auth"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/ofrep"
)

// ofrepKeys is the default OFREP authenticator: the static development keys
// of Config.OFREPKeys first, else the store's API keys. An API key
// evaluates in the environment of its one flags.evaluate environment binding
// (auth.Principal.EvaluationScope).
type ofrepKeys struct {
	static ofrep.StaticAuth
	keys   *auth.Authenticator
}

var _ ofrep.Authenticator = ofrepKeys{}

// Authenticate implements ofrep.Authenticator. Behind api.Route the caller
// was already authenticated and authorized from the same header; that
// principal is reused, so an evaluation costs one key lookup, not two.
func (a ofrepKeys) Authenticate(ctx context.Context, token string) (ofrep.Principal, error) {
	if _, ok := a.static[token]; ok {
		return a.static.Authenticate(ctx, token)
	}
	p, ok := auth.PrincipalFrom(ctx)
	if !ok || !p.Authenticated() || p.Insecure {
		h := http.Header{}
		h.Set("Authorization", "Bearer "+token)
		var err error
		if p, err = a.keys.Authenticate(ctx, h); err != nil {
			return ofrep.Principal{}, storeErr(err)
		}
		if !p.Authenticated() {
			return ofrep.Principal{}, errs.New(errs.Unauthenticated, "no API key")
		}
	}
	ws, env, project, err := p.EvaluationScope()
	if err != nil {
		return ofrep.Principal{}, err
	}
	return ofrep.Principal{Workspace: ws, Environment: env, Project: project, KeyID: p.Key.ID, ExpiresAt: p.Key.ExpiresAt}, nil
}

// ofrepRoute registers an OFREP route. A request carrying a key of
// direct (the static development keys, or every request when the embedder
// set its own Config.OFREPAuth) goes straight to the OFREP handler, whose
// authenticator decides; any other passes api.Route, hence the policy, like
// every route. An API key may come as a bearer token or as X-API-Key; the
// authenticator reads both.
func (s *Server) ofrepRoute(mux *http.ServeMux, opt api.Options, direct func(token string) bool) func(pattern string, h http.Handler) {
	return func(pattern string, h http.Handler) {
		s.routes = append(s.routes, pattern)
		guarded := api.Route(pattern, opt, h)
		mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tok, _ := auth.TokenOf(r.Header)
			if direct(tok) {
				h.ServeHTTP(w, r)
				return
			}
			// The authenticator reads X-API-Key as well as a bearer token,
			// so the request goes on unchanged (no per-request clone).
			guarded.ServeHTTP(w, r)
		}))
	}
}
