package auth

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flagops/flagops/internal/domain"
)

// KeyCache is a KeyStore that remembers keys by token hash, so that a hot
// path (every OFREP evaluation authenticates) does not query the database
// per request. It never serves a key that a committed write has changed:
// Invalidate drops every entry, and the server calls it synchronously after
// every commit of this process (store.OnCommit, before the write's response
// is sent) and whenever the watch hub reads writes of other instances. So a
// revoked key is refused by this instance at once, and by the others as soon
// as their hub hears of the revocation. Expiry needs no invalidation: the
// Authenticator compares the cached ExpiresAt with the clock on every call.
//
// Unknown tokens are not cached, so a flood of bad tokens cannot fill memory;
// every one of them reaches the store.
type KeyCache struct {
	KeyStore
	// entries maps a token hash to a *cachedKey. It is replaced whole on
	// Invalidate, so a lookup that raced with an invalidation can only
	// have written into the discarded map.
	entries atomic.Pointer[sync.Map]
}

type cachedKey struct {
	key    domain.APIKey
	stored string
}

var _ KeyStore = (*KeyCache)(nil)

// NewKeyCache returns a cache in front of st.
func NewKeyCache(st KeyStore) *KeyCache {
	c := &KeyCache{KeyStore: st}
	c.entries.Store(new(sync.Map))
	return c
}

// APIKeyByHash answers from the cache, else from the store.
func (c *KeyCache) APIKeyByHash(ctx context.Context, tokenHash string) (domain.APIKey, string, error) {
	m := c.entries.Load()
	if v, ok := m.Load(tokenHash); ok {
		e := v.(*cachedKey)
		return e.key, e.stored, nil
	}
	k, stored, err := c.KeyStore.APIKeyByHash(ctx, tokenHash)
	if err != nil {
		return k, stored, err
	}
	m.Store(tokenHash, &cachedKey{key: k, stored: stored})
	return k, stored, nil
}

// TouchAPIKey records the last use in the store and in the cached entry, so
// that the once-a-minute rule keeps holding while the key is served from the
// cache (a touch writes no change entry, hence does not invalidate).
func (c *KeyCache) TouchAPIKey(ctx context.Context, id string, at time.Time, every time.Duration) error {
	err := c.KeyStore.TouchAPIKey(ctx, id, at, every)
	c.entries.Load().Range(func(h, v any) bool {
		if e := v.(*cachedKey); e.key.ID == id {
			cp := *e
			cp.key.LastUsedAt = at
			c.entries.Load().Store(h, &cp)
		}
		return true
	})
	return err
}

// Invalidate forgets every cached key. It is cheap and safe to call on every
// commit.
func (c *KeyCache) Invalidate() { c.entries.Store(new(sync.Map)) }
