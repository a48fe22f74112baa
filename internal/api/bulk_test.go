package api_test

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/protobuf/types/known/structpb"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
)

// TestBulkSetFactsTenThousandDeployments is the CMS use case through the
// API: one call sets facts of 10,000 deployments (100 projects × 100
// targets) in one transaction, at one revision.
func TestBulkSetFactsTenThousandDeployments(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 10,000-deployment catalog")
	}
	servertest.Backends(t, func(t *testing.T, cfg server.Config) {
		_, c := setup(t, cfg)
		ctx := context.Background()
		must(c.Catalog.PutEnvironment(ctx, req(&flagopsv1.PutEnvironmentRequest{Environment: &flagopsv1.Environment{Meta: meta("prod")}})))(t)
		const n = 100
		for i := range n {
			must(c.Catalog.PutTarget(ctx, req(&flagopsv1.PutTargetRequest{Target: &flagopsv1.Target{Meta: meta(fmt.Sprintf("t-%03d", i)), Environment: "prod"}})))(t)
			must(c.Catalog.PutProject(ctx, req(&flagopsv1.PutProjectRequest{Project: &flagopsv1.Project{Meta: meta(fmt.Sprintf("p-%03d", i)), Environments: []string{"prod"}}})))(t)
		}
		before := must(c.Changes.GetRevision(ctx, req(&flagopsv1.GetRevisionRequest{})))(t).Msg.Revision

		entries := make([]*flagopsv1.FactsEntry, 0, n*n)
		for p := range n {
			for tg := range n {
				entries = append(entries, &flagopsv1.FactsEntry{
					Scope: fmt.Sprintf("deployment/p-%03d@t-%03d", p, tg),
					Values: map[string]*structpb.Value{
						"tier":     structpb.NewStringValue([]string{"free", "pro", "enterprise"}[(p+tg)%3]),
						"replicas": structpb.NewNumberValue(float64(1 + (p+tg)%5)),
					},
				})
			}
		}
		resp := must(c.Facts.BulkSetFacts(ctx, req(&flagopsv1.BulkSetFactsRequest{Entries: entries})))(t)
		if resp.Msg.Revision != before+1 {
			t.Fatalf("bulk set committed at revision %d, want one revision: %d", resp.Msg.Revision, before+1)
		}
		if resp.Msg.Scopes != n*n {
			t.Fatalf("scopes = %d, want %d", resp.Msg.Scopes, n*n)
		}
		got := must(c.Facts.ResolveFacts(ctx, req(&flagopsv1.ResolveFactsRequest{Project: "p-042", Target: "t-099"})))(t).Msg
		if tier, want := got.Facts.Fields["tier"].GetStringValue(), []string{"free", "pro", "enterprise"}[(42+99)%3]; tier != want {
			t.Fatalf("p-042@t-099 tier = %q, want %q", tier, want)
		}
		if got.Sources["replicas"] != "deployment/p-042@t-099" || got.Revision != resp.Msg.Revision {
			t.Fatalf("resolve = sources %v revision %d, want deployment source at %d", got.Sources, got.Revision, resp.Msg.Revision)
		}
		page := must(c.Changes.ListChanges(ctx, req(&flagopsv1.ListChangesRequest{FromRevision: before, ToRevision: resp.Msg.Revision, PageSize: 1000})))(t).Msg
		if len(page.Changes) != 1000 || page.NextPageToken == "" {
			t.Fatalf("change log page = %d entries (next %q), want 1000 of 20,000", len(page.Changes), page.NextPageToken)
		}
	})
}
