package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
	"github.com/flagops/flagops/web"
	"github.com/flagops/flagops/web/webtest"
)

func start(t *testing.T, cfg server.Config) (*server.Server, servertest.Clients) {
	t.Helper()
	s := servertest.Start(t, cfg)
	c := servertest.NewClients(servertest.HTTP1Client(), s.URL())
	seed(t, c)
	return s, c
}

// TestPagesRender signs in as the admin and opens every page: each answers
// 200 and shows the seeded estate in its own terms.
func TestPagesRender(t *testing.T) {
	servertest.Backends(t, func(t *testing.T, cfg server.Config) {
		s, _ := start(t, cfg)
		ui := webtest.SignIn(t, s.URL(), servertest.AdminToken(s.URL()))
		for _, tc := range []struct {
			path string
			want []string
		}{
			{"/", []string{"shop", "line: dev → prod", "1.3.0", "degraded", "c-bad", "drift"}},
			{"/?q=nomatch", []string{"No projects match"}},
			{"/projects/shop", []string{"1.4.0", "github.com/acme/shop", "dev → prod", "Stop the line", "Set version"}},
			{"/flags?project=shop&env=prod", []string{"checkout", "tier is enterprise", "in segment <b>beta</b>", "pro 25%", "<svg class=\"bar\"", "toggle-checkout", "region starts with eu"}},
			{"/flags/shop/replicas?eval=1&target=eu-1", []string{"Serves", "SPLIT", "region", "environment/prod", "Save YAML", "Evaluate as"}},
			{"/facts?project=shop&target=eu-1", []string{"team-a", "deployment/shop@eu-1", "winner", "Set a fact", "checkout"}},
			{"/facts?project=shop&target=eu-1&hkey=tier&hscope=workspace", []string{"History of tier at workspace", "key/admin"}},
			{"/timeline?kind=flag", []string{"shop/checkout", "shop/replicas"}},
			{"/timeline?project=shop&environment=prod", []string{"shop@prod"}},
			{"/access", []string{"key-admin", "Create a key"}},
		} {
			t.Run(tc.path, func(t *testing.T) {
				code, body := ui.Get(t, tc.path)
				if code != http.StatusOK {
					t.Fatalf("status %d\n%s", code, body)
				}
				for _, w := range tc.want {
					if !strings.Contains(body, w) {
						t.Errorf("the page lacks %q", w)
					}
				}
			})
		}
	})
}

// TestSessionCookie checks the cookie a sign-in sets: HttpOnly,
// SameSite=Strict, and a session id that is not the API key.
func TestSessionCookie(t *testing.T) {
	s, _ := start(t, server.Config{})
	ui := webtest.SignIn(t, s.URL(), servertest.AdminToken(s.URL()))
	u, _ := url.Parse(s.URL())
	if len(ui.Client.Jar.Cookies(u)) != 1 {
		t.Fatalf("cookies: %v", ui.Client.Jar.Cookies(u))
	}
	// The jar does not keep attributes: sign in again by hand and read them.
	jarless := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := jarless.Get(s.URL() + "/signin")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var signin *http.Cookie
	for _, c := range res.Cookies() {
		signin = c
	}
	form := url.Values{"csrf": {signin.Value}, "key": {servertest.AdminToken(s.URL())}}
	req, _ := http.NewRequest(http.MethodPost, s.URL()+"/signin", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(signin)
	res, err = jarless.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var sess *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "flagops_session" {
			sess = c
		}
	}
	if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.Path != "/" {
		t.Fatalf("session cookie: %+v", sess)
	}
	if strings.Contains(sess.Value, servertest.AdminToken(s.URL())) {
		t.Fatal("the cookie carries the API key")
	}
}

