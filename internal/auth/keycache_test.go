package auth

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
)

// countingKeys is a hand-written KeyStore that counts lookups.
type countingKeys struct {
	keys    map[string]domain.APIKey
	lookups int
	touches int
}

func (c *countingKeys) APIKeyByHash(_ context.Context, h string) (domain.APIKey, string, error) {
	c.lookups++
	k, ok := c.keys[h]
	if !ok {
		return domain.APIKey{}, "", errs.New(errs.NotFound, "key")
	}
	return k, h, nil
}

func (c *countingKeys) TouchAPIKey(context.Context, string, time.Time, time.Duration) error {
	c.touches++
	return nil
}

func (c *countingKeys) GetTarget(context.Context, string, string) (domain.Target, error) {
	return domain.Target{}, errs.New(errs.NotFound, "target")
}

func TestKeyCache(t *testing.T) {
	ctx := context.Background()
	src := &countingKeys{keys: map[string]domain.APIKey{"h1": {ID: "k1", Name: "sdk"}}}
	c := NewKeyCache(src)

	t.Run("second lookup is served from the cache", func(t *testing.T) {
		for range 3 {
			if k, stored, err := c.APIKeyByHash(ctx, "h1"); err != nil || k.ID != "k1" || stored != "h1" {
				t.Fatalf("lookup = %+v %q %v", k, stored, err)
			}
		}
		if src.lookups != 1 {
			t.Fatalf("store lookups = %d, want 1", src.lookups)
		}
	})
	t.Run("unknown tokens are not cached", func(t *testing.T) {
		before := src.lookups
		for range 2 {
			if _, _, err := c.APIKeyByHash(ctx, "nope"); !errors.Is(err, errs.NotFound) {
				t.Fatalf("err = %v, want NotFound", err)
			}
		}
		if src.lookups != before+2 {
			t.Fatalf("store lookups = %d, want %d", src.lookups, before+2)
		}
	})
	t.Run("invalidate makes the next lookup see the store's change", func(t *testing.T) {
		revoked := src.keys["h1"]
		revoked.RevokedAt = time.Unix(1, 0)
		src.keys["h1"] = revoked
		c.Invalidate()
		k, _, err := c.APIKeyByHash(ctx, "h1")
		if err != nil || k.RevokedAt.IsZero() {
			t.Fatalf("after Invalidate: %+v %v, want the revoked key", k, err)
		}
	})
	t.Run("touch updates the cached last use", func(t *testing.T) {
		at := time.Unix(100, 0)
		if err := c.TouchAPIKey(ctx, "k1", at, time.Minute); err != nil {
			t.Fatal(err)
		}
		k, _, _ := c.APIKeyByHash(ctx, "h1")
		if !k.LastUsedAt.Equal(at) || src.touches != 1 {
			t.Fatalf("last used = %v (touches %d), want %v", k.LastUsedAt, src.touches, at)
		}
	})
}
