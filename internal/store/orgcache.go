package store

import (
	"context"
	"sync"
	"time"

	"github.com/indexsync/indexsync/internal/sunbird"
)

// OrgCache remembers organisation names, and which organisations do not
// exist, for a TTL: renames show up in documents within that time.
type OrgCache struct {
	ttl  time.Duration
	read func(ctx context.Context, ids []string) (names map[string]any, err error)
	now  func() time.Time

	mu sync.RWMutex
	m  map[string]orgEntry
}

type orgEntry struct {
	name    any
	found   bool
	expires time.Time
}

// NewOrgCache returns a cache that loads misses with read, which returns the
// names of the organisations that exist among the ids it is given.
func NewOrgCache(ttl time.Duration, read func(ctx context.Context, ids []string) (map[string]any, error)) *OrgCache {
	return &OrgCache{ttl: ttl, read: read, now: time.Now, m: map[string]orgEntry{}}
}

// Names makes sure every id is fresh in the cache (reading the misses in one
// batch) and returns a lookup for the document builder.
func (c *OrgCache) Names(ctx context.Context, ids []string) (sunbird.OrgNames, error) {
	now := c.now()
	var need []string
	var seen map[string]bool // made on the first miss: most calls have none
	c.mu.RLock()
	for _, id := range ids {
		if e, ok := c.m[id]; (!ok || now.After(e.expires)) && !seen[id] {
			if seen == nil {
				seen = map[string]bool{}
			}
			seen[id] = true
			need = append(need, id)
		}
	}
	c.mu.RUnlock()
	if len(need) > 0 {
		names, err := c.read(ctx, need)
		if err != nil {
			return nil, err
		}
		for _, id := range need {
			name, found := names[id]
			c.Put(id, name, found)
		}
	}
	return c.Lookup, nil
}

// Put records an organisation's name (or its absence).
func (c *OrgCache) Put(id string, name any, found bool) {
	c.mu.Lock()
	c.m[id] = orgEntry{name: name, found: found, expires: c.now().Add(c.ttl)}
	c.mu.Unlock()
}

// Lookup is a sunbird.OrgNames over the cache's current content.
func (c *OrgCache) Lookup(id string) (any, bool) {
	c.mu.RLock()
	e, ok := c.m[id]
	c.mu.RUnlock()
	if !ok {
		return nil, false
	}
	return e.name, e.found
}