// TestCSRF posts changes without the session's CSRF token, with a wrong
// one and from another origin: each is refused and changes nothing; the
// same post with the token goes through.
func TestCSRF(t *testing.T) {
	s, c := start(t, server.Config{})
	ui := webtest.SignIn(t, s.URL(), servertest.AdminToken(s.URL()))
	form := func() url.Values {
		return url.Values{"scope": {"workspace"}, "key": {"forged"}, "value": {"1"}, "return": {"/"}}
	}
	post := func(f url.Values, origin string) int {
		req, _ := http.NewRequest(http.MethodPost, s.URL()+"/ui/actions/fact-set", strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		res, err := ui.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	for _, tc := range []struct {
		name   string
		csrf   string
		origin string
	}{
		{"no token", "", ""},
		{"wrong token", "not-the-token", ""},
		{"right token from another site", ui.CSRF, "http://evil.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := form()
			if tc.csrf != "" {
				f.Set("csrf", tc.csrf)
			}
			if code := post(f, tc.origin); code != http.StatusForbidden {
				t.Fatalf("status %d, want 403", code)
			}
		})
	}
	got, err := c.Facts.GetFacts(context.Background(), connect.NewRequest(&flagopsv1.GetFactsRequest{Scope: "workspace"}))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range got.Msg.GetFacts() {
		if f.GetKey() == "forged" {
			t.Fatal("a refused post set the fact")
		}
	}
	f := form()
	f.Set("csrf", ui.CSRF)
	if code := post(f, s.URL()); code != http.StatusOK {
		t.Fatalf("the genuine post: %d", code)
	}
}

// TestViewerSeesNoControls signs in with a viewer key: the pages show the
// data but no control that changes anything, and a change posted anyway
// is refused by the API.
func TestViewerSeesNoControls(t *testing.T) {
	s, c := start(t, server.Config{})
	ui := webtest.SignIn(t, s.URL(), createKey(t, c, "watcher", "viewer", "workspace"))
	for _, path := range []string{"/", "/projects/shop", "/flags?project=shop&env=prod", "/flags/shop/checkout", "/facts?project=shop&target=eu-1", "/timeline"} {
		code, body := ui.Get(t, path)
		if code != http.StatusOK {
			t.Fatalf("%s: %d", path, code)
		}
		if strings.Contains(body, `action="/ui/actions/`) && !onlyWorkspaceForm(body) {
			t.Errorf("%s shows a viewer an edit control", path)
		}
	}
	if code, _ := ui.Get(t, "/access"); code != http.StatusForbidden {
		t.Errorf("/access for a viewer: %d", code)
	}
	code, body := ui.Post(t, "/ui/actions/flag-toggle", url.Values{"project": {"shop"}, "key": {"checkout"}, "env": {"prod"}, "on": {"true"}, "return": {"/flags"}})
	if code != http.StatusOK || !strings.Contains(body, "may not flags.write") {
		t.Fatalf("a viewer's toggle: %d, want the API's refusal on the page", code)
	}
	f, err := c.Flags.GetFlag(context.Background(), connect.NewRequest(&flagopsv1.GetFlagRequest{Project: "shop", Key: "checkout"}))
	if err != nil || f.Msg.GetFlag().GetEnvironments()["prod"].GetEnabled() {
		t.Fatalf("the viewer's toggle changed the flag: %v", err)
	}
}

// onlyWorkspaceForm reports whether the only action form on a page is the
// header's workspace switch (a session setting, not a change).
func onlyWorkspaceForm(body string) bool {
	return strings.Count(body, `action="/ui/actions/`) == strings.Count(body, `action="/ui/actions/workspace"`)
}

// TestSigninLink mints a one-time code with the admin token, signs in with
// it once, and checks that it works only once and needs a key to mint.
func TestSigninLink(t *testing.T) {
	s, _ := start(t, server.Config{})
	mint := func(token string) (int, web.SigninCode) {
		req, _ := http.NewRequest(http.MethodPost, s.URL()+"/ui/signin-codes", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out web.SigninCode
		_ = json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out
	}
	if code, _ := mint(""); code != http.StatusUnauthorized {
		t.Fatalf("minting without a key: %d", code)
	}
	code, sc := mint(servertest.AdminToken(s.URL()))
	if code != http.StatusOK || sc.Code == "" || !strings.HasPrefix(sc.Path, "/signin/link?code=") {
		t.Fatalf("mint: %d %+v", code, sc)
	}
	ui := webtest.SignIn(t, s.URL(), servertest.AdminToken(s.URL())) // a client with a jar
	ui.Client.Jar = newJar()
	if st, page := ui.Get(t, sc.Path); st != http.StatusOK || !strings.Contains(page, sc.Code) {
		t.Fatalf("the link's page: %d", st)
	}
	st, page := ui.PostRaw(t, "/signin/link", url.Values{"code": {sc.Code}})
	if st != http.StatusOK || !strings.Contains(page, "key/admin") {
		t.Fatalf("sign in with the code: %d\n%s", st, page)
	}
	other := webtest.SignIn(t, s.URL(), servertest.AdminToken(s.URL()))
	other.Client.Jar = newJar()
	if st, _ := other.PostRaw(t, "/signin/link", url.Values{"code": {sc.Code}}); st != http.StatusForbidden {
		t.Fatalf("the code worked twice: %d", st)
	}
}

// TestRevokedKeyEndsSession revokes the key of a signed-in session: its
// next page is the sign-in form.
func TestRevokedKeyEndsSession(t *testing.T) {
	s, c := start(t, server.Config{})
	tok := createKey(t, c, "temp", "editor", "workspace")
	ui := webtest.SignIn(t, s.URL(), tok)
	if code, _ := ui.Get(t, "/"); code != http.StatusOK {
		t.Fatal(code)
	}
	if _, err := c.Access.RevokeKey(context.Background(), connect.NewRequest(&flagopsv1.RevokeKeyRequest{Key: "temp"})); err != nil {
		t.Fatal(err)
	}
	code, body := ui.Get(t, "/")
	if code != http.StatusUnauthorized || !strings.Contains(body, "revoked") {
		t.Fatalf("after revocation: %d", code)
	}
}

// TestEventsStream opens the UI's event stream and makes a change through
// the API: the event arrives within a second, carrying its revision.
func TestEventsStream(t *testing.T) {
	servertest.Backends(t, func(t *testing.T, cfg server.Config) {
		s, c := start(t, cfg)
		ui := webtest.SignIn(t, s.URL(), servertest.AdminToken(s.URL()))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/ui/events", nil)
		res, err := ui.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("%d %s", res.StatusCode, res.Header.Get("Content-Type"))
		}
		br := bufio.NewReader(res.Body)
		if _, err := br.ReadString('\n'); err != nil { // the stream is open
			t.Fatal(err)
		}
		start := time.Now()
		set, err := c.Facts.SetFacts(ctx, connect.NewRequest(&flagopsv1.SetFactsRequest{Scope: "workspace", Values: map[string]*structpb.Value{"live": structpb.NewBoolValue(true)}}))
		if err != nil {
			t.Fatal(err)
		}
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(line, "data: ") && strings.Contains(line, `"workspace:live"`) {
				var ev struct{ Revision int64 }
				_ = json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev)
				if ev.Revision != set.Msg.GetRevision() {
					t.Fatalf("event revision %d, want %d", ev.Revision, set.Msg.GetRevision())
				}
				break
			}
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("the event took %v", d)
		}
	})
}

