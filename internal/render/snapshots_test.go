package render_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"testing/fstest"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/eval"
	"github.com/flagops/flagops/internal/flag"
	"github.com/flagops/flagops/internal/render"
)

// tierFacts resolves shop@eu-1 in prod with the tier the test sets.
type tierFacts struct{ tier string }

func (f *tierFacts) ResolveFacts(_ context.Context, ws, project, target string) (domain.Resolved, error) {
	tier, _ := json.Marshal(f.tier)
	return domain.Resolved{Workspace: ws, Project: project, Environment: "prod", Target: target,
		Facts: map[string]json.RawMessage{"project": []byte(`"shop"`), "environment": []byte(`"prod"`),
			"target": []byte(`"eu-1"`), "workspace": []byte(`"default"`), "tier": tier}}, nil
}

type snapshots map[string]*eval.Snapshot

func (s snapshots) Get(ws, project, env string) *eval.Snapshot { return s[ws+"/"+project+"/"+env] }

// serviceFetcher fetches bundles from a Service in-process.
type serviceFetcher struct{ svc *render.Service }

func (f serviceFetcher) Fetch(ctx context.Context, req *render.BundleRequest) (*render.Bundle, error) {
	b, err := f.svc.Bundle(ctx, req)
	if err != nil {
		return nil, err
	}
	// Through JSON, as the plugin receives it.
	raw, _ := json.Marshal(b)
	var out render.Bundle
	return &out, json.Unmarshal(raw, &out)
}

// TestTierViaFlag is the tier example with the flag engine: flag replicas
// serves 1, 3 or 5 by the deployment's tier fact, evaluated by the same
// compiled snapshot OFREP serves from.
func TestTierViaFlag(t *testing.T) {
	replicas := flag.Flag{Key: "replicas", Type: flag.TypeNumber,
		Variations: []flag.Variation{{Key: "one", Value: json.RawMessage(`1`)}, {Key: "three", Value: json.RawMessage(`3`)}, {Key: "five", Value: json.RawMessage(`5`)}},
		Environments: map[string]flag.Targeting{"prod": {Enabled: true,
			Rules: []flag.Rule{
				{Conditions: []flag.Condition{{Attribute: "tier", Operator: flag.OpIn, Values: []any{"pro"}}}, Serve: flag.Serve{Variation: "three"}},
				{Conditions: []flag.Condition{{Attribute: "tier", Operator: flag.OpIn, Values: []any{"enterprise"}}}, Serve: flag.Serve{Variation: "five"}},
			},
			Fallthrough: flag.Serve{Variation: "one"}}}}
	snap, err := eval.Compile("prod", 7, []flag.Flag{replicas}, nil)
	if err != nil {
		t.Fatal(err)
	}
	facts := &tierFacts{}
	svc := render.NewService(render.Deps{Facts: facts, Flags: render.SnapshotFlags{Source: snapshots{"default/shop/prod": snap}}})
	src := fstest.MapFS{"d.yaml.tmpl": {Data: []byte("replicas: {{ .Flags.replicas }}\nvariant: {{ (index .FlagDetails \"replicas\").Variant }}\n")}}
	for _, tc := range []struct {
		tier    string
		want    int
		variant string
	}{{"free", 1, "one"}, {"pro", 3, "three"}, {"enterprise", 5, "five"}} {
		t.Run(tc.tier, func(t *testing.T) {
			facts.tier = tc.tier
			out, err := render.Generate(context.Background(), src, render.Target{Workspace: "default", Project: "shop", Target: "eu-1"}, render.Argo{}, serviceFetcher{svc})
			if err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("---\n# Source: d.yaml.tmpl\nreplicas: %d\nvariant: %s\n", tc.want, tc.variant)
			if string(out) != want {
				t.Errorf("got\n%s\nwant\n%s", out, want)
			}
		})
	}
	t.Run("no snapshot", func(t *testing.T) {
		b, err := render.NewService(render.Deps{Facts: facts, Flags: render.SnapshotFlags{Source: snapshots{}}}).
			Bundle(context.Background(), &render.BundleRequest{Project: "shop", Target: "eu-1"})
		if err != nil || len(b.Flags) != 0 {
			t.Errorf("bundle flags %v, %v; want none", b.Flags, err)
		}
	})
}
