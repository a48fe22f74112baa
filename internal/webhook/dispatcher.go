package webhook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/secrets"
)

// Store is what the dispatcher needs of the store.
type Store interface {
	ListWebhooks(ctx context.Context, ws string) ([]domain.Webhook, error)
	GetWebhook(ctx context.Context, ws, name string) (domain.Webhook, error)
	ChangesSince(ctx context.Context, after int64, limit int) ([]domain.Change, error)
	CompactedRevision(ctx context.Context) (int64, error)
	AdvanceWebhookCursor(ctx context.Context, ws, name string, from, to domain.Cursor) (bool, error)
	SaveDelivery(ctx context.Context, ws string, d domain.Delivery) (domain.Delivery, error)
	LatestDelivery(ctx context.Context, ws, webhook string, rev int64, seq int) (domain.Delivery, bool, error)
	OpenWebhookSecret(kr *secrets.Keyring, w domain.Webhook) ([]byte, error)
	OpenWebhookURL(kr *secrets.Keyring, w domain.Webhook) (string, error)
	// CheckFence fails when ctx's leadership term is stale.
	CheckFence(ctx context.Context) error
}

// Options tune a Dispatcher. Zero values take the defaults.
type Options struct {
	// Client posts the deliveries (default: a client with a 10s timeout).
	Client *http.Client
	// Backoff spaces the retries of one delivery.
	Backoff Backoff
	// MaxAttempts and GiveUpAfter bound the retries of one event, whichever
	// comes first: MaxAttempts attempts (default 0, no limit by count) and
	// GiveUpAfter since its first attempt (default 1 hour; negative, no
	// limit by time). An event that exhausts them is parked, so that a
	// receiver that refuses one event for good (a Flux Receiver answers
	// 500 while a resource it lists is missing) does not stall the
	// subscription.
	MaxAttempts int
	GiveUpAfter time.Duration
	// Sleep waits between retries (default Sleep); tests make it instant.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock of the signatures' timestamps (default time.Now).
	Now func() time.Time
	// PollInterval is the safety-net re-read of subscriptions and the log
	// when no wake-up comes (default 5s).
	PollInterval time.Duration
	// Source is the CloudEvents source prefix; the workspace is appended
	// (default "/flagops/workspaces").
	Source string
	// Keyring opens the subscriptions' sealed signing secrets. Without it
	// every attempt fails (and says why in the delivery log): nothing is
	// sent unsigned.
	Keyring *secrets.Keyring
	Logger  *slog.Logger
}

// Dispatcher delivers the change log to every subscription. Run it once per
// process, only while the process holds the dispatcher's lease
// (internal/leader) and with the context that carries its term: the cursor
// moves and delivery records are then fenced, and every POST is preceded by
// a check of the term, so a stalled dispatcher that resumes after another
// instance took over sends nothing more than the request it was in.
type Dispatcher struct {
	st   Store
	opt  Options
	wake chan struct{}

	// mu guards workers; it is never held across I/O.
	mu      sync.Mutex
	workers map[string]*worker
}

type worker struct {
	cancel context.CancelFunc
	wake   chan struct{}
	done   chan struct{}
}

