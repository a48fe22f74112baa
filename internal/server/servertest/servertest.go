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
// fresh data directory when neither DataDir nor DatabaseURL is set, and the
// test logger. The server is shut down when the test ends (Shutdown is
// idempotent, so a test may stop it earlier).
func Start(t testing.TB, cfg server.Config) *server.Server {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.DataDir == "" && cfg.DatabaseURL == "" {
		cfg.DataDir = t.TempDir()
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
	t.Run("postgres", func(t *testing.T) { f(t, server.Config{DatabaseURL: pgtest.URL(t)}) })
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
	return &http.Client{Transport: tr}
}
