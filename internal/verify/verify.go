// Package verify compares Cassandra with the search index and repairs what
// drifted.
//
// Compare makes two passes. The first scans Cassandra by token ranges with
// the same source and document builder as a direct sync (so a document is
// "stale" exactly when a sync would write different bytes now), fetches the
// indexed documents in batches with _mget (realtime: no refresh needed) and
// compares canonical bytes: key order and number formatting cannot cause
// false differences. The second refreshes the index, walks every id in it
// with a scroll and asks Cassandra, in batches, which of them still have a
// row; the others are orphans. Neither pass holds more than a few batches of
// ids or documents: memory does not grow with the table, only the lists of
// differences do, and those spill to disk past a limit (IDList).
//
// Repair re-syncs missing and stale ids, deletes orphans, and then checks
// exactly those ids again (not a full rescan) to report what remains.
//
// The package owns small interfaces for what it reads and writes;
// cmd/indexsync wires in the Cassandra source, store, search client and
// indexer.
package verify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/indexsync/indexsync/internal/checkpoint"
	"github.com/indexsync/indexsync/internal/search"
	"github.com/indexsync/indexsync/internal/sunbird"
	"github.com/indexsync/indexsync/internal/syncjob"
)

// Index is the search side of a comparison (search.Client is one).
type Index interface {
	MGet(ctx context.Context, index string, ids []string) (map[string]json.RawMessage, error)
	ScanIDs(ctx context.Context, index string, opts search.ScanOptions, fn func(search.ScanPage) error) error
	Refresh(ctx context.Context, index string) error
}

// Keys tells which ids have a row in Cassandra (CassandraKeys does).
type Keys interface {
	Existing(ctx context.Context, ids []string) (map[string]bool, error)
}

// Config is one comparison.
type Config struct {
	Index  string            // index or alias to compare
	Units  []checkpoint.Unit // token ranges to scan
	Source syncjob.Source    // documents as a sync would build them now
	Search Index
	Keys   Keys
	// InShard reports whether an index id belongs to the scanned part of
	// the ring; nil means every id does (no --shard).
	InShard func(id string) bool

	Concurrency  int // scan workers and _mget workers (each); 0 = 4
	BatchSize    int // ids per _mget; 0 = 500
	ScanPageSize int // ids per scroll page; 0 = 5000
	KeysBatch    int // ids per Cassandra existence query; 0 = 100
	DiffHints    int // stale documents whose differing fields are named; 0 = 5
	SpillDir     string
	MemIDs       int // ids of each list kept in memory before spilling; 0 = 100000
	HeadIDs      int // ids of each list remembered for the console; 0 = 10

	// OnScanned, when set, is called with the number of Cassandra documents
	// compared by each batch; OnWalked with the number of index ids checked
	// by each page, and the index's total.
	OnScanned func(n int)
	OnWalked  func(n int, total int64)
}

func (c *Config) defaults() {
	if c.Concurrency <= 0 {
		c.Concurrency = 4
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 500
	}
	if c.ScanPageSize <= 0 {
		c.ScanPageSize = 5000
	}
	if c.KeysBatch <= 0 {
		c.KeysBatch = 100
	}
	if c.DiffHints <= 0 {
		c.DiffHints = 5
	}
	if c.MemIDs <= 0 {
		c.MemIDs = 100000
	}
	if c.HeadIDs <= 0 {
		c.HeadIDs = 10
	}
	if c.InShard == nil {
		c.InShard = func(string) bool { return true }
	}
}

// Result is what a comparison found. Close it to remove spilled id files.
type Result struct {
	CassandraDocs int64 // documents built from Cassandra
	IndexDocs     int64 // documents in the index when the walk started
	IndexChecked  int64 // index ids checked for orphans (those in the shard)

	Missing *IDList // in Cassandra, not in the index
	Stale   *IDList // in both, the indexed document differs
	Orphans *IDList // in the index, not in Cassandra

	mu    sync.Mutex
	Diffs []Diff // the first stale documents, with the fields that differ
}

