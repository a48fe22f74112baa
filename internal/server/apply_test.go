package server_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
)

// applyEstate is a set of every kind apply supports, in no particular order.
const applyEstate = `kind: Flag
project: shop
key: checkout
type: boolean
variations: [{key: enabled, value: true}, {key: disabled, value: false}]
environments:
  prod:
    enabled: true
    rules: [{segment: beta, variation: enabled}]
    fallthrough: {variation: disabled}
---
kind: Environment
name: prod
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
---
kind: Target
name: st-1
environment: staging
---
kind: Project
name: shop
environmentSets: [all]
---
kind: Facts
scope: deployment/shop@eu-1
values: {tier: pro, limits: {cpu: 2}}
---
kind: Segment
project: shop
key: beta
include: [u1]
---
kind: Release
project: shop
version: 1.0.0
commits: {github.com/acme/shop: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}
---
kind: PromotionPolicy
project: shop
from: staging
to: prod
soak: 30m
---
kind: Workspace
name: team-b
description: The other team.
`

func applyReq(dry bool, content ...string) *flagopsv1.ApplyRequest {
	req := &flagopsv1.ApplyRequest{DryRun: dry}
	for i, c := range content {
		req.Manifests = append(req.Manifests, &flagopsv1.Manifest{Source: "m" + string(rune('0'+i)) + ".yaml", Content: c})
	}
	return req
}

// outcome is a result as "name action [fields]".
func outcome(r *flagopsv1.ApplyResult) string {
	s := r.GetName() + " " + strings.TrimPrefix(strings.ToLower(r.GetAction().String()), "apply_action_")
	if len(r.GetChangedFields()) > 0 {
		s += " [" + strings.Join(r.GetChangedFields(), " ") + "]"
	}
	return s
}

func outcomes(resp *flagopsv1.ApplyResponse) []string {
	var out []string
	for _, r := range resp.GetResults() {
		out = append(out, outcome(r))
	}
	return out
}

