package domain_test

import (
	"strings"
	"testing"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
)

// TestCheckJSONDepth: nesting up to MaxJSONDepth passes, one more fails
// with a field error; brackets inside strings (escaped quotes included) do
// not count.
func TestCheckJSONDepth(t *testing.T) {
	nest := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	tests := []struct {
		name string
		raw  string
		ok   bool
	}{
		{"scalar", `1`, true},
		{"at the limit", nest(domain.MaxJSONDepth), true},
		{"one past the limit", nest(domain.MaxJSONDepth + 1), false},
		{"5,100 deep", nest(5100), false},
		{"objects count too", strings.Repeat(`{"a":`, domain.MaxJSONDepth+1) + "1" + strings.Repeat("}", domain.MaxJSONDepth+1), false},
		{"brackets in a string", `"` + strings.Repeat("[", 500) + `"`, true},
		{"escaped quote keeps the string open", `["\"` + strings.Repeat("[", 500) + `"]`, true},
		{"siblings do not add up", strings.Repeat(nest(40), 10), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := domain.CheckJSONDepth("facts.deep", []byte(tc.raw))
			if (err == nil) != tc.ok {
				t.Fatalf("CheckJSONDepth = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && errs.FieldOf(err) != "facts.deep" {
				t.Errorf("field = %q, want facts.deep", errs.FieldOf(err))
			}
		})
	}
}
