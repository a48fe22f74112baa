package auth

import (
	"context"
	"net/http"
	"testing"
)

func TestAuthenticate(t *testing.T) {
	tests := []struct {
		name, header, want string
	}{
		{"no header", "", Anonymous},
		{"a name", "alice", "alice"},
		{"a service account", "ci/deploy-bot@example.com", "ci/deploy-bot@example.com"},
		{"spaces are not a name", "alice bob", Anonymous},
		{"control characters are not a name", "alice\x00", Anonymous},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.header != "" {
				h.Set(ActorHeader, tt.header)
			}
			p, err := Authenticate(context.Background(), h)
			if err != nil || p.Actor != tt.want {
				t.Fatalf("got %q, %v; want %q", p.Actor, err, tt.want)
			}
			ctx := WithPrincipal(context.Background(), p)
			if got, ok := PrincipalFrom(ctx); !ok || got != p {
				t.Fatalf("principal from context: %v %v", got, ok)
			}
			if err := Authorize(ctx, "/flagops.v1.FactService/SetFacts", nil); err != nil {
				t.Fatalf("authorize: %v", err)
			}
		})
	}
}
