package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/auth"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
)

// TestBootstrap: the first start writes an admin token (0600) and says
// where, never what; the next start on the same data keeps it.
func TestBootstrap(t *testing.T) {
	servertest.Backends(t, func(t *testing.T, cfg server.Config) {
		var logs lockedBuffer
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		s := servertest.Start(t, cfg)
		path := filepath.Join(cfg.DataDir, server.AdminTokenFile)
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("admin.token mode %v, want 0600", fi.Mode().Perm())
		}
		if fi, err := os.Stat(filepath.Join(cfg.DataDir, "master.key")); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("master.key: %v %v", fi, err)
		}
		b, _ := os.ReadFile(path)
		token := strings.TrimSpace(string(b))
		if !strings.HasPrefix(token, auth.TokenPrefix) {
			t.Fatalf("token %q", token[:3])
		}
		if !strings.Contains(logs.String(), path) || strings.Contains(logs.String(), token) {
			t.Errorf("the log must name %s and not hold the token:\n%s", path, logs.String())
		}
		c := servertest.NewClients(servertest.HTTP1Client(), s.URL())
		who, err := c.Access.WhoAmI(context.Background(), connect.NewRequest(&flagopsv1.WhoAmIRequest{}))
		if err != nil || who.Msg.GetActor() != "key/admin" {
			t.Fatalf("whoami: %v %v", who, err)
		}
		if err := s.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		servertest.Start(t, cfg)
		if _, err := os.Stat(path); err == nil {
			t.Fatal("a second start made another admin key")
		}
	})
}

// TestKeyLifecycle creates, uses, expires and revokes keys through the API:
// a revoked or expired key is refused on the next request, and neither the
// token nor its hash reaches the logs or the change log.
func TestKeyLifecycle(t *testing.T) {
	var logs lockedBuffer
	s := servertest.Start(t, server.Config{Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	admin := servertest.NewClients(servertest.HTTP1Client(), s.URL())
	ctx := context.Background()
	create := func(name string, expires time.Time) string {
		req := &flagopsv1.CreateKeyRequest{Name: name, Bindings: []*flagopsv1.Binding{{Role: "viewer", Scope: "workspace"}}}
		if !expires.IsZero() {
			req.ExpireTime = timestamppb.New(expires)
		}
		res, err := admin.Access.CreateKey(ctx, connect.NewRequest(req))
		if err != nil {
			t.Fatal(err)
		}
		return res.Msg.GetToken()
	}
	as := func(token string) servertest.Clients {
		return servertest.NewClients(servertest.HTTP1Client(), s.URL(), connect.WithInterceptors(bearerToken(token)))
	}
	viewer := create("viewer", time.Time{})
	soon := create("soon", time.Now().Add(time.Second))
	call := func(token string) error {
		_, err := as(token).Catalog.ListEnvironments(ctx, connect.NewRequest(&flagopsv1.ListEnvironmentsRequest{}))
		return err
	}
	if err := call(viewer); err != nil {
		t.Fatalf("viewer: %v", err)
	}
	if err := call(soon); err != nil {
		t.Fatalf("key before expiry: %v", err)
	}
	_, err := as(viewer).Facts.SetFacts(ctx, connect.NewRequest(&flagopsv1.SetFactsRequest{Scope: "workspace"}))
	if connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("viewer writes: %v", err)
	}
	if _, err := admin.Access.RevokeKey(ctx, connect.NewRequest(&flagopsv1.RevokeKeyRequest{Key: "viewer"})); err != nil {
		t.Fatal(err)
	}
	if err := call(viewer); connect.CodeOf(err) != connect.CodeUnauthenticated || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("revoked key, next request: %v", err)
	}
	time.Sleep(1100 * time.Millisecond)
	if err := call(soon); connect.CodeOf(err) != connect.CodeUnauthenticated || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired key: %v", err)
	}
	list, err := admin.Access.ListKeys(ctx, connect.NewRequest(&flagopsv1.ListKeysRequest{}))
	if err != nil || len(list.Msg.GetKeys()) != 3 {
		t.Fatalf("list: %v %v", list, err)
	}
	for _, k := range list.Msg.GetKeys() {
		if k.GetName() == "soon" && k.GetLastUsedTime() == nil {
			t.Error("last use not recorded")
		}
	}
	changes, err := admin.Changes.ListChanges(ctx, connect.NewRequest(&flagopsv1.ListChangesRequest{Kind: "apikey"}))
	if err != nil || len(changes.Msg.GetChanges()) != 4 { // bootstrap, two creates, one revoke
		t.Fatalf("key changes: %v %v", changes, err)
	}
	everything := logs.String() + changes.Msg.String() + list.Msg.String()
	for _, tok := range []string{viewer, soon, servertest.AdminToken(s.URL())} {
		if strings.Contains(everything, tok) || strings.Contains(everything, auth.HashToken(tok)) {
			t.Fatal("a token or its hash reached the logs, the change log or a list")
		}
	}
}

// bearerToken sends a token, overriding servertest's admin default.
type bearerToken string

func (b bearerToken) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		req.Header().Set("Authorization", "Bearer "+string(b))
		return next(ctx, req)
	}
}

func (b bearerToken) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		conn.RequestHeader().Set("Authorization", "Bearer "+string(b))
		return conn
	}
}

func (b bearerToken) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

func TestInsecureDevNeedsLoopback(t *testing.T) {
	tests := []struct {
		listen string
		ok     bool
	}{
		{"127.0.0.1:0", true},
		{"[::1]:0", true},
		{"localhost:0", true},
		{"0.0.0.0:0", false},
		{":0", false},
	}
	for _, tt := range tests {
		t.Run(tt.listen, func(t *testing.T) {
			s, err := server.Start(context.Background(), server.Config{Listen: tt.listen, DataDir: t.TempDir(), InsecureDev: true,
				Logger: servertest.Logger()})
			if err == nil {
				defer s.Shutdown(context.Background())
			}
			if tt.ok && err != nil && !strings.Contains(err.Error(), "listen") {
				t.Fatalf("refused: %v", err)
			}
			if !tt.ok && (err == nil || !strings.Contains(err.Error(), "loopback")) {
				t.Fatalf("not refused: %v", err)
			}
		})
	}
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := selfSigned(t, dir)
	s := servertest.Start(t, server.Config{TLSCert: certFile, TLSKey: keyFile})
	if !strings.HasPrefix(s.URL(), "https://") {
		t.Fatalf("URL %s", s.URL())
	}
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(certFile)
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	resp, err := hc.Get(s.URL() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
		t.Fatalf("healthz over TLS: %s %s", resp.Status, resp.Proto)
	}
	if _, err := server.Start(context.Background(), server.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), TLSCert: certFile}); err == nil {
		t.Fatal("a certificate without a key was accepted")
	}
}

// selfSigned writes a certificate and key for 127.0.0.1.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "flagops test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
