// Package ofrep serves the OpenFeature Remote Evaluation Protocol (OFREP):
// single and bulk flag evaluation over HTTP, with ETag/304 on bulk, and an
// event stream (OFREP ADR-0008) that tells clients to re-fetch when their
// environment's flags or their deployment's facts change.
//
// The handler evaluates against compiled snapshots (internal/eval) held by a
// Snapshots registry; it never touches the store. An API key selects the
// workspace and environment; the context's "project" (or the key's project)
// selects the snapshot; a context "target" layers the deployment's resolved
// facts under the caller's attributes.
//
// The success path is written for throughput: the body is read into a
// pooled buffer, the response is written by hand from the results'
// pre-encoded values, facts are shared (eval.Context.Base), and nothing is
// logged. Request bodies and keys are never logged.
package ofrep

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/eval"
	"github.com/flagops/flagops/internal/ratelimit"
	"github.com/flagops/flagops/internal/snapshot"
)

// Principal is who an API key authenticates: the workspace and environment
// it evaluates in and, optionally, the only project it may evaluate.
type Principal struct {
	Workspace   string
	Environment string
	// Project, when set, is the project evaluated when the context names
	// none, and the only project the key may evaluate.
	Project string
	// KeyID identifies the key (never the secret itself) for rate limiting
	// and for ending its event streams; when empty, workspace/environment/
	// project is used for rate limiting.
	KeyID string
	// ExpiresAt is when the key expires (zero: never); an event stream
	// opened with it ends then.
	ExpiresAt time.Time
}

// StreamGuard ends the event streams of keys that stop being valid. A
// request is authenticated once, when the stream opens.
type StreamGuard interface {
	// Guard returns a context derived from ctx that ends when p's key is
	// revoked or expires, and a release function to call when the stream
	// ends.
	Guard(ctx context.Context, p Principal) (context.Context, func())
}

// Authenticator checks an API key. It returns an error of kind
// errs.Unauthenticated for an unknown key and errs.Denied for a key that may
// not evaluate flags. It is called on every request, so a store-backed
// implementation should cache.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (Principal, error)
}

// Facts are the resolved facts of one deployment.
type Facts struct {
	// Values are shared and must not be modified.
	Values map[string]any
	// Revision is that of the newest fact that contributed (the ETag
	// depends on it).
	Revision int64
	// Environment is the deployment's environment, its target's: a key
	// evaluates only against the facts of targets in its own environment.
	Environment string
}

// FactResolver returns the resolved facts of deployment project@target. An
// unknown deployment is an error of kind errs.NotFound. FactCache is the
// caching implementation meant for serving.
type FactResolver interface {
	Resolve(ctx context.Context, ws, project, target string) (Facts, error)
}

// Snapshots is the registry the handler evaluates against;
// *snapshot.Registry implements it.
type Snapshots interface {
	Get(ws, project, env string) *eval.Snapshot
	Subscribe(t snapshot.Topic) *snapshot.Subscription
}

var _ Snapshots = (*snapshot.Registry)(nil)

// RateLimit is a per-key token bucket: PerSecond requests per second on
// average, bursts of up to Burst. The zero value disables limiting.
type RateLimit = ratelimit.Limit

