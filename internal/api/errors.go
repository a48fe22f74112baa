package api

import (
	"context"
	"errors"
	"log/slog"

	"connectrpc.com/connect"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/errs"
)

// codeOf maps an error kind to its Connect code: the one place kinds meet
// wire codes. An error that carries no kind is Internal.
func codeOf(err error) connect.Code {
	switch errs.KindOf(err) {
	case errs.Invalid:
		return connect.CodeInvalidArgument
	case errs.NotFound:
		return connect.CodeNotFound
	case errs.AlreadyExists:
		return connect.CodeAlreadyExists
	case errs.Conflict:
		return connect.CodeAborted
	case errs.FailedPrecondition:
		return connect.CodeFailedPrecondition
	case errs.Compacted:
		return connect.CodeOutOfRange
	case errs.Unauthenticated:
		return connect.CodeUnauthenticated
	case errs.Denied:
		return connect.CodePermissionDenied
	case errs.TooLarge, errs.RateLimited:
		return connect.CodeResourceExhausted
	case errs.Unavailable:
		return connect.CodeUnavailable
	}
	switch {
	case errors.Is(err, context.Canceled):
		return connect.CodeCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return connect.CodeDeadlineExceeded
	}
	return connect.CodeInternal
}

// toConnect turns a handler's error into the error sent to the client. An
// error Connect made itself (a malformed or oversized message) passes
// through. A field error's message is "field: rule" and it carries a
// flagopsv1.ErrorDetail. An internal error is logged here, with the request
// id, and the client only learns that one happened.
func toConnect(ctx context.Context, log *slog.Logger, procedure string, err error) *connect.Error {
	if err == nil {
		return nil
	}
	if ce, ok := errors.AsType[*connect.Error](err); ok {
		return ce
	}
	code := codeOf(err)
	if code == connect.CodeInternal {
		log.ErrorContext(ctx, "internal error", "procedure", procedure, "request_id", requestIDFrom(ctx), "err", err)
		return connect.NewError(code, errors.New("internal error; see the server log for request "+requestIDFrom(ctx)))
	}
	fe, ok := errors.AsType[*errs.FieldError](err)
	if !ok {
		return connect.NewError(code, errors.New(err.Error()))
	}
	ce := connect.NewError(code, errors.New(fe.Error()))
	if d, derr := connect.NewErrorDetail(&flagopsv1.ErrorDetail{Field: fe.Field, Rule: fe.Rule}); derr == nil {
		ce.AddDetail(d)
	}
	return ce
}
