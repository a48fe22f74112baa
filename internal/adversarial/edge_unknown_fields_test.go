package adversarial_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/gen/flagops/v1/flagopsv1connect"
	"github.com/flagops/flagops/internal/ofrep"
	"github.com/flagops/flagops/internal/render"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
)

// TestEdgeUnknownJSONFieldsRefused keeps issue 9.16 fixed: a JSON request
// with a field the API does not have (a misspelling, a field of another
// version) is refused with 400 naming the field and its path, on Connect
// JSON and on every plain JSON route, and changes nothing. Silently
// dropping it would, for instance, turn a misspelt "expectedRevision" into
// an unconditional write.
func TestEdgeUnknownJSONFieldsRefused(t *testing.T) {
	servertest.Backends(t, func(t *testing.T, cfg server.Config) {
		s, c := edgeServer(t, cfg)
		hook, err := flagopsv1connect.NewWebhookServiceClient(servertest.HTTP1Client(), s.URL()).
			CreateFactHook(context.Background(), connect.NewRequest(&flagopsv1.CreateFactHookRequest{Name: "cms", Scopes: []string{"workspace"}}))
		if err != nil {
			t.Fatal(err)
		}
		before := edgeRevision(t, c)
		for _, tc := range []struct {
			name, path, token, body string
			mentions                []string
		}{
			{"Connect: top-level field", "/flagops.v1.FactService/SetFacts", "",
				`{"scope":"workspace","values":{"a":1},"expectedRevison":"3"}`, []string{"expectedRevison"}},
			{"Connect: nested field", "/flagops.v1.CatalogService/PutEnvironment", "",
				`{"environment":{"meta":{"name":"qa","nmae":"qa2"}}}`, []string{"environment.meta.nmae"}},
			{"Connect: field in a list", "/flagops.v1.FactService/BulkSetFacts", "",
				`{"entries":[{"scope":"workspace","values":{"a":1}},{"scope":"environment/prod","values":{"b":1},"valeus":{}}]}`,
				[]string{"entries[1].valeus"}},
			{"Connect: a long field name is cut", "/flagops.v1.FactService/SetFacts", "",
				`{"scope":"workspace","values":{"a":1},"` + strings.Repeat("z", 5000) + `":1}`, []string{"zzzz"}},
			{"OFREP body", ofrep.PathBulk, edgeOFREPKey, `{"context":{"targetingKey":"u1"},"contxt":{"tier":"pro"}}`, []string{"contxt"}},
			{"OFREP single", ofrep.PathSingle + "beta", edgeOFREPKey, `{"contexts":{}}`, []string{"contexts"}},
			{"fact hook", hook.Msg.Hook.Path, hook.Msg.Token, `{"scope":"workspace","facts":{"a":1},"fatcs":{}}`, []string{"fatcs"}},
			{"render bundle", strings.TrimPrefix(render.BundleRoute, "POST "), "", `{"project":"shop","target":"eu-1","secret":["x"]}`, []string{"secret"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, body := edgeDo(t, http.MethodPost, s.URL()+tc.path, tc.token, "application/json", strings.NewReader(tc.body))
				if status != http.StatusBadRequest {
					t.Fatalf("status %d (%.300s), want 400", status, body)
				}
				var out map[string]any
				if err := json.Unmarshal([]byte(body), &out); err != nil {
					t.Fatalf("answer is not JSON: %.300s", body)
				}
				msg, _ := out["message"].(string)
				if msg == "" {
					msg, _ = out["errorDetails"].(string) // OFREP's error shape
				}
				t.Logf("answer: %.200s", msg)
				for _, m := range tc.mentions {
					if !strings.Contains(msg, m) {
						t.Fatalf("answer %q does not name %q", msg, m)
					}
				}
				if len(msg) > 400 {
					t.Fatalf("answer of %d bytes echoes the input: %.100s…", len(msg), msg)
				}
			})
		}
		if after := edgeRevision(t, c); after != before {
			t.Fatalf("revision moved from %d to %d: a refused request was applied", before, after)
		}
		// A well-formed request with the same shapes still works.
		status, body := edgeDo(t, http.MethodPost, s.URL()+"/flagops.v1.CatalogService/PutEnvironment", "", "application/json",
			strings.NewReader(`{"environment":{"meta":{"name":"qa","description":"QA"}}}`))
		if status != http.StatusOK {
			t.Fatalf("a valid Connect JSON request answered %d: %s", status, body)
		}
	})
}
