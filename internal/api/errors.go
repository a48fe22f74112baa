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
	"github.com/flagops/flagops/internal/store"
)

// kindOf is the kind of err as the API sees it: its errs kind, or
// errs.Unavailable for a database driver's connection error (which carries
// no kind, since it comes straight from the driver), or nil.
func kindOf(err error) error {
	if k := errs.KindOf(err); k != nil {
		return k
	}
	if store.IsUnavailable(err) {
		return errs.Unavailable
	}
	return nil
}

// codeOf maps an error kind to its Connect code: the one place kinds meet
// wire codes. An error that carries no kind is Internal. A size limit is
// invalid_argument, not resource_exhausted, because resource_exhausted
// tells a client to retry and the same request would fail again.
func codeOf(err error) connect.Code {
	switch kindOf(err) {
	case errs.Invalid, errs.TooLarge:
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
	case errs.RateLimited:
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
// id, and the client only learns that one happened; so is a database that
// cannot be reached, whose driver error names the database's host, user
// and name. The returned error still matches its kind with errors.Is, so
// writeError can answer a size limit with 413.
func toConnect(ctx context.Context, log *slog.Logger, procedure string, err error) *connect.Error {
	if err == nil {
		return nil
	}
	if ce, ok := errors.AsType[*connect.Error](err); ok {
		return ce
	}
	code := codeOf(err)
	kind := kindOf(err)
	switch {
	case code == connect.CodeInternal:
		log.ErrorContext(ctx, "internal error", "procedure", procedure, "request_id", requestIDFrom(ctx), "err", err)
		return connect.NewError(code, errors.New("internal error; see the server log for request "+requestIDFrom(ctx)))
	case kind == errs.Unavailable && errs.KindOf(err) == nil:
		log.WarnContext(ctx, "database unavailable", "procedure", procedure, "request_id", requestIDFrom(ctx), "err", err)
		return connect.NewError(code, &wireError{kind: kind,
			msg: "the database is unavailable; retry later (request " + requestIDFrom(ctx) + ")"})
	}
	fe, ok := errors.AsType[*errs.FieldError](err)
	if !ok {
		return connect.NewError(code, &wireError{kind: kind, msg: clipText(err.Error(), maxErrorMessage)})
	}
	field, rule := clipText(errs.ClipPath(fe.Field), maxErrorField), clipText(fe.Rule, maxErrorMessage)
	msg := rule
	if field != "" {
		msg = field + ": " + rule
	}
	ce := connect.NewError(code, &wireError{kind: kind, msg: msg})
	if d, derr := connect.NewErrorDetail(&flagopsv1.ErrorDetail{Field: field, Rule: rule}); derr == nil {
		ce.AddDetail(d)
	}
	return ce
}

// wireError is the error a client is sent: only the message meant for it,
// and the kind, so that errors.Is(ce, errs.TooLarge) still holds on the
// server side of the mapping.
type wireError struct {
	kind error
	msg  string
}

func (e *wireError) Error() string { return e.msg }

func (e *wireError) Is(target error) bool { return e.kind != nil && target == e.kind }

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
