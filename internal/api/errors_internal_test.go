package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"connectrpc.com/connect"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/errs"
)

func TestToConnect(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		code  connect.Code
		msg   string // the whole message; "" to skip
		field string
	}{
		{"invalid", errs.New(errs.Invalid, "bad"), connect.CodeInvalidArgument, "bad: invalid argument", ""},
		{"not found, wrapped", fmt.Errorf("get x: %w", errs.New(errs.NotFound, "environment %q", "qa")), connect.CodeNotFound, "", ""},
		{"already exists", errs.New(errs.AlreadyExists, "x"), connect.CodeAlreadyExists, "", ""},
		{"conflict", errs.New(errs.Conflict, "x"), connect.CodeAborted, "", ""},
		{"failed precondition", errs.New(errs.FailedPrecondition, "x"), connect.CodeFailedPrecondition, "", ""},
		{"compacted", errs.New(errs.Compacted, "x"), connect.CodeOutOfRange, "", ""},
		{"unauthenticated", errs.New(errs.Unauthenticated, "x"), connect.CodeUnauthenticated, "", ""},
		{"denied", errs.New(errs.Denied, "x"), connect.CodePermissionDenied, "", ""},
		{"too large", errs.New(errs.TooLarge, "x"), connect.CodeInvalidArgument, "", ""},
		{"unavailable", errs.New(errs.Unavailable, "x"), connect.CodeUnavailable, "", ""},
		{"rate limited", errs.New(errs.RateLimited, "x"), connect.CodeResourceExhausted, "", ""},
		{"canceled", fmt.Errorf("query: %w", context.Canceled), connect.CodeCanceled, "", ""},
		{"field error, wrapped", fmt.Errorf("put target: %w", errs.Field("target.environment", "environment %q does not exist", "nope")),
			connect.CodeInvalidArgument, `target.environment: environment "nope" does not exist`, "target.environment"},
		{"field error of kind TooLarge", &errs.FieldError{Field: "values.a", Rule: "too big", Kind: errs.TooLarge},
			connect.CodeInvalidArgument, "values.a: too big", "values.a"},
		{"connect error passes through", connect.NewError(connect.CodeInvalidArgument, errors.New("unmarshal")), connect.CodeInvalidArgument, "unmarshal", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ce := toConnect(context.Background(), slog.Default(), "/p", tt.err)
			if ce.Code() != tt.code {
				t.Errorf("code %v, want %v", ce.Code(), tt.code)
			}
			if tt.msg != "" && ce.Message() != tt.msg {
				t.Errorf("message %q, want %q", ce.Message(), tt.msg)
			}
			var field string
			for _, d := range ce.Details() {
				if v, err := d.Value(); err == nil {
					if ed, ok := v.(*flagopsv1.ErrorDetail); ok {
						field = ed.Field
					}
				}
			}
			if field != tt.field {
				t.Errorf("detail field %q, want %q", field, tt.field)
			}
		})
	}
}

// TestInternalErrorHidden: an error without a kind answers Internal with a
// generic message; the real error goes to the log only.
func TestInternalErrorHidden(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	ctx := context.WithValue(context.Background(), requestIDKey{}, "rid-1")
	ce := toConnect(ctx, log, "/p", errors.New("pq: password authentication failed for db secret-host"))
	if ce.Code() != connect.CodeInternal {
		t.Fatalf("code %v", ce.Code())
	}
	if strings.Contains(ce.Message(), "secret-host") || !strings.Contains(ce.Message(), "rid-1") {
		t.Fatalf("client message %q", ce.Message())
	}
	if !strings.Contains(buf.String(), "secret-host") || !strings.Contains(buf.String(), "rid-1") {
		t.Fatalf("log lacks the error or request id: %s", buf.String())
	}
}
