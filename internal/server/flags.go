package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/eval"
	"github.com/flagops/flagops/internal/flagsync"
	"github.com/flagops/flagops/internal/ofrep"
	"github.com/flagops/flagops/internal/ratelimit"
	"github.com/flagops/flagops/internal/snapshot"
	"github.com/flagops/flagops/internal/store"
)

// flagRuntime is the evaluation side of the server: the snapshot registry
// kept current by the flagsync loader, the fact cache it invalidates, and
// the OFREP handler on both.
type flagRuntime struct {
	snaps *snapshot.Registry
	sync  *flagsync.Sync
	facts *ofrep.FactCache
	ofrep *ofrep.Handler
	// limit is the per-key evaluation limiter shared by OFREP and Connect
	// Evaluate (nil: no limit).
	limit *ratelimit.Limiter
}

// startFlags loads the snapshots and builds the OFREP handler. The OFREP
// Authenticator is cfg.OFREPAuth when set, else ofrepKeys: the static
// development keys of cfg.OFREPKeys, then the store's API keys.
func (s *Server) startFlags(ctx context.Context) (*flagRuntime, error) {
	rt := &flagRuntime{snaps: snapshot.New(), limit: ratelimit.New(s.cfg.OFREPRateLimit, nil)}
	rt.facts = ofrep.NewFactCache(storeFacts{s.store}, rt.snaps.FactsChanged)
	rt.sync = flagsync.New(s.store, s.hub, flagsync.Options{Sink: rt.snaps, OnFacts: rt.facts.Invalidate, Logger: s.log})
	if err := rt.sync.Start(ctx); err != nil {
		return nil, fmt.Errorf("load flag snapshots: %w", err)
	}
	authn := s.cfg.OFREPAuth
	if authn == nil {
		authn = ofrepKeys{static: s.cfg.OFREPKeys, keys: s.authn}
	}
	h, err := ofrep.New(ofrep.Options{
		Auth:      authn,
		Snapshots: freshSnapshots{rt.snaps, rt.sync},
		Facts:     freshFacts{rt.facts, rt.sync},
		PublicURL: s.cfg.PublicURL,
		Limiter:   rt.limit,
		Streams:   ofrepStreams{s.streams},
		Logger:    s.log,
	})
	if err != nil {
		return nil, fmt.Errorf("ofrep handler: %w", err)
	}
	rt.ofrep = h
	return rt, nil
}

// mountOFREP registers the OFREP routes; like every plain route they pass
// through api.Route, hence auth.Authorize with the route pattern.
func (rt *flagRuntime) mountOFREP(route func(pattern string, h http.Handler)) {
	route("POST "+ofrep.PathBulk, rt.ofrep)
	route("POST "+ofrep.PathSingle+"{key...}", rt.ofrep)
	route("GET "+ofrep.PathEvents, rt.ofrep)
}

// storeErr gives a database driver's connection error the kind
// errs.Unavailable, for OFREP, which maps kinds to statuses itself (503
// for this one).
func storeErr(err error) error {
	if errs.KindOf(err) == nil && store.IsUnavailable(err) {
		return fmt.Errorf("%w: %w", errs.Unavailable, err)
	}
	return err
}

// storeFacts adapts the store's ResolveFacts to ofrep.FactResolver.
type storeFacts struct{ st *store.Store }

func (f storeFacts) Resolve(ctx context.Context, ws, project, target string) (ofrep.Facts, error) {
	r, err := f.st.ResolveFacts(ctx, ws, project, target)
	if err != nil {
		return ofrep.Facts{}, storeErr(err)
	}
	out := make(map[string]any, len(r.Facts))
	for k, raw := range r.Facts {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return ofrep.Facts{}, fmt.Errorf("decode fact %s: %w", k, err)
		}
		out[k] = v
	}
	return ofrep.Facts{Values: out, Revision: r.Revision, Environment: r.Environment}, nil
}

// freshSnapshots and freshFacts give OFREP read-your-writes within this
// process: before reading they wait (bounded) for the loader to apply the
// writes this process already committed, so a flag or fact changed through
// the API changes the very next evaluation. When nothing is pending this
// costs two atomic loads.
type freshSnapshots struct {
	*snapshot.Registry
	sync *flagsync.Sync
}

func (f freshSnapshots) Get(ws, project, env string) *eval.Snapshot {
	f.sync.Fresh(context.Background())
	return f.Registry.Get(ws, project, env)
}

type freshFacts struct {
	cache *ofrep.FactCache
	sync  *flagsync.Sync
}

func (f freshFacts) Resolve(ctx context.Context, ws, project, target string) (ofrep.Facts, error) {
	f.sync.Fresh(ctx)
	return f.cache.Resolve(ctx, ws, project, target)
}
