// Package api serves flagops' protobuf API with connect-go (gRPC, gRPC-Web
// and Connect JSON on one handler) and wraps the plain HTTP routes. It only
// converts between protobuf and domain types and maps errors to codes; the
// decisions are made in internal/service.
package api

import (
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/gen/flagops/v1/flagopsv1connect"
	"github.com/flagops/flagops/internal/auth"
	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/ratelimit"
	"github.com/flagops/flagops/internal/service"
	"github.com/flagops/flagops/internal/watch"
)

// RequestIDHeader carries the request id in and out.
const RequestIDHeader = "X-Request-Id"

// Options configure the handlers.
type Options struct {
	Logger *slog.Logger // default slog.Default()
	// Metrics may be nil: nothing is measured.
	Metrics *Metrics
	// MaxRequestBytes caps a request message or body.
	MaxRequestBytes int64
	// Auth authenticates callers. When nil every caller is anonymous, so
	// only public routes are allowed: a missing authenticator fails closed.
	Auth *auth.Authenticator
	// EvalLimiter bounds FlagService/Evaluate per key. The server passes the
	// limiter OFREP uses, so the two paths share one budget; nil is no
	// limit.
	EvalLimiter *ratelimit.Limiter
	// Streams, when set, ends every server stream (Watch) when the key
	// that opened it is revoked or expires.
	Streams *auth.Streams
}

// Services are what the handlers call.
type Services struct {
	Catalog *service.Catalog
	Facts   *service.Facts
	Changes *service.Changes
	// Flags may be nil: FlagService is then not served.
	Flags *service.Flags
	Hub   *watch.Hub
	// Webhooks may be nil: WebhookService is then not mounted.
	Webhooks *service.Webhooks
	// Versions, Releases and Promotions may be nil: their services are
	// then not mounted.
	Versions   *service.Versions
	Releases   *service.Releases
	Promotions *service.Promotions
	Secrets    *service.Secrets
	Access     *service.Access
	// Apply may be nil: ApplyService is then not mounted.
	Apply *service.Applier
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Mount registers the Connect services on mux. Serve mux behind
// WithRequestID, which gives every call the request id the interceptor logs
// and records.
func Mount(mux *http.ServeMux, svc Services, opt Options) {
	opt.defaults()
	// The request size limit is enforced by limitBody and limitedGzip, not
	// by connect.WithReadMaxBytes, whose error is resource_exhausted.
	limit := opt.MaxRequestBytes
	if limit <= 0 {
		limit = math.MaxInt64
	}
	opts := []connect.HandlerOption{
		connect.WithInterceptors(&interceptor{log: opt.Logger, metrics: opt.Metrics, auth: opt.Auth, streams: opt.Streams}),
		connect.WithCodec(jsonCodecs[0]), connect.WithCodec(jsonCodecs[1]),
		connect.WithCompression("gzip", func() connect.Decompressor { return &limitedGzip{limit: limit} },
			func() connect.Compressor { return gzip.NewWriter(nil) }),
	}
	procs := &procedures{}
	mount := func(path string, h http.Handler) {
		procs.add(path)
		mux.Handle(path, observeRejected(opt, procs, h))
	}
	mount(flagopsv1connect.NewCatalogServiceHandler(NewCatalogHandler(svc.Catalog), opts...))
	mount(flagopsv1connect.NewFactServiceHandler(NewFactHandler(svc.Facts), opts...))
	mount(flagopsv1connect.NewChangeServiceHandler(NewChangeHandler(svc.Changes, svc.Hub), opts...))
	if svc.Flags != nil {
		mount(flagopsv1connect.NewFlagServiceHandler(NewFlagHandler(svc.Flags, opt.EvalLimiter), opts...))
	}
	if svc.Webhooks != nil {
		mount(flagopsv1connect.NewWebhookServiceHandler(NewWebhookHandler(svc.Webhooks), opts...))
	}
	if svc.Versions != nil {
		mount(flagopsv1connect.NewVersionServiceHandler(NewVersionHandler(svc.Versions), opts...))
	}
	if svc.Releases != nil {
		mount(flagopsv1connect.NewReleaseServiceHandler(NewReleaseHandler(svc.Releases), opts...))
	}
	if svc.Promotions != nil {
		mount(flagopsv1connect.NewPromotionServiceHandler(NewPromotionHandler(svc.Promotions), opts...))
	}
	mount(flagopsv1connect.NewSecretServiceHandler(NewSecretHandler(svc.Secrets), opts...))
	mount(flagopsv1connect.NewAccessServiceHandler(NewAccessHandler(svc.Access), opts...))
	if svc.Apply != nil {
		mount(flagopsv1connect.NewApplyServiceHandler(NewApplyHandler(svc.Apply), opts...))
	}
}

type observedKey struct{}

// markObserved records that the interceptor logged and measured the call.
func markObserved(ctx context.Context) {
	if b, ok := ctx.Value(observedKey{}).(*atomic.Bool); ok {
		b.Store(true)
	}
}

// observeRejected logs and measures the calls Connect refuses before the
// interceptor runs (a malformed or oversized message, an unknown method or
// content type), so that they show in /metrics too. Their code label is
// "rejected_" and the HTTP status, or the gRPC status code's name; their
// procedure label is the path only when it is a registered procedure, and
// UnknownProcedure otherwise, so made-up paths cannot grow the metrics. It
// also caps the request body (limitBody).
func observeRejected(opt Options, procs *procedures, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		limitBody(w, r, opt.MaxRequestBytes)
		var seen atomic.Bool
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), observedKey{}, &seen)))
		if seen.Load() {
			return
		}
		code := "rejected_" + strconv.Itoa(sw.code)
		for _, k := range []string{"Grpc-Status", http.TrailerPrefix + "Grpc-Status"} {
			if v := w.Header().Get(k); v != "" {
				if n, err := strconv.Atoi(v); err == nil && n != 0 {
					code = connect.Code(n).String()
				}
			}
		}
		d := time.Since(start)
		proc := procs.label(r.URL.Path)
		opt.Metrics.observe(proc, code, d)
		opt.Logger.LogAttrs(r.Context(), slog.LevelInfo, "rpc rejected", slog.String("method", proc),
			slog.String("code", code), slog.Duration("duration", d), slog.String("request_id", requestIDFrom(r.Context())))
	})
}

