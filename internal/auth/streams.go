package auth

import (
	"context"
	"sync"
	"time"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
)

// Streams ends the long-lived streams of a key (Watch, OFREP event streams)
// when the key stops being valid. A request is authenticated once, when it
// starts; a stream may then run for days, so without this a revoked or
// expired key would keep receiving what it may no longer read.
//
// A stream registers with Guard and gets a context that ends when the key
// expires (a timer at its ExpiresAt) or when Revoked is called for it. The
// server calls Revoked for every key the change log shows revoked: the log
// is shared, so every instance ends its streams of the key, each as soon as
// its watch hub reads the revocation (milliseconds on one instance, the
// hub's wake-up or poll interval on others). Revoked remembers the key, so a
// stream that registers after the revocation was read (its request was
// authenticated just before) ends at once.
//
// Streams is safe for concurrent use; the zero value is not usable, call
// NewStreams. A nil *Streams guards nothing.
type Streams struct {
	now func() time.Time

	mu sync.Mutex // guards open and revoked
	// open holds the cancel functions of the open streams, by key ID.
	open map[string]map[*guardedStream]struct{}
	// revoked are the key IDs read as revoked. Keys are issued by hand and
	// a revoked key stays revoked, so the set stays small.
	revoked map[string]bool
}

type guardedStream struct {
	cancel context.CancelCauseFunc
	name   string
}

// NewStreams returns an empty registry of streams.
func NewStreams() *Streams {
	return &Streams{now: time.Now, open: map[string]map[*guardedStream]struct{}{}, revoked: map[string]bool{}}
}

// Guard returns a context derived from ctx that is cancelled when key k is
// revoked or reaches its expiry, with an errs.Unauthenticated cause saying
// which (context.Cause), and a release function the stream must call when
// it ends. A zero key (authentication off, anonymous, a static development
// key) is not guarded: ctx comes back unchanged.
func (s *Streams) Guard(ctx context.Context, k domain.APIKey) (context.Context, func()) {
	if s == nil || k.ID == "" {
		return ctx, func() {}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	g := &guardedStream{cancel: cancel, name: k.Name}
	var timer *time.Timer
	if !k.ExpiresAt.IsZero() {
		exp := k.ExpiresAt
		timer = time.AfterFunc(exp.Sub(s.now()), func() {
			cancel(errs.New(errs.Unauthenticated, "API key %q expired at %s; the stream ends", k.Name, exp.UTC().Format(time.RFC3339)))
		})
	}
	s.mu.Lock()
	if s.revoked[k.ID] {
		s.mu.Unlock()
		cancel(revokedError(k.Name))
	} else {
		set := s.open[k.ID]
		if set == nil {
			set = map[*guardedStream]struct{}{}
			s.open[k.ID] = set
		}
		set[g] = struct{}{}
		s.mu.Unlock()
	}
	return ctx, func() {
		if timer != nil {
			timer.Stop()
		}
		s.mu.Lock()
		if set := s.open[k.ID]; set != nil {
			delete(set, g)
			if len(set) == 0 {
				delete(s.open, k.ID)
			}
		}
		s.mu.Unlock()
		cancel(context.Canceled)
	}
}

// Revoked ends every open stream of key id, now and for any stream that
// registers later.
func (s *Streams) Revoked(id string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.revoked[id] = true
	set := s.open[id]
	delete(s.open, id)
	s.mu.Unlock()
	for g := range set {
		g.cancel(revokedError(g.name))
	}
}

// Len returns how many guarded streams are open.
func (s *Streams) Len() int {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, set := range s.open {
		n += len(set)
	}
	return n
}

func revokedError(name string) error {
	return errs.New(errs.Unauthenticated, "API key %q was revoked; the stream ends", name)
}

// EndedBy returns the reason Streams ended ctx (an errs.Unauthenticated
// error), or nil when ctx was not ended by a revocation or expiry.
func EndedBy(ctx context.Context) error {
	if cause := context.Cause(ctx); cause != nil && errs.KindOf(cause) == errs.Unauthenticated {
		return cause
	}
	return nil
}
