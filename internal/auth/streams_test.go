package auth

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
)

func TestStreams(t *testing.T) {
	key := domain.APIKey{ID: "k1", Name: "viewer"}
	tests := []struct {
		name string
		// run opens streams and acts; it returns the guarded context.
		run       func(s *Streams) context.Context
		wantEnded bool
	}{
		{"open", func(s *Streams) context.Context {
			ctx, _ := s.Guard(context.Background(), key)
			return ctx
		}, false},
		{"revoked while open", func(s *Streams) context.Context {
			ctx, _ := s.Guard(context.Background(), key)
			s.Revoked("k1")
			return ctx
		}, true},
		{"revoked before it opened", func(s *Streams) context.Context {
			s.Revoked("k1")
			ctx, _ := s.Guard(context.Background(), key)
			return ctx
		}, true},
		{"another key revoked", func(s *Streams) context.Context {
			ctx, _ := s.Guard(context.Background(), key)
			s.Revoked("k2")
			return ctx
		}, false},
		{"expired", func(s *Streams) context.Context {
			k := key
			k.ExpiresAt = time.Now().Add(10 * time.Millisecond)
			ctx, _ := s.Guard(context.Background(), k)
			<-ctx.Done()
			return ctx
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewStreams()
			ctx := tc.run(s)
			ended := EndedBy(ctx)
			if (ended != nil) != tc.wantEnded {
				t.Fatalf("ended by %v, want ended=%v", ended, tc.wantEnded)
			}
			if ended != nil && !errors.Is(ended, errs.Unauthenticated) {
				t.Fatalf("cause %v is not unauthenticated", ended)
			}
		})
	}
}

func TestStreamsRelease(t *testing.T) {
	s := NewStreams()
	ctx, release := s.Guard(context.Background(), domain.APIKey{ID: "k1", ExpiresAt: time.Now().Add(time.Hour)})
	if s.Len() != 1 {
		t.Fatalf("%d open, want 1", s.Len())
	}
	release()
	if s.Len() != 0 || EndedBy(ctx) != nil {
		t.Fatalf("after release: %d open, ended by %v", s.Len(), EndedBy(ctx))
	}
	// A zero key (authentication off, a static key) is not guarded.
	if _, release := s.Guard(context.Background(), domain.APIKey{}); s.Len() != 0 {
		t.Fatal("a zero key was registered")
	} else {
		release()
	}
}
