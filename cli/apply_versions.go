package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"connectrpc.com/connect"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/domain"
)

// sameRelease compares what a Release document sets.
func sameRelease(a, b domain.Release) bool {
	strip := func(r domain.Release) string {
		r.Workspace, r.Actor, r.Revision, r.CreatedAt = "", "", 0, time.Time{}
		raw, _ := json.Marshal(r)
		return string(raw)
	}
	return strip(a) == strip(b)
}

// applyRelease creates a release. Releases are immutable: re-applying the
// same document is unchanged, and a document that differs from the stored
// release of its version is an error (a correction is a new version).
func (p *applier) applyRelease(ctx context.Context, ws string, r domain.Release) (string, error) {
	r.Workspace = ws
	cur, err := p.c.releases.GetRelease(ctx, connect.NewRequest(&flagopsv1.GetReleaseRequest{Workspace: ws, Project: r.Project, Version: r.Version}))
	switch {
	case err == nil && sameRelease(releaseFromProto(cur.Msg.GetRelease()), r):
		return "unchanged", nil
	case err == nil:
		return "", fmt.Errorf("release %s of %s exists with other contents; releases are immutable, so publish a new version", r.Version, r.Project)
	case !isNotFound(err):
		return "", err
	case p.dryRun:
		return "created", nil
	}
	if _, err := p.c.releases.CreateRelease(ctx, connect.NewRequest(&flagopsv1.CreateReleaseRequest{Release: releaseToProto(r)})); err != nil {
		return "", err
	}
	return "created", nil
}

// applyPolicy puts a promotion policy; a dry run compares it with the stored one.
func (p *applier) applyPolicy(ctx context.Context, ws string, pol domain.PromotionPolicy) (string, error) {
	pol.Workspace = ws
	if p.dryRun {
		res, err := p.c.promotions.ListPromotionPolicies(ctx, connect.NewRequest(&flagopsv1.ListPromotionPoliciesRequest{Workspace: ws, Project: pol.Project}))
		if err != nil {
			return "", err
		}
		for _, cur := range res.Msg.GetPolicies() {
			c := policyFromProto(cur)
			if c.From == pol.From && c.To == pol.To {
				c.Revision, c.Workspace = 0, ws
				a, _ := json.Marshal(c)
				b, _ := json.Marshal(pol)
				if string(a) == string(b) {
					return "unchanged", nil
				}
				return "configured", nil
			}
		}
		return "created", nil
	}
	res, err := p.c.promotions.PutPromotionPolicy(ctx, connect.NewRequest(&flagopsv1.PutPromotionPolicyRequest{Policy: policyToProto(pol)}))
	if err != nil {
		return "", err
	}
	return opResult(res.Msg.GetOperation()), nil
}
