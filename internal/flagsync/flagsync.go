// Package flagsync keeps the server's compiled flag snapshots in step with
// the change log. At start it compiles a snapshot for every (workspace,
// project, environment); then it follows the watch hub and recompiles
// exactly the projects a revision touched: flag and segment changes name
// their project, project changes name themselves, and other catalog changes
// (environment sets, environments) are checked for projects whose effective
// environments moved. Fact changes are passed on (OnFacts) so that fact
// caches can drop what they hold.
//
// It also gives this process read-your-writes: a write committed by this
// process is visible to the next evaluation because Fresh waits (briefly,
// bounded) until the loader has applied every revision this process
// committed before the call.
package flagsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/snapshot"
	"github.com/flagops/flagops/internal/store"
	"github.com/flagops/flagops/internal/watch"
)

// Store is what the loader reads.
type Store interface {
	snapshot.FlagReader
	ListWorkspaces(ctx context.Context, p domain.Page) ([]domain.Workspace, string, error)
	ListProjects(ctx context.Context, ws string, p domain.Page) ([]domain.Project, string, error)
	GetProject(ctx context.Context, ws, name string) (domain.Project, error)
	// OnCommit registers a callback for this process's commits.
	OnCommit(fn func(rev int64))
}

var _ Store = (*store.Store)(nil)

// Options configure a Sync. Sink is required.
type Options struct {
	// Sink receives the snapshots (a *snapshot.Registry).
	Sink snapshot.Sink
	// OnFacts, when set, is called with every fact change: the deployments
	// whose resolved facts it may change (empty project or target is a
	// wildcard) and its revision (0 when the catalog changed, so every
	// match is stale). ofrep.FactCache.Invalidate fits.
	OnFacts func(ws, project, target string, rev int64)
	// MaxWait bounds how long Fresh waits for the loader (default 2s).
	MaxWait time.Duration
	Logger  *slog.Logger
}

type projKey struct{ ws, project string }

// Sync is the loader. Start it once; it stops when the hub closes or the
// context given to Start ends.
type Sync struct {
	st  Store
	hub *watch.Hub
	o   Options

	// envs is the environments compiled per project; only the run
	// goroutine (and Start before it) touches it.
	envs map[projKey][]string

	committed atomic.Int64 // highest revision this process committed
	applied   atomic.Int64 // revision the snapshots reflect

	// mu guards progress, which is closed and replaced whenever applied
	// moves, to wake Fresh.
	mu       sync.Mutex
	progress chan struct{}
	done     chan struct{}
}

