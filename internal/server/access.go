package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/flagops/flagops/internal/auth"
	"github.com/flagops/flagops/internal/service"
)

// AdminTokenFile is the file in the data directory that receives the
// bootstrap admin key's token.
const AdminTokenFile = "admin.token"

// ServerURLsFile is the file in the data directory that lists the URLs of
// the servers started on it, one a line, the latest first. The CLI sends a
// data directory's admin token by itself only to a loopback server listed
// there, never to another server.
const ServerURLsFile = "server.urls"

// maxServerURLs is how many URLs ServerURLsFile keeps.
const maxServerURLs = 16

// recordURL puts this server's URL first in ServerURLsFile.
func (s *Server) recordURL() error {
	path := filepath.Join(s.cfg.DataDir, ServerURLsFile)
	urls := []string{s.URL()}
	if b, err := os.ReadFile(path); err == nil {
		for _, u := range strings.Fields(string(b)) {
			if u != s.URL() && len(urls) < maxServerURLs {
				urls = append(urls, u)
			}
		}
	}
	return writeSecretFile(path, []byte(strings.Join(urls, "\n")+"\n"))
}

// checkModes refuses unsafe or incomplete configurations before anything
// is opened for business.
func (s *Server) checkModes() error {
	if (s.cfg.TLSCert == "") != (s.cfg.TLSKey == "") {
		return errors.New("TLS needs both --tls-cert and --tls-key")
	}
	if s.cfg.InsecureDev && !loopbackOnly(s.cfg.Listen) {
		return fmt.Errorf("--insecure-dev turns authentication off and is refused unless the server listens on loopback only; %q is not a loopback address", s.cfg.Listen)
	}
	if err := s.readAdminToken(); err != nil {
		return err
	}
	if s.cfg.InsecureDev {
		s.log.Warn("authentication is OFF (--insecure-dev): every caller on this machine may do anything")
	}
	return nil
}

// readAdminToken reads and checks the bootstrap admin token of
// Config.AdminTokenPath. Its errors name the flag and the rule, never the
// file's content.
func (s *Server) readAdminToken() error {
	if s.cfg.AdminTokenPath == "" {
		return nil
	}
	if s.cfg.NoBootstrapAdmin {
		return errors.New("--admin-token-file and --no-bootstrap-admin contradict each other: pass one of them")
	}
	b, err := os.ReadFile(s.cfg.AdminTokenPath)
	if err != nil {
		return fmt.Errorf("--admin-token-file: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if !auth.WellFormed(token) {
		return fmt.Errorf("--admin-token-file %s: the file does not hold a flagops API token: want %s followed by 43 characters of 0-9, A-Z and a-z, the format flagops generates (surrounding white space is ignored)", s.cfg.AdminTokenPath, auth.TokenPrefix)
	}
	s.adminToken = token
	return nil
}

// loopbackOnly reports whether addr (host:port) binds only loopback
// interfaces: "localhost" or a loopback IP. An empty host binds every
// interface.
func loopbackOnly(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loadTLS loads the certificate and key into the HTTP server.
func (s *Server) loadTLS() error {
	cert, err := tls.LoadX509KeyPair(s.cfg.TLSCert, s.cfg.TLSKey)
	if err != nil {
		return fmt.Errorf("load TLS certificate: %w", err)
	}
	s.http.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	return nil
}

// bootstrap creates the first admin key when the store has none, unless
// Config.NoBootstrapAdmin. Its token is the one of Config.AdminTokenPath,
// or a generated one written to <data-dir>/admin.token (0600), also with
// PostgreSQL. It logs where the token is, never the token.
func (s *Server) bootstrap(ctx context.Context) error {
	if s.cfg.NoBootstrapAdmin {
		return nil
	}
	token, created, err := service.NewAccess(s.store).Bootstrap(ctx, s.adminToken)
	if err != nil {
		return err
	}
	if !created {
		return nil
	}
	if s.adminToken != "" {
		s.log.Info("created the first admin API key with the token of the file named here (revoke the key once you have made your own)",
			"key", service.BootstrapKeyName, "token_file", s.cfg.AdminTokenPath)
		return nil
	}
	path := filepath.Join(s.cfg.DataDir, AdminTokenFile)
	if err := writeSecretFile(path, []byte(token+"\n")); err != nil {
		return fmt.Errorf("write the bootstrap admin token: %w", err)
	}
	s.log.Info("created the first admin API key; its token is in the file named here (keep it safe, and revoke the key once you have made your own)",
		"key", service.BootstrapKeyName, "token_file", path)
	return nil
}

// writeSecretFile writes data to path with mode 0600, replacing any file
// there atomically (temporary file, then rename), so that the token is never
// readable by others even for a moment.
func writeSecretFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".admin.token-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
