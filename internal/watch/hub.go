// Package watch is the hub: the in-process fan-out of the change log to
// watchers, in the manner of etcd's watchable store.
//
// The log is the truth. The hub keeps the revision it has read up to; when
// woken (a commit in this process, a notification from another process on the
// same PostgreSQL, or the poll timer) it reads the log after that revision and
// hands every new revision to its live watchers. A watcher is in one of three
// states:
//
//   - catching up: its own goroutine reads the log from the watcher's
//     revision with ChangesSince, until it reaches the hub's revision, and
//     then joins the live set;
//   - live: the hub feeds it from what it just read, without blocking;
//   - slow: a live watcher whose buffer is full is dropped from the live set
//     and goes back to catching up from the last revision it was given.
//
// So a slow reader never blocks a writer, the hub or other watchers, and every
// watcher sees every matching revision exactly once, in order.
package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
)

// Log is the part of the store the hub needs.
type Log interface {
	// Revision returns the last committed revision.
	Revision(ctx context.Context) (int64, error)
	// CompactedRevision returns the highest revision removed from the log.
	CompactedRevision(ctx context.Context) (int64, error)
	// ChangesSince returns about limit entries after a revision, in order,
	// never splitting a revision (one larger than limit comes whole).
	ChangesSince(ctx context.Context, after int64, limit int) ([]domain.Change, error)
	// OnCommit registers a non-blocking callback for commits of this process.
	OnCommit(fn func(rev int64))
	// ListenCommits calls fn for commits of any process until ctx ends.
	ListenCommits(ctx context.Context, fn func(rev int64)) error
}

// ErrClosed ends the watchers of a hub that was closed.
var ErrClosed = errors.New("watch hub closed")

// Options tune a hub. Zero values take the defaults.
type Options struct {
	// Buffer is how many events a watcher may have pending before it is
	// moved back to catching up (default 256).
	Buffer int
	// PollInterval is the safety-net read of the log (default 1s).
	PollInterval time.Duration
	// ProgressInterval is how often a live watcher gets a progress notice
	// carrying the current revision (default 10s).
	ProgressInterval time.Duration
	// BatchSize caps one read of the log (default 1000).
	BatchSize int
	Logger    *slog.Logger
}

// Event is what a watcher receives: the matching changes of one revision; or,
// with no changes, a marker that the replay is done (CaughtUp) or a progress
// notice. Revision is the revision the watcher has seen everything up to.
// Changes are shared between watchers and must not be modified.
type Event struct {
	Revision int64
	Changes  []domain.Change
	CaughtUp bool
}

// Hub fans the change log out to watchers. It is safe for concurrent use.
type Hub struct {
	log  Log
	opt  Options
	wake chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// mu guards rev, watchers, and the next and live fields of every
	// watcher. It is taken after no other lock and never held across I/O.
	mu       sync.Mutex
	rev      int64
	watchers map[*Watcher]struct{}
	closed   bool

	// advanceMu guards advance and inspect, the callbacks of OnAdvance and
	// Inspect. It is never held while one runs.
	advanceMu sync.Mutex
	advance   []func(rev int64)
	inspect   []func(changes []domain.Change)
}

// Inspect registers fn to be called with the changes of every revision the
// hub reads, in order, before any watcher is given that revision or a later
// one (a watcher catching up waits for the hub to have read what it is about
// to send). So what fn
// decides (a key was revoked: end its streams) takes effect before a watcher
// can send anything written after it. fn runs on the hub's goroutine,
// without any lock held, and must be quick and not block.
func (h *Hub) Inspect(fn func(changes []domain.Change)) {
	h.advanceMu.Lock()
	h.inspect = append(h.inspect, fn)
	h.advanceMu.Unlock()
}

// OnAdvance registers fn to be called, without holding any lock, whenever
// the hub has read the log up to a new revision: a wake-up for background
// followers (the webhook dispatcher) that read the log themselves and need
// no watcher. fn must not block.
func (h *Hub) OnAdvance(fn func(rev int64)) {
	h.advanceMu.Lock()
	h.advance = append(h.advance, fn)
	h.advanceMu.Unlock()
}

// New returns a hub on log; call Start.
func New(log Log, opt Options) *Hub {
	if opt.Buffer <= 0 {
		opt.Buffer = 256
	}
	if opt.PollInterval <= 0 {
		opt.PollInterval = time.Second
	}
	if opt.ProgressInterval <= 0 {
		opt.ProgressInterval = 10 * time.Second
	}
	if opt.BatchSize <= 0 {
		opt.BatchSize = 1000
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Hub{log: log, opt: opt, wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel, watchers: map[*Watcher]struct{}{}}
}

// Start reads the current revision and starts following the log. It returns
// once the hub is ready for watchers.
func (h *Hub) Start(ctx context.Context) error {
	rev, err := h.log.Revision(ctx)
	if err != nil {
		return fmt.Errorf("start watch hub: %w", err)
	}
	h.mu.Lock()
	h.rev = rev
	h.mu.Unlock()
	h.log.OnCommit(h.Notify)
	h.wg.Add(2)
	go func() {
		defer h.wg.Done()
		if err := h.log.ListenCommits(h.ctx, h.Notify); err != nil && h.ctx.Err() == nil {
			h.opt.Logger.Warn("listening for commits of other processes stopped; polling only", "err", err)
		}
	}()
	go h.run()
	return nil
}

// Notify wakes the hub to read the log; rev is only a hint. It never blocks.
func (h *Hub) Notify(rev int64) {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// Revision returns the revision the hub has read the log up to.
func (h *Hub) Revision() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rev
}

// Watchers returns how many watchers are open.
func (h *Hub) Watchers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.watchers)
}

