package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"connectrpc.com/connect"

	"github.com/flagops/flagops/internal/auth"
	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
)

// interceptor is what every RPC passes through on the server: it
// authenticates the caller and records the origin of its writes, calls
// auth.Authorize, maps the handler's error to a Connect error, and logs and
// measures the call. Request bodies are never logged.
type interceptor struct {
	log     *slog.Logger
	metrics *Metrics
	auth    *auth.Authenticator
	// streams ends a stream when its key is revoked or expires.
	streams *auth.Streams
}

var _ connect.Interceptor = (*interceptor)(nil)

// begin authenticates the caller and puts the principal and the origin in ctx.
func begin(ctx context.Context, a *auth.Authenticator, h http.Header) (context.Context, error) {
	p, err := a.Authenticate(ctx, h)
	if err != nil {
		return ctx, err
	}
	ctx = auth.WithPrincipal(ctx, p)
	return domain.WithOrigin(ctx, domain.Origin{Actor: p.Actor, RequestID: requestIDFrom(ctx)}), nil
}

func (i *interceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		start := time.Now()
		proc := req.Spec().Procedure
		ctx, err := begin(ctx, i.auth, req.Header())
		if err == nil {
			err = auth.Authorize(ctx, proc, req.Any())
		}
		var resp connect.AnyResponse
		if err == nil {
			resp, err = next(ctx, req)
		}
		ce := i.finish(ctx, proc, start, err)
		if ce != nil {
			return nil, ce
		}
		return resp, nil
	}
}

func (i *interceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i *interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		start := time.Now()
		proc := conn.Spec().Procedure
		ctx, err := begin(ctx, i.auth, conn.RequestHeader())
		if err == nil {
			// The key was checked once, now; the guard ends the stream
			// when it is revoked or expires, with that as its error.
			p, _ := auth.PrincipalFrom(ctx)
			gctx, release := i.streams.Guard(ctx, p.Key)
			err = next(gctx, &authorizedConn{StreamingHandlerConn: conn, ctx: gctx, key: p.Key})
			if ended := auth.EndedBy(gctx); ended != nil {
				err = ended
			}
			release()
		}
		if ce := i.finish(ctx, proc, start, err); ce != nil {
			return ce
		}
		return nil
	}
}

// authorizedConn authorizes every message a stream receives, since a
// streaming handler's request is read after the interceptor runs.
type authorizedConn struct {
	connect.StreamingHandlerConn
	ctx context.Context
	// key is the stream's key: Send checks its expiry itself, since the
	// guard's expiry timer may fire a moment after a change written just
	// past the expiry reaches the stream.
	key domain.APIKey
}

// Send refuses to send once ctx has ended: when a stream's key is revoked
// the guard ends ctx before anything written after the revocation can be
// handed to the stream, and this keeps it from being sent.
func (c *authorizedConn) Send(msg any) error {
	if c.ctx.Err() != nil {
		return context.Cause(c.ctx)
	}
	if exp := c.key.ExpiresAt; !exp.IsZero() && !time.Now().Before(exp) {
		return errs.New(errs.Unauthenticated, "API key %s expired at %s; the stream ends", errs.Quote(c.key.Name), exp.UTC().Format(time.RFC3339))
	}
	return c.StreamingHandlerConn.Send(msg)
}

func (c *authorizedConn) Receive(msg any) error {
	if err := c.StreamingHandlerConn.Receive(msg); err != nil {
		return err
	}
	return auth.Authorize(c.ctx, c.Spec().Procedure, msg)
}

// finish maps err, logs the call and records its metrics.
func (i *interceptor) finish(ctx context.Context, proc string, start time.Time, err error) *connect.Error {
	d := time.Since(start)
	markObserved(ctx)
	ce := toConnect(ctx, i.log, proc, err)
	code := "ok"
	level := slog.LevelInfo
	if ce != nil {
		code = ce.Code().String()
		if ce.Code() == connect.CodeInternal || ce.Code() == connect.CodeUnavailable {
			level = slog.LevelWarn
		}
	}
	i.metrics.observe(proc, code, d)
	i.log.Log(ctx, level, "rpc", "method", proc, "code", code, "duration", d,
		"request_id", requestIDFrom(ctx), "actor", domain.OriginFrom(ctx).Actor)
	return ce
}
