package indexer

import (
	"context"
	"slices"
	"sync"

	"github.com/indexsync/indexsync/internal/sunbird"
)

// DocWriter indexes a set of documents of one object type, id → the
// document's JSON (Writer does).
type DocWriter interface {
	Write(ctx context.Context, kind sunbird.Kind, docs map[string][]byte) (map[string]string, error)
}

// Combiner merges the documents of concurrent Write calls into shared bulk
// requests ("group commit"): while its flushers are busy, calls wait in
// line, and the next free flusher sends all waiting calls of one object
// type together, up to MaxDocs documents. Eight API clients sending 100 ids
// each then cost the engine a few large bulk requests instead of eight
// small ones; a lone caller is sent at once, as before.
type Combiner struct {
	W        DocWriter
	MaxDocs  int // documents per merged call; 0 = 500
	Flushers int // merged calls in flight at once; 0 = 2

	mu      sync.Mutex
	pending []*call
	active  int
}

type call struct {
	kind   sunbird.Kind
	docs   map[string][]byte
	failed map[string]string
	err    error
	done   chan struct{}
}

// Write indexes docs with the documents of other calls waiting at the same
// time, and returns what failed of docs. When ctx ends first it returns
// ctx's error: documents not yet sent are dropped, those in flight may
// still be indexed.
func (c *Combiner) Write(ctx context.Context, kind sunbird.Kind, docs map[string][]byte) (map[string]string, error) {
	if len(docs) == 0 {
		return map[string]string{}, nil
	}
	cl := &call{kind: kind, docs: docs, done: make(chan struct{})}
	c.mu.Lock()
	c.pending = append(c.pending, cl)
	flushers := c.Flushers
	if flushers <= 0 {
		flushers = 2
	}
	if c.active < flushers {
		c.active++
		// the merged request must not die with the request that happened
		// to start it: it carries the documents of other callers too
		go c.flush(context.WithoutCancel(ctx))
	}
	c.mu.Unlock()
	select {
	case <-cl.done:
		return cl.failed, cl.err
	case <-ctx.Done():
		// a call nobody waits for any more leaves the line, so an engine
		// outage cannot pile up the documents of calls that timed out
		c.mu.Lock()
		if i := slices.Index(c.pending, cl); i >= 0 {
			c.pending = slices.Delete(c.pending, i, i+1)
		}
		c.mu.Unlock()
		return nil, ctx.Err()
	}
}

// flush sends merged calls until none wait.
func (c *Combiner) flush(ctx context.Context) {
	for {
		c.mu.Lock()
		batch := c.take()
		if len(batch) == 0 {
			c.active--
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()

		merged := batch[0].docs
		if len(batch) > 1 {
			merged = make(map[string][]byte, len(batch)*len(batch[0].docs))
			for _, cl := range batch {
				for id, d := range cl.docs {
					merged[id] = d
				}
			}
		}
		failed, err := c.W.Write(ctx, batch[0].kind, merged)
		for _, cl := range batch {
			cl.failed = make(map[string]string)
			for id := range cl.docs {
				if reason, ok := failed[id]; ok {
					cl.failed[id] = reason
				}
			}
			cl.err = err
			close(cl.done)
		}
	}
}

// take removes from the line the calls of the first waiting call's object
// type that fit in MaxDocs together (always at least one), skipping calls
// that share an id with one already taken: each id is sent once per bulk
// request, and its answer goes to one caller. Called with c.mu held.
func (c *Combiner) take() []*call {
	if len(c.pending) == 0 {
		return nil
	}
	limit := c.MaxDocs
	if limit <= 0 {
		limit = 500
	}
	first := c.pending[0]
	batch := []*call{first}
	n := len(first.docs)
	ids := map[string]bool{}
	rest := c.pending[:0]
	for i, cl := range c.pending[1:] {
		ok := cl.kind.Name == first.kind.Name && n+len(cl.docs) <= limit
		if ok && len(batch) == 1 {
			for id := range first.docs {
				ids[id] = true
			}
		}
		if ok {
			for id := range cl.docs {
				if ids[id] {
					ok = false
					break
				}
			}
		}
		if !ok {
			rest = append(rest, c.pending[1+i])
			continue
		}
		for id := range cl.docs {
			ids[id] = true
		}
		batch = append(batch, cl)
		n += len(cl.docs)
	}
	clear(c.pending[len(rest):])
	c.pending = rest
	return batch
}
