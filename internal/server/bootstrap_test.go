package server_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"connectrpc.com/connect"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/auth"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
)

// writeTokenFile writes content to a 0600 file outside the data directory,
// as a mounted Secret would be, and returns its path.
func writeTokenFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "admin-token")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// whoAmI calls WhoAmI with token ("" sends none) and returns the actor.
func whoAmI(s *server.Server, token string) (string, error) {
	header := servertest.NoToken
	if token != "" {
		header = "Bearer " + token
	}
	setHeader := connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			req.Header().Set("Authorization", header)
			return next(ctx, req)
		}
	})
	c := servertest.NewClients(servertest.HTTP1Client(), s.URL(), connect.WithInterceptors(setHeader))
	res, err := c.Access.WhoAmI(context.Background(), connect.NewRequest(&flagopsv1.WhoAmIRequest{}))
	if err != nil {
		return "", err
	}
	return res.Msg.GetActor(), nil
}

// TestBootstrapTokenFile: with --admin-token-file the first start gives the
// admin key the file's token, writes no admin.token and never logs the
// token; a later start with another token file keeps the first key.
func TestBootstrapTokenFile(t *testing.T) {
	servertest.Backends(t, func(t *testing.T, cfg server.Config) {
		var logs lockedBuffer
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		token := auth.NewToken()
		cfg.AdminTokenPath = writeTokenFile(t, "\n"+token+"\n")
		s := servertest.Start(t, cfg)
		if _, err := os.Stat(filepath.Join(cfg.DataDir, server.AdminTokenFile)); !os.IsNotExist(err) {
			t.Fatalf("admin.token written with a token file: %v", err)
		}
		if actor, err := whoAmI(s, token); err != nil || actor != "key/admin" {
			t.Fatalf("the file's token as admin: %q %v", actor, err)
		}
		if !strings.Contains(logs.String(), cfg.AdminTokenPath) || strings.Contains(logs.String(), token) {
			t.Errorf("the log must name %s and not hold the token:\n%s", cfg.AdminTokenPath, logs.String())
		}
		if err := s.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		other := auth.NewToken()
		cfg.AdminTokenPath = writeTokenFile(t, other)
		s = servertest.Start(t, cfg)
		if _, err := whoAmI(s, other); connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Fatalf("a second start's token file made another key: %v", err)
		}
		if actor, err := whoAmI(s, token); err != nil || actor != "key/admin" {
			t.Fatalf("the first token after a restart: %q %v", actor, err)
		}
	})
}

// TestBootstrapTokenFileRefused: a missing or malformed token file, or one
// given with --no-bootstrap-admin, stops the start with an error naming the
// flag and not the file's content, before any key is made: the next plain
// start still bootstraps.
func TestBootstrapTokenFileRefused(t *testing.T) {
	good := auth.NewToken()
	cases := []struct {
		name, content        string
		missing, noBootstrap bool
		want                 string
	}{
		{name: "empty", content: "", want: "--admin-token-file"},
		{name: "no prefix", content: strings.TrimPrefix(good, auth.TokenPrefix) + "abc", want: "want fo_"},
		{name: "short", content: good[:20], want: "want fo_"},
		{name: "bad characters", content: good[:len(good)-2] + "-_", want: "want fo_"},
		{name: "two tokens", content: good + "\n" + auth.NewToken(), want: "want fo_"},
		{name: "missing", missing: true, want: "--admin-token-file"},
		{name: "with no bootstrap", content: good, noBootstrap: true, want: "--no-bootstrap-admin"},
	}
	servertest.Backends(t, func(t *testing.T, cfg server.Config) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c := cfg
				c.Listen, c.Logger = "127.0.0.1:0", servertest.Logger()
				c.AdminTokenPath = writeTokenFile(t, tc.content)
				if tc.missing {
					c.AdminTokenPath += ".absent"
				}
				c.NoBootstrapAdmin = tc.noBootstrap
				s, err := server.Start(context.Background(), c)
				if err == nil {
					_ = s.Shutdown(context.Background())
					t.Fatal("started")
				}
				if !strings.Contains(err.Error(), tc.want) || (tc.content != "" && strings.Contains(err.Error(), tc.content)) {
					t.Fatalf("error %q: want it to name %q and not hold the file's content", err, tc.want)
				}
			})
		}
		servertest.Start(t, cfg)
		if _, err := os.Stat(filepath.Join(cfg.DataDir, server.AdminTokenFile)); err != nil {
			t.Fatalf("a refused start left a key behind: %v", err)
		}
	})
}

// TestNoBootstrapAdmin: with --no-bootstrap-admin the first start makes no
// key and writes no admin.token, so every call is refused; a later plain
// start bootstraps the one and only key, showing none existed.
func TestNoBootstrapAdmin(t *testing.T) {
	servertest.Backends(t, func(t *testing.T, cfg server.Config) {
		off := cfg
		off.NoBootstrapAdmin = true
		s := servertest.Start(t, off)
		if _, err := os.Stat(filepath.Join(cfg.DataDir, server.AdminTokenFile)); !os.IsNotExist(err) {
			t.Fatalf("admin.token written with bootstrap off: %v", err)
		}
		if _, err := whoAmI(s, ""); connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Fatalf("anonymous call: %v", err)
		}
		if err := s.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		s = servertest.Start(t, cfg)
		c := servertest.NewClients(servertest.HTTP1Client(), s.URL())
		list, err := c.Access.ListKeys(context.Background(), connect.NewRequest(&flagopsv1.ListKeysRequest{}))
		if err != nil || len(list.Msg.GetKeys()) != 1 {
			t.Fatalf("keys after bootstrap off then on: %v %v", list, err)
		}
	})
}