// New returns a loader of st following hub.
func New(st Store, hub *watch.Hub, o Options) *Sync {
	if o.MaxWait <= 0 {
		o.MaxWait = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Sync{st: st, hub: hub, o: o, envs: map[projKey][]string{}, progress: make(chan struct{}), done: make(chan struct{})}
	st.OnCommit(func(rev int64) {
		for {
			cur := s.committed.Load()
			if rev <= cur || s.committed.CompareAndSwap(cur, rev) {
				return
			}
		}
	})
	return s
}

// Start compiles every project's snapshots and starts following the log
// from the revision it read them at. It returns once the first load is done.
func (s *Sync) Start(ctx context.Context) error {
	from := s.hub.Revision()
	if err := s.loadAll(ctx); err != nil {
		return err
	}
	s.advance(from)
	w, err := s.hub.Watch(ctx, from, watch.Filter{})
	if err != nil {
		return fmt.Errorf("flag snapshots: watch: %w", err)
	}
	go s.run(ctx, w)
	return nil
}

// Done is closed when the loader stopped.
func (s *Sync) Done() <-chan struct{} { return s.done }

// Revision returns the revision the snapshots reflect.
func (s *Sync) Revision() int64 { return s.applied.Load() }

// Fresh waits until the snapshots (and fact invalidations) reflect every
// write this process committed before the call, at most MaxWait or until
// ctx ends. It costs two atomic loads when nothing is pending.
func (s *Sync) Fresh(ctx context.Context) {
	want := s.committed.Load()
	if s.applied.Load() >= want {
		return
	}
	timer := time.NewTimer(s.o.MaxWait)
	defer timer.Stop()
	for {
		s.mu.Lock()
		ch := s.progress
		s.mu.Unlock()
		if s.applied.Load() >= want {
			return
		}
		select {
		case <-ch:
		case <-s.done:
			return
		case <-timer.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

func (s *Sync) advance(rev int64) {
	if rev <= s.applied.Load() {
		return
	}
	s.applied.Store(rev)
	s.mu.Lock()
	close(s.progress)
	s.progress = make(chan struct{})
	s.mu.Unlock()
}

func (s *Sync) run(ctx context.Context, w *watch.Watcher) {
	defer close(s.done)
	for {
		for ev := range w.Events() {
			if len(ev.Changes) > 0 {
				s.apply(ctx, ev.Revision, ev.Changes)
			}
			s.advance(ev.Revision)
		}
		err := w.Err()
		if errors.Is(err, watch.ErrClosed) || ctx.Err() != nil {
			return
		}
		// The watcher fell behind a compaction or the log could not be
		// read: reload everything and follow again from there.
		s.o.Logger.Warn("flag snapshots: watch ended; reloading", "err", err)
		for {
			from := s.hub.Revision()
			if err = s.loadAll(ctx); err == nil {
				if w, err = s.hub.Watch(ctx, from, watch.Filter{}); err == nil {
					s.advance(from)
					break
				}
			}
			s.o.Logger.Warn("flag snapshots: reload failed", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}
}

// loadAll compiles every project of every workspace.
func (s *Sync) loadAll(ctx context.Context) error {
	var wss []domain.Workspace
	for tok := ""; ; {
		page, next, err := s.st.ListWorkspaces(ctx, domain.Page{Size: 1000, Token: tok})
		if err != nil {
			return fmt.Errorf("flag snapshots: list workspaces: %w", err)
		}
		wss = append(wss, page...)
		if tok = next; tok == "" {
			break
		}
	}
	for _, w := range wss {
		if err := s.loadWorkspace(ctx, w.Name); err != nil {
			return err
		}
	}
	return nil
}

// loadWorkspace recompiles the projects of ws whose environments changed
// (all of them the first time) and drops those that no longer exist.
func (s *Sync) loadWorkspace(ctx context.Context, ws string) error {
	seen := map[string]bool{}
	for tok := ""; ; {
		page, next, err := s.st.ListProjects(ctx, ws, domain.Page{Size: 1000, Token: tok})
		if err != nil {
			return fmt.Errorf("flag snapshots: list projects of %q: %w", ws, err)
		}
		for _, p := range page {
			seen[p.Name] = true
			k := projKey{ws, p.Name}
			if old, ok := s.envs[k]; ok && slices.Equal(old, p.EffectiveEnvironments) {
				continue
			}
			if err := s.rebuild(ctx, k, p.EffectiveEnvironments); err != nil {
				return err
			}
		}
		if tok = next; tok == "" {
			break
		}
	}
	for k := range s.envs {
		if k.ws == ws && !seen[k.project] {
			s.drop(k)
		}
	}
	return nil
}

// rebuild compiles one project for envs and removes the snapshots of
// environments it no longer has.
func (s *Sync) rebuild(ctx context.Context, k projKey, envs []string) error {
	l := snapshot.Loader{Reader: s.st, Sink: s.o.Sink}
	if err := l.Rebuild(ctx, k.ws, k.project, envs); err != nil {
		return err
	}
	for _, env := range s.envs[k] {
		if !slices.Contains(envs, env) {
			s.o.Sink.Replace(k.ws, k.project, env, nil)
		}
	}
	s.envs[k] = slices.Clone(envs)
	return nil
}

func (s *Sync) drop(k projKey) {
	for _, env := range s.envs[k] {
		s.o.Sink.Replace(k.ws, k.project, env, nil)
	}
	delete(s.envs, k)
}

// apply handles the changes of one revision.
func (s *Sync) apply(ctx context.Context, rev int64, changes []domain.Change) {
	projects := map[projKey]bool{}
	catalog := map[string]bool{}
	for _, c := range changes {
		switch c.Kind {
		case domain.KindFlag, domain.KindSegment:
			p, _, _ := strings.Cut(c.Key, "/")
			projects[projKey{c.Workspace, p}] = true
		case domain.KindProject:
			projects[projKey{c.Workspace, c.Key}] = true
			catalog[c.Workspace] = true
		case domain.KindEnvironment, domain.KindEnvironmentSet, domain.KindTarget, domain.KindWorkspace:
			catalog[c.Workspace] = true
		case domain.KindFact:
			s.factChanged(c, rev)
		}
	}
	for k := range projects {
		p, err := s.st.GetProject(ctx, k.ws, k.project)
		switch {
		case errors.Is(err, errs.NotFound):
			s.drop(k)
		case err != nil:
			s.o.Logger.Warn("flag snapshots: read project", "workspace", k.ws, "project", k.project, "err", err)
		default:
			if err := s.rebuild(ctx, k, p.EffectiveEnvironments); err != nil {
				s.o.Logger.Warn("flag snapshots: rebuild; the last good snapshots keep serving", "workspace", k.ws, "project", k.project, "err", err)
			}
		}
	}
	for ws := range catalog {
		if err := s.loadWorkspace(ctx, ws); err != nil {
			s.o.Logger.Warn("flag snapshots: reload workspace", "workspace", ws, "err", err)
		}
		// Deployments and built-in facts (environment, target) may have
		// moved: every cached resolution of the workspace is stale.
		if s.o.OnFacts != nil {
			s.o.OnFacts(ws, "", "", 0)
		}
	}
}

// factChanged tells OnFacts which deployments a fact change may affect.
func (s *Sync) factChanged(c domain.Change, rev int64) {
	if s.o.OnFacts == nil {
		return
	}
	scope, _, _ := strings.Cut(c.Key, ":")
	sc, err := domain.ParseScope(scope)
	if err != nil {
		s.o.OnFacts(c.Workspace, "", "", rev)
		return
	}
	switch sc.Kind {
	case domain.ScopeTarget:
		s.o.OnFacts(c.Workspace, "", sc.Target, rev)
	case domain.ScopeProject, domain.ScopeProjectEnv:
		s.o.OnFacts(c.Workspace, sc.Project, "", rev)
	case domain.ScopeDeployment:
		s.o.OnFacts(c.Workspace, sc.Project, sc.Target, rev)
	default:
		s.o.OnFacts(c.Workspace, "", "", rev)
	}
}
