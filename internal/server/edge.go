package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
)

// listen binds the configured address, capped at MaxConnections served
// connections: an accept over the cap waits until a served connection
// closes, so a flood of idle or trickling sockets cannot exhaust the
// server's file descriptors and memory.
func (s *Server) listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", s.cfg.Listen, err)
	}
	if s.cfg.MaxConnections > 0 {
		ln = netutil.LimitListener(ln, s.cfg.MaxConnections)
	}
	return ln, nil
}

// httpServer is the one HTTP server: HTTP/1.1 and HTTP/2 (h2c on a plain
// port), with the configured timeouts. ReadHeaderTimeout and ReadTimeout
// bound reading a request, so a client trickling its headers or body is
// disconnected. They do not bound a response: over HTTP/1.1 net/http lifts
// the connection's read deadline once the request body has been read (to
// watch for the client going away), and over HTTP/2 the read timeout is per
// stream and ends with the request body. So the streams (Watch, the OFREP
// event stream) live as long as their client; the adversarial suite keeps
// that true. No write timeout is set, since it would end the streams;
// slow readers of responses are bounded by the connection cap.
func (s *Server) httpServer(h http.Handler) *http.Server {
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		Protocols:         new(http.Protocols),
	}
	// gRPC clients speak HTTP/2 without TLS (h2c) to a plain port.
	hs.Protocols.SetHTTP1(true)
	hs.Protocols.SetUnencryptedHTTP2(true)
	return hs
}

// readyz answers 200 when the store answers and its schema is the latest,
// else 503 with the reason. The route is public, so the answer never holds
// the driver's error (which names the database's host, user and name): that
// goes to the log.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		s.log.Warn("readyz: store does not answer", "err", err)
		http.Error(w, "store unavailable: "+s.store.Dialect()+" does not answer; see the server log", http.StatusServiceUnavailable)
		return
	}
	applied, latest, err := s.store.MigrationStatus(ctx)
	if err != nil {
		s.log.Warn("readyz: migration status unavailable", "err", err)
		http.Error(w, "migration status unavailable; see the server log", http.StatusServiceUnavailable)
		return
	}
	if applied != latest {
		http.Error(w, fmt.Sprintf("schema at migration %d, latest is %d", applied, latest), http.StatusServiceUnavailable)
		return
	}
	_, _ = fmt.Fprintf(w, "ok: %s, migration %d, revision %d\n", s.store.Dialect(), applied, s.hub.Revision())
}
