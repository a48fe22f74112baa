package adversarial_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
)

// TestInputErrorsEchoNoValues keeps issue 9.6 fixed: an error names the
// field and the rule and quotes at most a short prefix of what was sent,
// and never any part of a secret value. A secret value that is not base64
// (Connect JSON carries bytes as base64) is refused without being echoed,
// and a megabyte-long name or key is answered in a few hundred bytes, not
// echoed once per layer that mentions it.
func TestInputErrorsEchoNoValues(t *testing.T) {
	servertest.Backends(t, func(t *testing.T, cfg server.Config) {
		s := servertest.Start(t, cfg)
		c := servertest.NewClients(servertest.HTTP1Client(), s.URL())
		inputEstate(t, c)
		admin := servertest.AdminToken(s.URL())
		before := inputRevision(t, c)

		t.Run("a secret value that is not base64", func(t *testing.T) {
			canary := "not-base64!canary:" + strings.Repeat("Zq9", 12) + "!end"
			body, _ := json.Marshal(map[string]string{"scope": "deployment/shop@eu-1", "key": "db", "value": canary})
			a := inputPost(t, s, "/flagops.v1.SecretService/PutSecret", admin, body)
			if a.Status != 400 || a.Code != "invalid_argument" {
				t.Fatalf("answer %d %s: %s", a.Status, a.Code, a.Body)
			}
			if !strings.Contains(a.Message, "value") {
				t.Errorf("the message does not name the field: %s", a.Message)
			}
			for i := 0; i+8 <= len(canary); i++ {
				if strings.Contains(string(a.Body), canary[i:i+8]) {
					t.Fatalf("the answer holds %q of the secret value: %s", canary[i:i+8], a.Body)
				}
			}
		})

		huge := strings.Repeat("a", 1<<20)
		for _, tc := range []struct {
			name, path, body string
		}{
			{"environment name", "/flagops.v1.CatalogService/PutEnvironment", `{"environment":{"meta":{"name":"` + huge + `"}}}`},
			{"project lookup", "/flagops.v1.CatalogService/GetProject", `{"name":"` + huge + `"}`},
			{"project delete", "/flagops.v1.CatalogService/DeleteProject", `{"name":"` + huge + `"}`},
			{"label key", "/flagops.v1.CatalogService/PutEnvironment", `{"environment":{"meta":{"name":"qa","labels":{"` + huge + `":"x"}}}}`},
			{"fact scope", "/flagops.v1.FactService/SetFacts", `{"scope":"environment/` + huge + `","values":{"a":1}}`},
			{"fact key", "/flagops.v1.FactService/SetFacts", `{"scope":"workspace","values":{"` + huge + `":1}}`},
			{"secret key", "/flagops.v1.SecretService/PutSecret", `{"scope":"workspace","key":"` + huge + `","value":"eA=="}`},
			{"flag key", "/flagops.v1.FlagService/GetFlag", `{"project":"shop","key":"` + huge + `"}`},
			{"fact hook name", "/flagops.v1.WebhookService/CreateFactHook", `{"name":"` + huge + `","scopes":["workspace"]}`},
			{"a number where a string goes", "/flagops.v1.CatalogService/GetProject", `{"name":` + strings.Repeat("7", 1<<20) + `}`},
		} {
			t.Run("a megabyte-long "+tc.name, func(t *testing.T) {
				a := inputPost(t, s, tc.path, admin, []byte(tc.body))
				if a.Status < 400 || a.Status >= 500 {
					t.Fatalf("answer %d %s: %.300s", a.Status, a.Code, a.Body)
				}
				if len(a.Body) > 4096 {
					t.Errorf("the answer is %d bytes: %.300s…", len(a.Body), a.Body)
				}
				for _, run := range []string{strings.Repeat("a", 100), strings.Repeat("7", 100)} {
					if strings.Contains(string(a.Body), run) {
						t.Errorf("the answer echoes more than a short prefix of the input: %.300s…", a.Body)
					}
				}
			})
		}
		if after := inputRevision(t, c); after != before {
			t.Errorf("refused requests moved the revision from %d to %d", before, after)
		}
	})
}
