package web_test

import (
	"context"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/server/servertest"
)

// seed makes the estate the UI tests look at: environments dev and prod
// (set "line"), targets us-1 (dev) and eu-1, eu-2 (prod), project shop on
// the set, flags checkout (boolean) and replicas (number, a rule and a
// rollout), a segment, facts on three scopes, versions, a release and a
// promotion policy dev → prod that needs approval.
func seed(t testing.TB, c servertest.Clients) {
	t.Helper()
	ctx := context.Background()
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	meta := func(n string) *flagopsv1.ObjectMeta { return &flagopsv1.ObjectMeta{Name: n} }
	for _, e := range []string{"dev", "prod"} {
		must(c.Catalog.PutEnvironment(ctx, connect.NewRequest(&flagopsv1.PutEnvironmentRequest{Environment: &flagopsv1.Environment{Meta: meta(e)}})))
	}
	must(c.Catalog.PutEnvironmentSet(ctx, connect.NewRequest(&flagopsv1.PutEnvironmentSetRequest{EnvironmentSet: &flagopsv1.EnvironmentSet{Meta: meta("line"), Environments: []string{"dev", "prod"}}})))
	for tg, env := range map[string]string{"us-1": "dev", "eu-1": "prod", "eu-2": "prod"} {
		must(c.Catalog.PutTarget(ctx, connect.NewRequest(&flagopsv1.PutTargetRequest{Target: &flagopsv1.Target{Meta: meta(tg), Environment: env}})))
	}
	must(c.Catalog.PutProject(ctx, connect.NewRequest(&flagopsv1.PutProjectRequest{Project: &flagopsv1.Project{Meta: meta("shop"), EnvironmentSets: []string{"line"}}})))
	for _, doc := range []string{
		`{"project":"shop","key":"checkout","name":"New checkout","type":"boolean","tags":["web"],
		  "variations":[{"key":"on","value":true},{"key":"off","value":false}],
		  "environments":{"prod":{"enabled":false,"offVariation":"off","fallthrough":{"variation":"on"}},
		                  "dev":{"enabled":true,"offVariation":"off","fallthrough":{"variation":"on"}}}}`,
		`{"project":"shop","key":"replicas","type":"number",
		  "variations":[{"key":"free","value":1},{"key":"pro","value":3},{"key":"enterprise","value":5}],
		  "environments":{"prod":{"enabled":true,"offVariation":"free",
		    "rules":[{"conditions":[{"attribute":"tier","operator":"equals","values":["enterprise"]}],"variation":"enterprise"},
		             {"segment":"beta","rollout":[{"variation":"pro","weight":25000},{"variation":"free","weight":75000}]}],
		    "fallthrough":{"variation":"free"}}}}`,
	} {
		var f flagopsv1.Flag
		if err := protojson.Unmarshal([]byte(doc), &f); err != nil {
			t.Fatal(err)
		}
		if f.GetKey() == "replicas" {
			must(c.Flags.PutSegment(ctx, connect.NewRequest(&flagopsv1.PutSegmentRequest{Segment: &flagopsv1.Segment{Project: "shop", Key: "beta",
				Rules: []*flagopsv1.SegmentRule{{Conditions: []*flagopsv1.Condition{{Attribute: "region", Operator: "starts_with", Values: []*structpb.Value{structpb.NewStringValue("eu")}}}}}}})))
		}
		must(c.Flags.PutFlag(ctx, connect.NewRequest(&flagopsv1.PutFlagRequest{Flag: &f})))
	}
	set := func(scope, key string, v *structpb.Value) {
		must(c.Facts.SetFacts(ctx, connect.NewRequest(&flagopsv1.SetFactsRequest{Scope: scope, Values: map[string]*structpb.Value{key: v}})))
	}
	set("workspace", "tier", structpb.NewStringValue("free"))
	set("environment/prod", "region", structpb.NewStringValue("eu"))
	set("deployment/shop@eu-1", "owner", structpb.NewStringValue("team-a"))
	must(c.Releases.CreateRelease(ctx, connect.NewRequest(&flagopsv1.CreateReleaseRequest{Release: &flagopsv1.Release{Project: "shop", Version: "1.4.0",
		Commits:   map[string]string{"github.com/acme/shop": "0123456789abcdef0123456789abcdef01234567"},
		Artifacts: []*flagopsv1.Artifact{{Name: "shop", Platform: "linux/amd64", Url: "https://example.invalid/shop", Sha256: "aa00000000000000000000000000000000000000000000000000000000000000", Size: 1234}}}})))
	must(c.Versions.SetVersion(ctx, connect.NewRequest(&flagopsv1.SetVersionRequest{Project: "shop", Environment: "prod", Version: "1.3.0", Reason: "first"})))
	must(c.Versions.ReportVersion(ctx, connect.NewRequest(&flagopsv1.ReportVersionRequest{Project: "shop", Target: "eu-1", Version: "1.3.0", Status: "healthy"})))
	must(c.Versions.ReportVersion(ctx, connect.NewRequest(&flagopsv1.ReportVersionRequest{Project: "shop", Target: "eu-2", Version: "1.2.0", Status: "degraded"})))
	must(c.Secrets.PutSecret(ctx, connect.NewRequest(&flagopsv1.PutSecretRequest{Scope: "deployment/shop@eu-1", Key: "dbPassword", Value: []byte("not-shown-in-the-ui")})))
	must(c.Promotions.PutPromotionPolicy(ctx, connect.NewRequest(&flagopsv1.PutPromotionPolicyRequest{Policy: &flagopsv1.PromotionPolicy{Project: "shop", From: "dev", To: "prod", RequireApproval: true}})))
}

// createKey creates a key with one binding ("default:viewer@workspace")
// and returns its token.
func createKey(t testing.TB, c servertest.Clients, name, role, scope string) string {
	t.Helper()
	res, err := c.Access.CreateKey(context.Background(), connect.NewRequest(&flagopsv1.CreateKeyRequest{Name: name,
		Bindings: []*flagopsv1.Binding{{Role: role, Workspace: "default", Scope: scope}}}))
	if err != nil {
		t.Fatal(err)
	}
	return res.Msg.GetToken()
}
