package snapshot

import (
	"context"
	"fmt"

	"github.com/flagops/flagops/internal/eval"
	"github.com/flagops/flagops/internal/flag"
)

// FlagReader is what the loader needs from the store: one project's flags
// and segments, and the revision they were read at. The store implements it
// (wired later).
type FlagReader interface {
	ProjectFlags(ctx context.Context, ws, project string) (flags []flag.Flag, segments []flag.Segment, revision int64, err error)
}

// Sink receives compiled snapshots and fact changes. *Registry implements
// it; the watch stream's consumer calls it.
type Sink interface {
	Replace(ws, project, env string, s *eval.Snapshot)
	FactsChanged(ws, project, target string)
}

var _ Sink = (*Registry)(nil)

// Loader rebuilds the snapshots of a project when the change log says its
// flags or segments changed.
type Loader struct {
	Reader FlagReader
	Sink   Sink
}

// Rebuild reads the project's flags once and compiles and publishes a
// snapshot for each of envs (the project's environments). On an error
// nothing is replaced for the failing environment: the last good snapshot
// keeps serving.
func (l *Loader) Rebuild(ctx context.Context, ws, project string, envs []string) error {
	flags, segs, rev, err := l.Reader.ProjectFlags(ctx, ws, project)
	if err != nil {
		return fmt.Errorf("load flags of %s/%s: %w", ws, project, err)
	}
	for _, env := range envs {
		s, err := eval.Compile(env, rev, flags, segs)
		if err != nil {
			return fmt.Errorf("compile flags of %s/%s in %s: %w", ws, project, env, err)
		}
		l.Sink.Replace(ws, project, env, s)
	}
	return nil
}
