package web

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/gen/flagops/v1/flagopsv1connect"
	"github.com/flagops/flagops/internal/auth"
)

// apiBase is the base URL of in-process API calls; the host is never
// dialled.
const apiBase = "http://flagops.internal"

// clients are the generated API clients, sending one session's key.
type clients struct {
	catalog    flagopsv1connect.CatalogServiceClient
	facts      flagopsv1connect.FactServiceClient
	changes    flagopsv1connect.ChangeServiceClient
	flags      flagopsv1connect.FlagServiceClient
	webhooks   flagopsv1connect.WebhookServiceClient
	versions   flagopsv1connect.VersionServiceClient
	releases   flagopsv1connect.ReleaseServiceClient
	promotions flagopsv1connect.PromotionServiceClient
	secrets    flagopsv1connect.SecretServiceClient
	access     flagopsv1connect.AccessServiceClient
}

// clientsFor returns clients that call the API in-process with token (and
// the browser request's id, so one click is one request id in the logs).
func (u *UI) clientsFor(token, requestID string) clients {
	hc := &http.Client{Transport: inProcess{handler: func() http.Handler { return u.api }}}
	opts := []connect.ClientOption{connect.WithInterceptors(headers{token: token, requestID: requestID})}
	return clients{
		catalog:    flagopsv1connect.NewCatalogServiceClient(hc, apiBase, opts...),
		facts:      flagopsv1connect.NewFactServiceClient(hc, apiBase, opts...),
		changes:    flagopsv1connect.NewChangeServiceClient(hc, apiBase, opts...),
		flags:      flagopsv1connect.NewFlagServiceClient(hc, apiBase, opts...),
		webhooks:   flagopsv1connect.NewWebhookServiceClient(hc, apiBase, opts...),
		versions:   flagopsv1connect.NewVersionServiceClient(hc, apiBase, opts...),
		releases:   flagopsv1connect.NewReleaseServiceClient(hc, apiBase, opts...),
		promotions: flagopsv1connect.NewPromotionServiceClient(hc, apiBase, opts...),
		secrets:    flagopsv1connect.NewSecretServiceClient(hc, apiBase, opts...),
		access:     flagopsv1connect.NewAccessServiceClient(hc, apiBase, opts...),
	}
}

// headers puts the session's key and the request id on every call.
type headers struct{ token, requestID string }

func (h headers) set(hd http.Header) {
	if h.token != "" {
		hd.Set("Authorization", "Bearer "+h.token)
	}
	if h.requestID != "" {
		hd.Set("X-Request-Id", h.requestID)
	}
}

func (h headers) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		h.set(req.Header())
		return next(ctx, req)
	}
}

func (h headers) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		h.set(conn.RequestHeader())
		return conn
	}
}

func (h headers) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// view is one request of a signed-in session: its key's principal, its API
// clients and what the page needs to render.
type view struct {
	u    *UI
	r    *http.Request
	id   string // the session id, for sign-out
	sess *session
	p    auth.Principal
	c    clients
	ws   string
	// rev is the revision read before the page's data, where its live
	// stream starts: a change after it reaches the page as an event.
	rev int64
}

// can reports whether the session's key may call procedure with req, by
// the same policy table the API enforces. Pages use it to show or hide
// controls; the API checks again when the control is used.
func (v *view) can(procedure string, req proto.Message) bool {
	ctx := auth.WithPrincipal(v.r.Context(), v.p)
	return auth.Authorize(ctx, procedure, req) == nil
}

// ctx is the context of the view's API calls.
func (v *view) ctx() context.Context { return v.r.Context() }

// apiError is what a page shows of a failed call: the message, and the
// field it concerns when the server named one.
type apiError struct {
	Code    string
	Message string
	Field   string
}

func (e *apiError) Error() string { return e.Message }

// toAPIError describes err for a page.
func toAPIError(err error) *apiError {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return &apiError{Code: "unknown", Message: err.Error()}
	}
	out := &apiError{Code: ce.Code().String(), Message: ce.Message()}
	for _, d := range ce.Details() {
		if v, derr := d.Value(); derr == nil {
			if ed, ok := v.(*flagopsv1.ErrorDetail); ok && ed.GetField() != "" {
				out.Field = ed.GetField()
				if r := ed.GetRule(); r != "" {
					out.Message = r
				}
			}
		}
	}
	return out
}

// denied reports whether err is the API refusing the key.
func denied(err error) bool {
	c := connect.CodeOf(err)
	return c == connect.CodePermissionDenied || c == connect.CodeUnauthenticated
}

// procedure names of the controls pages decide on.
func proc(service, method string) string {
	return "/flagops.v1." + service + "/" + method
}

// trimmed returns the form value name, trimmed.
func trimmed(r *http.Request, name string) string { return strings.TrimSpace(r.FormValue(name)) }
