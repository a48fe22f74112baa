// Package leader elects, among the flagops instances sharing a database, the
// one that runs each background job (the scheduler, the webhook dispatcher,
// git write-back), with a lease and fencing tokens.
//
// A lease is a row in the database (store.AcquireLease): a holder, a term and
// an expiry by the database's clock. An instance takes a free or expired
// lease, which increments its term, and renews it every RenewInterval; if it
// stops renewing (its process paused, its database connection lost) the lease
// expires after LeaseDuration and another instance takes it over. The term is
// the fencing token: everything the leader does runs with a context that
// carries it (domain.WithFence), and the store checks, inside each write
// transaction of that context, that the lease is still at that term. A
// leader that resumes after another took over therefore cannot write
// anything: its first write fails with domain.ErrStaleTerm, and its own
// renewal then tells it that it lost the lease.
//
// Effects outside the database (a webhook POST, a git push) cannot be
// fenced by a transaction. Their callers check the term just before each
// one (store.CheckFence), so that a resumed leader sends at most the one
// request it was in the middle of when it stopped; receivers see each
// delivery's id and must already accept a repeat (delivery is at least once).
//
// On SQLite, with one process, the same code runs: the only instance takes
// every lease at once and keeps it.
package leader

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
)

// The leases, one per background job. These names are the only leadership
// identifiers in flagops; they are the keys of the leader_leases table.
const (
	// Scheduler runs promotions and scheduled flag changes.
	Scheduler = "scheduler"
	// Webhooks runs the webhook dispatcher.
	Webhooks = "webhook-dispatcher"
	// GitWrite runs git write-back.
	GitWrite = "git-writeback"
)

// The defaults and bounds of Config.
const (
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewInterval = 5 * time.Second
	// MinLeaseDuration leaves a renewal time to reach the database.
	MinLeaseDuration = 100 * time.Millisecond
)

// Store is what an Elector needs of the database (store.Store implements it).
type Store interface {
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (term int64, ok bool, err error)
	RenewLease(ctx context.Context, name, holder string, term int64, ttl time.Duration) (bool, error)
	ReleaseLease(ctx context.Context, name, holder string, term int64) error
}

// Config tunes an Elector. Zero values take the defaults.
type Config struct {
	// LeaseDuration is how long a lease lasts without renewal: how long the
	// other instances wait for a stalled leader (default 15s).
	LeaseDuration time.Duration
	// RenewInterval is how often the leader renews its lease, and how often
	// the others try to take it (default 5s). It must be shorter than
	// LeaseDuration, so that a renewal that fails once is retried before
	// the lease runs out.
	RenewInterval time.Duration
	// Holder names this instance in the lease rows (default
	// hostname/pid/random, unique per process start).
	Holder string
	// Pause, when set, stands for a stopped process in tests.
	Pause  *Pause
	Logger *slog.Logger
}

// Validate checks the durations, naming the field and the rule.
func (c Config) Validate() error {
	switch {
	case c.LeaseDuration < 0:
		return errs.Field("leaseDuration", "must not be negative")
	case c.LeaseDuration > 0 && c.LeaseDuration < MinLeaseDuration:
		return errs.Field("leaseDuration", "must be at least %s, is %s", MinLeaseDuration, c.LeaseDuration)
	case c.RenewInterval < 0:
		return errs.Field("leaseRenewInterval", "must not be negative")
	}
	c.defaults()
	if c.RenewInterval >= c.LeaseDuration {
		return errs.Field("leaseRenewInterval", "must be shorter than the lease duration (%s), is %s", c.LeaseDuration, c.RenewInterval)
	}
	return nil
}

