package ofrep

import (
	"context"
	"sync"
)

// FactCache is a FactResolver that caches another (the store's) per
// deployment. The watch stream calls Invalidate when facts change, so a
// cached entry is served until the change log says it is stale; nothing
// expires by time.
//
// Resolve takes a read lock on a hit and does not allocate. A miss reads
// the source without any lock held; an invalidation that happens during
// that read stops the (possibly stale) answer from being cached.
type FactCache struct {
	src    FactResolver
	notify func(ws, project, target string)

	mu      sync.RWMutex // guards entries and gen
	entries map[factKey]factEntry
	gen     uint64 // incremented by every invalidation
}

type factKey struct{ ws, project, target string }

type factEntry = Facts

var _ FactResolver = (*FactCache)(nil)

// NewFactCache returns a cache over src. notify, when not nil, is called
// after each invalidation (wire it to snapshot.Registry.FactsChanged so
// event streams hear about it).
func NewFactCache(src FactResolver, notify func(ws, project, target string)) *FactCache {
	return &FactCache{src: src, notify: notify, entries: make(map[factKey]factEntry)}
}

// Resolve implements FactResolver.
func (c *FactCache) Resolve(ctx context.Context, ws, project, target string) (Facts, error) {
	k := factKey{ws, project, target}
	c.mu.RLock()
	e, ok := c.entries[k]
	gen := c.gen
	c.mu.RUnlock()
	if ok {
		return e, nil
	}
	facts, err := c.src.Resolve(ctx, ws, project, target)
	if err != nil {
		return Facts{}, err
	}
	c.mu.Lock()
	if c.gen == gen {
		c.entries[k] = facts
	}
	c.mu.Unlock()
	return facts, nil
}

// Invalidate drops the cached facts of the deployments a fact change at
// revision affects. An empty project or target is a wildcard: a change to
// workspace, environment or target facts names no project. Entries already
// at or past revision are kept (the change is in them); revision 0 drops
// every match.
func (c *FactCache) Invalidate(ws, project, target string, revision int64) {
	c.mu.Lock()
	c.gen++
	for k, e := range c.entries {
		if k.ws != ws || (project != "" && k.project != project) || (target != "" && k.target != target) {
			continue
		}
		if revision == 0 || e.Revision < revision {
			delete(c.entries, k)
		}
	}
	c.mu.Unlock()
	if c.notify != nil {
		c.notify(ws, project, target)
	}
}

// Len returns the number of cached deployments.
func (c *FactCache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
