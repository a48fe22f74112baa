package watch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flagops/flagops/internal/errs"
)

// Watcher receives the matching changes after a revision: first the replay
// from the log, then one CaughtUp event, then live revisions and progress
// notices. Read Events until it is closed, then Err says why.
type Watcher struct {
	hub    *Hub
	filter Filter
	out    chan Event
	slow   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
	err    error // set before out is closed

	// Guarded by hub.mu: next is the revision the watcher has been given
	// everything up to; live says the hub feeds it.
	next int64
	live bool
}

// Watch starts a watcher of the changes after from (0: from the start of the
// retained log). A from older than the retained log fails with errs.Compacted.
// The watcher ends when ctx ends, when Close is called, or when the hub closes.
func (h *Hub) Watch(ctx context.Context, from int64, f Filter) (*Watcher, error) {
	if from < 0 {
		return nil, errs.Field("from_revision", "must not be negative")
	}
	compacted, err := h.log.CompactedRevision(ctx)
	if err != nil {
		return nil, fmt.Errorf("watch: read compacted revision: %w", err)
	}
	if from == 0 {
		from = compacted
	} else if from < compacted {
		return nil, compactedError(from, compacted)
	}
	wctx, cancel := context.WithCancel(h.ctx)
	stop := context.AfterFunc(ctx, cancel)
	w := &Watcher{hub: h, filter: f, out: make(chan Event, h.opt.Buffer), slow: make(chan struct{}, 1),
		cancel: cancel, done: make(chan struct{}), next: from}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		cancel()
		return nil, errs.New(errs.Unavailable, "server is shutting down")
	}
	h.watchers[w] = struct{}{}
	h.wg.Add(1)
	h.mu.Unlock()
	go func() {
		defer h.wg.Done()
		defer stop()
		w.run(wctx)
	}()
	return w, nil
}

// Events returns the channel of events; it is closed when the watcher ends.
func (w *Watcher) Events() <-chan Event { return w.out }

// Err returns why the watcher ended: ErrClosed, the context's error, or an
// error reading the log (errs.Compacted when the log was compacted past it).
// It is valid once Events is closed.
func (w *Watcher) Err() error { return w.err }

// Close ends the watcher and waits until its Events channel is closed.
func (w *Watcher) Close() {
	w.cancel()
	<-w.done
}

func (w *Watcher) run(ctx context.Context) {
	h := w.hub
	err := w.loop(ctx)
	h.mu.Lock()
	w.live = false
	delete(h.watchers, w)
	closed := h.closed
	h.mu.Unlock()
	if ctx.Err() != nil {
		if closed {
			err = ErrClosed
		} else {
			err = context.Canceled
		}
	}
	w.err = err
	close(w.out)
	close(w.done)
}

func (w *Watcher) loop(ctx context.Context) error {
	h := w.hub
	caughtUp := false
	progress := time.NewTicker(h.opt.ProgressInterval)
	defer progress.Stop()
	for {
		if err := w.catchUp(ctx, &caughtUp); err != nil {
			return err
		}
	live:
		for {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-w.slow:
				break live
			case <-progress.C:
				// Sent under the lock, so that it cannot overtake a
				// revision the hub is handing over.
				h.mu.Lock()
				if w.live {
					select {
					case w.out <- Event{Revision: w.next}:
					default:
					}
				}
				h.mu.Unlock()
			}
		}
	}
}

// catchUp reads the log from the watcher's revision until it reaches the
// hub's, sending as it goes (blocking only this watcher), then joins the live
// set. The first time, it sends the CaughtUp marker before joining.
func (w *Watcher) catchUp(ctx context.Context, caughtUp *bool) error {
	h := w.hub
	h.mu.Lock()
	next := w.next
	h.mu.Unlock()
	for {
		groups, err := readLog(ctx, h.log, next, h.opt.BatchSize)
		if err != nil {
			if errors.Is(err, errs.Compacted) {
				if c, cerr := h.log.CompactedRevision(ctx); cerr == nil {
					return compactedError(next, c)
				}
			}
			return err
		}
		if n := len(groups); n > 0 {
			if err := w.waitHub(ctx, groups[n-1].rev, 0); err != nil {
				return err
			}
		}
		for _, g := range groups {
			if matched := w.filter.apply(g.changes); len(matched) > 0 {
				if err := w.send(ctx, Event{Revision: g.rev, Changes: matched}); err != nil {
					return err
				}
			}
			next = g.rev
		}
		if len(groups) > 0 {
			continue
		}
		if !*caughtUp {
			// Caught up means the hub is there too, so that what the server
			// reports (its revision, its evaluations) already includes
			// everything replayed. A from_revision past the log's end waits
			// for the log's end only, and for one poll interval at most: a
			// revision that holds no change is never read by the hub.
			last, err := h.log.Revision(ctx)
			if err != nil {
				return fmt.Errorf("watch: read revision: %w", err)
			}
			if err := w.waitHub(ctx, min(next, last), h.opt.PollInterval); err != nil {
				return err
			}
			if err := w.send(ctx, Event{Revision: next, CaughtUp: true}); err != nil {
				return err
			}
			*caughtUp = true
		}
		h.mu.Lock()
		if next >= h.rev {
			w.next = next
			w.live = true
			h.mu.Unlock()
			return nil
		}
		h.mu.Unlock()
		// The hub has read further than this read saw; give the log a
		// moment rather than spin.
		select {
		case <-time.After(10 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// waitHub waits until the hub has read the log up to rev, waking it, so
// that its inspectors (Hub.Inspect) have seen every revision this watcher
// is about to give out: a watcher catching up ahead of the hub would
// otherwise overtake them. The hub is usually there already, or a few
// milliseconds behind a commit. A positive limit bounds the wait.
func (w *Watcher) waitHub(ctx context.Context, rev int64, limit time.Duration) error {
	h := w.hub
	var deadline time.Time
	if limit > 0 {
		deadline = time.Now().Add(limit)
	}
	for {
		h.mu.Lock()
		read := h.rev
		h.mu.Unlock()
		if read >= rev || (limit > 0 && time.Now().After(deadline)) {
			return nil
		}
		h.Notify(rev)
		select {
		case <-time.After(5 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (w *Watcher) send(ctx context.Context, ev Event) error {
	select {
	case w.out <- ev:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
