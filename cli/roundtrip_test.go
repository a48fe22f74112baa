package cli

import (
	"strings"
	"testing"

	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
)

// roundTripEstate has an object of every kind apply supports.
const roundTripEstate = `kind: Workspace
name: team-b
description: The other team.
labels: {cost-center: "42"}
---
kind: Environment
name: prod
description: Production.
---
kind: Environment
name: staging
---
kind: EnvironmentSet
name: all
environments: [staging, prod]
---
kind: Target
name: eu-1
environment: prod
labels: {region: eu}
---
kind: Project
name: shop
environmentSets: [all]
---
kind: Facts
scope: deployment/shop@eu-1
values: {tier: pro, limits: {mem: 512, cpu: 2.5}, zones: [a, b]}
---
kind: Facts
scope: environment/prod
values: {region: eu}
---
kind: Segment
project: shop
key: beta
include: [u1, u2]
rules: [{conditions: [{attribute: plan, operator: in, values: [pro, enterprise]}]}]
---
kind: Flag
project: shop
key: checkout
name: New checkout
type: string
variations: [{key: old, value: v1}, {key: new, value: v2}]
environments:
  prod:
    enabled: true
    offVariation: old
    rules: [{segment: beta, variation: new}]
    fallthrough: {rollout: [{variation: old, weight: 90000}, {variation: new, weight: 10000}]}
---
kind: Release
project: shop
version: 1.4.2
commits: {github.com/acme/shop: 0123456789abcdef0123456789abcdef01234567}
artifacts:
  - {name: shop, platform: linux/amd64, url: "https://example.com/shop", sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08, size: 1024}
notes: Faster.
---
kind: PromotionPolicy
project: shop
from: staging
to: prod
soak: 45m
schedule: "0 9 * * mon-fri"
timezone: Europe/Paris
requireApproval: true
allowedWindows: [{days: [mon, tue], from: "09:00", to: "17:00"}]
freezeWindows: [{start: "2030-12-24T00:00:00Z", end: "2030-12-27T00:00:00Z", reason: Holidays.}]
`

// TestGetApplyRoundTrip checks, for every kind apply supports, on both
// backends, that what get prints (-o yaml and -o json, one object and a
// list) is a manifest apply accepts unchanged: every object unchanged, no
// revision used (issue 16.3).
func TestGetApplyRoundTrip(t *testing.T) {
	servertest.Backends(t, func(t *testing.T, cfg server.Config) {
		env, url := cliServer(t, cfg)
		if code, _, stderr := runCLI(t, env, roundTripEstate, "apply", "-f", "-"); code != 0 {
			t.Fatalf("apply the estate: %s", stderr)
		}
		// A fact written by the API with its object keys in another order is
		// the same value.
		if code, _, stderr := runCLI(t, env, "", "facts", "set", "project/shop", `owners={"b":["x"],"a":1}`); code != 0 {
			t.Fatalf("facts set: %s", stderr)
		}
		tests := []struct {
			kind string
			get  []string
			// objects is how many objects the output holds.
			objects int
		}{
			{"Workspace", []string{"get", "workspace", "team-b"}, 1},
			{"Workspace", []string{"get", "workspaces"}, 2},
			{"Environment", []string{"get", "environment", "prod"}, 1},
			{"Environment", []string{"get", "environments"}, 2},
			{"EnvironmentSet", []string{"get", "set", "all"}, 1},
			{"EnvironmentSet", []string{"get", "environmentsets"}, 1},
			{"Target", []string{"get", "target", "eu-1"}, 1},
			{"Target", []string{"get", "targets"}, 1},
			{"Project", []string{"get", "project", "shop"}, 1},
			{"Project", []string{"get", "projects"}, 1},
			{"Facts", []string{"get", "facts", "deployment/shop@eu-1"}, 1},
			{"Facts", []string{"get", "facts", "project/shop"}, 1},
			{"Segment", []string{"get", "segment", "shop/beta"}, 1},
			{"Segment", []string{"get", "segments", "--project", "shop"}, 1},
			{"Segment", []string{"segments", "get", "beta", "--project", "shop"}, 1},
			{"Flag", []string{"get", "flag", "checkout", "--project", "shop"}, 1},
			{"Flag", []string{"get", "flags"}, 1},
			{"Flag", []string{"flags", "get", "checkout", "--project", "shop"}, 1},
			{"Flag", []string{"flags", "list", "--project", "shop"}, 1},
			{"Release", []string{"get", "release", "shop@1.4.2"}, 1},
			{"Release", []string{"get", "releases", "--project", "shop"}, 1},
			{"PromotionPolicy", []string{"get", "policy", "shop:staging->prod"}, 1},
			{"PromotionPolicy", []string{"get", "promotionpolicies"}, 1},
		}
		for _, tt := range tests {
			for _, format := range []string{"yaml", "json"} {
				t.Run(strings.Join(tt.get, " ")+" -o "+format, func(t *testing.T) {
					code, out, stderr := runCLI(t, env, "", append(tt.get, "-o", format)...)
					if code != 0 {
						t.Fatalf("exit %d: %s", code, stderr)
					}
					if n := strings.Count(out, `kind: `+tt.kind) + strings.Count(out, `"kind": "`+tt.kind+`"`); n != tt.objects {
						t.Errorf("%d %s documents, want %d:\n%s", n, tt.kind, tt.objects, out)
					}
					before := serverRevision(t, url)
					code, applied, stderr := runCLI(t, env, out, "apply", "-f", "-")
					if code != 0 {
						t.Fatalf("apply of the get output: exit %d: %s\n%s", code, stderr, out)
					}
					lines := strings.Split(strings.TrimSuffix(applied, "\n"), "\n")
					if len(lines) != tt.objects {
						t.Errorf("apply reported %d objects, want %d:\n%s", len(lines), tt.objects, applied)
					}
					for _, l := range lines {
						if !strings.HasSuffix(l, " unchanged") {
							t.Errorf("not unchanged: %s\nfrom:\n%s", l, out)
						}
					}
					if after := serverRevision(t, url); after != before {
						t.Errorf("the round trip moved the revision %d → %d", before, after)
					}
				})
			}
		}
	})
}
