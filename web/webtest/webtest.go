// Package webtest signs in to a running server's web UI over HTTP, for
// tests that read or post its pages without a browser.
package webtest

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Session is a signed-in UI session: a client holding the session cookie,
// and the session's CSRF token.
type Session struct {
	Client *http.Client
	Base   string
	CSRF   string
}

var (
	csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	csrfBody  = regexp.MustCompile(`data-csrf="([^"]+)"`)
)

// SignIn signs in to the UI at base with an API token through the sign-in
// form, as a browser does.
func SignIn(t testing.TB, base, token string) *Session {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	s := &Session{Client: &http.Client{Jar: jar, Timeout: 30 * time.Second}, Base: strings.TrimRight(base, "/")}
	_, form := s.Get(t, "/signin")
	m := csrfInput.FindStringSubmatch(form)
	if m == nil {
		t.Fatalf("the sign-in form has no CSRF field:\n%s", form)
	}
	code, page := s.post(t, "/signin", url.Values{"csrf": {m[1]}, "key": {token}, "next": {"/timeline"}})
	if code != http.StatusOK {
		t.Fatalf("sign in: %d\n%s", code, page)
	}
	b := csrfBody.FindStringSubmatch(page)
	if b == nil {
		t.Fatalf("the page after sign-in carries no CSRF token:\n%s", page)
	}
	s.CSRF = b[1]
	return s
}

// Get fetches a page and returns its status and body.
func (s *Session) Get(t testing.TB, path string) (int, string) {
	t.Helper()
	res, err := s.Client.Get(s.Base + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// Post posts a form with the session's CSRF token added, following the
// redirect back to the page, and returns the final status and body.
func (s *Session) Post(t testing.TB, path string, form url.Values) (int, string) {
	t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", s.CSRF)
	return s.post(t, path, form)
}

func (s *Session) post(t testing.TB, path string, form url.Values) (int, string) {
	t.Helper()
	res, err := s.Client.PostForm(s.Base+path, form)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// PostRaw posts a form as it is, without the session's CSRF token.
func (s *Session) PostRaw(t testing.TB, path string, form url.Values) (int, string) {
	t.Helper()
	return s.post(t, path, form)
}
