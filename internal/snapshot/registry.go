// Package snapshot holds the compiled evaluation snapshots the server
// evaluates against, one per (workspace, project, environment), and tells
// subscribers (OFREP event streams) when a snapshot or a deployment's facts
// change.
//
// Reads are lock-free: Get loads an atomic pointer to an immutable map and
// looks up a struct key, so the hot path neither locks nor allocates.
// Writers (the loader following the change log) copy the map, change the
// copy and swap it in; writes are rare in a control plane, reads constant.
package snapshot

import (
	"sync"
	"sync/atomic"

	"github.com/flagops/flagops/internal/eval"
)

// Key names one snapshot.
type Key struct {
	Workspace, Project, Environment string
}

// Registry is the set of current snapshots. It is safe for concurrent use;
// the zero value is not usable, call New.
type Registry struct {
	snaps atomic.Pointer[map[Key]*eval.Snapshot]

	// mu serialises writers of snaps and guards subs. It is never held
	// while a subscriber runs: notification is a non-blocking send.
	mu   sync.Mutex
	subs map[*Subscription]struct{}
}

// New returns an empty registry.
func New() *Registry {
	r := &Registry{subs: make(map[*Subscription]struct{})}
	m := map[Key]*eval.Snapshot{}
	r.snaps.Store(&m)
	return r
}

// Get returns the current snapshot of (ws, project, env), or nil when none
// was loaded. It does not lock or allocate.
func (r *Registry) Get(ws, project, env string) *eval.Snapshot {
	return (*r.snaps.Load())[Key{ws, project, env}]
}

// Replace makes s the snapshot of (ws, project, env); a nil s removes it.
// Subscribers of that key are notified after the new snapshot is visible,
// so a woken reader always sees it.
func (r *Registry) Replace(ws, project, env string, s *eval.Snapshot) {
	k := Key{ws, project, env}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.snaps.Load()
	next := make(map[Key]*eval.Snapshot, len(old)+1)
	for ok, ov := range old {
		next[ok] = ov
	}
	if s == nil {
		delete(next, k)
	} else {
		next[k] = s
	}
	r.snaps.Store(&next)
	for sub := range r.subs {
		if sub.topic.Key == k {
			sub.notify()
		}
	}
}

// Keys returns the keys of every loaded snapshot, for tools and tests.
func (r *Registry) Keys() []Key {
	m := *r.snaps.Load()
	keys := make([]Key, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

// FactsChanged tells subscribers that facts changed at a scope. An empty
// project or target is a wildcard: facts of a workspace, environment or
// target scope change the resolved facts of many deployments, and the
// caller need not work out which. Subscribers without a target (they
// evaluate without facts) are not notified.
func (r *Registry) FactsChanged(ws, project, target string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for sub := range r.subs {
		t := sub.topic
		if t.Target == "" || t.Workspace != ws {
			continue
		}
		if (project == "" || project == t.Project) && (target == "" || target == t.Target) {
			sub.notify()
		}
	}
}

// Topic is what a subscriber listens to: the snapshot of Key and, when
// Target is set, the resolved facts of deployment Key.Project@Target.
type Topic struct {
	Key
	Target string
}

// Subscription receives a signal on C when its topic changed. Signals
// coalesce: one pending signal stands for any number of changes, so a slow
// reader never blocks a writer and re-reads the current state when woken.
type Subscription struct {
	c     chan struct{}
	topic Topic
	r     *Registry
}

// Subscribe returns a subscription to t; call Close when done.
func (r *Registry) Subscribe(t Topic) *Subscription {
	s := &Subscription{c: make(chan struct{}, 1), topic: t, r: r}
	r.mu.Lock()
	r.subs[s] = struct{}{}
	r.mu.Unlock()
	return s
}

// C returns the channel that receives a value after each change.
func (s *Subscription) C() <-chan struct{} { return s.c }

// Close ends the subscription. It is idempotent.
func (s *Subscription) Close() {
	s.r.mu.Lock()
	delete(s.r.subs, s)
	s.r.mu.Unlock()
}

func (s *Subscription) notify() {
	select {
	case s.c <- struct{}{}:
	default:
	}
}
