package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/ofrep"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
)

// TestOFREPWithAPIKeys evaluates over OFREP with keys made through
// AccessService: a key with flags.evaluate bound to one environment
// evaluates there; a key that cannot name one environment, a key without
// the permission and a revoked key are refused.
func TestOFREPWithAPIKeys(t *testing.T) {
	backends(t, func(t *testing.T, cfg server.Config) {
		s, c := flagServer(t, cfg)
		setTier(t, c, "enterprise")
		ctx := context.Background()
		key := func(name string, bindings ...string) (token, id string) {
			t.Helper()
			var bs []*flagopsv1.Binding
			for _, b := range bindings {
				p, err := domain.ParseBinding(b)
				if err != nil {
					t.Fatal(err)
				}
				bs = append(bs, &flagopsv1.Binding{Role: string(p.Role), Workspace: p.Workspace, Scope: p.Scope.String()})
			}
			res, err := c.Access.CreateKey(ctx, connect.NewRequest(&flagopsv1.CreateKeyRequest{Name: name, Bindings: bs}))
			if err != nil {
				t.Fatalf("create key %s: %v", name, err)
			}
			return res.Msg.GetToken(), res.Msg.GetKey().GetId()
		}
		evaluator, _ := key("web", "evaluator@environment/prod")
		pinned, _ := key("web-shop", "evaluator@environment/prod", "evaluator@project/shop")
		viewer, _ := key("dash", "viewer@workspace")
		reader, _ := key("vault", "secret-reader@environment/prod")
		twoEnvs, _ := key("both", "evaluator@environment/prod", "evaluator@environment/dev")
		revoked, _ := key("old", "evaluator@environment/prod")
		if _, err := c.Access.RevokeKey(ctx, connect.NewRequest(&flagopsv1.RevokeKeyRequest{Key: "old"})); err != nil {
			t.Fatal(err)
		}
		body := `{"context":{"targetingKey":"u1","target":"eu-1","project":"shop"}}`
		for _, tc := range []struct {
			name, header, token string
			status              int
		}{
			{"evaluator at prod", "Authorization", "Bearer " + evaluator, http.StatusOK},
			{"evaluator as X-API-Key", "X-API-Key", evaluator, http.StatusOK},
			{"project binding fixes the project", "Authorization", "Bearer " + pinned, http.StatusOK},
			{"static development key", "Authorization", "Bearer " + devKey, http.StatusOK},
			{"viewer bound to no environment", "Authorization", "Bearer " + viewer, http.StatusForbidden},
			{"role without flags.evaluate", "Authorization", "Bearer " + reader, http.StatusForbidden},
			{"two environments", "Authorization", "Bearer " + twoEnvs, http.StatusForbidden},
			{"revoked key", "Authorization", "Bearer " + revoked, http.StatusUnauthorized},
			{"no key", "Authorization", servertest.NoToken, http.StatusUnauthorized},
		} {
			t.Run(tc.name, func(t *testing.T) {
				req, _ := http.NewRequest(http.MethodPost, s.URL()+ofrep.PathSingle+"replicas", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				if tc.header != "Authorization" {
					req.Header.Set("Authorization", servertest.NoToken)
				}
				req.Header.Set(tc.header, tc.token)
				resp, err := servertest.HTTP1Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != tc.status {
					t.Fatalf("status %d (%s), want %d", resp.StatusCode, b, tc.status)
				}
				if tc.status != http.StatusOK {
					return
				}
				var out map[string]any
				if err := json.Unmarshal(b, &out); err != nil || out["value"] != float64(5) {
					t.Fatalf("OFREP answered %s, want value 5", b)
				}
			})
		}
	})
}
