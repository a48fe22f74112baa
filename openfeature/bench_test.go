package openfeature_test

import (
	"context"
	"testing"
	"time"

	"connectrpc.com/connect"
	of "github.com/open-feature/go-sdk/openfeature"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
	"github.com/flagops/flagops/openfeature"
)

// BenchmarkProvider measures evaluations per second of the Go provider
// through the OpenFeature SDK against a real server (SQLite, authentication
// on, an evaluator API key), one goroutine: remote mode (one OFREP request
// over a keep-alive HTTP/1.1 connection per evaluation) and in-process mode
// (the snapshot in memory). docs/benchmarks.md compares it with the Python
// client's figures for the same flag and context.
func BenchmarkProvider(b *testing.B) {
	s := servertest.Start(b, server.Config{DataDir: b.TempDir()})
	c := servertest.NewClients(servertest.HTTP1Client(), s.URL())
	ctx := context.Background()
	ws := domain.DefaultWorkspace
	if _, err := c.Catalog.PutEnvironment(ctx, connect.NewRequest(&flagopsv1.PutEnvironmentRequest{Environment: &flagopsv1.Environment{Meta: &flagopsv1.ObjectMeta{Workspace: ws, Name: "prod"}}})); err != nil {
		b.Fatal(err)
	}
	if _, err := c.Catalog.PutProject(ctx, connect.NewRequest(&flagopsv1.PutProjectRequest{Project: &flagopsv1.Project{Meta: &flagopsv1.ObjectMeta{Workspace: ws, Name: "shop"}, Environments: []string{"prod"}}})); err != nil {
		b.Fatal(err)
	}
	putFlag(b, c, replicas)
	key, err := c.Access.CreateKey(ctx, connect.NewRequest(&flagopsv1.CreateKeyRequest{Name: "bench", Bindings: []*flagopsv1.Binding{
		{Role: "evaluator", Workspace: ws, Scope: "environment/prod"},
		{Role: "evaluator", Workspace: ws, Scope: "project/shop"},
	}}))
	if err != nil {
		b.Fatal(err)
	}
	hc := servertest.HTTP1Client()
	hc.Timeout = 5 * time.Second
	providers := []struct {
		name string
		p    *openfeature.Provider
	}{
		{"remote", openfeature.NewRemote(s.URL(), openfeature.RemoteOptions{APIKey: key.Msg.GetToken(), Client: hc})},
		{"in-process", openfeature.NewInProcess(openfeature.NewServerSource(servertest.HTTP1Client(), s.URL(), "", "shop"),
			openfeature.InProcessOptions{Environment: "prod", Project: "shop"})},
	}
	ec := of.NewEvaluationContext("u1", map[string]any{"tier": "enterprise"})
	for _, tc := range providers {
		name := "bench-" + tc.name
		if err := of.SetNamedProviderAndWait(name, tc.p); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(tc.p.Shutdown)
		client := of.NewClient(name)
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if v, err := client.IntValue(ctx, "replicas", -1, ec); err != nil || v != 5 {
					b.Fatalf("replicas = %d, %v", v, err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "evals/s")
		})
	}
}