func revisionNow(t *testing.T, c servertest.Clients) int64 {
	t.Helper()
	res, err := c.Changes.GetRevision(context.Background(), connect.NewRequest(&flagopsv1.GetRevisionRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	return res.Msg.GetRevision()
}

// TestApply applies a set of every kind on both backends: one revision for
// the whole set, unchanged (and no revision) the second time, a dry run's
// diff naming the changed fields and committing nothing, and a prune.
func TestApply(t *testing.T) {
	servertest.Backends(t, func(t *testing.T, cfg server.Config) {
		s := servertest.Start(t, cfg)
		c := servertest.NewClients(servertest.HTTP1Client(), s.URL())
		ctx := context.Background()
		apply := func(t *testing.T, req *flagopsv1.ApplyRequest) *flagopsv1.ApplyResponse {
			t.Helper()
			res, err := c.Apply.Apply(ctx, connect.NewRequest(req))
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			return res.Msg
		}

		t.Run("one revision for the whole set", func(t *testing.T) {
			before := revisionNow(t, c)
			resp := apply(t, applyReq(false, applyEstate))
			if resp.GetRevision() != before+1 || revisionNow(t, c) != before+1 {
				t.Fatalf("revision %d → %d (response %d), want one revision", before, revisionNow(t, c), resp.GetRevision())
			}
			want := []string{"workspace/team-b created", "environment/prod created", "environment/staging created",
				"environmentset/all created", "target/eu-1 created", "target/st-1 created", "project/shop created",
				"facts deployment/shop@eu-1 created", "segment/shop/beta created", "flag/shop/checkout created",
				"release/shop@1.0.0 created", "promotionpolicy/shop:staging->prod created"}
			if got := outcomes(resp); !slices.Equal(got, want) {
				t.Errorf("results\n got %q\nwant %q", got, want)
			}
			changes, err := c.Changes.ListChanges(ctx, connect.NewRequest(&flagopsv1.ListChangesRequest{FromRevision: before, PageSize: 1000}))
			if err != nil {
				t.Fatal(err)
			}
			if n := len(changes.Msg.GetChanges()); n != int(resp.GetChangeCount()) || n != 13 {
				t.Errorf("%d change entries, response says %d; want 13 (two facts)", n, resp.GetChangeCount())
			}
			for _, ch := range changes.Msg.GetChanges() {
				if ch.GetRevision() != resp.GetRevision() {
					t.Errorf("change %s/%s at revision %d, not %d", ch.GetKind(), ch.GetKey(), ch.GetRevision(), resp.GetRevision())
				}
			}
		})

		t.Run("a second apply is unchanged and uses no revision", func(t *testing.T) {
			before := revisionNow(t, c)
			resp := apply(t, applyReq(false, applyEstate))
			for _, r := range resp.GetResults() {
				if r.GetAction() != flagopsv1.ApplyAction_APPLY_ACTION_UNCHANGED {
					t.Errorf("%s", outcome(r))
				}
			}
			if resp.GetRevision() != 0 || resp.GetChangeCount() != 0 || revisionNow(t, c) != before {
				t.Errorf("revision %d (response %d, %d changes), want %d", revisionNow(t, c), resp.GetRevision(), resp.GetChangeCount(), before)
			}
		})

		changed := strings.NewReplacer(
			"name: eu-1\nenvironment: prod", "name: eu-1\nenvironment: prod\ndescription: Frankfurt.\nlabels: {zone: a}",
			"values: {tier: pro, limits: {cpu: 2}}", "values: {tier: enterprise, limits: {cpu: 2.0}, owner: ops}",
			"fallthrough: {variation: disabled}", "fallthrough: {variation: enabled}",
			"soak: 30m", "soak: 1h",
		).Replace(applyEstate) + "---\nkind: Environment\nname: dev\n"

		t.Run("a dry run reports the diff and commits nothing", func(t *testing.T) {
			before := revisionNow(t, c)
			resp := apply(t, applyReq(true, changed))
			if !resp.GetDryRun() || resp.GetRevision() != 0 || revisionNow(t, c) != before {
				t.Fatalf("dry run: response revision %d, revision %d → %d", resp.GetRevision(), before, revisionNow(t, c))
			}
			var got []string
			for _, o := range outcomes(resp) {
				if !strings.HasSuffix(o, " unchanged") {
					got = append(got, o)
				}
			}
			want := []string{"environment/dev created", "target/eu-1 changed [description labels.zone]",
				"facts deployment/shop@eu-1 changed [values.owner values.tier]",
				"flag/shop/checkout changed [environments.prod.fallthrough.variation]",
				"promotionpolicy/shop:staging->prod changed [soak]"}
			if !slices.Equal(got, want) {
				t.Errorf("dry run diff\n got %q\nwant %q", got, want)
			}
			if resp.GetChangeCount() != 6 {
				t.Errorf("the dry run would write %d changes, want 6 (two facts)", resp.GetChangeCount())
			}
			if _, err := c.Catalog.GetEnvironment(ctx, connect.NewRequest(&flagopsv1.GetEnvironmentRequest{Name: "dev"})); connect.CodeOf(err) != connect.CodeNotFound {
				t.Errorf("a dry run created environment dev: %v", err)
			}
			// The same set, applied for real, does what the dry run said.
			real := apply(t, applyReq(false, changed))
			if !slices.Equal(outcomes(real), outcomes(resp)) {
				t.Errorf("apply after the dry run\n got %q\nwant %q", outcomes(real), outcomes(resp))
			}
		})

		t.Run("prune deletes what the set no longer names", func(t *testing.T) {
			smaller := strings.Replace(changed, "---\nkind: Target\nname: st-1\nenvironment: staging\n", "", 1)
			i := strings.Index(smaller, "---\nkind: Environment\nname: prod")
			smaller = smaller[i+4:] // without the flag
			_, err := c.Apply.Apply(ctx, connect.NewRequest(&flagopsv1.ApplyRequest{
				Manifests: applyReq(false, smaller).Manifests, PruneKinds: []string{"Target"}}))
			if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "prune") {
				t.Errorf("prune kinds without prune: %v", err)
			}
			before := revisionNow(t, c)
			resp := apply(t, &flagopsv1.ApplyRequest{Manifests: applyReq(false, smaller).Manifests, Prune: true, PruneKinds: []string{"Target", "Flag", "Environment"}})
			var deleted []string
			for _, r := range resp.GetResults() {
				if r.GetAction() == flagopsv1.ApplyAction_APPLY_ACTION_DELETED {
					deleted = append(deleted, r.GetKind()+" "+r.GetName())
				}
			}
			if want := []string{"Flag flag/shop/checkout", "Target target/st-1"}; !slices.Equal(deleted, want) {
				t.Errorf("pruned %q, want %q", deleted, want)
			}
			if resp.GetRevision() != before+1 {
				t.Errorf("prune committed revision %d, want %d", resp.GetRevision(), before+1)
			}
			if _, err := c.Catalog.GetTarget(ctx, connect.NewRequest(&flagopsv1.GetTargetRequest{Name: "st-1"})); connect.CodeOf(err) != connect.CodeNotFound {
				t.Errorf("target st-1 is still there: %v", err)
			}
			// Pruning an environment a kept target still uses is refused,
			// and refuses the whole apply.
			noStaging := strings.Replace(smaller, "---\nkind: Environment\nname: staging\n", "", 1)
			_, err = c.Apply.Apply(ctx, connect.NewRequest(&flagopsv1.ApplyRequest{Manifests: applyReq(false, noStaging).Manifests, Prune: true, PruneKinds: []string{"Environment"}}))
			if connect.CodeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), `environment/staging`) {
				t.Errorf("pruning a used environment: %v", err)
			}
		})

		t.Run("a bad document names its place, kind, object and field", func(t *testing.T) {
			before := revisionNow(t, c)
			_, err := c.Apply.Apply(ctx, connect.NewRequest(applyReq(false, "kind: Environment\nname: qa\n",
				"kind: Environment\nname: qa-2\n---\nkind: Target\nname: qa-1\nenvironment: nope\n")))
			if connect.CodeOf(err) != connect.CodeInvalidArgument {
				t.Fatalf("code %v: %v", connect.CodeOf(err), err)
			}
			if msg := err.Error(); !strings.Contains(msg, "m1.yaml: document 2 (Target) target/qa-1") || !strings.Contains(msg, `"nope"`) {
				t.Errorf("message %q", msg)
			}
			if f := errorField(err); f != "manifests[1].documents[1].environment" {
				t.Errorf("field %q", f)
			}
			if revisionNow(t, c) != before {
				t.Error("a refused apply used a revision")
			}
		})
	})
}

// errorField returns the field of the error detail a Connect error carries.
func errorField(err error) string {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return ""
	}
	for _, d := range ce.Details() {
		if v, derr := d.Value(); derr == nil {
			if ed, ok := v.(*flagopsv1.ErrorDetail); ok {
				return ed.GetField()
			}
		}
	}
	return ""
}