// TestFlagEditFieldErrors saves a flag as YAML with a broken rule and as a
// form with a value of the wrong type: each comes back with the server's
// error at the field, and the flag is unchanged.
func TestFlagEditFieldErrors(t *testing.T) {
	s, c := start(t, server.Config{})
	ui := webtest.SignIn(t, s.URL(), servertest.AdminToken(s.URL()))
	f, err := c.Flags.GetFlag(context.Background(), connect.NewRequest(&flagopsv1.GetFlagRequest{Project: "shop", Key: "replicas"}))
	if err != nil {
		t.Fatal(err)
	}
	rev := f.Msg.GetFlag().GetRevision()
	_, page := ui.Get(t, "/flags/shop/replicas")
	start := strings.Index(page, `<textarea id="yaml"`)
	yamlText := page[strings.Index(page[start:], ">")+start+1 : strings.Index(page, "</textarea>")]
	yamlText = strings.ReplaceAll(strings.ReplaceAll(yamlText, "&#34;", `"`), "&#39;", "'")
	broken := strings.Replace(yamlText, "operator: equals", "operator: resembles", 1)
	if broken == yamlText {
		t.Fatalf("the YAML has no operator to break:\n%s", yamlText)
	}
	for _, tc := range []struct {
		name string
		form url.Values
		want string
	}{
		{"yaml", url.Values{"mode": {"yaml"}, "yaml": {broken}}, "environments.prod.rules[0].conditions[0].operator"},
		{"yaml syntax", url.Values{"mode": {"yaml"}, "yaml": {"key: [unclosed"}}, "not YAML"},
		{"form", url.Values{"mode": {"form"}, "name": {"x"}, "variations[0].value": {"{not json"}}, "variations[0].value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.form.Set("project", "shop")
			tc.form.Set("key", "replicas")
			tc.form.Set("revision", itoa(rev))
			code, body := ui.Post(t, "/ui/actions/flag-save", tc.form)
			if code != http.StatusBadRequest || !strings.Contains(body, tc.want) || !strings.Contains(body, `class="ferr`) {
				t.Fatalf("status %d; want 400 with %q at the field", code, tc.want)
			}
		})
	}
	g, _ := c.Flags.GetFlag(context.Background(), connect.NewRequest(&flagopsv1.GetFlagRequest{Project: "shop", Key: "replicas"}))
	if g.Msg.GetFlag().GetRevision() != rev {
		t.Fatal("a refused edit changed the flag")
	}
	// The unbroken YAML saves.
	code, _ := ui.Post(t, "/ui/actions/flag-save", url.Values{"mode": {"yaml"}, "yaml": {strings.Replace(yamlText, "type: number", "type: number\nname: Replicas", 1)},
		"project": {"shop"}, "key": {"replicas"}, "revision": {itoa(rev)}})
	g, _ = c.Flags.GetFlag(context.Background(), connect.NewRequest(&flagopsv1.GetFlagRequest{Project: "shop", Key: "replicas"}))
	if code != http.StatusOK || g.Msg.GetFlag().GetName() != "Replicas" {
		t.Fatalf("saving YAML: %d, name %q", code, g.Msg.GetFlag().GetName())
	}
}

