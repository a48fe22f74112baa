package gitwrite

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadConfig(t *testing.T) {
	const good = `rules:
  - name: shop-prod
    kind: version
    key: shop@prod
    valuePath: desired
    repository: {url: https://git.example/fleet.git, branch: main, passwordEnv: GIT_TOKEN}
    file: apps/shop/kustomization.yaml
    field: {kustomizeImage: shop}
    receiver: {url: https://flux.example/hook/x, tokenEnv: FLUX_TOKEN}
`
	tests := []struct {
		name, body, wantErr string
	}{
		{"valid", good, ""},
		{"unknown key", strings.Replace(good, "valuePath", "valuepath", 1), "valuepath"},
		{"no field", strings.Replace(good, "    field: {kustomizeImage: shop}\n", "", 1), "field"},
		{"two fields", strings.Replace(good, "{kustomizeImage: shop}", "{kustomizeImage: shop, valuesPath: a.b}", 1), "field"},
		{"receiver without token", strings.Replace(good, ", tokenEnv: FLUX_TOKEN", "", 1), "receiver.tokenEnv"},
		{"duplicate name", good + strings.TrimPrefix(good, "rules:\n"), "used twice"},
		{"bad name", strings.Replace(good, "shop-prod", "Shop Prod", 1), "rules[0].name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "wb.yaml")
			if err := os.WriteFile(p, []byte(tc.body), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := LoadConfig(p)
			if tc.wantErr == "" {
				if err != nil || len(cfg.Rules) != 1 || cfg.Rules[0].Field.KustomizeImage != "shop" {
					t.Fatalf("LoadConfig = %+v, %v", cfg, err)
				}
				t.Setenv("GIT_TOKEN", "tok")
				if r := cfg.Rules[0].Repo(); r.Auth == nil || r.Branch != "main" {
					t.Fatalf("Repo() = %+v", r)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("LoadConfig error %v, want one mentioning %q", err, tc.wantErr)
			}
		})
	}
}
