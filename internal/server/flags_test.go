package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/ofrep"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
)

// devKey is the static OFREP key the flag tests use.
const devKey = "dev-key-prod"

func flagServer(t *testing.T, cfg server.Config) (*server.Server, servertest.Clients) {
	t.Helper()
	cfg.OFREPKeys = map[string]ofrep.Principal{devKey: {Workspace: domain.DefaultWorkspace, Environment: "prod", Project: "shop"}}
	s := servertest.Start(t, cfg)
	c := clients(s)
	ctx := context.Background()
	ws := domain.DefaultWorkspace
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.Catalog.PutEnvironment(ctx, connect.NewRequest(&flagopsv1.PutEnvironmentRequest{Environment: &flagopsv1.Environment{Meta: &flagopsv1.ObjectMeta{Workspace: ws, Name: "prod"}}}))
	must(err)
	_, err = c.Catalog.PutTarget(ctx, connect.NewRequest(&flagopsv1.PutTargetRequest{Target: &flagopsv1.Target{Meta: &flagopsv1.ObjectMeta{Workspace: ws, Name: "eu-1"}, Environment: "prod"}}))
	must(err)
	_, err = c.Catalog.PutProject(ctx, connect.NewRequest(&flagopsv1.PutProjectRequest{Project: &flagopsv1.Project{Meta: &flagopsv1.ObjectMeta{Workspace: ws, Name: "shop"}, Environments: []string{"prod"}}}))
	must(err)
	var f flagopsv1.Flag
	must(pjUnmarshal(`{"project":"shop","key":"replicas","type":"number",
		"variations":[{"key":"free","value":1},{"key":"pro","value":3},{"key":"enterprise","value":5}],
		"environments":{"prod":{"enabled":true,"offVariation":"free",
			"rules":[{"conditions":[{"attribute":"tier","operator":"equals","values":["enterprise"]}],"variation":"enterprise"},
			         {"conditions":[{"attribute":"tier","operator":"equals","values":["pro"]}],"variation":"pro"}],
			"fallthrough":{"variation":"free"}}}}`, &f))
	_, err = c.Flags.PutFlag(ctx, connect.NewRequest(&flagopsv1.PutFlagRequest{Flag: &f}))
	must(err)
	return s, c
}

func setTier(t *testing.T, c servertest.Clients, tier string) {
	t.Helper()
	_, err := c.Facts.SetFacts(context.Background(), connect.NewRequest(&flagopsv1.SetFactsRequest{
		Scope: "deployment/shop@eu-1", Values: map[string]*structpb.Value{"tier": structpb.NewStringValue(tier)},
	}))
	if err != nil {
		t.Fatal(err)
	}
}

// ofrepEval evaluates one flag over OFREP and returns the decoded body.
func ofrepEval(t *testing.T, s *server.Server, key, body string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL()+ofrep.PathSingle+key, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+devKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := servertest.HTTP1Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("OFREP answered %d %s", resp.StatusCode, b)
	}
	return out
}

// TestOFREPFactsEndToEnd changes a deployment's fact through the API and
// expects the very next OFREP evaluation to see it.
func TestOFREPFactsEndToEnd(t *testing.T) {
	backends(t, func(t *testing.T, cfg server.Config) {
		s, c := flagServer(t, cfg)
		body := `{"context":{"targetingKey":"u1","target":"eu-1"}}`
		for _, tc := range []struct {
			tier   string
			want   float64
			reason string
		}{
			{"free", 1, "DEFAULT"},
			{"enterprise", 5, "TARGETING_MATCH"},
			{"pro", 3, "TARGETING_MATCH"},
			{"free", 1, "DEFAULT"},
		} {
			t.Run(tc.tier, func(t *testing.T) {
				start := time.Now()
				setTier(t, c, tc.tier)
				got := ofrepEval(t, s, "replicas", body)
				t.Logf("SetFacts + OFREP evaluation: %v", time.Since(start))
				if got["value"] != tc.want || got["reason"] != tc.reason {
					t.Fatalf("tier=%s: OFREP %v, want value %v reason %s", tc.tier, got, tc.want, tc.reason)
				}
			})
		}
		t.Run("caller attributes win over facts", func(t *testing.T) {
			got := ofrepEval(t, s, "replicas", `{"context":{"targetingKey":"u1","target":"eu-1","tier":"enterprise"}}`)
			if got["value"] != float64(5) {
				t.Fatalf("OFREP %v", got)
			}
		})
		t.Run("unknown key", func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, s.URL()+ofrep.PathSingle+"replicas", strings.NewReader(body))
			req.Header.Set("X-API-Key", "nope")
			// Without this the test client would send the admin key too.
			req.Header.Set("Authorization", servertest.NoToken)
			resp, err := servertest.HTTP1Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", resp.StatusCode)
			}
		})
	})
}

// TestFlagServiceEvaluate checks the explained evaluation and its facts.
func TestFlagServiceEvaluate(t *testing.T) {
	backends(t, func(t *testing.T, cfg server.Config) {
		_, c := flagServer(t, cfg)
		setTier(t, c, "pro")
		ctx := context.Background()
		tests := []struct {
			name    string
			req     *flagopsv1.EvaluateRequest
			want    float64
			matched float64
			source  string
		}{
			{"facts of the target", &flagopsv1.EvaluateRequest{Project: "shop", Flag: "replicas", Target: "eu-1", Explain: true}, 3, 1, "deployment/shop@eu-1"},
			{"no target", &flagopsv1.EvaluateRequest{Project: "shop", Environment: "prod", Flag: "replicas", Explain: true}, 1, -1, ""},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				resp, err := c.Flags.Evaluate(ctx, connect.NewRequest(tc.req))
				if err != nil {
					t.Fatal(err)
				}
				m := resp.Msg
				if m.GetValue().GetNumberValue() != tc.want || m.GetEnvironment() != "prod" {
					t.Fatalf("value %v env %q", m.GetValue(), m.GetEnvironment())
				}
				if got := m.GetExplanation().AsMap()["matchedRule"]; got != tc.matched {
					t.Fatalf("matchedRule %v, want %v", got, tc.matched)
				}
				if got := m.GetFacts().GetSources()["tier"]; got != tc.source {
					t.Fatalf("source of tier %q, want %q", got, tc.source)
				}
			})
		}
		snap, err := c.Flags.GetSnapshot(ctx, connect.NewRequest(&flagopsv1.GetSnapshotRequest{Project: "shop"}))
		if err != nil || len(snap.Msg.GetFlags()) != 1 || snap.Msg.GetRevision() == 0 {
			t.Fatalf("GetSnapshot: %v %v", snap, err)
		}
	})
}

func pjUnmarshal(s string, m *flagopsv1.Flag) error { return protojson.Unmarshal([]byte(s), m) }
