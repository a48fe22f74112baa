package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const versionsManifest = `kind: Environment
name: staging
---
kind: Environment
name: prod
---
kind: Target
name: st-1
environment: staging
---
kind: Target
name: eu-1
environment: prod
---
kind: Target
name: eu-2
environment: prod
---
kind: Project
name: shop
environments: [staging, prod]
---
kind: Release
project: shop
version: 1.0.0
commits: {github.com/acme/shop: 0123456789abcdef0123456789abcdef01234567}
artifacts:
  - {name: shop, platform: linux/amd64, url: "https://dl.example.com/shop-1.0.0", sha256: 1111111111111111111111111111111111111111111111111111111111111111, size: 10}
---
kind: Release
project: shop
version: 1.1.0
commits: {github.com/acme/shop: 89abcdef0123456789abcdef0123456789abcdef}
---
kind: PromotionPolicy
project: shop
from: staging
to: prod
soak: 1h
requireApproval: true
freezeWindows:
  - {start: "2030-12-20T00:00:00Z", end: "2031-01-02T00:00:00Z", reason: holidays}
`

// TestVersionsEndToEnd drives the version, release and promotion commands
// against a real server.
func TestVersionsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test starts a server")
	}
	url, dataDir := startServer(t)
	env := map[string]string{"FLAGOPS_SERVER": url, "FLAGOPS_DATA_DIR": dataDir}
	run := func(args ...string) (int, string, string) {
		t.Helper()
		return runCLI(t, env, "", args...)
	}
	cli := func(args ...string) string {
		t.Helper()
		code, out, stderr := run(args...)
		if code != 0 {
			t.Fatalf("flagops %s: exit %d: %s", strings.Join(args, " "), code, stderr)
		}
		return out
	}
	file := filepath.Join(t.TempDir(), "versions.yaml")
	if err := os.WriteFile(file, []byte(versionsManifest), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := cli("apply", "-f", file); !strings.Contains(out, "release/shop@1.0.0 created") || !strings.Contains(out, "promotionpolicy/shop:staging->prod created") {
		t.Fatalf("apply:\n%s", out)
	}
	if out := cli("apply", "-f", file); strings.Count(out, "unchanged") != 9 {
		t.Fatalf("second apply must change nothing:\n%s", out)
	}
	steps := []struct {
		name     string
		args     []string
		code     int
		contains string
	}{
		{"set prod", []string{"version", "set", "shop", "prod", "1.0.0"}, 0, "shop@prod set to 1.0.0"},
		{"pin eu-2", []string{"version", "set", "shop", "prod", "1.0.0", "--target", "eu-2"}, 0, "shop@prod/eu-2 set"},
		{"set prod again", []string{"version", "set", "shop", "prod", "1.1.0"}, 0, "set to 1.1.0"},
		{"the pin holds", []string{"version", "get", "shop", "prod"}, 0, "1.0.0 (pinned)"},
		{"report", []string{"version", "report", "shop", "eu-1", "1.0.0", "--status", "healthy"}, 0, "reported at revision"},
		{"drift", []string{"drift", "--project", "shop"}, 0, "eu-1"},
		{"rollback", []string{"version", "rollback", "shop", "prod"}, 0, "rolled back to 1.0.0"},
		{"history of the channel", []string{"history", "--project", "shop", "--environment", "prod"}, 0, "deployed-version"},
		{"history of a target", []string{"history", "--project", "shop", "--target", "eu-2", "-o", "json"}, 0, `"key": "shop@prod/eu-2"`},
		{"history by actor", []string{"history", "--project", "shop", "--actor", "nobody"}, 0, "REV"},
		{"history needs a project", []string{"history", "--environment", "prod"}, 2, "need --project"},
		{"find by commit", []string{"releases", "find", "--commit", "89abcdef0123456789abcdef0123456789abcdef"}, 0, "1.1.0"},
		{"find by digest", []string{"releases", "find", "--artifact", strings.Repeat("1", 64), "-o", "json"}, 0, `"version": "1.0.0"`},
		{"bad digest", []string{"releases", "find", "--artifact", "abc"}, 1, "sha256"},
		{"version with spaces", []string{"version", "set", "shop", "prod", "1.0 beta"}, 1, "field: version"},
		{"unknown environment", []string{"version", "set", "shop", "qa", "1.0.0"}, 1, "field: environment"},
		{"promote", []string{"promote", "shop", "prod", "staging"}, 0, "done"},
		{"stop the line", []string{"promotions", "stop-the-line", "--project", "shop"}, 0, "stopped"},
		{"promote refused", []string{"promote", "shop", "prod", "staging"}, 1, "refused"},
		{"restart the line", []string{"promotions", "stop-the-line", "--project", "shop", "--off"}, 0, "running again"},
		{"resume prod", []string{"promotions", "resume", "shop", "prod"}, 0, "resumed"},
		{"list", []string{"promotions", "list", "--project", "shop"}, 0, "refused"},
		{"policies", []string{"promotions", "policies", "-o", "yaml"}, 0, "requireApproval: true"},
		{"approve nothing", []string{"promotions", "approve", "999"}, 1, "not_found"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			code, out, stderr := run(s.args...)
			if code != s.code || !strings.Contains(out+stderr, s.contains) {
				t.Fatalf("flagops %s: exit %d (want %d)\n%s%s\nwant it to contain %q", strings.Join(s.args, " "), code, s.code, out, stderr, s.contains)
			}
		})
	}
}
