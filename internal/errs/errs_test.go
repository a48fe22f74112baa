package errs_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/flagops/flagops/internal/errs"
)

func TestKinds(t *testing.T) {
	tests := []struct {
		name string
		err  error
		kind error
	}{
		{"field error is invalid", errs.Field("facts.tier", "must be JSON"), errs.Invalid},
		{"wrapped field error", fmt.Errorf("set facts: %w", errs.Field("key", "bad")), errs.Invalid},
		{"field error with kind", &errs.FieldError{Field: "body", Rule: "over 4 MiB", Kind: errs.TooLarge}, errs.TooLarge},
		{"new not found", errs.New(errs.NotFound, "environment %q", "prod"), errs.NotFound},
		{"wrapped conflict", fmt.Errorf("put: %w", errs.New(errs.Conflict, "expected 3, is 4")), errs.Conflict},
		{"plain error has no kind", errors.New("boom"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errs.KindOf(tt.err); got != tt.kind {
				t.Fatalf("KindOf(%v) = %v, want %v", tt.err, got, tt.kind)
			}
		})
	}
}

func TestPrefix(t *testing.T) {
	err := errs.Prefix("documents[2]", errs.Field("environments[0]", "unknown environment"))
	if got := errs.FieldOf(err); got != "documents[2].environments[0]" {
		t.Fatalf("field = %q", got)
	}
	err = errs.Prefix("documents", errs.Field("[1]", "x"))
	if got := errs.FieldOf(err); got != "documents[1]" {
		t.Fatalf("field = %q", got)
	}
	if got := err.Error(); got != "documents[1]: x" {
		t.Fatalf("message = %q", got)
	}
}