// Options configures a Handler. Auth and Snapshots are required.
type Options struct {
	Auth      Authenticator
	Snapshots Snapshots
	// Facts resolves deployment facts; when nil, contexts are evaluated
	// without facts.
	Facts FactResolver
	// Limiter, when set, is the per-key limiter of every evaluation path
	// of the server (the same one bounds Connect Evaluate), so a key has
	// one budget however it evaluates. When nil, RateLimit makes one for
	// this handler alone.
	Limiter   *ratelimit.Limiter
	RateLimit RateLimit
	// Streams, when set, ends an event stream when its key is revoked or
	// expires.
	Streams StreamGuard
	// MaxBodyBytes bounds a request body (default 1 MiB).
	MaxBodyBytes int
	// KeepAlive is the interval of event-stream keep-alive comments
	// (default 15s).
	KeepAlive time.Duration
	// PublicURL is the externally visible base URL ("https://flags.example.com")
	// used in eventStreams; by default it is derived from the request.
	PublicURL string
	// InactivityDelaySec is advertised with the event stream (default 120).
	InactivityDelaySec int
	// Logger receives failures of dependencies (never request bodies or
	// keys); default slog.Default().
	Logger *slog.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Paths served by the handler.
const (
	PathBulk   = "/ofrep/v1/evaluate/flags"
	PathSingle = "/ofrep/v1/evaluate/flags/"
	PathEvents = "/ofrep/v1/events"
)

// Handler is the OFREP http.Handler. It is safe for concurrent use.
type Handler struct {
	auth     Authenticator
	snaps    Snapshots
	facts    FactResolver
	limiter  *ratelimit.Limiter
	streams  StreamGuard
	maxBody  int
	keep     time.Duration
	public   string
	inactive int
	log      *slog.Logger
	now      func() time.Time
	done     chan struct{}
	closed   atomic.Bool

	// onEvaluate, when set (tests), is called before each evaluation.
	onEvaluate func()
}

// New returns a handler for o.
func New(o Options) (*Handler, error) {
	if o.Auth == nil || o.Snapshots == nil {
		return nil, errs.New(errs.Invalid, "ofrep: Auth and Snapshots are required")
	}
	h := &Handler{
		auth: o.Auth, snaps: o.Snapshots, facts: o.Facts, streams: o.Streams,
		maxBody: o.MaxBodyBytes, keep: o.KeepAlive, public: strings.TrimRight(o.PublicURL, "/"),
		inactive: o.InactivityDelaySec, log: o.Logger, now: o.Now, done: make(chan struct{}),
	}
	if h.maxBody <= 0 {
		h.maxBody = 1 << 20
	}
	if h.keep <= 0 {
		h.keep = 15 * time.Second
	}
	if h.inactive <= 0 {
		h.inactive = 120
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.now == nil {
		h.now = time.Now
	}
	h.limiter = o.Limiter
	if h.limiter == nil {
		h.limiter = ratelimit.New(o.RateLimit, h.now)
	}
	return h, nil
}

// Close ends every open event stream (call it before http.Server.Shutdown,
// which does not wait for streams to end on their own). Evaluation keeps
// working.
func (h *Handler) Close() {
	if h.closed.CompareAndSwap(false, true) {
		close(h.done)
	}
}

// ServeHTTP routes the OFREP paths; any other path is 404.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == PathBulk:
		if r.Method != http.MethodPost {
			methodNotAllowed(w, http.MethodPost)
			return
		}
		h.serveBulk(w, r)
	case strings.HasPrefix(p, PathSingle) && len(p) > len(PathSingle):
		if r.Method != http.MethodPost {
			methodNotAllowed(w, http.MethodPost)
			return
		}
		h.serveSingle(w, r, p[len(PathSingle):])
	case p == PathEvents:
		if r.Method != http.MethodGet {
			methodNotAllowed(w, http.MethodGet)
			return
		}
		h.serveEvents(w, r)
	default:
		http.NotFound(w, r)
	}
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	w.WriteHeader(http.StatusMethodNotAllowed)
}

// failure is a request that cannot be evaluated: an HTTP status and, for
// 400/404, an OFREP error code and details.
type failure struct {
	status  int
	code    eval.ErrorCode
	details string
	// retryAfter is set for 429.
	retryAfter time.Time
}

