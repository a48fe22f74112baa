package render_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"testing/fstest"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/render"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
)

// estate starts a server holding environment prod, its targets eu-1 and
// us-1, and project shop in prod: deployments shop@eu-1 and shop@us-1.
func estate(t *testing.T) (*server.Server, servertest.Clients) {
	t.Helper()
	s := servertest.Start(t, server.Config{})
	c := servertest.NewClients(servertest.HTTP1Client(), s.URL())
	ctx := context.Background()
	meta := func(n string) *flagopsv1.ObjectMeta { return &flagopsv1.ObjectMeta{Name: n} }
	calls := []func() error{
		func() error {
			_, err := c.Catalog.PutEnvironment(ctx, connect.NewRequest(&flagopsv1.PutEnvironmentRequest{Environment: &flagopsv1.Environment{Meta: meta("prod")}}))
			return err
		},
		func() error {
			_, err := c.Catalog.PutTarget(ctx, connect.NewRequest(&flagopsv1.PutTargetRequest{Target: &flagopsv1.Target{Meta: meta("eu-1"), Environment: "prod"}}))
			return err
		},
		func() error {
			_, err := c.Catalog.PutTarget(ctx, connect.NewRequest(&flagopsv1.PutTargetRequest{Target: &flagopsv1.Target{Meta: meta("us-1"), Environment: "prod"}}))
			return err
		},
		func() error {
			_, err := c.Catalog.PutProject(ctx, connect.NewRequest(&flagopsv1.PutProjectRequest{Project: &flagopsv1.Project{Meta: meta("shop"), Environments: []string{"prod"}}}))
			return err
		},
	}
	for _, call := range calls {
		if err := call(); err != nil {
			t.Fatal(err)
		}
	}
	return s, c
}

// adminClient is a bundle client authenticated with the server's bootstrap
// admin key.
func adminClient(s *server.Server) *render.Client {
	return &render.Client{BaseURL: s.URL(), Token: servertest.AdminToken(s.URL())}
}

func setFact(t *testing.T, c servertest.Clients, scope, key string, v any) {
	t.Helper()
	pv, err := structpb.NewValue(v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Facts.SetFacts(context.Background(), connect.NewRequest(&flagopsv1.SetFactsRequest{Scope: scope, Values: map[string]*structpb.Value{key: pv}})); err != nil {
		t.Fatal(err)
	}
}

// TestTierEndToEnd is the tier example through a real server: a tier fact
// on the deployment picks the replica count with a template expression.
func TestTierEndToEnd(t *testing.T) {
	s, c := estate(t)
	src := fstest.MapFS{
		"deployment.yaml.tmpl": {Data: []byte("kind: Deployment\nmetadata:\n  name: {{ .Facts.project }}-{{ .Facts.target }}\n" +
			"spec:\n  replicas: {{ get (dict \"free\" 1 \"pro\" 3 \"enterprise\" 5) .Facts.tier }}\n")},
	}
	client := adminClient(s)
	var hashes []string
	for _, tc := range []struct {
		tier     string
		replicas int
	}{{"free", 1}, {"pro", 3}, {"enterprise", 5}} {
		t.Run(tc.tier, func(t *testing.T) {
			setFact(t, c, "deployment/shop@eu-1", "tier", tc.tier)
			out, err := render.Generate(context.Background(), src, render.Target{Workspace: "default", Project: "shop", Target: "eu-1"}, render.Argo{}, client)
			if err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("---\n# Source: deployment.yaml.tmpl\nkind: Deployment\nmetadata:\n  name: shop-eu-1\nspec:\n  replicas: %d\n", tc.replicas)
			if string(out) != want {
				t.Errorf("got\n%s\nwant\n%s", out, want)
			}
			b, err := client.Fetch(context.Background(), &render.BundleRequest{Project: "shop", Target: "eu-1"})
			if err != nil {
				t.Fatal(err)
			}
			hashes = append(hashes, b.InputsHash)
		})
	}
	if len(hashes) != 3 || hashes[0] == hashes[1] || hashes[1] == hashes[2] {
		t.Errorf("inputs hashes %v: want three different", hashes)
	}
}

// TestBundle checks the bundle route's answer and errors on a real server.
func TestBundle(t *testing.T) {
	s, c := estate(t)
	setFact(t, c, "environment/prod", "region", "eu")
	setFact(t, c, "deployment/shop@eu-1", "tier", "pro")
	client := adminClient(s)
	ctx := context.Background()

	t.Run("answer", func(t *testing.T) {
		b, err := client.Fetch(ctx, &render.BundleRequest{Project: "shop", Target: "eu-1", Context: map[string]any{"argocd": map[string]any{"appName": "x"}}})
		if err != nil {
			t.Fatal(err)
		}
		if b.Deployment != (render.Deployment{Workspace: "default", Project: "shop", Environment: "prod", Target: "eu-1"}) {
			t.Errorf("deployment %+v", b.Deployment)
		}
		if string(b.Facts["tier"]) != `"pro"` || b.Sources["region"] != "environment/prod" || b.Version == nil || *b.Version != (render.Version{}) || len(b.Flags) != 0 || b.Revision < 6 {
			t.Errorf("bundle %+v", b)
		}
		want, _ := render.InputsHash(b.Facts, b.Flags, b.Version)
		if b.InputsHash != want || len(want) != 64 {
			t.Errorf("inputs hash %q, want %q", b.InputsHash, want)
		}
		again, err := client.Fetch(ctx, &render.BundleRequest{Project: "shop", Target: "eu-1"})
		if err != nil || again.InputsHash != b.InputsHash {
			t.Errorf("hash moved without a change: %v %q %q", err, again.InputsHash, b.InputsHash)
		}
		other, err := client.Fetch(ctx, &render.BundleRequest{Project: "shop", Target: "us-1"})
		if err != nil || other.InputsHash == b.InputsHash {
			t.Errorf("two deployments share a hash: %v", err)
		}
	})

	unreachable := &render.Client{BaseURL: "http://127.0.0.1:1"}
	for _, tc := range []struct {
		name   string
		client *render.Client
		req    render.BundleRequest
		kind   error
		msg    string
	}{
		{"missing deployment", client, render.BundleRequest{Project: "shop", Target: "nope"}, errs.NotFound, `deployment "shop@nope"`},
		{"bad project", client, render.BundleRequest{Project: "Shop!", Target: "eu-1"}, errs.Invalid, "project"},
		{"missing secret", client, render.BundleRequest{Project: "shop", Target: "eu-1", Secrets: []string{"db"}}, errs.NotFound, `secret "db" of "shop@eu-1"`},
		{"no key", &render.Client{BaseURL: s.URL()}, render.BundleRequest{Project: "shop", Target: "eu-1"}, errs.Unauthenticated, "needs an API key"},
		{"server unreachable", unreachable, render.BundleRequest{Project: "shop", Target: "eu-1"}, errs.Unavailable, "server unreachable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.client.Fetch(ctx, &tc.req)
			if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %v; want kind %v containing %q", err, tc.kind, tc.msg)
			}
		})
	}

	t.Run("not JSON", func(t *testing.T) {
		resp, err := servertest.HTTP1Client().Post(s.URL()+"/v1/render/bundle", "application/json", strings.NewReader("{"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("status %d, want 400", resp.StatusCode)
		}
	})
}

