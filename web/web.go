// Package web is the flagops UI: server-rendered pages (html/template), a
// little JavaScript and a server-sent events stream, all embedded in the
// binary, served by the server itself at "/".
//
// The UI is a client of the API, not a second way into the store. A person
// signs in with an API key (pasted, or through a one-time link that
// `flagops ui` prints); the server keeps the key in an in-memory session and
// the browser holds only an HttpOnly, SameSite=Strict cookie naming it.
// Every page calls the generated Connect clients against the server's own
// handler, in-process, sending the session's key, so a page shows and does
// exactly what the key may: the same interceptor, policy table and
// validation as any other client. The edit controls a page shows are
// decided by auth.Authorize on the same policy table, and the API decides
// again when a control is used. Secret values are write-only here: the UI
// never calls an RPC that returns one.
package web

import (
	"context"
	"embed"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/flagops/flagops/internal/auth"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Authenticator turns request headers into a principal; the server passes
// its own (auth.Authenticator), so the UI knows a key exactly as the API does.
type Authenticator interface {
	Authenticate(ctx context.Context, h http.Header) (auth.Principal, error)
}

// Options configure the UI.
type Options struct {
	// API is the server's own handler (the one serving the Connect
	// services). The UI's calls go through it in-process. It may be set
	// after New, with SetAPI, since the handler usually contains the UI.
	API http.Handler
	// Authn authenticates the session's key for deciding which controls a
	// page shows. Required.
	Authn  Authenticator
	Logger *slog.Logger
	// SessionIdle ends a session unused this long (default 12h);
	// SessionMax ends any session this old (default 7 days).
	SessionIdle, SessionMax time.Duration
	// SigninCodeTTL is how long a one-time sign-in code stays valid
	// (default 5 minutes).
	SigninCodeTTL time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// UI serves the pages. It is safe for concurrent use.
type UI struct {
	opt      Options
	log      *slog.Logger
	api      http.Handler
	sessions *sessionStore
	codes    *codeStore
	pages    *pages
}

// New returns the UI. Mount its Routes on the server's mux.
func New(opt Options) *UI {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.SessionIdle <= 0 {
		opt.SessionIdle = 12 * time.Hour
	}
	if opt.SessionMax <= 0 {
		opt.SessionMax = 7 * 24 * time.Hour
	}
	if opt.SigninCodeTTL <= 0 {
		opt.SigninCodeTTL = 5 * time.Minute
	}
	u := &UI{opt: opt, log: opt.Logger, api: opt.API,
		sessions: newSessionStore(opt.SessionIdle, opt.SessionMax, opt.Now),
		codes:    newCodeStore(opt.SigninCodeTTL, opt.Now),
		pages:    mustParsePages(),
	}
	return u
}

// SetAPI sets the handler the UI calls in-process. It must be called
// before the first request when Options.API was nil.
func (u *UI) SetAPI(h http.Handler) { u.api = h }

// Route is one route of the UI: a mux pattern and its handler.
type Route struct {
	Pattern string
	Handler http.Handler
}

// The patterns of the UI. Those in SessionPatterns need a signed-in
// session (or, for the sign-in posts, a credential of their own); the API
// policy table marks every UI route public because the UI authenticates
// with its session, and then the API authorizes each call the page makes.
const (
	PatternEstate      = "GET /{$}"
	PatternProject     = "GET /projects/{project}"
	PatternFlags       = "GET /flags"
	PatternFlag        = "GET /flags/{project}/{key}"
	PatternFacts       = "GET /facts"
	PatternTimeline    = "GET /timeline"
	PatternAccess      = "GET /access"
	PatternEvents      = "GET /ui/events"
	PatternAction      = "POST /ui/actions/{action}"
	PatternSignout     = "POST /signout"
	PatternSigninForm  = "GET /signin"
	PatternSignin      = "POST /signin"
	PatternSigninLink  = "GET /signin/link"
	PatternSigninCode  = "POST /signin/link"
	PatternStatic      = "GET /ui/static/{file}"
	PatternMintSignin  = "POST /ui/signin-codes"
	signinCodeFormName = "code"
)

// SessionPatterns are the routes that refuse a caller without the UI's own
// credential (a session cookie, the sign-in form's cookie, or a one-time
// code): the authorization matrix test expects them to deny every API key.
var SessionPatterns = []string{PatternEstate, PatternProject, PatternFlags, PatternFlag, PatternFacts,
	PatternTimeline, PatternAccess, PatternEvents, PatternAction, PatternSignout, PatternSignin, PatternSigninCode}

// Routes returns every route of the UI. PatternMintSignin is the one route
// that takes an API key (Authorization: Bearer) rather than a session.
func (u *UI) Routes() []Route {
	page := func(f func(w http.ResponseWriter, r *http.Request, v *view)) http.Handler {
		return u.withSession(f)
	}
	return []Route{
		{PatternEstate, page(u.estate)},
		{PatternProject, page(u.project)},
		{PatternFlags, page(u.flags)},
		{PatternFlag, page(u.flagPage)},
		{PatternFacts, page(u.facts)},
		{PatternTimeline, page(u.timeline)},
		{PatternAccess, page(u.access)},
		{PatternEvents, page(u.events)},
		{PatternAction, page(u.action)},
		{PatternSignout, page(u.signout)},
		{PatternSigninForm, http.HandlerFunc(u.signinForm)},
		{PatternSignin, http.HandlerFunc(u.signin)},
		{PatternSigninLink, http.HandlerFunc(u.signinLink)},
		{PatternSigninCode, http.HandlerFunc(u.signinWithCode)},
		{PatternStatic, http.HandlerFunc(u.static)},
		{PatternMintSignin, http.HandlerFunc(u.mintSigninCode)},
	}
}

// static serves the embedded assets with a long cache lifetime only when
// the request names the current build's version.
func (u *UI) static(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	if strings.Contains(name, "/") || strings.HasPrefix(name, ".") {
		http.NotFound(w, r)
		return
	}
	b, err := assets.ReadFile("static/" + name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	switch {
	case strings.HasSuffix(name, ".css"):
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
	case strings.HasSuffix(name, ".js"):
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	case strings.HasSuffix(name, ".svg"):
		w.Header().Set("Content-Type", "image/svg+xml")
	}
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(b)
}

// securityHeaders are sent with every page: no framing, no inline script,
// no third-party anything.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}
