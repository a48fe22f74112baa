// Package server runs flagops: it opens and migrates the store, starts the
// watch hub and serves the Connect API, OFREP and the operator endpoints on
// one port.
//
// CONTRACT STUB: the exported API below is fixed; bodies are being written.
package server

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Config is everything serve needs. Zero values take the documented defaults.
type Config struct {
	// Listen is the address to listen on (default 127.0.0.1:8080; port 0
	// picks a free port, see Server.Addr).
	Listen string
	// DataDir holds the SQLite database (default ./flagops-data).
	DataDir string
	// DatabaseURL selects PostgreSQL (postgres://…) instead of SQLite.
	DatabaseURL string
	// MaxRequestBytes caps a request body (default 4 MiB).
	MaxRequestBytes int64
	// ShutdownTimeout bounds the graceful shutdown (default 15s).
	ShutdownTimeout time.Duration
	Logger          *slog.Logger
}

// Server is a running flagops server.
type Server struct{}

// Start opens and migrates the store and starts serving; it returns once the
// listener is bound. Stop it with Shutdown.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	return nil, errors.New("server: not implemented yet")
}

// Addr returns the bound address (host:port).
func (s *Server) Addr() string { return "" }

// URL returns the base URL, http://host:port.
func (s *Server) URL() string { return "" }

// Shutdown stops accepting requests, finishes in-flight ones (writes
// included) within the configured timeout, and closes the store.
func (s *Server) Shutdown(ctx context.Context) error { return nil }

// Run is Start, then Shutdown when ctx is done (SIGTERM in the CLI).
func Run(ctx context.Context, cfg Config) error {
	s, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	<-ctx.Done()
	return s.Shutdown(context.WithoutCancel(ctx))
}