func (c *Config) defaults() {
	if c.LeaseDuration == 0 {
		c.LeaseDuration = DefaultLeaseDuration
	}
	if c.RenewInterval == 0 {
		c.RenewInterval = min(DefaultRenewInterval, c.LeaseDuration/3)
	}
	if c.Holder == "" {
		c.Holder = NewHolder()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// NewHolder returns a holder id unique to this call: the host name, the
// process id and a random suffix (two servers in one process differ).
func NewHolder() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// Elector campaigns for one lease and runs a job while it holds it. Its
// methods are safe for concurrent use; Run is called once.
type Elector struct {
	st   Store
	name string
	cfg  Config

	// term is the term held, 0 when not leading.
	term    atomic.Int64
	refused atomic.Int64
}

// New returns an Elector of the lease name. cfg must be valid (Validate).
func New(st Store, name string, cfg Config) *Elector {
	cfg.defaults()
	return &Elector{st: st, name: name, cfg: cfg}
}

// Name returns the lease's name.
func (e *Elector) Name() string { return e.name }

// Term returns the term this instance holds, 0 when it does not lead.
func (e *Elector) Term() int64 { return e.term.Load() }

// Refused returns how many writes the store refused because this instance
// acted on a term it no longer held.
func (e *Elector) Refused() int64 { return e.refused.Load() }

// Run campaigns for the lease until ctx ends. Each time it takes the lease,
// it calls lead with a context that carries the term (every store write made
// with it is fenced) and that ends when the lease is lost or ctx ends; it
// waits for lead to return, gives the lease up if it still holds it, and
// campaigns again. lead must return promptly once its context ends.
func (e *Elector) Run(ctx context.Context, lead func(ctx context.Context)) {
	log := e.cfg.Logger.With("lease", e.name, "holder", e.cfg.Holder)
	failing := false
	for {
		if e.cfg.Pause.waitElectors(ctx) != nil {
			return
		}
		start := time.Now()
		actx, cancel := context.WithTimeout(ctx, e.cfg.LeaseDuration)
		term, ok, err := e.st.AcquireLease(actx, e.name, e.cfg.Holder, e.cfg.LeaseDuration)
		cancel()
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil && !failing:
			log.Warn("leader: cannot reach the lease; retrying", "err", err)
			failing = true
		case err == nil && failing:
			log.Info("leader: the lease answers again")
			failing = false
		}
		if ok {
			e.hold(ctx, log, term, start.Add(e.cfg.LeaseDuration), lead)
		}
		if sleep(ctx, e.cfg.RenewInterval) != nil {
			return
		}
	}
}

// hold runs lead under term until the lease is lost or ctx ends. validUntil
// is when the lease runs out by this instance's clock, counted from before
// the statement that took it, so never later than the database's expiry.
func (e *Elector) hold(ctx context.Context, log *slog.Logger, term int64, validUntil time.Time, lead func(context.Context)) {
	log = log.With("term", term)
	log.Info("leader: took the lease")
	e.term.Store(term)
	lctx, cancel := context.WithCancel(domain.WithFence(ctx, fence{e: e, term: term}))
	done := make(chan struct{})
	go func() {
		defer close(done)
		lead(lctx)
	}()
	held := e.keep(ctx, log, term, validUntil, done)
	cancel()
	<-done
	e.term.Store(0)
	if held {
		// Give the lease up so that another instance takes it at once.
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.RenewInterval)
		if err := e.st.ReleaseLease(rctx, e.name, e.cfg.Holder, term); err != nil {
			log.Warn("leader: cannot give the lease up; it expires instead", "err", err)
		}
		rcancel()
		log.Info("leader: gave the lease up")
	}
}

// keep renews the lease every RenewInterval until ctx ends or lead returns
// (it reports true: the lease is still held) or the lease is lost (false):
// another instance took it, or no renewal succeeded before it ran out, in
// which case this instance steps down before anyone can take over.
func (e *Elector) keep(ctx context.Context, log *slog.Logger, term int64, validUntil time.Time, done <-chan struct{}) bool {
	timer := time.NewTimer(e.cfg.RenewInterval)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return true
		case <-done:
			return true
		case <-timer.C:
		}
		if e.cfg.Pause.waitElectors(ctx) != nil {
			return true
		}
		if !time.Now().Before(validUntil) {
			log.Warn("leader: no renewal succeeded within the lease; stepping down")
			return false
		}
		start := time.Now()
		rctx, cancel := context.WithDeadline(ctx, validUntil)
		ok, err := e.st.RenewLease(rctx, e.name, e.cfg.Holder, term, e.cfg.LeaseDuration)
		cancel()
		switch {
		case ctx.Err() != nil:
			return true
		case err != nil:
			log.Warn("leader: cannot renew the lease; retrying until it runs out", "err", err, "runs_out_in", time.Until(validUntil).Round(time.Millisecond))
		case !ok:
			log.Warn("leader: lost the lease to another instance")
			return false
		default:
			validUntil = start.Add(e.cfg.LeaseDuration)
		}
		timer.Reset(min(e.cfg.RenewInterval, max(time.Until(validUntil), 0)))
	}
}

// fence is the domain.Fence of one term of an Elector.
type fence struct {
	e    *Elector
	term int64
}

func (f fence) Term() (string, int64) { return f.e.name, f.term }

func (f fence) Wait(ctx context.Context) error { return f.e.cfg.Pause.waitWrites(ctx) }

func (f fence) Refused() {
	f.e.refused.Add(1)
	f.e.cfg.Logger.Warn("leader: a write on a stale term was refused", "lease", f.e.name, "term", f.term)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