// Diff names the top-level fields in which a stale document differs from
// what a sync would write now.
type Diff struct {
	ID     string   `json:"id"`
	Fields []string `json:"fields"`
}

// Differences returns missing + stale + orphans.
func (r *Result) Differences() int {
	return r.Missing.Len() + r.Stale.Len() + r.Orphans.Len()
}

// Close removes the result's spilled id files.
func (r *Result) Close() error {
	var first error
	for _, l := range []*IDList{r.Missing, r.Stale, r.Orphans} {
		if err := l.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Compare scans Cassandra against the index, then the index against
// Cassandra. On error (or ctx ending) it returns what it found so far with
// the error.
func Compare(ctx context.Context, cfg Config) (*Result, error) {
	cfg.defaults()
	res := &Result{
		Missing: NewIDList(cfg.SpillDir, cfg.MemIDs, cfg.HeadIDs),
		Stale:   NewIDList(cfg.SpillDir, cfg.MemIDs, cfg.HeadIDs),
		Orphans: NewIDList(cfg.SpillDir, cfg.MemIDs, cfg.HeadIDs),
	}
	c := &comparer{cfg: cfg, res: res}
	// The two passes share nothing but the lists, and each waits on a
	// different server most of the time: run them at once.
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return c.documents(gctx) })
	g.Go(func() error { return c.orphans(gctx) })
	return res, g.Wait()
}

type comparer struct {
	cfg       Config
	res       *Result
	cassandra atomic.Int64
	indexDocs atomic.Int64
	checked   atomic.Int64
}

