package api

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"unicode/utf8"

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
		return connect.NewError(code, errors.New(clipText(err.Error(), maxErrorMessage)))
	}
	field, rule := clipText(errs.ClipPath(fe.Field), maxErrorField), clipText(fe.Rule, maxErrorMessage)
	msg := rule
	if field != "" {
		msg = field + ": " + rule
	}
	ce := connect.NewError(code, errors.New(msg))
	if d, derr := connect.NewErrorDetail(&flagopsv1.ErrorDetail{Field: field, Rule: rule}); derr == nil {
		ce.AddDetail(d)
	}
	return ce
}

// Caps on what an error sends back. Validators quote input values with
// errs.Quote, which keeps them short; these caps are the backstop for a
// field path built from an input key ("labels." + a megabyte-long key) or
// a message that quotes several values, so that no error answers with
// more than a few kilobytes of the request.
const (
	maxErrorField   = 256
	maxErrorMessage = 2048
)

// clipText cuts s to at most n bytes at a rune boundary, marking the cut
// with its full length.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "… (" + strconv.Itoa(len(s)) + " bytes)"
}