// Close ends every watcher (their Err is ErrClosed) and stops the hub. It
// waits for the hub's goroutines.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.cancel()
	h.wg.Wait()
}

func (h *Hub) run() {
	defer h.wg.Done()
	poll := time.NewTicker(h.opt.PollInterval)
	defer poll.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-h.wake:
		case <-poll.C:
		}
		if err := h.pull(); err != nil && h.ctx.Err() == nil {
			h.opt.Logger.Warn("watch hub: read change log", "after", h.Revision(), "err", err)
		}
	}
}

// pull reads the log after the hub's revision and feeds live watchers. Only
// run calls it, so h.rev changes only here.
func (h *Hub) pull() error {
	for {
		h.mu.Lock()
		after := h.rev
		h.mu.Unlock()
		groups, err := readLog(h.ctx, h.log, after, h.opt.BatchSize)
		if errors.Is(err, errs.Compacted) {
			if err := h.skipCompacted(after); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if len(groups) == 0 {
			return nil
		}
		h.advanceMu.Lock()
		inspect := h.inspect
		h.advanceMu.Unlock()
		for _, g := range groups {
			for _, fn := range inspect {
				fn(g.changes)
			}
		}
		h.mu.Lock()
		for _, g := range groups {
			for w := range h.watchers {
				if w.live {
					h.deliver(w, g)
				}
			}
			h.rev = g.rev
		}
		rev := h.rev
		h.mu.Unlock()
		h.advanceMu.Lock()
		fns := h.advance
		h.advanceMu.Unlock()
		for _, fn := range fns {
			fn(rev)
		}
	}
}

// skipCompacted moves the hub past revisions that were compacted before it
// read them (a Compact racing a commit, or another instance compacting).
// The hub cannot deliver them, so every live watcher goes back to catching
// up from its own revision: one that had not seen them ends with the
// compacted error and its client resumes knowing it missed changes, instead
// of the whole hub failing every later read.
func (h *Hub) skipCompacted(after int64) error {
	compacted, err := h.log.CompactedRevision(h.ctx)
	if err != nil {
		return fmt.Errorf("read compacted revision: %w", err)
	}
	h.mu.Lock()
	if compacted > h.rev {
		h.rev = compacted
	}
	for w := range h.watchers {
		if w.live {
			w.live = false
			select {
			case w.slow <- struct{}{}:
			default:
			}
		}
	}
	h.mu.Unlock()
	h.opt.Logger.Warn("watch hub: the log was compacted past the hub's revision; live watchers resume from the log",
		"after", after, "compacted", compacted)
	return nil
}

// deliver hands one revision to a live watcher without blocking; a watcher
// whose buffer is full becomes slow. h.mu is held.
func (h *Hub) deliver(w *Watcher, g group) {
	if g.rev <= w.next {
		return // the watcher read this revision itself while catching up
	}
	matched := w.filter.apply(g.changes)
	if len(matched) == 0 {
		w.next = g.rev
		return
	}
	select {
	case w.out <- Event{Revision: g.rev, Changes: matched}:
		w.next = g.rev
	default:
		w.live = false
		select {
		case w.slow <- struct{}{}:
		default:
		}
	}
}

// group is the changes of one revision.
type group struct {
	rev     int64
	changes []domain.Change
}

// readLog reads up to about limit entries after a revision, grouped by
// revision. Log.ChangesSince never splits a revision, so every group is whole.
func readLog(ctx context.Context, log Log, after int64, limit int) ([]group, error) {
	changes, err := log.ChangesSince(ctx, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read changes after %d: %w", after, err)
	}
	var groups []group
	for i := 0; i < len(changes); {
		j := i
		for j < len(changes) && changes[j].Revision == changes[i].Revision {
			j++
		}
		groups = append(groups, group{rev: changes[i].Revision, changes: changes[i:j:j]})
		i = j
	}
	return groups, nil
}

// compactedError is the error of a watch from a revision the log no longer holds.
func compactedError(from, compacted int64) error {
	return errs.New(errs.Compacted, "revision %d has been compacted: the oldest retained revision is %d, watch from revision %d or later",
		from, compacted+1, compacted)
}
