package adversarial_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
)

// TestInputCLIKeepsTheAdminToken keeps issue 9.7 fixed: the CLI sends the
// admin token of a data directory only to that data directory's server.
// Another server on this machine (here a listener on 127.0.0.1 that records
// what it is sent) receives no Authorization header, and the error says
// which token sources were tried and how to pass one; the data directory's
// own server, by 127.0.0.1 or localhost, still gets the token with nothing
// configured. (That a remote host gets none is checked on the decision
// itself, in the cli package: no test may reach a remote host.)
func TestInputCLIKeepsTheAdminToken(t *testing.T) {
	servertest.Backends(t, func(t *testing.T, cfg server.Config) {
		s := servertest.Start(t, cfg)
		var mu sync.Mutex
		var got []string
		other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			got = append(got, r.Header.Get("Authorization"))
			mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"code":"unauthenticated","message":"send a token"}`))
		}))
		defer other.Close()
		t.Setenv("FLAGOPS_TOKEN", "")
		os.Unsetenv("FLAGOPS_TOKEN")

		code, out, errOut := inputCLI(t, []string{"FLAGOPS_DATA_DIR=" + cfg.DataDir, "FLAGOPS_SERVER=" + other.URL}, "whoami")
		mu.Lock()
		sent := strings.Join(got, "")
		calls := len(got)
		mu.Unlock()
		if calls == 0 {
			t.Fatalf("the CLI never called the other server: exit %d %s %s", code, out, errOut)
		}
		if sent != "" {
			t.Fatalf("the other server received an Authorization header")
		}
		if code == 0 {
			t.Fatalf("whoami against the other server succeeded: %s", out)
		}
		for _, want := range []string{"FLAGOPS_TOKEN", "--token", "admin.token", "only to the server of that data directory"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("the error does not mention %q:\n%s", want, errOut)
			}
		}
		if strings.Contains(errOut, servertest.AdminToken(s.URL())) {
			t.Fatal("the error holds the admin token")
		}

		u, _ := url.Parse(s.URL())
		for _, base := range []string{s.URL(), "http://localhost:" + u.Port()} {
			code, out, errOut := inputCLI(t, []string{"FLAGOPS_DATA_DIR=" + cfg.DataDir, "FLAGOPS_SERVER=" + base}, "whoami")
			if code != 0 || !strings.Contains(out, "key/admin") {
				t.Errorf("whoami against the data directory's server at %s: exit %d\n%s%s", base, code, out, errOut)
			}
		}
	})
}
