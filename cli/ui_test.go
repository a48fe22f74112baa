package cli

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestUICommand prints a sign-in link with the local admin's token (found
// in the data directory) and signs in with it: once.
func TestUICommand(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	srv, dataDir := startServer(t)
	code, out, stderr := runCLI(t, map[string]string{"FLAGOPS_SERVER": srv, "FLAGOPS_DATA_DIR": dataDir}, "", "ui", "--no-open")
	if code != 0 {
		t.Fatalf("flagops ui: %d %s", code, stderr)
	}
	m := regexp.MustCompile(`(http://\S+/signin/link\?code=(\S+))`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no link in:\n%s", out)
	}
	code2, _ := url.QueryUnescape(m[2])
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	post := func() *http.Response {
		res, err := hc.PostForm(srv+"/signin/link", url.Values{"code": {code2}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	if res := post(); res.StatusCode != http.StatusOK || res.Request.URL.Path != "/" {
		t.Fatalf("signing in with the link: %d at %s", res.StatusCode, res.Request.URL)
	}
	if res := post(); res.StatusCode != http.StatusForbidden {
		t.Fatalf("the link signed in twice: %d", res.StatusCode)
	}

	t.Run("without a key", func(t *testing.T) {
		code, _, stderr := runCLI(t, map[string]string{"FLAGOPS_SERVER": srv, "FLAGOPS_DATA_DIR": t.TempDir()}, "", "ui", "--no-open")
		if code != 2 || !strings.Contains(stderr, "no API key") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
	})
}
