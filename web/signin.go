package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"connectrpc.com/connect"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/auth"
)

// Cookie names. Both are HttpOnly and SameSite=Strict, and Secure when the
// server speaks TLS.
const (
	sessionCookie = "flagops_session"
	// signinCookie is the sign-in form's double-submit token: a form
	// posted from another site cannot know it, so nobody can sign a
	// browser in to their own key behind its user's back.
	signinCookie = "flagops_signin"
	csrfField    = "csrf"
	csrfHeader   = "X-CSRF-Token"
)

func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
}

// sameOrigin refuses a POST whose Origin header names another site (a
// browser sends one with every cross-site POST). It is a second line
// behind the CSRF tokens and SameSite cookies.
func sameOrigin(r *http.Request) bool {
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && o != "null" && u.Host == r.Host
}

// localPath returns next when it is a path on this server, else "/": the
// sign-in redirect must not send anyone elsewhere.
func localPath(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

// withSession runs a page for a signed-in session: it finds the session,
// authenticates its key again (a revoked or expired key ends the session
// on its next request), checks the CSRF token of every POST, and builds
// the view. Without a session a page answers 401 with the sign-in form.
func (u *UI) withSession(f func(w http.ResponseWriter, r *http.Request, v *view)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w.Header())
		var id string
		if c, err := r.Cookie(sessionCookie); err == nil {
			id = c.Value
		}
		sess := u.sessions.get(id)
		if sess == nil {
			u.refuse(w, r, "Sign in to continue.")
			return
		}
		h := http.Header{}
		if sess.token != "" {
			h.Set("Authorization", "Bearer "+sess.token)
		}
		p, err := u.opt.Authn.Authenticate(r.Context(), h)
		if err != nil || !p.Authenticated() {
			u.sessions.delete(id)
			msg := "Your session's API key is no longer valid; sign in again."
			if err != nil {
				msg = "Signed out: " + err.Error()
			}
			u.refuse(w, r, msg)
			return
		}
		if r.Method == http.MethodPost {
			presented := r.Header.Get(csrfHeader)
			if presented == "" {
				presented = r.PostFormValue(csrfField)
			}
			if !sameOrigin(r) || !csrfOK(sess, presented) {
				http.Error(w, "refused: the form's CSRF token is missing or wrong (reload the page and try again)", http.StatusForbidden)
				return
			}
		}
		v := &view{u: u, r: r, id: id, sess: sess, p: p, ws: sess.workspace,
			c: u.clientsFor(sess.token, w.Header().Get("X-Request-Id"))}
		if r.Method == http.MethodGet && r.URL.Path != "/ui/events" {
			if res, err := v.c.changes.GetRevision(r.Context(), connect.NewRequest(&flagopsv1.GetRevisionRequest{})); err == nil {
				v.rev = res.Msg.GetRevision()
			}
		}
		f(w, r, v)
	})
}

// refuse answers a request without a usable session: 401 and the sign-in
// form for a page, 401 as text for the event stream and posts.
func (u *UI) refuse(w http.ResponseWriter, r *http.Request, msg string) {
	if r.Method != http.MethodGet || r.URL.Path == "/ui/events" {
		http.Error(w, "unauthenticated: "+msg, http.StatusUnauthorized)
		return
	}
	u.renderSignin(w, r, http.StatusUnauthorized, r.URL.RequestURI(), msg)
}

type signinData struct {
	CSRF, Next, Message, Error string
}

func (u *UI) renderSignin(w http.ResponseWriter, r *http.Request, status int, next, msg string) {
	securityHeaders(w.Header())
	tok := randomToken()
	setCookie(w, r, signinCookie, tok, 3600)
	u.pages.renderBare(w, status, "signin", signinData{CSRF: tok, Next: localPath(next), Message: msg})
}

func (u *UI) signinForm(w http.ResponseWriter, r *http.Request) {
	u.renderSignin(w, r, http.StatusOK, r.URL.Query().Get("next"), "")
}