// NewDispatcher returns a dispatcher on st; call Run.
func NewDispatcher(st Store, opt Options) *Dispatcher {
	if opt.Client == nil {
		opt.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if opt.Sleep == nil {
		opt.Sleep = Sleep
	}
	if opt.GiveUpAfter == 0 {
		opt.GiveUpAfter = time.Hour
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.PollInterval <= 0 {
		opt.PollInterval = 5 * time.Second
	}
	if opt.Source == "" {
		opt.Source = "/flagops/workspaces"
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	return &Dispatcher{st: st, opt: opt, wake: make(chan struct{}, 1), workers: map[string]*worker{}}
}

// Notify wakes the dispatcher: the log or the subscriptions changed. It never
// blocks; rev is only a hint.
func (d *Dispatcher) Notify(rev int64) {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends and returns ctx's error.
func (d *Dispatcher) Run(ctx context.Context) error {
	poll := time.NewTicker(d.opt.PollInterval)
	defer poll.Stop()
	defer d.stopAll()
	for {
		if err := d.reconcile(ctx); err != nil && ctx.Err() == nil {
			d.opt.Logger.Warn("webhook dispatcher: list subscriptions", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-d.wake:
		case <-poll.C:
		}
	}
}

// reconcile starts a worker per subscription, stops those of deleted ones,
// and wakes every worker.
func (d *Dispatcher) reconcile(ctx context.Context) error {
	hooks, err := d.st.ListWebhooks(ctx, "")
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, h := range hooks {
		key := h.Workspace + "/" + h.Name
		seen[key] = true
		w, ok := d.workers[key]
		if !ok {
			wctx, cancel := context.WithCancel(ctx)
			w = &worker{cancel: cancel, wake: make(chan struct{}, 1), done: make(chan struct{})}
			d.workers[key] = w
			go func() {
				defer close(w.done)
				d.work(wctx, h.Workspace, h.Name, w.wake)
			}()
		}
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	for key, w := range d.workers {
		if !seen[key] {
			w.cancel()
			delete(d.workers, key)
		}
	}
	return nil
}

func (d *Dispatcher) stopAll() {
	d.mu.Lock()
	ws := d.workers
	d.workers = map[string]*worker{}
	d.mu.Unlock()
	for _, w := range ws {
		w.cancel()
		<-w.done
	}
}

// work delivers one subscription's backlog whenever woken.
func (d *Dispatcher) work(ctx context.Context, ws, name string, wake <-chan struct{}) {
	for {
		if err := d.drain(ctx, ws, name); err != nil && ctx.Err() == nil {
			if errors.Is(err, errs.NotFound) {
				return // deleted; reconcile forgets this worker
			}
			d.opt.Logger.Warn("webhook dispatcher: delivering", "webhook", name, "workspace", ws, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		}
	}
}

// batch is how many change entries one read of the log takes.
const batch = 200

// drain delivers every matching change after the subscription's cursor, in
// order, moving the cursor past each one only once it is delivered.
func (d *Dispatcher) drain(ctx context.Context, ws, name string) error {
	for {
		h, err := d.st.GetWebhook(ctx, ws, name)
		if err != nil {
			return err
		}
		after := h.Cursor.Revision
		if h.Cursor.Seq != domain.MaxSeq {
			after-- // the cursor is inside a revision: read it again
		}
		changes, err := d.st.ChangesSince(ctx, after, batch)
		if errors.Is(err, errs.Compacted) {
			return d.skipCompacted(ctx, h)
		}
		if err != nil {
			return err
		}
		if len(changes) == 0 {
			return nil
		}
		cur := h.Cursor
		rewound := false
		for i, c := range changes {
			if cur.Before(c.Revision, c.Seq) && Readable(ctx, h, c) && Match(h.Filter, c) {
				if err := d.deliver(ctx, h, c); err != nil {
					return err
				}
			}
			next := domain.Cursor{Revision: c.Revision, Seq: c.Seq}
			if i == len(changes)-1 {
				// ChangesSince never splits a revision, so the batch's last
				// entry closes its revision: the cursor says "all of it".
				next = domain.CursorAfterRevision(c.Revision)
			}
			if !cur.Before(next.Revision, next.Seq) {
				continue
			}
			ok, err := d.st.AdvanceWebhookCursor(ctx, ws, name, cur, next)
			if err != nil {
				return err
			}
			if !ok {
				rewound = true
				break // rewound by a redelivery: re-read from the new cursor
			}
			cur = next
		}
		if cur == h.Cursor && !rewound {
			return nil // nothing new: everything read was already delivered
		}
	}
}

// skipCompacted moves a cursor the log no longer reaches to the compacted
// revision: those events are lost to this subscription, and it is said loudly.
func (d *Dispatcher) skipCompacted(ctx context.Context, h domain.Webhook) error {
	rev, err := d.st.CompactedRevision(ctx)
	if err != nil {
		return err
	}
	d.opt.Logger.Error("webhook dispatcher: the log was compacted past a subscription's cursor; skipping the lost events",
		"webhook", h.Name, "workspace", h.Workspace, "cursor", h.Cursor.Revision, "compacted", rev)
	_, err = d.st.AdvanceWebhookCursor(ctx, h.Workspace, h.Name, h.Cursor, domain.CursorAfterRevision(rev))
	return err
}

// deliver posts one change until a 2xx answer, its retry budget is spent
// (the delivery is then parked and deliver returns nil, so the cursor moves
// on) or ctx ends, recording every attempt in the delivery log.
func (d *Dispatcher) deliver(ctx context.Context, h domain.Webhook, c domain.Change) error {
	rec, found, err := d.st.LatestDelivery(ctx, h.Workspace, h.Name, c.Revision, c.Seq)
	if err != nil {
		return err
	}
	if !found || rec.Status != domain.DeliveryRetrying {
		rec = domain.Delivery{Webhook: h.Name, Revision: c.Revision, Seq: c.Seq, EventType: EventType(c), Status: domain.DeliveryRetrying}
		if rec, err = d.st.SaveDelivery(ctx, h.Workspace, rec); err != nil {
			return err
		}
	}
	ev := NewEvent(d.opt.Source+"/"+h.Workspace, c)
	for try := 1; ; try++ {
		// The POST is outside the database, so no transaction fences it:
		// check the term first (see the package comment of internal/leader).
		if err := d.st.CheckFence(ctx); err != nil {
			return err
		}
		code, err := d.attempt(ctx, h, ev, rec.ID)
		if ctx.Err() != nil {
			return ctx.Err() // cut short by shutdown: not the receiver's failure
		}
		rec.Attempts++
		rec.ResponseCode = code
		if err == nil {
			rec.Status = domain.DeliverySucceeded
		} else {
			rec.LastError = truncate(err.Error(), 500)
		}
		if _, serr := d.st.SaveDelivery(ctx, h.Workspace, rec); serr != nil {
			return serr
		}
		if err == nil {
			return nil
		}
		if d.spent(rec) {
			rec.Status = domain.DeliveryParked
			if _, serr := d.st.SaveDelivery(ctx, h.Workspace, rec); serr != nil {
				return serr
			}
			d.opt.Logger.Warn("webhook dispatcher: giving up on an event; parked, redeliver it from the delivery log",
				"webhook", h.Name, "workspace", h.Workspace, "event", ev.ID, "delivery", rec.ID, "attempts", rec.Attempts)
			return nil
		}
		if serr := d.opt.Sleep(ctx, d.opt.Backoff.Delay(try)); serr != nil {
			return serr
		}
	}
}

// spent reports whether a failing delivery has used its retry budget. The
// time counts from the delivery record's creation, so a restart does not
// renew it.
func (d *Dispatcher) spent(rec domain.Delivery) bool {
	if d.opt.MaxAttempts > 0 && rec.Attempts >= d.opt.MaxAttempts {
		return true
	}
	return d.opt.GiveUpAfter > 0 && !rec.CreatedAt.IsZero() && d.opt.Now().Sub(rec.CreatedAt) >= d.opt.GiveUpAfter
}

// attempt posts once. The error never holds the URL (it may carry a token)
// nor the response body. The signing secret and a URL with credentials are
// opened for each attempt and kept only while the request is built; one
// that does not open (wrong master key, ciphertext tampered with or moved)
// fails the attempt, so the delivery log says why and nothing is sent
// unsigned or to the redacted URL.
func (d *Dispatcher) attempt(ctx context.Context, h domain.Webhook, ev Event, id string) (int, error) {
	target, err := d.st.OpenWebhookURL(d.opt.Keyring, h)
	if err != nil {
		return 0, fmt.Errorf("cannot open the URL: %w", err)
	}
	h.URL = target
	secret, err := d.st.OpenWebhookSecret(d.opt.Keyring, h)
	if err != nil {
		return 0, fmt.Errorf("cannot sign: %w", err)
	}
	h.Secret = string(secret)
	clear(secret)
	req, err := Request(h, ev, id, d.opt.Now())
	if err != nil {
		return 0, err
	}
	resp, err := d.opt.Client.Do(req.WithContext(ctx))
	if err != nil {
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return 0, fmt.Errorf("post: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("receiver answered %s", resp.Status)
	}
	return resp.StatusCode, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
