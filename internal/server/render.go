package server

import (
	"context"
	"fmt"

	"github.com/flagops/flagops/internal/render"
	"github.com/flagops/flagops/internal/store"
)

// storeVersions adapts the store's version reads to render.VersionReader:
// the effective desired version (the target's pin, else the environment's)
// and the version the target's agent last reported.
type storeVersions struct{ st *store.Store }

var _ render.VersionReader = storeVersions{}

// Desired implements render.VersionReader. A deployment without versions
// yet answers two empty strings: templates render it without a version.
func (v storeVersions) Desired(ctx context.Context, ws, project, target string) (desired, deployed string, err error) {
	rows, err := v.st.DeploymentVersions(ctx, ws, store.VersionFilter{Project: project, Target: target})
	if err != nil {
		return "", "", fmt.Errorf("versions of %s@%s: %w", project, target, err)
	}
	if len(rows) == 0 {
		return "", "", nil
	}
	return rows[0].Desired, rows[0].Deployed, nil
}