// authenticate reads the key from "Authorization: Bearer" or "X-API-Key",
// checks it and applies the rate limit.
func (h *Handler) authenticate(r *http.Request) (Principal, *failure) {
	tok := bearer(r.Header.Get("Authorization"))
	if tok == "" {
		tok = r.Header.Get("X-API-Key")
	}
	if tok == "" {
		return Principal{}, &failure{status: http.StatusUnauthorized}
	}
	p, err := h.auth.Authenticate(r.Context(), tok)
	switch {
	case err == nil:
	case errors.Is(err, errs.Unauthenticated):
		return Principal{}, &failure{status: http.StatusUnauthorized}
	case errors.Is(err, errs.Denied):
		return Principal{}, &failure{status: http.StatusForbidden}
	case errors.Is(err, errs.Unavailable):
		h.log.Warn("ofrep: authenticate: store unavailable", "err", err)
		return Principal{}, &failure{status: http.StatusServiceUnavailable, details: "authentication unavailable; retry later"}
	default:
		h.log.Error("ofrep: authenticate", "err", err)
		return Principal{}, &failure{status: http.StatusInternalServerError, details: "authentication unavailable"}
	}
	if h.limiter != nil {
		id := p.KeyID
		if id == "" {
			id = p.Workspace + "/" + p.Environment + "/" + p.Project
		}
		if ok, at := h.limiter.Allow(id); !ok {
			return Principal{}, &failure{status: http.StatusTooManyRequests, retryAfter: at}
		}
	}
	return p, nil
}

func bearer(h string) string {
	const prefix = "Bearer "
	if len(h) > len(prefix) && strings.EqualFold(h[:len(prefix)], prefix) {
		return strings.TrimSpace(h[len(prefix):])
	}
	return ""
}

// chooseProject returns the project to evaluate: the context's, else the
// key's. A key bound to a project may not evaluate another.
func chooseProject(p Principal, fromContext string) (string, *failure) {
	switch {
	case fromContext == "" && p.Project == "":
		return "", &failure{status: http.StatusBadRequest, code: eval.ErrInvalidContext,
			details: `project: the context must name a project (attribute "project") or the API key must be bound to one`}
	case fromContext == "":
		return p.Project, nil
	case p.Project != "" && fromContext != p.Project:
		return "", &failure{status: http.StatusForbidden}
	}
	return fromContext, nil
}

// resolveFacts returns the facts of project@target (nil without a target
// or resolver) and their revision. A target outside the key's environment
// is refused exactly as a target without a deployment of the project is
// (INVALID_CONTEXT, naming the key's environment), as Connect Evaluate
// refuses it: a key may not test another environment's facts through the
// rules of its own, and the answer does not tell which targets exist
// elsewhere.
func (h *Handler) resolveFacts(ctx context.Context, p Principal, project, target string) (map[string]any, int64, *failure) {
	if target == "" || h.facts == nil {
		return nil, 0, nil
	}
	facts, err := h.facts.Resolve(ctx, p.Workspace, project, target)
	if err == nil && facts.Environment != p.Environment {
		err = errs.New(errs.NotFound, "deployment %s@%s in environment %s", project, target, p.Environment)
	}
	switch {
	case err == nil:
		return facts.Values, facts.Revision, nil
	case errors.Is(err, errs.NotFound):
		return nil, 0, &failure{status: http.StatusBadRequest, code: eval.ErrInvalidContext,
			details: "target: project " + project + " has no deployment on target " + target + " in environment " + p.Environment}
	case errors.Is(err, errs.Invalid):
		return nil, 0, &failure{status: http.StatusBadRequest, code: eval.ErrInvalidContext, details: "target: " + err.Error()}
	case errors.Is(err, errs.Denied):
		return nil, 0, &failure{status: http.StatusForbidden}
	case errors.Is(err, errs.Unavailable):
		h.log.Warn("ofrep: resolve facts: store unavailable", "project", project, "target", target, "err", err)
		return nil, 0, &failure{status: http.StatusServiceUnavailable, details: "facts unavailable; retry later"}
	default:
		h.log.Error("ofrep: resolve facts", "project", project, "target", target, "err", err)
		return nil, 0, &failure{status: http.StatusInternalServerError, details: "facts unavailable"}
	}
}
