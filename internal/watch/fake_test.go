package watch

import (
	"context"
	"fmt"
	"sync"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
)

// fakeLog is an in-memory change log: the consumer-side fake of Log.
type fakeLog struct {
	mu        sync.Mutex
	changes   []domain.Change
	rev       int64
	compacted int64
	onCommit  []func(int64)
	silent    bool // commit without calling OnCommit callbacks
}

var _ Log = (*fakeLog)(nil)

func (f *fakeLog) Revision(context.Context) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rev, nil
}

func (f *fakeLog) CompactedRevision(context.Context) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.compacted, nil
}

func (f *fakeLog) ChangesSince(_ context.Context, after int64, limit int) ([]domain.Change, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if after < f.compacted {
		return nil, errs.New(errs.Compacted, "revision %d", after)
	}
	var out []domain.Change
	for _, c := range f.changes {
		if c.Revision <= after {
			continue
		}
		// Never split a revision unless it alone exceeds limit.
		if len(out) >= limit && out[len(out)-1].Revision != c.Revision {
			break
		}
		out = append(out, c)
	}
	return out, nil
}

func (f *fakeLog) OnCommit(fn func(int64)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.onCommit = append(f.onCommit, fn)
}

func (f *fakeLog) ListenCommits(ctx context.Context, fn func(int64)) error {
	<-ctx.Done()
	return nil
}

// commit appends one revision holding one change per key and notifies.
func (f *fakeLog) commit(ws, kind string, keys ...string) int64 {
	f.mu.Lock()
	f.rev++
	rev := f.rev
	for i, k := range keys {
		f.changes = append(f.changes, domain.Change{Revision: rev, Seq: i, Workspace: ws, Kind: kind, Key: k, Op: domain.OpUpdate})
	}
	fns := f.onCommit
	if f.silent {
		fns = nil
	}
	f.mu.Unlock()
	for _, fn := range fns {
		fn(rev)
	}
	return rev
}

func (f *fakeLog) compact(through int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	kept := f.changes[:0]
	for _, c := range f.changes {
		if c.Revision > through {
			kept = append(kept, c)
		}
	}
	f.changes = kept
	f.compacted = through
}

func key(i int) string { return fmt.Sprintf("k%d", i) }
