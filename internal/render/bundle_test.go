package render_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/flagops/flagops/internal/auth"
	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/eval"
	"github.com/flagops/flagops/internal/render"
)

type fakeFacts struct{}

func (fakeFacts) ResolveFacts(_ context.Context, ws, project, target string) (domain.Resolved, error) {
	if target != "eu-1" {
		return domain.Resolved{}, errs.New(errs.NotFound, "deployment %s@%s", project, target)
	}
	return domain.Resolved{Workspace: ws, Project: project, Environment: "prod", Target: target, Revision: 4,
		Facts: map[string]json.RawMessage{"project": []byte(`"shop"`), "environment": []byte(`"prod"`),
			"target": []byte(`"eu-1"`), "workspace": []byte(`"default"`), "tier": []byte(`"pro"`)},
		Sources: map[string]string{"tier": "deployment/shop@eu-1"}}, nil
}

// fakeFlags serves flag "replicas" from the tier attribute, and records the
// context it was given.
type fakeFlags struct{ got eval.Context }

func (f *fakeFlags) EvaluateAll(_ context.Context, ws, project, env string, c eval.Context) (map[string]eval.Result, int64, error) {
	f.got = c
	tier, _ := c.Lookup("tier")
	n := map[any]float64{"free": 1, "pro": 3}[tier]
	return map[string]eval.Result{
		"replicas": {FlagKey: "replicas", Value: n, Variant: "v" + tier.(string), Reason: eval.ReasonTargetingMatch},
		"broken":   {FlagKey: "broken", Reason: eval.ReasonError, ErrorCode: eval.ErrGeneral, ErrorMessage: "boom"},
	}, 9, nil
}

type fakeVersions struct{}

func (fakeVersions) Desired(context.Context, string, string, string) (string, string, error) {
	return "1.5.0", "1.4.0", nil
}

type fakeSecrets struct{ asked []string }

func (f *fakeSecrets) ResolveSecrets(_ context.Context, _, _, _ string, keys []string) (map[string]string, error) {
	f.asked = keys
	all := map[string]string{"db": "pw-1", "api.key": "k-2", "other": "never"}
	out := map[string]string{}
	for _, k := range keys {
		if v, ok := all[k]; ok {
			out[k] = v
		}
	}
	return out, nil
}

// reader is a principal that may read every deployment's secret values.
var reader = auth.Principal{Actor: "key/reader", Key: domain.APIKey{ID: "k1", Name: "reader",
	Bindings: []domain.Binding{{Role: domain.RoleSecretReader, Workspace: "default", Scope: domain.WorkspaceScope()}}}}

func TestServiceBundle(t *testing.T) {
	ctx := auth.WithPrincipal(context.Background(), reader)
	flags := &fakeFlags{}
	secrets := &fakeSecrets{}
	full := render.NewService(render.Deps{Facts: fakeFacts{}, Flags: flags, Versions: fakeVersions{}, Secrets: secrets})

	b, err := full.Bundle(ctx, &render.BundleRequest{Project: "shop", Target: "eu-1",
		Context: map[string]any{"project": "evil", "version": "0.0.1", "argocd": map[string]any{"appName": "x"}},
		Secrets: []string{"db", "api.key", "db"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("flags", func(t *testing.T) {
		if r := b.Flags["replicas"]; r.Value != 3.0 || r.Variant != "vpro" || r.Reason != "TARGETING_MATCH" {
			t.Errorf("replicas %+v", r)
		}
		if r := b.Flags["broken"]; r.Value != nil || r.Error != "boom" || r.Reason != "ERROR" {
			t.Errorf("broken %+v", r)
		}
		if b.Revision != 9 {
			t.Errorf("revision %d, want the flags' 9", b.Revision)
		}
	})
	t.Run("evaluation context", func(t *testing.T) {
		for path, want := range map[string]any{"project": "shop", "version": "1.5.0", "argocd.appName": "x", "tier": "pro"} {
			if v, _ := flags.got.Lookup(path); v != want {
				t.Errorf("%s = %v, want %v", path, v, want)
			}
		}
		if flags.got.TargetingKey != "shop@eu-1" {
			t.Errorf("targeting key %q", flags.got.TargetingKey)
		}
	})
	t.Run("version", func(t *testing.T) {
		if b.Version == nil || *b.Version != (render.Version{Desired: "1.5.0", Deployed: "1.4.0"}) {
			t.Errorf("version %+v", b.Version)
		}
	})
	t.Run("secrets asked only", func(t *testing.T) {
		if !slices.Equal(secrets.asked, []string{"api.key", "db"}) || !maps.Equal(b.Secrets, map[string]string{"db": "pw-1", "api.key": "k-2"}) {
			t.Errorf("asked %v, got %v", secrets.asked, b.Secrets)
		}
	})
	t.Run("hash leaves secrets out", func(t *testing.T) {
		want, _ := render.InputsHash(b.Facts, b.Flags, b.Version)
		if b.InputsHash != want {
			t.Errorf("hash %s, want %s", b.InputsHash, want)
		}
		raw, _ := json.Marshal(b)
		var back render.Bundle
		_ = json.Unmarshal(raw, &back)
		if h, _ := render.InputsHash(back.Facts, back.Flags, back.Version); h != b.InputsHash {
			t.Errorf("the hash does not survive a JSON round trip: %s vs %s", h, b.InputsHash)
		}
	})

	bare := render.NewService(render.Deps{Facts: fakeFacts{}})
	for _, tc := range []struct {
		name string
		svc  *render.Service
		req  render.BundleRequest
		kind error
		msg  string
	}{
		{"no secret store", bare, render.BundleRequest{Project: "shop", Target: "eu-1", Secrets: []string{"db"}}, errs.FailedPrecondition, "serves no secrets"},
		{"unknown secret", full, render.BundleRequest{Project: "shop", Target: "eu-1", Secrets: []string{"nope"}}, errs.NotFound, `secret "nope"`},
		{"bad secret key", full, render.BundleRequest{Project: "shop", Target: "eu-1", Secrets: []string{"no/slash"}}, errs.Invalid, "secrets[0]"},
		{"missing deployment", full, render.BundleRequest{Project: "shop", Target: "us-9"}, errs.NotFound, "shop@us-9"},
		{"bad workspace", full, render.BundleRequest{Workspace: "A!", Project: "shop", Target: "eu-1"}, errs.Invalid, "workspace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.svc.Bundle(ctx, &tc.req)
			if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %v; want kind %v with %q", err, tc.kind, tc.msg)
			}
		})
	}

	t.Run("no flags, no version", func(t *testing.T) {
		b, err := bare.Bundle(ctx, &render.BundleRequest{Project: "shop", Target: "eu-1"})
		if err != nil || b.Version != nil || len(b.Flags) != 0 || b.Secrets != nil {
			t.Errorf("bundle %+v, %v", b, err)
		}
	})
}

func TestRedact(t *testing.T) {
	secrets := map[string]string{"a": "hunter2", "b": "hunter2-long", "empty": ""}
	for _, tc := range []struct {
		name, in, want string
	}{
		{"none", "plain error", "plain error"},
		{"one", "value hunter2 rejected", "value [redacted] rejected"},
		{"longest first", "x hunter2-long y hunter2", "x [redacted] y [redacted]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := render.Redact(errs.New(errs.Invalid, "%s", tc.in), secrets)
			if !strings.HasPrefix(err.Error(), tc.want) || !errors.Is(err, errs.Invalid) {
				t.Errorf("got %q (kind kept: %v), want %q", err, errors.Is(err, errs.Invalid), tc.want)
			}
		})
	}
}
