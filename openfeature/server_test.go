package openfeature_test

import (
	"context"
	"sort"
	"testing"
	"time"

	"connectrpc.com/connect"
	of "github.com/open-feature/go-sdk/openfeature"
	"google.golang.org/protobuf/encoding/protojson"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/ofrep"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
	"github.com/flagops/flagops/openfeature"
)

const replicas = `{"project":"shop","key":"replicas","type":"number",
	"variations":[{"key":"free","value":1},{"key":"pro","value":3},{"key":"enterprise","value":5}],
	"environments":{"prod":{"enabled":true,"offVariation":"free",
		"rules":[{"conditions":[{"attribute":"tier","operator":"equals","values":["enterprise"]}],"variation":"enterprise"},
		         {"conditions":[{"attribute":"tier","operator":"in","values":["pro","team"]}],"variation":"pro"}],
		"fallthrough":{"rollout":[{"variation":"free","weight":50000},{"variation":"pro","weight":50000}]}}}}`

func putFlag(t testing.TB, c servertest.Clients, doc string) int64 {
	t.Helper()
	var f flagopsv1.Flag
	if err := protojson.Unmarshal([]byte(doc), &f); err != nil {
		t.Fatal(err)
	}
	resp, err := c.Flags.PutFlag(context.Background(), connect.NewRequest(&flagopsv1.PutFlagRequest{Flag: &f}))
	if err != nil {
		t.Fatal(err)
	}
	return resp.Msg.GetFlag().GetRevision()
}

// TestServerModesAgree runs the real OpenFeature SDK against a running
// server in both modes: remote (OFREP) and in-process (GetSnapshot +
// Watch). Both must give the same details, and a flag changed on the
// server must reach the in-process provider.
func TestServerModesAgree(t *testing.T) {
	servertest.Backends(t, func(t *testing.T, cfg server.Config) {
		cfg.OFREPKeys = map[string]ofrep.Principal{"k": {Workspace: domain.DefaultWorkspace, Environment: "prod", Project: "shop"}}
		s := servertest.Start(t, cfg)
		c := servertest.NewClients(servertest.HTTP1Client(), s.URL())
		ctx := context.Background()
		ws := domain.DefaultWorkspace
		if _, err := c.Catalog.PutEnvironment(ctx, connect.NewRequest(&flagopsv1.PutEnvironmentRequest{Environment: &flagopsv1.Environment{Meta: &flagopsv1.ObjectMeta{Workspace: ws, Name: "prod"}}})); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Catalog.PutProject(ctx, connect.NewRequest(&flagopsv1.PutProjectRequest{Project: &flagopsv1.Project{Meta: &flagopsv1.ObjectMeta{Workspace: ws, Name: "shop"}, Environments: []string{"prod"}}})); err != nil {
			t.Fatal(err)
		}
		putFlag(t, c, replicas)

		name := "server-" + t.Name()
		rp := openfeature.NewRemote(s.URL(), openfeature.RemoteOptions{APIKey: "k"})
		lp := openfeature.NewInProcess(openfeature.NewServerSource(servertest.HTTP1Client(), s.URL(), "", "shop"),
			openfeature.InProcessOptions{Environment: "prod", Project: "shop", MinBackoff: 5 * time.Millisecond})
		if err := of.SetNamedProviderAndWait(name+"-remote", rp); err != nil {
			t.Fatal(err)
		}
		if err := of.SetNamedProviderAndWait(name+"-local", lp); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rp.Shutdown(); lp.Shutdown() })
		remote, local := of.NewClient(name+"-remote"), of.NewClient(name+"-local")

		for _, tc := range []struct {
			name string
			ec   of.EvaluationContext
		}{
			{"enterprise", of.NewEvaluationContext("u1", map[string]any{"tier": "enterprise"})},
			{"team", of.NewEvaluationContext("u2", map[string]any{"tier": "team"})},
			{"rollout a", of.NewEvaluationContext("user-a", nil)},
			{"rollout b", of.NewEvaluationContext("user-b", nil)},
			{"rollout c", of.NewEvaluationContext("user-c", nil)},
			{"no targeting key", of.NewTargetlessEvaluationContext(nil)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r, _ := remote.IntValueDetails(ctx, "replicas", -1, tc.ec)
				l, _ := local.IntValueDetails(ctx, "replicas", -1, tc.ec)
				if r.Value != l.Value || r.Variant != l.Variant || r.Reason != l.Reason || r.ErrorCode != l.ErrorCode {
					t.Fatalf("remote %+v\nlocal  %+v", r, l)
				}
			})
		}

		t.Run("change reaches in-process", func(t *testing.T) {
			ec := of.NewEvaluationContext("u9", map[string]any{"tier": "none"})
			var lat []time.Duration
			for i := range 10 {
				want := int64(1 + 2*(i%3))
				variation := map[int64]string{1: "free", 3: "pro", 5: "enterprise"}[want]
				start := time.Now()
				putFlag(t, c, `{"project":"shop","key":"replicas","type":"number",
					"variations":[{"key":"free","value":1},{"key":"pro","value":3},{"key":"enterprise","value":5}],
					"environments":{"prod":{"enabled":true,"fallthrough":{"variation":"`+variation+`"}}}}`)
				for {
					if v, _ := local.IntValue(ctx, "replicas", -1, ec); v == want {
						break
					}
					if time.Since(start) > 5*time.Second {
						t.Fatalf("in-process never saw replicas=%d", want)
					}
					time.Sleep(100 * time.Microsecond)
				}
				lat = append(lat, time.Since(start))
				if v, _ := remote.IntValue(ctx, "replicas", -1, ec); v != want {
					t.Fatalf("remote %d, want %d", v, want)
				}
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			t.Logf("PutFlag → in-process provider serves it: p50 %v, max %v (n=%d, includes the PutFlag round trip)", lat[len(lat)/2], lat[len(lat)-1], len(lat))
		})
	})
}
