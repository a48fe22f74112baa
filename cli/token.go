package cli

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"connectrpc.com/connect"

	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/server"
)

// resolveToken returns the API token to send: --token (or FLAGOPS_TOKEN),
// else the bootstrap admin token a local server wrote to
// $FLAGOPS_DATA_DIR/admin.token or ./flagops-data/admin.token, so that a
// fresh machine's walk-through works with no set-up. The data directory's
// token goes only to a server of that data directory reached over loopback
// (dataDirTokenAllowed): an admin token must never leave the machine
// because --server named another host. It returns "" when there is none,
// and leaves in a.tokenHint what was tried, for the error the server's
// Unauthenticated answer then becomes.
func (a *app) resolveToken() string { return a.resolveTokenFor(a.server) }

// resolveTokenFor is resolveToken for a server other than --server (render
// may take its server from the Argo CD application).
func (a *app) resolveTokenFor(serverURL string) string {
	if a.token != "" {
		return a.token
	}
	dir, ok := a.lookupEnv(EnvName("data-dir"))
	if !ok || dir == "" {
		dir = "./flagops-data"
	}
	tried := "no token was sent: --token and " + EnvName("token") + " are not set"
	fix := "; pass --token or set " + EnvName("token")
	tokenPath := filepath.Join(dir, server.AdminTokenFile)
	b, err := os.ReadFile(tokenPath)
	if err != nil {
		a.tokenHint = tried + ", and there is no " + tokenPath + fix
		return ""
	}
	var recorded []string
	if u, err := os.ReadFile(filepath.Join(dir, server.ServerURLsFile)); err == nil {
		recorded = strings.Fields(string(u))
	}
	if ok, why := dataDirTokenAllowed(serverURL, recorded); !ok {
		a.tokenHint = fmt.Sprintf("%s, and the admin token in %s was not sent because %s%s", tried, tokenPath, why, fix)
		return ""
	}
	return strings.TrimSpace(string(b))
}

// dataDirTokenAllowed decides whether the admin token of a data directory
// may be sent to serverURL, given the URLs the data directory's servers
// recorded (server.ServerURLsFile; none for a server older than that file).
// The server must be reached over loopback (localhost, 127.0.0.0/8, ::1),
// and, when URLs are recorded, on the scheme and port of one of them that
// listens on loopback or on every interface. Otherwise it says why not.
func dataDirTokenAllowed(serverURL string, recorded []string) (bool, string) {
	u, err := url.Parse(serverURL)
	if err != nil || u.Host == "" {
		return false, fmt.Sprintf("--server %s is not a URL", errs.Quote(serverURL))
	}
	if !isLoopbackHost(u.Hostname()) {
		return false, fmt.Sprintf("it is sent only to a server on this machine (localhost, 127.0.0.1, ::1), and --server is %s", u.Redacted())
	}
	if len(recorded) == 0 {
		return true, ""
	}
	for _, r := range recorded {
		ru, err := url.Parse(r)
		if err != nil || ru.Scheme != u.Scheme || portOf(ru) != portOf(u) {
			continue
		}
		if h := ru.Hostname(); isLoopbackHost(h) || isUnspecifiedHost(h) {
			return true, ""
		}
	}
	return false, fmt.Sprintf("it is sent only to the server of that data directory (%s), and --server is %s", strings.Join(recorded, ", "), u.Redacted())
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func isUnspecifiedHost(h string) bool {
	ip := net.ParseIP(h)
	return h == "" || (ip != nil && ip.IsUnspecified())
}

// portOf returns u's port, or its scheme's default.
func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "https" {
		return "443"
	}
	return "80"
}

// withTokenHint adds to an Unauthenticated error what resolveToken tried,
// when it found no token to send.
func (a *app) withTokenHint(err error) error {
	if a.tokenHint == "" {
		return err
	}
	if connect.CodeOf(err) != connect.CodeUnauthenticated && !errors.Is(err, errs.Unauthenticated) {
		return err
	}
	return fmt.Errorf("%w\n  %s", err, a.tokenHint)
}
