package errs_test

import (
	"errors"
	"fmt"
	"strings"
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

// TestQuote: a short value is quoted whole; a long one is cut to MaxQuoted
// bytes at a rune boundary and marked with its length.
func TestQuote(t *testing.T) {
	long := strings.Repeat("a", 1<<20)
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", `""`},
		{"a name", "prod-eu", `"prod-eu"`},
		{"exactly the limit", strings.Repeat("b", errs.MaxQuoted), `"` + strings.Repeat("b", errs.MaxQuoted) + `"`},
		{"a megabyte", long, `"` + strings.Repeat("a", errs.MaxQuoted) + `…" (1048576 bytes)`},
		{"cut inside a rune", strings.Repeat("a", errs.MaxQuoted-1) + "é" + "zz", `"` + strings.Repeat("a", errs.MaxQuoted-1) + `…" (67 bytes)`},
		{"control characters", "a\nb", `"a\nb"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := errs.Quote(tc.in); got != tc.want {
				t.Errorf("Quote = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestClipPath: every name in a field path is cut to MaxQuoted bytes, and
// Field and Prefix clip the paths they make.
func TestClipPath(t *testing.T) {
	long := strings.Repeat("k", 1<<20)
	cut := strings.Repeat("k", errs.MaxQuoted) + "…"
	tests := []struct{ name, in, want string }{
		{"short", "documents[2].environments[0]", "documents[2].environments[0]"},
		{"a long key", "labels." + long, "labels." + cut},
		{"long keys in two places", "values." + long + "[3]." + long, "values." + cut + "[3]." + cut},
		{"a long multi-byte key", "facts." + strings.Repeat("é", 100), "facts." + strings.Repeat("é", errs.MaxQuoted/2) + "…"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := errs.ClipPath(tc.in); got != tc.want {
				t.Errorf("ClipPath = %.120q, want %.120q", got, tc.want)
			}
		})
	}
	if f := errs.FieldOf(errs.Field("labels."+long, "bad")); f != "labels."+cut {
		t.Errorf("Field kept a path of %d bytes", len(f))
	}
	if f := errs.FieldOf(errs.Prefix("values."+long, errs.Field("x", "bad"))); f != "values."+cut+".x" {
		t.Errorf("Prefix kept a path of %d bytes", len(f))
	}
}