// signin exchanges a pasted API key for a session.
func (u *UI) signin(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header())
	c, err := r.Cookie(signinCookie)
	if err != nil || !sameOrigin(r) || c.Value == "" || c.Value != r.PostFormValue(csrfField) {
		http.Error(w, "refused: the sign-in form's token is missing or wrong (open /signin and try again)", http.StatusForbidden)
		return
	}
	token := strings.TrimSpace(r.PostFormValue("key"))
	next := localPath(r.PostFormValue("next"))
	if token == "" {
		u.renderSigninError(w, r, next, "Paste an API key (fo_…).")
		return
	}
	if err := u.checkKey(r, token); err != nil {
		u.renderSigninError(w, r, next, err.Error())
		return
	}
	u.startSession(w, r, token, next)
}

func (u *UI) renderSigninError(w http.ResponseWriter, r *http.Request, next, msg string) {
	securityHeaders(w.Header())
	tok := randomToken()
	setCookie(w, r, signinCookie, tok, 3600)
	u.pages.renderBare(w, http.StatusUnauthorized, "signin", signinData{CSRF: tok, Next: next, Error: msg})
}

// checkKey asks the API who the key is: a key the API refuses cannot sign in.
func (u *UI) checkKey(r *http.Request, token string) error {
	c := u.clientsFor(token, "")
	_, err := c.access.WhoAmI(r.Context(), connect.NewRequest(&flagopsv1.WhoAmIRequest{}))
	if err != nil {
		return toAPIError(err)
	}
	return nil
}

func (u *UI) startSession(w http.ResponseWriter, r *http.Request, token, next string) {
	id, _ := u.sessions.create(token)
	setCookie(w, r, sessionCookie, id, int(u.opt.SessionMax/time.Second))
	setCookie(w, r, signinCookie, "", -1)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// signinLink is where a one-time link lands: a page with a button that
// posts the code (a GET never signs in, so a link preview or prefetch
// cannot spend the code).
func (u *UI) signinLink(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header())
	u.pages.renderBare(w, http.StatusOK, "signinlink", struct{ Code string }{r.URL.Query().Get(signinCodeFormName)})
}

// signinWithCode exchanges a one-time code for a session.
func (u *UI) signinWithCode(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header())
	if !sameOrigin(r) {
		http.Error(w, "refused: cross-site sign-in", http.StatusForbidden)
		return
	}
	token, ok := u.codes.take(r.PostFormValue(signinCodeFormName))
	if !ok {
		http.Error(w, "refused: the sign-in link is unknown, used or expired; run `flagops ui` again", http.StatusForbidden)
		return
	}
	if err := u.checkKey(r, token); err != nil {
		u.renderSigninError(w, r, "/", err.Error())
		return
	}
	u.startSession(w, r, token, "/")
}

// signout ends the session.
func (u *UI) signout(w http.ResponseWriter, r *http.Request, v *view) {
	u.sessions.delete(v.id)
	setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

// SigninCode is the answer of PatternMintSignin.
type SigninCode struct {
	Code    string    `json:"code"`
	Path    string    `json:"path"`
	Expires time.Time `json:"expires"`
}

// mintSigninCode makes a one-time sign-in code for the key that calls it
// (the server's route wrapper has authenticated it): the code signs in to
// that same key and nothing more, so minting one needs the key itself,
// which for the local admin is the token in the data directory.
func (u *UI) mintSigninCode(w http.ResponseWriter, r *http.Request) {
	p, _ := auth.PrincipalFrom(r.Context())
	if !p.Authenticated() {
		http.Error(w, "unauthenticated", http.StatusUnauthorized)
		return
	}
	token, err := auth.TokenOf(r.Header)
	if err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	code, exp := u.codes.mint(token)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(SigninCode{Code: code, Path: "/signin/link?" + signinCodeFormName + "=" + url.QueryEscape(code), Expires: exp})
}
