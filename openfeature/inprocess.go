package openfeature

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	of "github.com/open-feature/go-sdk/openfeature"

	"github.com/flagops/flagops/internal/eval"
	"github.com/flagops/flagops/internal/flag"
)

// SnapshotSource feeds in-process mode. The real one follows the server's
// Watch stream for one project and environment (wired later); tests use a
// fake.
type SnapshotSource interface {
	// Load returns the project's flags and segments at the current revision.
	Load(ctx context.Context) (flags []flag.Flag, segments []flag.Segment, revision int64, err error)
	// Changes returns a channel that receives the revision of each change
	// after fromRevision that may affect the flags, including changes
	// committed before the call (it catches up, as a watch from a revision
	// does), so nothing between Load and Changes is missed. The channel is closed
	// when the stream ends (the provider then reconnects); it stops when
	// ctx is done.
	Changes(ctx context.Context, fromRevision int64) (<-chan int64, error)
}

// InProcessOptions configures in-process mode.
type InProcessOptions struct {
	// Environment is the environment whose targeting is evaluated.
	Environment string
	// Project is the project the source's flags belong to. With
	// Environment it is an attribute of every context (under the caller's),
	// as the server adds them, so both modes agree.
	Project string
	// InitTimeout bounds Init's first load (default 10s); past it Init
	// fails and loading continues in the background.
	InitTimeout time.Duration
	// MinBackoff and MaxBackoff bound the reconnect delay (default 100ms
	// and 30s), doubled after each failure.
	MinBackoff, MaxBackoff time.Duration
	// Logger receives source failures (default slog.Default()).
	Logger *slog.Logger
}

// NewInProcess returns a provider that evaluates locally from src.
func NewInProcess(src SnapshotSource, o InProcessOptions) *Provider {
	if o.InitTimeout <= 0 {
		o.InitTimeout = 10 * time.Second
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(30*time.Second, o.MinBackoff)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	base := map[string]any{"environment": o.Environment}
	if o.Project != "" {
		base["project"] = o.Project
	}
	return newProvider("flagops-in-process", &inProcess{src: src, o: o, base: base})
}

type inProcess struct {
	src  SnapshotSource
	o    InProcessOptions
	snap atomic.Pointer[eval.Snapshot]
	// base holds the built-in attributes; shared, never modified.
	base map[string]any
	wg   sync.WaitGroup
	emit func(of.Event)
	// stale is set while the source is failing (only the run goroutine
	// touches it).
	stale bool
}

// errNotReady is returned by evaluations before the first snapshot.
var errNotReady = errors.New("no snapshot loaded yet")

func (p *inProcess) init(ctx context.Context, emit func(of.Event)) error {
	p.emit = emit
	ictx, cancel := context.WithTimeout(ctx, p.o.InitTimeout)
	defer cancel()
	backoff := p.o.MinBackoff
	var err error
	for {
		if err = p.reload(ictx); err == nil {
			break
		}
		if !sleep(ictx, backoff) {
			break
		}
		backoff = min(2*backoff, p.o.MaxBackoff)
	}
	p.wg.Add(1)
	if err != nil {
		p.stale = true // so the background load that succeeds emits READY
	}
	go p.run(ctx)
	if err != nil {
		return fmt.Errorf("flagops: first snapshot: %w", err)
	}
	return nil
}

func (p *inProcess) shutdown() { p.wg.Wait() }

// reload loads and compiles a snapshot and swaps it in. On an error the
// last good snapshot stays.
func (p *inProcess) reload(ctx context.Context) error {
	flags, segs, rev, err := p.src.Load(ctx)
	if err != nil {
		return err
	}
	if cur := p.snap.Load(); cur != nil && cur.Revision() == rev {
		return nil
	}
	s, err := eval.Compile(p.o.Environment, rev, flags, segs)
	if err != nil {
		return err
	}
	old := p.snap.Swap(s)
	if old != nil && p.emit != nil {
		p.emit(of.Event{EventType: of.ProviderConfigChange, ProviderEventDetails: of.ProviderEventDetails{
			Message: fmt.Sprintf("flags at revision %d", rev), FlagChanges: s.Keys(),
			EventMetadata: map[string]any{"revision": rev}}})
	}
	return nil
}

// run follows the source until ctx is done, reconnecting with backoff.
func (p *inProcess) run(ctx context.Context) {
	defer p.wg.Done()
	backoff := p.o.MinBackoff
	reconnect := p.snap.Load() == nil // init failed: load first
	for ctx.Err() == nil {
		if reconnect {
			// Changes may have been missed while disconnected.
			if err := p.reload(ctx); err != nil {
				p.fail(ctx, err, &backoff)
				continue
			}
			p.recovered()
		}
		reconnect = true
		var from int64
		if s := p.snap.Load(); s != nil {
			from = s.Revision()
		}
		ch, err := p.src.Changes(ctx, from)
		if err != nil {
			p.fail(ctx, err, &backoff)
			continue
		}
		for rev := range ch {
			if s := p.snap.Load(); s != nil && rev <= s.Revision() {
				continue
			}
			if err := p.reload(ctx); err != nil {
				p.o.Logger.Warn("flagops: reload snapshot", "err", err)
				break
			}
			p.recovered()
			backoff = p.o.MinBackoff
		}
		if ctx.Err() == nil {
			sleep(ctx, backoff)
			backoff = min(2*backoff, p.o.MaxBackoff)
		}
	}
}

func (p *inProcess) fail(ctx context.Context, err error, backoff *time.Duration) {
	if ctx.Err() != nil {
		return
	}
	p.o.Logger.Warn("flagops: snapshot source failed; serving the last good snapshot", "err", err, "retry", *backoff)
	if !p.stale && p.snap.Load() != nil {
		p.stale = true
		p.emit(of.Event{EventType: of.ProviderStale, ProviderEventDetails: of.ProviderEventDetails{Message: err.Error()}})
	}
	sleep(ctx, *backoff)
	*backoff = min(2*(*backoff), p.o.MaxBackoff)
}

// recovered emits PROVIDER_READY after a failure (or a failed Init).
func (p *inProcess) recovered() {
	if p.stale {
		p.stale = false
		p.emit(of.Event{EventType: of.ProviderReady})
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (p *inProcess) evaluate(_ context.Context, key string, flat of.FlattenedContext) result {
	s := p.snap.Load()
	if s == nil {
		return errorResult(of.NewProviderNotReadyResolutionError(errNotReady.Error()))
	}
	ec := eval.Context{Attributes: flat, Base: p.base}
	if k, ok := flat[of.TargetingKey].(string); ok {
		ec.TargetingKey = k
	}
	r := s.Evaluate(key, ec)
	if r.ErrorCode != "" {
		return errorResult(resolutionError(string(r.ErrorCode), r.ErrorMessage))
	}
	res := result{reason: of.Reason(r.Reason), variant: r.Variant, value: r.Value, hasValue: len(r.JSON) > 0}
	if len(r.Metadata) > 0 {
		res.meta = of.FlagMetadata(r.Metadata)
	}
	return res
}
