package adversarial_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/flagops/flagops/cli"
	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
)

// TestApplyIsAllOrNothing keeps issue 9.14 fixed: "apply -f of several
// documents commits the first ones when a later one fails on the server".
// Each case sends a set whose first documents are good and whose last is
// refused by the server only (a missing reference, a broken flag set, a key
// that may not write it, a prune that cannot happen), through the API and
// through "flagops apply", on both backends; nothing of the set may be
// committed and no revision used.
func TestApplyIsAllOrNothing(t *testing.T) {
	servertest.Backends(t, func(t *testing.T, cfg server.Config) {
		s := servertest.Start(t, cfg)
		c := servertest.NewClients(servertest.HTTP1Client(), s.URL())
		ctx := context.Background()
		base := "kind: Environment\nname: prod\n---\nkind: Project\nname: shop\nenvironments: [prod]\n---\nkind: Target\nname: eu-1\nenvironment: prod\n"
		if _, err := c.Apply.Apply(ctx, connect.NewRequest(&flagopsv1.ApplyRequest{Manifests: []*flagopsv1.Manifest{{Source: "base.yaml", Content: base}}})); err != nil {
			t.Fatal(err)
		}
		key, err := c.Access.CreateKey(ctx, connect.NewRequest(&flagopsv1.CreateKeyRequest{Name: "shop-editor",
			Bindings: []*flagopsv1.Binding{{Role: "editor", Workspace: "default", Scope: "project/shop"}}}))
		if err != nil {
			t.Fatal(err)
		}
		shopEditor := key.Msg.GetToken()

		var many strings.Builder
		for i := range 300 {
			fmt.Fprintf(&many, "---\nkind: Environment\nname: env-%03d\n", i)
		}
		good := "kind: Environment\nname: staging\n---\nkind: Facts\nscope: environment/prod\nvalues: {region: eu}\n" +
			"---\nkind: Flag\nproject: shop\nkey: fresh\ntype: boolean\nvariations: [{key: yes, value: true}, {key: no, value: false}]\n"
		tests := []struct {
			name  string
			token string
			files []string
			prune []string
			code  connect.Code
		}{
			{"a missing reference", "", []string{good + "---\nkind: Target\nname: us-1\nenvironment: nowhere\n"}, nil, connect.CodeInvalidArgument},
			{"a broken flag set", "", []string{good + "---\nkind: Flag\nproject: shop\nkey: broken\ntype: boolean\n" +
				"variations: [{key: yes, value: true}, {key: no, value: false}]\nenvironments:\n  prod: {enabled: true, rules: [{segment: nope, variation: yes}], fallthrough: {variation: no}}\n"},
				nil, connect.CodeInvalidArgument},
			{"a write the key may not make", shopEditor, []string{"kind: Flag\nproject: shop\nkey: mine\ntype: boolean\nvariations: [{key: yes, value: true}, {key: no, value: false}]\n" +
				"---\nkind: Environment\nname: sneaky\n"}, nil, connect.CodePermissionDenied},
			{"the last of many manifests", "", []string{many.String(), good, "kind: Release\nproject: nope\nversion: 1.0.0\n"}, nil, connect.CodeInvalidArgument},
			{"a prune that cannot happen", "", []string{"kind: Environment\nname: staging\n---\nkind: Project\nname: shop\nenvironments: [staging]\n"},
				[]string{"Environment"}, connect.CodeFailedPrecondition},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				check := func(t *testing.T, before int64) {
					t.Helper()
					if after := applyRevision(t, c); after != before {
						t.Errorf("revision moved %d → %d: part of the set was committed", before, after)
					}
					for _, env := range []string{"staging", "env-000", "sneaky"} {
						if _, err := c.Catalog.GetEnvironment(ctx, connect.NewRequest(&flagopsv1.GetEnvironmentRequest{Name: env})); connect.CodeOf(err) != connect.CodeNotFound {
							t.Errorf("environment %s exists: %v", env, err)
						}
					}
					if _, err := c.Flags.GetFlag(ctx, connect.NewRequest(&flagopsv1.GetFlagRequest{Project: "shop", Key: "fresh"})); connect.CodeOf(err) != connect.CodeNotFound {
						t.Errorf("flag shop/fresh exists: %v", err)
					}
				}

				t.Run("api", func(t *testing.T) {
					before := applyRevision(t, c)
					req := connect.NewRequest(&flagopsv1.ApplyRequest{Prune: len(tt.prune) > 0, PruneKinds: tt.prune})
					for i, f := range tt.files {
						req.Msg.Manifests = append(req.Msg.Manifests, &flagopsv1.Manifest{Source: fmt.Sprintf("m%d.yaml", i), Content: f})
					}
					if tt.token != "" {
						req.Header().Set("Authorization", "Bearer "+tt.token)
					}
					_, err := c.Apply.Apply(ctx, req)
					if connect.CodeOf(err) != tt.code {
						t.Fatalf("Apply: %v, want code %v", err, tt.code)
					}
					check(t, before)
				})

				t.Run("cli", func(t *testing.T) {
					before := applyRevision(t, c)
					dir := t.TempDir()
					token := tt.token
					if token == "" {
						token = servertest.AdminToken(s.URL())
					}
					args := []string{"apply", "--server", s.URL(), "--token", token}
					for i, f := range tt.files {
						name := filepath.Join(dir, fmt.Sprintf("%d.yaml", i))
						if err := os.WriteFile(name, []byte(f), 0o600); err != nil {
							t.Fatal(err)
						}
						args = append(args, "-f", name)
					}
					if len(tt.prune) > 0 {
						args = append(args, "--prune", "--prune-kinds", strings.Join(tt.prune, ","))
					}
					var stdout, stderr bytes.Buffer
					if code := cli.Main(ctx, args, strings.NewReader(""), &stdout, &stderr); code != 1 {
						t.Fatalf("flagops apply: exit %d, want 1; stdout %q, stderr %q", code, stdout.String(), stderr.String())
					}
					if stdout.Len() != 0 || !strings.Contains(stderr.String(), "nothing applied") {
						t.Errorf("stdout %q, stderr %q: want nothing reported applied", stdout.String(), stderr.String())
					}
					check(t, before)
				})
			})
		}
	})
}

func applyRevision(t *testing.T, c servertest.Clients) int64 {
	t.Helper()
	res, err := c.Changes.GetRevision(context.Background(), connect.NewRequest(&flagopsv1.GetRevisionRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	return res.Msg.GetRevision()
}
