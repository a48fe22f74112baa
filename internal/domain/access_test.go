package domain_test

import (
	"encoding/json"
	"testing"

	"github.com/flagops/flagops/internal/domain"
)

func TestParseBinding(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"viewer", "viewer@workspace", true},
		{"editor@project/shop", "editor@project/shop", true},
		{"ops:agent@target/eu-1", "ops:agent@target/eu-1", true},
		{"*:admin@workspace", "*:admin@workspace", true},
		{"secret-reader@environment/prod", "secret-reader@environment/prod", true},
		{"root@workspace", "", false},
		{"viewer@deployment/shop@eu-1", "", false},
		{"viewer@project/shop@prod", "", false},
		{"bad ws:viewer", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			b, err := domain.ParseBinding(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("err %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && b.String() != tt.want {
				t.Fatalf("got %q, want %q", b.String(), tt.want)
			}
			if !tt.ok {
				return
			}
			raw, err := json.Marshal(b)
			if err != nil {
				t.Fatal(err)
			}
			var back domain.Binding
			if err := json.Unmarshal(raw, &back); err != nil || back != b {
				t.Fatalf("JSON round trip: %s → %+v, %v", raw, back, err)
			}
		})
	}
}
