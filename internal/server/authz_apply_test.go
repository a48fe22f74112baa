package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/gen/flagops/v1/flagopsv1connect"
	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
)

// TestApplyAuthorizationMatrix extends the authorization matrix to what an
// apply carries: for a document of every kind, every role at every kind of
// binding (and no key at all) is allowed to apply it exactly when it is
// allowed to call the RPC that writes that object alone. A prune is
// authorized as the delete of each pruned object.
func TestApplyAuthorizationMatrix(t *testing.T) {
	s := servertest.Start(t, server.Config{})
	admin := servertest.NewClients(servertest.HTTP1Client(), s.URL())
	ctx := context.Background()
	catalog(t, admin)

	bindings := []string{"workspace", "project/shop", "project/other", "target/eu-1", "target/us-1", "environment/prod", "environment/dev"}
	tokens := map[string]string{"no key": ""}
	for _, role := range domain.Roles {
		for i, b := range append(bindings, "elsewhere") {
			ws, scope := "default", b
			if b == "elsewhere" {
				ws, scope = "elsewhere", "workspace"
			}
			res, err := admin.Access.CreateKey(ctx, connect.NewRequest(&flagopsv1.CreateKeyRequest{
				Name:     string(role) + "-" + string(rune('a'+i)),
				Bindings: []*flagopsv1.Binding{{Role: string(role), Workspace: ws, Scope: scope}}}))
			if err != nil {
				t.Fatalf("create key %s@%s:%s: %v", role, ws, scope, err)
			}
			tokens[string(role)+"@"+ws+":"+scope] = res.Msg.GetToken()
		}
	}

	kinds := []struct {
		kind, doc, procedure, body string
	}{
		{"Workspace", "kind: Workspace\nname: default\n", flagopsv1connect.CatalogServicePutWorkspaceProcedure,
			`{"workspace":{"meta":{"name":"default"}}}`},
		{"Environment", "kind: Environment\nname: prod\n", flagopsv1connect.CatalogServicePutEnvironmentProcedure,
			`{"environment":{"meta":{"name":"prod"}}}`},
		{"Target", "kind: Target\nname: eu-1\nenvironment: prod\n", flagopsv1connect.CatalogServicePutTargetProcedure,
			`{"target":{"meta":{"name":"eu-1"},"environment":"prod"}}`},
		{"EnvironmentSet", "kind: EnvironmentSet\nname: all\nenvironments: [prod, dev]\n", flagopsv1connect.CatalogServicePutEnvironmentSetProcedure,
			`{"environmentSet":{"meta":{"name":"all"},"environments":["prod","dev"]}}`},
		{"Project", "kind: Project\nname: shop\nenvironments: [prod, dev]\n", flagopsv1connect.CatalogServicePutProjectProcedure,
			`{"project":{"meta":{"name":"shop"},"environments":["prod","dev"]}}`},
		{"Facts", "kind: Facts\nscope: deployment/shop@eu-1\nvalues: {tier: pro}\n", flagopsv1connect.FactServiceSetFactsProcedure,
			`{"scope":"deployment/shop@eu-1","values":{"tier":"pro"}}`},
		{"Segment", "kind: Segment\nproject: shop\nkey: beta\ninclude: [u1]\n", flagopsv1connect.FlagServicePutSegmentProcedure,
			`{"segment":{"project":"shop","key":"beta","include":["u1"]}}`},
		{"Flag", "kind: Flag\nproject: shop\nkey: f1\ntype: boolean\nvariations: [{key: yes, value: true}, {key: no, value: false}]\n",
			flagopsv1connect.FlagServicePutFlagProcedure,
			`{"flag":{"project":"shop","key":"f1","type":"boolean","variations":[{"key":"yes","value":true},{"key":"no","value":false}]}}`},
		{"Release", "kind: Release\nproject: shop\nversion: 1.0.0\n", flagopsv1connect.ReleaseServiceCreateReleaseProcedure,
			`{"release":{"project":"shop","version":"1.0.0"}}`},
		{"PromotionPolicy", "kind: PromotionPolicy\nproject: shop\nfrom: dev\nto: prod\n", flagopsv1connect.PromotionServicePutPromotionPolicyProcedure,
			`{"policy":{"project":"shop","from":"dev","to":"prod"}}`},
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	applyBody := func(doc string, prune ...string) []byte {
		b, err := json.Marshal(map[string]any{"dryRun": true, "manifests": []map[string]string{{"source": "a.yaml", "content": doc}},
			"prune": len(prune) > 0, "pruneKinds": prune})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, k := range kinds {
		t.Run(k.kind, func(t *testing.T) {
			allowed, denied := 0, 0
			for name, tok := range tokens {
				// The apply first, as a dry run: the RPC may write.
				applyDenied, applyCode := callRPC(t, hc, s.URL()+flagopsv1connect.ApplyServiceApplyProcedure, tok, applyBody(k.doc), false)
				rpcDenied, rpcCode := callRPC(t, hc, s.URL()+k.procedure, tok, []byte(k.body), false)
				if applyDenied != rpcDenied {
					t.Errorf("%s: apply denied=%v (%s), %s denied=%v (%s)", name, applyDenied, applyCode, k.procedure, rpcDenied, rpcCode)
				}
				if applyDenied {
					denied++
				} else {
					allowed++
				}
			}
			if allowed == 0 || denied == 0 {
				t.Errorf("%d keys allowed and %d denied: the matrix tells nothing", allowed, denied)
			}
		})
	}

	t.Run("prune is authorized as each delete", func(t *testing.T) {
		if _, err := admin.Catalog.PutProject(ctx, connect.NewRequest(&flagopsv1.PutProjectRequest{Project: &flagopsv1.Project{
			Meta: &flagopsv1.ObjectMeta{Name: "other"}, Environments: []string{"prod"}}})); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"shop", "other"} {
			body := `{"flag":{"project":"` + p + `","key":"old","type":"boolean","variations":[{"key":"yes","value":true},{"key":"no","value":false}]}}`
			if denied, code := callRPC(t, hc, s.URL()+flagopsv1connect.FlagServicePutFlagProcedure, servertest.AdminToken(s.URL()), []byte(body), false); denied || code != "ok" {
				t.Fatalf("put flag %s/old: %s", p, code)
			}
		}
		set := "kind: Flag\nproject: shop\nkey: f1\ntype: boolean\nvariations: [{key: yes, value: true}, {key: no, value: false}]\n"
		for _, tc := range []struct {
			token  string
			denied bool
		}{
			// shop's editor may write shop's flags but not delete other's.
			{"editor@default:project/shop", true},
			{"editor@default:workspace", false},
			{"viewer@default:workspace", true},
		} {
			denied, code := callRPC(t, hc, s.URL()+flagopsv1connect.ApplyServiceApplyProcedure, tokens[tc.token], applyBody(set, "Flag"), false)
			if denied != tc.denied {
				t.Errorf("%s: prune denied=%v (%s), want %v", tc.token, denied, code, tc.denied)
			}
		}
		// The refusal does not name what the key may not see.
		req := connect.NewRequest(&flagopsv1.ApplyRequest{DryRun: true, Prune: true, PruneKinds: []string{"Flag"},
			Manifests: []*flagopsv1.Manifest{{Source: "a.yaml", Content: set}}})
		req.Header().Set("Authorization", "Bearer "+tokens["editor@default:project/shop"])
		_, err := admin.Apply.Apply(ctx, req)
		if connect.CodeOf(err) != connect.CodePermissionDenied || strings.Contains(err.Error(), "other") {
			t.Errorf("the prune refusal: %v", err)
		}
	})
}
