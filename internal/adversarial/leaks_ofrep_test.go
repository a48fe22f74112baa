package adversarial_test

import (
	"context"
	"encoding/json"
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

// TestOFREPRefusesTargetsOfOtherEnvironments keeps issue 9.2 fixed: OFREP
// took a context "target" outside the key's environment, so a prod key
// evaluated against a staging target's facts and could test their values
// through the rules. The target is now refused (400 INVALID_CONTEXT, the
// answer for a target without the project's deployment) on every OFREP
// path, as Connect Evaluate refuses it.
func TestOFREPRefusesTargetsOfOtherEnvironments(t *testing.T) {
	servertest.Backends(t, func(t *testing.T, cfg server.Config) {
		s := servertest.Start(t, cfg)
		c := admin(s)
		estate(t, c, domain.DefaultWorkspace)
		// The staging target's facts would make the rule serve "many".
		setFacts(t, c, "deployment/shop@"+stageTarget, map[string]any{"tier": "gold"})
		setFacts(t, c, "deployment/shop@"+prodTarget, map[string]any{"tier": "gold"})
		key := newKey(t, c, "web", zeroTime, "evaluator@environment/prod")

		body := func(target string) string {
			return `{"context":{"targetingKey":"u1","project":"shop","target":"` + target + `"}}`
		}
		tests := []struct {
			name, path, target string
			status             int
		}{
			{"single, own environment", ofrep.PathSingle + "replicas", prodTarget, http.StatusOK},
			{"single, other environment", ofrep.PathSingle + "replicas", stageTarget, http.StatusBadRequest},
			{"bulk, own environment", ofrep.PathBulk, prodTarget, http.StatusOK},
			{"bulk, other environment", ofrep.PathBulk, stageTarget, http.StatusBadRequest},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				status, b := post(t, s.URL()+tc.path, key, body(tc.target))
				if status != tc.status {
					t.Fatalf("status %d, want %d: %s", status, tc.status, b)
				}
				if status == http.StatusOK {
					if !strings.Contains(b, `"variant":"many"`) {
						t.Fatalf("the own target's facts were not used: %s", b)
					}
					return
				}
				var e struct{ ErrorCode, ErrorDetails string }
				if err := json.Unmarshal([]byte(b), &e); err != nil || e.ErrorCode != "INVALID_CONTEXT" || !strings.Contains(e.ErrorDetails, "target") {
					t.Fatalf("body %s: want errorCode INVALID_CONTEXT naming the target", b)
				}
				if strings.Contains(b, `"many"`) {
					t.Fatalf("the staging facts were evaluated: %s", b)
				}
			})
		}

		t.Run("event stream, other environment", func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, s.URL()+ofrep.PathEvents+"?project=shop&target="+stageTarget, nil)
			must(t, err)
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := servertest.HTTP1Client().Do(req)
			must(t, err)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", resp.StatusCode)
			}
		})

		t.Run("Connect Evaluate agrees", func(t *testing.T) {
			_, err := as(s, key).Flags.Evaluate(context.Background(), connect.NewRequest(&flagopsv1.EvaluateRequest{
				Project: "shop", Flag: "replicas", Target: stageTarget, TargetingKey: "u1"}))
			if connect.CodeOf(err) != connect.CodePermissionDenied {
				t.Fatalf("Evaluate of a staging target with a prod key: %v, want permission_denied", err)
			}
		})
	})
}
