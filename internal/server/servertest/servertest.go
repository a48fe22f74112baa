// Package servertest starts real flagops servers for tests, on a fresh
// SQLite data directory (or a PostgreSQL URL), with generated Connect clients.
package servertest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/flagops/flagops/gen/flagops/v1/flagopsv1connect"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/store/pgtest"
)

// Logger logs to stderr when FLAGOPS_TEST_LOG is set, else nowhere.
func Logger() *slog.Logger {
	if os.Getenv("FLAGOPS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// Start starts a server with cfg, filling in a 127.0.0.1:0 listener, a
// data directory when none is set (a fresh one for SQLite; one per database
// for PostgreSQL, so that instances sharing a database share its master key
// and admin token, as production instances must), and the test logger. The
// server is shut down when the test ends (Shutdown is idempotent, so a test
// may stop it earlier).
//
// The server runs with authentication on. Start remembers the bootstrap
// admin token it wrote, and the clients of this package send it to the
// server's URL unless a request carries its own Authorization header: tests
// act as the admin by default without any weakening of the server.
func Start(t testing.TB, cfg server.Config) *server.Server {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.DataDir == "" {
		cfg.DataDir = dataDirFor(t, cfg.DatabaseURL)
	}
	if cfg.Logger == nil {
		cfg.Logger = Logger()
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 5 * time.Second
	}
	s, err := server.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	UseDataDir(s.URL(), cfg.DataDir)
	t.Cleanup(func() {
		if err := s.Shutdown(context.Background()); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return s
}

// Backends runs f on SQLite, and on PostgreSQL when FLAGOPS_TEST_POSTGRES is
// set (pgtest skips that subtest otherwise). cfg names one fresh database:
// every server started with it shares that data.
func Backends(t *testing.T, f func(t *testing.T, cfg server.Config)) {
	t.Run("sqlite", func(t *testing.T) { f(t, server.Config{DataDir: t.TempDir()}) })
	t.Run("postgres", func(t *testing.T) { f(t, server.Config{DatabaseURL: pgtest.URL(t), DataDir: t.TempDir()}) })
}

// Clients are the generated clients of one server.
type Clients struct {
	Catalog flagopsv1connect.CatalogServiceClient
	Facts   flagopsv1connect.FactServiceClient
	Changes flagopsv1connect.ChangeServiceClient
	Flags   flagopsv1connect.FlagServiceClient

	Versions   flagopsv1connect.VersionServiceClient
	Releases   flagopsv1connect.ReleaseServiceClient
	Promotions flagopsv1connect.PromotionServiceClient
	Secrets    flagopsv1connect.SecretServiceClient
	Access     flagopsv1connect.AccessServiceClient
	Apply      flagopsv1connect.ApplyServiceClient
}

// NewClients returns Connect clients of the server at baseURL over hc
// (HTTP1Client or H2CClient).
func NewClients(hc *http.Client, baseURL string, opts ...connect.ClientOption) Clients {
	return Clients{
		Catalog: flagopsv1connect.NewCatalogServiceClient(hc, baseURL, opts...),
		Facts:   flagopsv1connect.NewFactServiceClient(hc, baseURL, opts...),
		Changes: flagopsv1connect.NewChangeServiceClient(hc, baseURL, opts...),
		Flags:   flagopsv1connect.NewFlagServiceClient(hc, baseURL, opts...),

		Versions:   flagopsv1connect.NewVersionServiceClient(hc, baseURL, opts...),
		Releases:   flagopsv1connect.NewReleaseServiceClient(hc, baseURL, opts...),
		Promotions: flagopsv1connect.NewPromotionServiceClient(hc, baseURL, opts...),
		Secrets:    flagopsv1connect.NewSecretServiceClient(hc, baseURL, opts...),
		Access:     flagopsv1connect.NewAccessServiceClient(hc, baseURL, opts...),
		Apply:      flagopsv1connect.NewApplyServiceClient(hc, baseURL, opts...),
	}
}

// HTTP1Client returns a client that speaks HTTP/1.1.
func HTTP1Client() *http.Client { return client(func(p *http.Protocols) { p.SetHTTP1(true) }) }

// H2CClient returns a client that speaks only unencrypted HTTP/2, as gRPC
// clients do to a plain port.
func H2CClient() *http.Client {
	return client(func(p *http.Protocols) { p.SetUnencryptedHTTP2(true) })
}

func client(set func(*http.Protocols)) *http.Client {
	tr := &http.Transport{
		Protocols:    new(http.Protocols),
		DialContext:  (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns: 64, MaxIdleConnsPerHost: 64,
	}
	set(tr.Protocols)
	return &http.Client{Transport: adminTransport{tr}}
}

// tokens maps a server's base URL to its admin token, and dataDirs a
// PostgreSQL URL to the data directory its servers share.
var (
	mu       sync.Mutex
	tokens   = map[string]string{}
	dataDirs = map[string]string{}
)

func dataDirFor(t testing.TB, databaseURL string) string {
	if databaseURL == "" {
		return t.TempDir()
	}
	mu.Lock()
	defer mu.Unlock()
	if d, ok := dataDirs[databaseURL]; ok {
		return d
	}
	d := t.TempDir()
	dataDirs[databaseURL] = d
	return d
}

// UseDataDir makes the clients of this package send the admin token found
// in dataDir (written there by the server's first start) to baseURL. Start
// calls it; tests that run a server themselves (in another process, say)
// call it once the server is up.
func UseDataDir(baseURL, dataDir string) {
	b, err := os.ReadFile(filepath.Join(dataDir, server.AdminTokenFile))
	if err != nil {
		return // not the first start on this database: the token is known already
	}
	SetToken(baseURL, strings.TrimSpace(string(b)))
}

// SetToken makes the clients of this package send token to baseURL.
func SetToken(baseURL, token string) {
	mu.Lock()
	defer mu.Unlock()
	tokens[baseURL] = token
}

// AdminToken returns the admin token known for baseURL, or "".
func AdminToken(baseURL string) string {
	mu.Lock()
	defer mu.Unlock()
	return tokens[baseURL]
}

// adminTransport adds the admin token of the request's server unless the
// request carries an Authorization header (or asks for none with an empty
// one via NoToken).
type adminTransport struct{ next http.RoundTripper }

// NoToken is an Authorization header value that makes the clients of this
// package send no Authorization header at all, for tests of anonymous calls.
const NoToken = "none"

func (a adminTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	switch r.Header.Get("Authorization") {
	case NoToken:
		r = r.Clone(r.Context())
		r.Header.Del("Authorization")
	case "":
		if tok := AdminToken(r.URL.Scheme + "://" + r.URL.Host); tok != "" {
			r = r.Clone(r.Context())
			r.Header.Set("Authorization", "Bearer "+tok)
		}
	}
	return a.next.RoundTrip(r)
}
