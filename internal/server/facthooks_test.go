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
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
)

func postHook(t *testing.T, url, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := servertest.HTTP1Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("answer %d is not JSON: %s", resp.StatusCode, b)
	}
	return resp.StatusCode, out
}

// TestFactHookIngress: a valid list is applied in one revision; bad tokens,
// bad JSON and unknown deployments are 4xx naming the field, and nothing is
// half-applied.
func TestFactHookIngress(t *testing.T) {
	backends(t, func(t *testing.T, cfg server.Config) {
		ctx := context.Background()
		s := servertest.Start(t, cfg)
		c := clients(s)
		estate(t, c)
		created, err := webhooksClient(s).CreateFactHook(ctx, connect.NewRequest(&flagopsv1.CreateFactHookRequest{Name: "cms", Scopes: []string{"deployment/*@*", "environment/*"}}))
		if err != nil {
			t.Fatal(err)
		}
		token, url := created.Msg.Token, s.URL()+created.Msg.Hook.Path
		revision := func() int64 {
			r, err := c.Changes.GetRevision(ctx, connect.NewRequest(&flagopsv1.GetRevisionRequest{}))
			if err != nil {
				t.Fatal(err)
			}
			return r.Msg.Revision
		}

		bad := []struct {
			name, token, body string
			status            int
			field, mentions   string
		}{
			{"no token", "", `{"deployment":"shop@eu-1","facts":{"a":1}}`, 401, "", ""},
			{"wrong token", "fhk_wrong", `{"deployment":"shop@eu-1","facts":{"a":1}}`, 401, "", ""},
			{"unknown hook", token, "", 401, "", ""}, // posted to another hook's path below
			{"bad JSON", token, `{"deployment":`, 400, "body", ""},
			{"wrong type", token, `{"deployment":"shop@eu-1","facts":[1]}`, 400, "facts", ""},
			{"unknown field", token, `{"deployment":"shop@eu-1","fact":{"a":1}}`, 400, "fact", ""},
			{"both deployment and scope", token, `[{"deployment":"shop@eu-1","scope":"workspace","facts":{"a":1}}]`, 400, "[0].deployment", ""},
			{"bad fact key", token, `{"scope":"environment/prod","facts":{"1x":1}}`, 400, "facts.1x", ""},
			{"unknown deployment", token, `[{"deployment":"shop@eu-1","facts":{"a":1}},{"deployment":"shop@nowhere","facts":{"b":2}}]`,
				400, "[1].deployment", "nowhere"},
			{"too large", token, `{"scope":"workspace","facts":{"big":"` + strings.Repeat("x", 2<<20) + `"}}`, 413, "body", "at most"}, // TooLarge is 413 with the limit named
		}
		before := revision()
		for _, tc := range bad {
			t.Run(tc.name, func(t *testing.T) {
				u := url
				if tc.name == "unknown hook" {
					u, tc.body = s.URL()+"/v1/hooks/facts/nope", `{"scope":"workspace","facts":{"a":1}}`
				}
				code, out := postHook(t, u, tc.token, tc.body)
				if code != tc.status {
					t.Fatalf("status %d (%v), want %d", code, out, tc.status)
				}
				if tc.field != "" && out["field"] != tc.field {
					t.Fatalf("field %v (%v), want %q", out["field"], out, tc.field)
				}
				if msg, _ := out["message"].(string); !strings.Contains(msg, tc.mentions) || strings.Contains(msg, token) {
					t.Fatalf("message %q should mention %q and never the token", msg, tc.mentions)
				}
			})
		}
		if after := revision(); after != before {
			t.Fatalf("revision moved from %d to %d: a refused request was (half-)applied", before, after)
		}

		code, out := postHook(t, url, token, `[{"deployment":"shop@eu-1","facts":{"tier":"pro","replicas":3}},
			{"scope":"environment/prod","facts":{"region":"eu"}}]`)
		if code != 200 || out["revision"] != float64(before+1) {
			t.Fatalf("valid list: %d %v, want 200 and revision %d", code, out, before+1)
		}
		hist, err := c.Changes.ListChanges(ctx, connect.NewRequest(&flagopsv1.ListChangesRequest{FromRevision: before}))
		if err != nil {
			t.Fatal(err)
		}
		if n := len(hist.Msg.Changes); n != 3 {
			t.Fatalf("%d changes, want 3 in one revision", n)
		}
		for _, ch := range hist.Msg.Changes {
			if ch.Revision != before+1 {
				t.Fatalf("change %v not at revision %d", ch, before+1)
			}
		}
		// A single object works too, and facthook changes carry no token hash.
		if code, out := postHook(t, url, token, `{"deployment":"shop@eu-1","facts":{"tier":"enterprise"}}`); code != 200 {
			t.Fatalf("single object: %d %v", code, out)
		}
		hooks, err := c.Changes.ListChanges(ctx, connect.NewRequest(&flagopsv1.ListChangesRequest{Kind: "facthook"}))
		if err != nil || len(hooks.Msg.Changes) != 1 || strings.Contains(hooks.Msg.String(), "token") {
			t.Fatalf("facthook changes %v, %v", hooks.Msg, err)
		}
	})
}
