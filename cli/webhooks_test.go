package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestWebhooksAndHooksCommands drives the webhooks and hooks commands
// against a real server.
func TestWebhooksAndHooksCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test starts a server")
	}
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) }))
	defer rcv.Close()
	url, dataDir := startServer(t)
	env := map[string]string{"FLAGOPS_SERVER": url, "FLAGOPS_DATA_DIR": dataDir, "FLAGOPS_SECRET": "a-secret-of-enough-length"}
	cli := func(t *testing.T, args ...string) string {
		t.Helper()
		code, out, stderr := runCLI(t, env, "", args...)
		if code != 0 {
			t.Fatalf("flagops %s: exit %d: %s", strings.Join(args, " "), code, stderr)
		}
		return out
	}
	steps := []struct {
		name  string
		args  []string
		check func(t *testing.T, out string)
	}{
		{"create webhook prints the secret once", []string{"webhooks", "create", "audit", "--url", rcv.URL, "--kind", "fact", "-o", "json"},
			func(t *testing.T, out string) {
				var res struct {
					Secret  string `json:"secret"`
					Webhook struct{ Name, Type string }
				}
				if err := json.Unmarshal([]byte(out), &res); err != nil || res.Secret != env["FLAGOPS_SECRET"] || res.Webhook.Type != "generic" {
					t.Fatalf("create output %s (%v)", out, err)
				}
			}},
		{"list never shows it", []string{"webhooks", "list"}, func(t *testing.T, out string) {
			if !strings.Contains(out, "audit") || strings.Contains(out, env["FLAGOPS_SECRET"]) {
				t.Fatalf("list:\n%s", out)
			}
		}},
		{"list yaml", []string{"webhooks", "list", "-o", "yaml"}, func(t *testing.T, out string) {
			if !strings.Contains(out, "name: audit") {
				t.Fatalf("list yaml:\n%s", out)
			}
		}},
		{"deliveries", []string{"webhooks", "deliveries", "audit"}, func(t *testing.T, out string) {
			if !strings.HasPrefix(out, "ID ") {
				t.Fatalf("deliveries:\n%s", out)
			}
		}},
		{"redeliver", []string{"webhooks", "redeliver", "audit", "--from-revision", "1"}, func(t *testing.T, out string) {
			if !strings.Contains(out, "rewound to revision 0") {
				t.Fatalf("redeliver: %s", out)
			}
		}},
		{"delete webhook", []string{"webhooks", "delete", "audit"}, func(t *testing.T, out string) {
			if out != "webhook audit deleted\n" {
				t.Fatalf("delete: %q", out)
			}
		}},
		{"create hook prints the token once", []string{"hooks", "create", "cms", "--scope", "deployment/*@eu-1", "--scope", "environment/prod"}, func(t *testing.T, out string) {
			if !strings.Contains(out, "/v1/hooks/facts/cms") || !strings.Contains(out, "fhk_") || !strings.Contains(out, "deployment/*@eu-1,environment/prod") {
				t.Fatalf("hooks create:\n%s", out)
			}
		}},
		{"list hooks", []string{"hooks", "list", "-o", "json"}, func(t *testing.T, out string) {
			if !strings.Contains(out, `"cms"`) || strings.Contains(out, "fhk_") || !strings.Contains(out, `"deployment/*@eu-1"`) {
				t.Fatalf("hooks list:\n%s", out)
			}
		}},
		{"delete hook", []string{"hooks", "delete", "cms"}, func(t *testing.T, out string) {
			if out != "fact hook cms deleted\n" {
				t.Fatalf("hooks delete: %q", out)
			}
		}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) { s.check(t, cli(t, s.args...)) })
	}
	if code, _, stderr := runCLI(t, env, "", "webhooks", "redeliver", "x"); code != 2 || !strings.Contains(stderr, "exactly one") {
		t.Fatalf("redeliver without a position: exit %d: %s", code, stderr)
	}
}