// TestActions posts each change a page offers and checks the answer page's
// message and, through the API, the change.
func TestActions(t *testing.T) {
	s, c := start(t, server.Config{})
	ui := webtest.SignIn(t, s.URL(), servertest.AdminToken(s.URL()))
	ctx := context.Background()
	prodVersion := func(target string) (string, bool) {
		v, err := c.Versions.GetVersions(ctx, connect.NewRequest(&flagopsv1.GetVersionsRequest{Project: "shop", Environment: "prod", Target: target}))
		if err != nil || len(v.Msg.GetDeployments()) == 0 {
			t.Fatalf("versions: %v", err)
		}
		return v.Msg.GetDeployments()[0].GetDesired(), v.Msg.GetDeployments()[0].GetPinned()
	}
	holds := func() int {
		h, err := c.Promotions.ListHolds(ctx, connect.NewRequest(&flagopsv1.ListHoldsRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		return len(h.Msg.GetHolds())
	}
	for _, tc := range []struct {
		action string
		form   url.Values
		want   string
		check  func() bool
	}{
		{"version-set", url.Values{"project": {"shop"}, "environment": {"prod"}, "version": {"1.4.0"}, "reason": {"release"}}, "Set shop to 1.4.0",
			func() bool { v, _ := prodVersion("eu-1"); return v == "1.4.0" }},
		{"version-set", url.Values{"project": {"shop"}, "environment": {"prod"}, "target": {"eu-2"}, "version": {"1.3.0"}, "reason": {"hold eu-2"}}, "Set shop to 1.3.0",
			func() bool { v, pinned := prodVersion("eu-2"); return v == "1.3.0" && pinned }},
		{"version-unpin", url.Values{"project": {"shop"}, "environment": {"prod"}, "target": {"eu-2"}, "reason": {"done"}}, "Unpinned eu-2",
			func() bool { _, pinned := prodVersion("eu-2"); return !pinned }},
		{"version-rollback", url.Values{"project": {"shop"}, "environment": {"prod"}, "reason": {"bad release"}}, "Rolled back shop",
			func() bool { v, _ := prodVersion("eu-1"); return v == "1.3.0" }},
		{"version-set", url.Values{"project": {"shop"}, "environment": {"prod"}, "version": {"not a version"}, "reason": {"x"}}, "version", nil},
		{"hold", url.Values{"project": {"shop"}, "environment": {"prod"}, "on": {"true"}, "reason": {"incident"}}, "Paused promotion of shop into prod",
			func() bool { return holds() == 1 }},
		{"hold", url.Values{"project": {"shop"}, "on": {"true"}, "reason": {"incident"}}, "Stopped the line of shop",
			func() bool { return holds() == 2 }},
		{"hold", url.Values{"project": {"shop"}, "on": {"false"}}, "Restarted the line of shop",
			func() bool { return holds() == 1 }},
		{"fact-unset", url.Values{"scope": {"deployment/shop@eu-1"}, "key": {"owner"}}, "Unset owner", nil},
		{"key-create", url.Values{"name": {"ci"}, "bindings": {"default:editor@project/shop"}}, "fo_", nil},
		{"key-create", url.Values{"name": {"bad"}, "bindings": {"default:wizard@workspace"}}, "unknown role", nil},
		{"key-revoke", url.Values{"key": {"ci"}}, "Revoked key ci", nil},
	} {
		t.Run(tc.action+" "+tc.want, func(t *testing.T) {
			tc.form.Set("return", "/projects/shop")
			_, body := ui.Post(t, "/ui/actions/"+tc.action, tc.form)
			if !strings.Contains(body, tc.want) {
				t.Fatalf("the answer lacks %q", tc.want)
			}
			if tc.check != nil && !tc.check() {
				t.Fatal("the change did not happen")
			}
		})
	}
	if _, body := ui.Get(t, "/access"); strings.Contains(body, "fo_") {
		t.Error("the access page shows a token again")
	}
}
