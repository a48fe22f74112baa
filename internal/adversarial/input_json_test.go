package adversarial_test

import (
	"context"
	"strings"
	"testing"

	"connectrpc.com/connect"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
)

// inputNested returns a JSON value of depth nested arrays around 1.
func inputNested(depth int) string {
	return strings.Repeat("[", depth) + "1" + strings.Repeat("]", depth)
}

// TestInputJSONDepthIsCapped keeps issue 9.10 fixed: a JSON value nested
// deeper than domain.MaxJSONDepth is refused with a field error on every
// path that stores one (facts through the API, in bulk, through a fact hook
// and through apply; a flag variation's value; a scheduled change's rule),
// nothing is stored, and every Go client keeps reading the server. Before,
// a value about 5,000 levels deep was stored and then broke every client
// past its revision (protobuf's recursion limit). Connect JSON carries the
// deepest value protojson decodes (about 4,990 levels); the fact hook and
// apply, plain JSON and YAML, carry 5,100.
func TestInputJSONDepthIsCapped(t *testing.T) {
	servertest.Backends(t, func(t *testing.T, cfg server.Config) {
		ctx := context.Background()
		s := servertest.Start(t, cfg)
		c := servertest.NewClients(servertest.HTTP1Client(), s.URL())
		inputEstate(t, c)
		admin := servertest.AdminToken(s.URL())
		hook, err := inputWebhooks(s).CreateFactHook(ctx, connect.NewRequest(&flagopsv1.CreateFactHookRequest{Name: "cms", Scopes: []string{"workspace", "deployment/*@*"}}))
		if err != nil {
			t.Fatal(err)
		}
		apiDeep, rawDeep := inputNested(4990), inputNested(5100)
		justOver := inputNested(domain.MaxJSONDepth + 1)

		refused := []struct {
			name, path, token, body, field string
		}{
			{"SetFacts", "/flagops.v1.FactService/SetFacts", admin,
				`{"scope":"workspace","values":{"deep":` + apiDeep + `}}`, "values.deep"},
			{"SetFacts just over the limit", "/flagops.v1.FactService/SetFacts", admin,
				`{"scope":"workspace","values":{"deep":` + justOver + `}}`, "values.deep"},
			{"SetFacts nested objects", "/flagops.v1.FactService/SetFacts", admin,
				`{"scope":"workspace","values":{"deep":` + strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100) + `}}`, "values.deep"},
			{"BulkSetFacts", "/flagops.v1.FactService/BulkSetFacts", admin,
				`{"entries":[{"scope":"deployment/shop@eu-1","values":{"ok":1}},{"scope":"workspace","values":{"deep":` + apiDeep + `}}]}`, "entries[1].values.deep"},
			{"fact hook", hook.Msg.GetHook().GetPath(), hook.Msg.GetToken(),
				`[{"deployment":"shop@eu-1","facts":{"ok":1}},{"scope":"workspace","facts":{"deep":` + rawDeep + `}}]`, "[1].facts.deep"},
			{"flag variation value", "/flagops.v1.FlagService/PutFlag", admin,
				`{"flag":{"project":"shop","key":"deep","type":"object","variations":[{"key":"a","value":{"x":1}},{"key":"b","value":{"x":` + apiDeep + `}}]}}`,
				"variations[1].value"},
			{"scheduled change's condition", "/flagops.v1.FlagService/CreateSchedule", admin,
				`{"change":{"project":"shop","flag":"replicas","environment":"prod","at":"2031-01-01T00:00:00Z","patch":{"rules":[{"conditions":[{"attribute":"tier","operator":"equals","values":[` + apiDeep + `]}],"variation":"one"}]}}}`,
				"values[0]"},
		}
		before := inputRevision(t, c)
		for _, tc := range refused {
			t.Run(tc.name, func(t *testing.T) {
				a := inputPost(t, s, tc.path, tc.token, []byte(tc.body))
				if a.Status != 400 || a.Code != "invalid_argument" {
					t.Fatalf("answer %d %s: %.300s", a.Status, a.Code, a.Body)
				}
				if !strings.Contains(string(a.Body), tc.field) {
					t.Errorf("the answer does not name %s: %.300s", tc.field, a.Body)
				}
			})
		}
		t.Run("apply", func(t *testing.T) {
			dir := t.TempDir()
			file := dir + "/facts.yaml"
			if err := inputWriteFile(file, "kind: Facts\nscope: workspace\nvalues:\n  deep: "+rawDeep+"\n"); err != nil {
				t.Fatal(err)
			}
			code, out, errOut := inputCLI(t, []string{"FLAGOPS_SERVER=" + s.URL(), "FLAGOPS_TOKEN=" + admin}, "apply", "-f", file)
			if code == 0 || !strings.Contains(errOut, "deep") || !strings.Contains(errOut, "levels") {
				t.Fatalf("apply: exit %d\n%s\n%.500s", code, out, errOut)
			}
		})
		if after := inputRevision(t, c); after != before {
			t.Fatalf("refused writes moved the revision from %d to %d", before, after)
		}

		// A value at the limit is stored and read back by a Go client, as
		// is everything else.
		if a := inputPost(t, s, "/flagops.v1.FactService/SetFacts", admin, []byte(`{"scope":"workspace","values":{"deep":`+inputNested(domain.MaxJSONDepth)+`}}`)); a.Status != 200 {
			t.Fatalf("a value at the limit: %d %.300s", a.Status, a.Body)
		}
		if _, err := c.Facts.ResolveFacts(ctx, connect.NewRequest(&flagopsv1.ResolveFactsRequest{Project: "shop", Target: "eu-1"})); err != nil {
			t.Fatalf("ResolveFacts: %v", err)
		}
		if _, err := c.Changes.ListChanges(ctx, connect.NewRequest(&flagopsv1.ListChangesRequest{PageSize: 1000})); err != nil {
			t.Fatalf("ListChanges: %v", err)
		}
		if _, err := c.Flags.ListSchedules(ctx, connect.NewRequest(&flagopsv1.ListSchedulesRequest{Project: "shop", Flag: "replicas"})); err != nil {
			t.Fatalf("ListSchedules: %v", err)
		}
	})
}
