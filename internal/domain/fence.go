package domain

import (
	"context"
	"errors"
)

// Fence binds the writes of a leader's action to the term of its lease.
// internal/leader puts one in the context of everything it runs while it
// leads; the store checks it inside each write transaction of that context
// and refuses the write when the lease has moved to another term since, so
// a leader that was paused and resumed cannot act on a stale term.
type Fence interface {
	// Term names the lease and the term the caller holds.
	Term() (lease string, term int64)
	// Wait is called before a fenced write begins its transaction. It
	// returns at once except while the caller's instance is paused (a test
	// seam standing for a stopped process), and returns ctx's error if ctx
	// ends first.
	Wait(ctx context.Context) error
	// Refused is called once for each write the store refused because the
	// term was stale.
	Refused()
}

// ErrStaleTerm is the error (wrapped, of kind errs.FailedPrecondition) of a
// fenced write whose lease is no longer at the caller's term: another
// instance has taken the lease, and this one must stop acting.
var ErrStaleTerm = errors.New("leadership term is stale")

type fenceKey struct{}

// WithFence returns ctx carrying f: the store fences every write made with it.
func WithFence(ctx context.Context, f Fence) context.Context {
	return context.WithValue(ctx, fenceKey{}, f)
}

// FenceFrom returns the fence ctx carries, if any.
func FenceFrom(ctx context.Context) (Fence, bool) {
	f, ok := ctx.Value(fenceKey{}).(Fence)
	return f, ok && f != nil
}
