package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const flagManifest = `kind: Environment
name: prod
---
kind: Target
name: eu-1
environment: prod
---
kind: Project
name: shop
environments: [prod]
---
kind: Facts
scope: deployment/shop@eu-1
values: {tier: pro}
---
kind: Segment
project: shop
key: beta
include: [user-42]
---
kind: Flag
project: shop
key: replicas
type: number
variations: [{key: free, value: 1}, {key: pro, value: 3}, {key: enterprise, value: 5}]
environments:
  prod:
    enabled: true
    offVariation: free
    rules:
      - conditions: [{attribute: tier, operator: equals, values: [enterprise]}]
        variation: enterprise
      - conditions: [{attribute: tier, operator: equals, values: [pro]}]
        variation: pro
    fallthrough: {variation: free}
---
kind: Flag
project: shop
key: new-checkout
environments:
  prod:
    rules: [{segment: beta, variation: "on"}]
`

// TestFlagCommands runs the flag commands against a real server.
func TestFlagCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test starts a server")
	}
	url, dataDir := startServer(t)
	env := map[string]string{"FLAGOPS_SERVER": url, "FLAGOPS_DATA_DIR": dataDir}
	run := func(t *testing.T, args ...string) (int, string, string) {
		t.Helper()
		return runCLI(t, env, "", args...)
	}
	file := filepath.Join(t.TempDir(), "flags.yaml")
	if err := os.WriteFile(file, []byte(flagManifest), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		want []string // substrings of stdout (or stderr when code != 0)
	}{
		{"apply", []string{"apply", "-f", file}, 0, []string{"segment/shop/beta created", "flag/shop/replicas created", "flag/shop/new-checkout created"}},
		{"apply again", []string{"apply", "-f", file}, 0, []string{"flag/shop/replicas unchanged"}},
		{"list", []string{"flags", "list", "--project", "shop"}, 0, []string{"KEY", "new-checkout   boolean   prod:off", "replicas       number    prod:on"}},
		{"get yaml", []string{"flags", "get", "replicas", "--project", "shop", "-o", "yaml"}, 0, []string{"key: replicas", "offVariation: free"}},
		{"enable", []string{"flags", "enable", "new-checkout", "--project", "shop", "--env", "prod"}, 0, []string{"flag/shop/new-checkout enabled in prod (configured"}},
		{"eval with facts", []string{"eval", "replicas", "--project", "shop", "--target", "eu-1"}, 0, []string{"value", "3", "TARGETING_MATCH", "MATCHED", "fact tier", "from deployment/shop@eu-1"}},
		{"eval ctx wins", []string{"eval", "replicas", "--project", "shop", "--target", "eu-1", "--ctx", "tier=enterprise", "-o", "json"}, 0, []string{`"value": 5`, `"variant": "enterprise"`}},
		{"eval segment", []string{"eval", "new-checkout", "--project", "shop", "--env", "prod", "--key", "user-42"}, 0, []string{"in segment beta", "true"}},
		{"segments list", []string{"segments", "list", "--project", "shop"}, 0, []string{"beta"}},
		{"segment delete refused", []string{"segments", "delete", "beta", "--project", "shop"}, 1, []string{"flag shop/new-checkout"}},
		{"schedule rollout", []string{"flags", "schedule", "rollout", "new-checkout", "--project", "shop", "--env", "prod", "--variation", "on", "--id", "nc",
			"--step", "2030-01-01T00:00:00Z=10", "--step", "2030-01-02T00:00:00Z=100"}, 0, []string{"schedule nc of flag/shop/new-checkout created (2 steps)"}},
		{"schedule list", []string{"flags", "schedule", "list", "--project", "shop"}, 0, []string{"nc", "rollout", "pending", "2030-01-01T00:00:00Z", "0/2"}},
		{"schedule cancel", []string{"flags", "schedule", "cancel", "nc", "--project", "shop"}, 0, []string{"schedule nc cancelled"}},
		{"disable", []string{"flags", "disable", "replicas", "--project", "shop", "--env", "prod"}, 0, []string{"disabled in prod"}},
		{"put unknown field", []string{"flags", "put", "-f", writeTemp(t, "project: shop\nkey: x\nenabeld: true\n")}, 2, []string{"unknown field"}},
		{"put plain document", []string{"flags", "put", "-f", writeTemp(t, `{"project":"shop","key":"dark"}`)}, 0, []string{"flag/shop/dark created"}},
		{"delete", []string{"flags", "delete", "dark", "--project", "shop"}, 0, []string{"flag/shop/dark deleted"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, stderr := run(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, stderr)
			}
			if code != 0 {
				out = stderr
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Fatalf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
	t.Run("json list", func(t *testing.T) {
		_, out, _ := run(t, "flags", "list", "--project", "shop", "-o", "json")
		var flags []map[string]any
		if err := json.Unmarshal([]byte(out), &flags); err != nil || len(flags) != 2 {
			t.Fatalf("%v: %s", err, out)
		}
	})
	t.Run("help has examples", func(t *testing.T) {
		for _, args := range [][]string{{"flags"}, {"flags", "list"}, {"flags", "put"}, {"flags", "schedule", "rollout"}, {"segments", "delete"}, {"eval"}} {
			_, out, _ := run(t, append(args, "--help")...)
			if !strings.Contains(out, "Examples:") {
				t.Errorf("%v --help has no example", args)
			}
		}
	})
}

func writeTemp(t *testing.T, body string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "doc.yaml")
	if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestParseOFREPKeys(t *testing.T) {
	tests := []struct {
		in       string
		ws, env  string
		project  string
		wantFail bool
	}{
		{in: "k=prod", ws: "default", env: "prod"},
		{in: "k=prod/shop", ws: "default", env: "prod", project: "shop"},
		{in: "k=acme:prod/shop", ws: "acme", env: "prod", project: "shop"},
		{in: "k", wantFail: true},
		{in: "k=", wantFail: true},
		{in: "k=Bad Env", wantFail: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseOFREPKeys([]string{tc.in})
			if tc.wantFail {
				if err == nil {
					t.Fatalf("accepted %q", tc.in)
				}
				return
			}
			p := got["k"]
			if err != nil || p.Workspace != tc.ws || p.Environment != tc.env || p.Project != tc.project {
				t.Fatalf("%+v %v", p, err)
			}
		})
	}
}