type requestIDKey struct{}

func requestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// validRequestID accepts a caller's id only if it is short and printable,
// since it is logged and stored in the change log.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, r := range id {
		if r < 0x21 || r > 0x7e {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// WithRequestID is the outermost middleware of every route: it takes the
// request id from X-Request-Id or makes one, puts it in the context and
// echoes it in the response header.
func WithRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set(RequestIDHeader, id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

// Route wraps a plain HTTP route (not an RPC) the way the interceptor wraps
// RPCs: body size limit, authentication, auth.Authorize with the route as
// procedure, logging and metrics.
func Route(route string, opt Options, next http.Handler) http.Handler {
	opt.defaults()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		if opt.MaxRequestBytes > 0 {
			r.Body = http.MaxBytesReader(w, r.Body, opt.MaxRequestBytes)
		}
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		var ctx context.Context
		var err error
		if rule, ok := auth.RuleFor(route); ok && rule.Permission == auth.Public {
			// A public route takes no API key; its Authorization header may
			// carry a credential of its own (a fact hook's token), which
			// the handler checks.
			ctx = auth.WithPrincipal(r.Context(), auth.Principal{Actor: auth.Anonymous})
			ctx = domain.WithOrigin(ctx, domain.Origin{Actor: auth.Anonymous, RequestID: requestIDFrom(ctx)})
		} else if ctx, err = begin(r.Context(), opt.Auth, r.Header); err == nil {
			// The request itself is the "message": resource functions read
			// its path values and query.
			err = auth.Authorize(ctx, route, r)
		}
		if err != nil {
			writeError(sw, toConnect(ctx, opt.Logger, route, err))
		} else {
			next.ServeHTTP(sw, r.WithContext(ctx))
		}
		d := time.Since(start)
		opt.Metrics.observe(route, strconv.Itoa(sw.code), d)
		opt.Logger.LogAttrs(ctx, slog.LevelDebug, "http", slog.String("method", route), slog.Int("code", sw.code),
			slog.Duration("duration", d), slog.String("request_id", requestIDFrom(ctx)))
	})
}

// writeError answers a plain route's error as Connect does: the HTTP status
// Connect uses for the code, and {"code", "message"} as JSON. A size limit
// is the exception: Connect's invalid_argument with HTTP 413, so a plain
// HTTP client learns it must send less, not retry.
func writeError(w http.ResponseWriter, ce *connect.Error) {
	w.Header().Set("Content-Type", "application/json")
	status := httpStatus(ce.Code())
	if errors.Is(ce, errs.TooLarge) {
		status = http.StatusRequestEntityTooLarge
	}
	w.WriteHeader(status)
	out := map[string]string{"code": ce.Code().String(), "message": ce.Message()}
	// A field error names its field on its own, for clients that branch on it.
	for _, d := range ce.Details() {
		if v, err := d.Value(); err == nil {
			if ed, ok := v.(*flagopsv1.ErrorDetail); ok && ed.GetField() != "" {
				out["field"] = ed.GetField()
			}
		}
	}
	_ = json.NewEncoder(w).Encode(out)
}

// httpStatus is the HTTP status of a Connect code, as the Connect protocol
// defines it.
func httpStatus(c connect.Code) int {
	switch c {
	case connect.CodeInvalidArgument, connect.CodeFailedPrecondition, connect.CodeOutOfRange:
		return http.StatusBadRequest
	case connect.CodeUnauthenticated:
		return http.StatusUnauthorized
	case connect.CodePermissionDenied:
		return http.StatusForbidden
	case connect.CodeNotFound:
		return http.StatusNotFound
	case connect.CodeAlreadyExists, connect.CodeAborted:
		return http.StatusConflict
	case connect.CodeResourceExhausted:
		return http.StatusTooManyRequests
	case connect.CodeUnavailable:
		return http.StatusServiceUnavailable
	case connect.CodeCanceled:
		return 499
	case connect.CodeDeadlineExceeded:
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	code        int
	wroteHeader bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.code, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wroteHeader = true
	return w.ResponseWriter.Write(b)
}

// Flush passes flushes on: Connect refuses to stream without them.
func (w *statusWriter) Flush() {
	w.wroteHeader = true
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
