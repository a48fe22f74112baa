// Package openfeature is the flagops provider for the OpenFeature Go SDK
// (github.com/open-feature/go-sdk). It has two modes:
//
//   - Remote (NewRemote) evaluates each flag over OFREP against a flagops
//     server, with the server's facts and snapshots.
//   - In-process (NewInProcess) evaluates locally with the same
//     internal/eval engine the server runs, from a snapshot fed by a
//     SnapshotSource that follows the server's change stream; it keeps the
//     last good snapshot when the source fails and reconnects with backoff.
//
// Both return the same results for the same flags and context. A Provider
// is safe for concurrent use.
package openfeature

import (
	"context"
	"math"
	"sync"

	of "github.com/open-feature/go-sdk/openfeature"
)

// backend is what a mode implements.
type backend interface {
	init(ctx context.Context, emit func(of.Event)) error
	shutdown()
	evaluate(ctx context.Context, key string, flat of.FlattenedContext) result
}

// result is a mode's answer before it is typed for the caller.
type result struct {
	value    any // decoded JSON: bool, string, float64, []any, map[string]any
	hasValue bool
	reason   of.Reason
	variant  string
	meta     of.FlagMetadata
	err      *of.ResolutionError
}

func errorResult(e of.ResolutionError) result { return result{reason: of.ErrorReason, err: &e} }

// Provider is an OpenFeature FeatureProvider, StateHandler and
// EventHandler backed by flagops.
type Provider struct {
	name    string
	backend backend
	events  chan of.Event

	mu     sync.Mutex // guards cancel
	cancel context.CancelFunc
	ctx    context.Context
}

var (
	_ of.FeatureProvider = (*Provider)(nil)
	_ of.StateHandler    = (*Provider)(nil)
	_ of.EventHandler    = (*Provider)(nil)
)

func newProvider(name string, b backend) *Provider {
	ctx, cancel := context.WithCancel(context.Background())
	return &Provider{name: name, backend: b, events: make(chan of.Event, 16), ctx: ctx, cancel: cancel}
}

// Metadata implements FeatureProvider.
func (p *Provider) Metadata() of.Metadata { return of.Metadata{Name: p.name} }

// Hooks implements FeatureProvider; the provider has none.
func (p *Provider) Hooks() []of.Hook { return nil }

// EventChannel implements EventHandler: PROVIDER_CONFIGURATION_CHANGED on
// each new snapshot (in-process), PROVIDER_STALE when the source fails and
// PROVIDER_READY when it recovers.
func (p *Provider) EventChannel() <-chan of.Event { return p.events }

// Init implements StateHandler. In-process mode loads the first snapshot
// here (and keeps trying in the background if that fails).
func (p *Provider) Init(of.EvaluationContext) error {
	return p.backend.init(p.ctx, p.emit)
}

// Shutdown implements StateHandler: it stops following the source.
func (p *Provider) Shutdown() {
	p.mu.Lock()
	p.cancel()
	p.mu.Unlock()
	p.backend.shutdown()
}

// emit sends an event unless the provider is shut down.
func (p *Provider) emit(e of.Event) {
	e.ProviderName = p.name
	select {
	case p.events <- e:
	case <-p.ctx.Done():
	}
}

// BooleanEvaluation implements FeatureProvider.
func (p *Provider) BooleanEvaluation(ctx context.Context, flag string, def bool, fc of.FlattenedContext) of.BoolResolutionDetail {
	v, d := typed(p.backend.evaluate(ctx, flag, fc), def, func(v any) (bool, bool) { b, ok := v.(bool); return b, ok })
	return of.BoolResolutionDetail{Value: v, ProviderResolutionDetail: d}
}

// StringEvaluation implements FeatureProvider.
func (p *Provider) StringEvaluation(ctx context.Context, flag string, def string, fc of.FlattenedContext) of.StringResolutionDetail {
	v, d := typed(p.backend.evaluate(ctx, flag, fc), def, func(v any) (string, bool) { s, ok := v.(string); return s, ok })
	return of.StringResolutionDetail{Value: v, ProviderResolutionDetail: d}
}

// FloatEvaluation implements FeatureProvider.
func (p *Provider) FloatEvaluation(ctx context.Context, flag string, def float64, fc of.FlattenedContext) of.FloatResolutionDetail {
	v, d := typed(p.backend.evaluate(ctx, flag, fc), def, func(v any) (float64, bool) { f, ok := v.(float64); return f, ok })
	return of.FloatResolutionDetail{Value: v, ProviderResolutionDetail: d}
}

// IntEvaluation implements FeatureProvider. A number flag whose value is
// not a whole number in int64's range is a TYPE_MISMATCH.
func (p *Provider) IntEvaluation(ctx context.Context, flag string, def int64, fc of.FlattenedContext) of.IntResolutionDetail {
	v, d := typed(p.backend.evaluate(ctx, flag, fc), def, func(v any) (int64, bool) {
		f, ok := v.(float64)
		if !ok || f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
			return 0, false
		}
		return int64(f), true
	})
	return of.IntResolutionDetail{Value: v, ProviderResolutionDetail: d}
}

// ObjectEvaluation implements FeatureProvider. The value is decoded JSON
// (map[string]any or []any for object flags); callers must not modify it.
func (p *Provider) ObjectEvaluation(ctx context.Context, flag string, def any, fc of.FlattenedContext) of.InterfaceResolutionDetail {
	v, d := typed(p.backend.evaluate(ctx, flag, fc), def, func(v any) (any, bool) { return v, true })
	return of.InterfaceResolutionDetail{Value: v, ProviderResolutionDetail: d}
}

// typed turns r into the caller's type: the default with the error on an
// error, the default with r's reason when no value was served (a disabled
// flag without an off variation), TYPE_MISMATCH when the value is of
// another type.
func typed[T any](r result, def T, conv func(any) (T, bool)) (T, of.ProviderResolutionDetail) {
	d := of.ProviderResolutionDetail{Reason: r.reason, Variant: r.variant, FlagMetadata: r.meta}
	if r.err != nil {
		d.ResolutionError, d.Reason = *r.err, of.ErrorReason
		return def, d
	}
	if !r.hasValue {
		return def, d
	}
	v, ok := conv(r.value)
	if !ok {
		d.ResolutionError = of.NewTypeMismatchResolutionError("flag value is of another type")
		d.Reason, d.Variant = of.ErrorReason, ""
		return def, d
	}
	return v, d
}

// resolutionError maps an OpenFeature error code (as eval and OFREP spell
// them) to a resolution error.
func resolutionError(code, msg string) of.ResolutionError {
	switch of.ErrorCode(code) {
	case of.FlagNotFoundCode:
		return of.NewFlagNotFoundResolutionError(msg)
	case of.ParseErrorCode:
		return of.NewParseErrorResolutionError(msg)
	case of.TypeMismatchCode:
		return of.NewTypeMismatchResolutionError(msg)
	case of.TargetingKeyMissingCode:
		return of.NewTargetingKeyMissingResolutionError(msg)
	case of.InvalidContextCode:
		return of.NewInvalidContextResolutionError(msg)
	case of.ProviderNotReadyCode:
		return of.NewProviderNotReadyResolutionError(msg)
	}
	return of.NewGeneralResolutionError(msg)
}