// documents is the first pass: every Cassandra document against the index.
// Scan workers cut each unit into batches; _mget workers check them, so
// reading Cassandra and asking the index overlap.
func (c *comparer) documents(ctx context.Context) error {
	defer func() { c.res.CassandraDocs = c.cassandra.Load() }()
	g, gctx := errgroup.WithContext(ctx)
	units := make(chan checkpoint.Unit)
	batches := make(chan []syncjob.Item, c.cfg.Concurrency)
	g.Go(func() error {
		defer close(units)
		for _, u := range c.cfg.Units {
			select {
			case units <- u:
			case <-gctx.Done():
				return nil
			}
		}
		return nil
	})
	var scanners sync.WaitGroup
	for range c.cfg.Concurrency {
		scanners.Add(1)
		g.Go(func() error {
			defer scanners.Done()
			for u := range units {
				if err := c.scanUnit(gctx, u, batches); err != nil {
					return err
				}
			}
			return nil
		})
	}
	g.Go(func() error {
		scanners.Wait()
		close(batches)
		return nil
	})
	for range c.cfg.Concurrency {
		g.Go(func() error {
			for b := range batches {
				if err := c.check(gctx, b); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

func (c *comparer) scanUnit(ctx context.Context, u checkpoint.Unit, out chan<- []syncjob.Item) error {
	batch := make([]syncjob.Item, 0, c.cfg.BatchSize)
	send := func() error {
		select {
		case out <- batch:
			batch = make([]syncjob.Item, 0, c.cfg.BatchSize)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	err := c.cfg.Source.Items(ctx, u, u.Start, func(it syncjob.Item) error {
		if it.Missing {
			return nil
		}
		batch = append(batch, it)
		if len(batch) < c.cfg.BatchSize {
			return nil
		}
		return send()
	})
	if err != nil {
		return fmt.Errorf("scan Cassandra range (%d,%d]: %w", u.Start, u.End, err)
	}
	if len(batch) > 0 {
		return send()
	}
	return nil
}

// check compares one batch of Cassandra documents with the index.
func (c *comparer) check(ctx context.Context, batch []syncjob.Item) error {
	ids := make([]string, len(batch))
	for i, it := range batch {
		ids[i] = it.ID
	}
	got, err := c.cfg.Search.MGet(ctx, c.cfg.Index, ids)
	if err != nil {
		return err
	}
	for _, it := range batch {
		raw, ok := got[it.ID]
		if !ok {
			if err := c.res.Missing.Add(it.ID); err != nil {
				return err
			}
			continue
		}
		same, canon := Same(raw, it.Doc)
		if same {
			continue
		}
		if err := c.res.Stale.Add(it.ID); err != nil {
			return err
		}
		c.res.hint(c.cfg.DiffHints, it.ID, canon, it.Doc)
	}
	c.cassandra.Add(int64(len(batch)))
	if c.cfg.OnScanned != nil {
		c.cfg.OnScanned(len(batch))
	}
	return nil
}

// Same reports whether an indexed _source equals an encoded document. The
// engine returns _source as it was sent, so the bytes usually match as they
// are; otherwise both are compared in canonical form, which is returned (nil
// if the source is not valid JSON).
func Same(source, doc []byte) (bool, []byte) {
	if bytes.Equal(source, doc) {
		return true, nil
	}
	canon, err := sunbird.Canonical(source)
	if err != nil {
		return false, nil
	}
	return bytes.Equal(canon, doc), canon
}

// hint records which top-level fields differ, for the first few stale ids.
func (r *Result) hint(limit int, id string, indexed, want []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.Diffs) >= limit {
		return
	}
	r.Diffs = append(r.Diffs, Diff{ID: id, Fields: DiffFields(indexed, want)})
}

// DiffFields lists the top-level fields that differ between two canonical
// documents: present in one only, or with different values. A document that
// is not a JSON object gives ["(whole document)"].
func DiffFields(a, b []byte) []string {
	var ma, mb map[string]json.RawMessage
	if json.Unmarshal(a, &ma) != nil || json.Unmarshal(b, &mb) != nil {
		return []string{"(whole document)"}
	}
	var out []string
	for k, va := range ma {
		if vb, ok := mb[k]; !ok || !bytes.Equal(va, vb) {
			out = append(out, k)
		}
	}
	for k := range mb {
		if _, ok := ma[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// orphans is the second pass: every id in the index against Cassandra.
func (c *comparer) orphans(ctx context.Context) error {
	defer func() {
		c.res.IndexDocs = c.indexDocs.Load()
		c.res.IndexChecked = c.checked.Load()
	}()
	// Documents written a moment ago (by a sync, or a repair) are visible
	// to _mget at once but to a scroll only after a refresh.
	if err := c.cfg.Search.Refresh(ctx, c.cfg.Index); err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	chunks := make(chan []string, c.cfg.Concurrency)
	for range c.cfg.Concurrency {
		g.Go(func() error {
			for ids := range chunks {
				ok, err := c.cfg.Keys.Existing(gctx, ids)
				if err != nil {
					return err
				}
				for _, id := range ids {
					if ok[id] {
						continue
					}
					if err := c.res.Orphans.Add(id); err != nil {
						return err
					}
				}
				c.checked.Add(int64(len(ids)))
			}
			return nil
		})
	}
	g.Go(func() error {
		defer close(chunks)
		opts := search.ScanOptions{PageSize: c.cfg.ScanPageSize}
		return c.cfg.Search.ScanIDs(gctx, c.cfg.Index, opts, func(p search.ScanPage) error {
			c.indexDocs.Store(p.Total)
			var chunk []string
			for _, id := range p.IDs {
				if !c.cfg.InShard(id) {
					continue
				}
				chunk = append(chunk, id)
				if len(chunk) == c.cfg.KeysBatch {
					select {
					case chunks <- chunk:
					case <-gctx.Done():
						return gctx.Err()
					}
					chunk = nil
				}
			}
			if len(chunk) > 0 {
				select {
				case chunks <- chunk:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			if c.cfg.OnWalked != nil {
				c.cfg.OnWalked(len(p.IDs), p.Total)
			}
			return nil
		})
	})
	return g.Wait()
}