// TestTierThroughFlag is the tier example with a flag: flag replicas serves
// 1, 3 or 5 by a rule on the deployment's tier fact, and the template reads
// .Flags.replicas, so the rendered YAML follows the fact through the flag.
func TestTierThroughFlag(t *testing.T) {
	s, c := estate(t)
	var f flagopsv1.Flag
	if err := protojson.Unmarshal([]byte(`{"project":"shop","key":"replicas","type":"number",
		"variations":[{"key":"free","value":1},{"key":"pro","value":3},{"key":"enterprise","value":5}],
		"environments":{"prod":{"enabled":true,"offVariation":"free",
			"rules":[{"conditions":[{"attribute":"tier","operator":"equals","values":["enterprise"]}],"variation":"enterprise"},
			         {"conditions":[{"attribute":"tier","operator":"equals","values":["pro"]}],"variation":"pro"}],
			"fallthrough":{"variation":"free"}}}}`), &f); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Flags.PutFlag(context.Background(), connect.NewRequest(&flagopsv1.PutFlagRequest{Flag: &f})); err != nil {
		t.Fatal(err)
	}
	src := fstest.MapFS{
		"deployment.yaml.tmpl": {Data: []byte("kind: Deployment\nspec:\n  replicas: {{ .Flags.replicas }}\n")},
	}
	client := adminClient(s)
	for _, tc := range []struct {
		tier     string
		replicas int
	}{{"free", 1}, {"pro", 3}, {"enterprise", 5}, {"free", 1}} {
		t.Run(tc.tier, func(t *testing.T) {
			setFact(t, c, "deployment/shop@eu-1", "tier", tc.tier)
			out, err := render.Generate(context.Background(), src, render.Target{Workspace: "default", Project: "shop", Target: "eu-1"}, render.Argo{}, client)
			if err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("---\n# Source: deployment.yaml.tmpl\nkind: Deployment\nspec:\n  replicas: %d\n", tc.replicas)
			if string(out) != want {
				t.Errorf("got\n%s\nwant\n%s", out, want)
			}
		})
	}
}

// TestVersionSetReachesBundle sets a version through VersionService and
// expects the bundle's (and so the template's) desired version to be it.
func TestVersionSetReachesBundle(t *testing.T) {
	s, c := estate(t)
	ctx := context.Background()
	if _, err := c.Versions.SetVersion(ctx, connect.NewRequest(&flagopsv1.SetVersionRequest{Project: "shop", Environment: "prod", Version: "2.3.0"})); err != nil {
		t.Fatal(err)
	}
	client := adminClient(s)
	b, err := client.Fetch(ctx, &render.BundleRequest{Project: "shop", Target: "eu-1"})
	if err != nil {
		t.Fatal(err)
	}
	if b.Version == nil || b.Version.Desired != "2.3.0" || b.Version.Deployed != "" {
		t.Fatalf("bundle version %+v, want desired 2.3.0", b.Version)
	}
	src := fstest.MapFS{"v.yaml.tmpl": {Data: []byte("image: shop:{{ .Version.Desired }}\n")}}
	out, err := render.Generate(ctx, src, render.Target{Workspace: "default", Project: "shop", Target: "eu-1"}, render.Argo{}, client)
	if err != nil {
		t.Fatal(err)
	}
	if want := "---\n# Source: v.yaml.tmpl\nimage: shop:2.3.0\n"; string(out) != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}
