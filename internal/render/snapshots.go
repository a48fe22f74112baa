package render

import (
	"context"

	"github.com/flagops/flagops/internal/eval"
)

// SnapshotSource returns the compiled flag snapshot of a project in an
// environment, or nil when the project has no flags there. The flag
// snapshot registry (internal/snapshot.Registry) implements it.
type SnapshotSource interface {
	Get(ws, project, env string) *eval.Snapshot
}

// SnapshotFlags is a FlagEvaluator over compiled snapshots: the server's
// flags are evaluated by the same engine, from the same immutable snapshot,
// as OFREP and the Go provider evaluate them, so a render and a running
// service never disagree. Wire it with Deps{Flags: render.SnapshotFlags{Source: registry}}.
type SnapshotFlags struct {
	Source SnapshotSource
}

var _ FlagEvaluator = SnapshotFlags{}

// EvaluateAll evaluates every flag of the snapshot; a project without a
// snapshot has no flags (revision 0).
func (s SnapshotFlags) EvaluateAll(_ context.Context, ws, project, env string, c eval.Context) (map[string]eval.Result, int64, error) {
	snap := s.Source.Get(ws, project, env)
	if snap == nil {
		return map[string]eval.Result{}, 0, nil
	}
	out := make(map[string]eval.Result, snap.Len())
	snap.EvaluateAll(c, func(r eval.Result) { out[r.FlagKey] = r })
	return out, snap.Revision(), nil
}
