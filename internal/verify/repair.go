package verify

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/indexsync/indexsync/internal/search"
	"github.com/indexsync/indexsync/internal/store"
	"github.com/indexsync/indexsync/internal/sunbird"
)

// Docs builds documents by id from Cassandra (store.Store does).
type Docs interface {
	Documents(ctx context.Context, kind sunbird.Kind, ids []string) (store.Result, error)
}

// Writer indexes documents (indexer.Writer does).
type Writer interface {
	Write(ctx context.Context, kind sunbird.Kind, docs map[string][]byte) (map[string]string, error)
}

// Keys tells which ids have a row in Cassandra (CassandraKeys does), at the
// consistency deletions are decided at: nothing is deleted from the index on
// a read Keys did not confirm.
type Keys interface {
	Existing(ctx context.Context, ids []string) (map[string]bool, error)
}

// Bulker sends bulk requests (search.Client does); Repair deletes with it.
type Bulker interface {
	Bulk(ctx context.Context, index string, items []search.BulkItem) ([]search.ItemResult, error)
}

// RepairConfig says what to repair and with what.
type RepairConfig struct {
	Kind   sunbird.Kind
	Index  string
	Docs   Docs
	Writer Writer
	Bulk   Bulker
	Search Index
	Keys   Keys

	Resync        bool // re-sync missing and stale ids (--repair)
	DeleteOrphans bool // delete orphans (--delete-orphans)
	BatchSize     int  // ids per block; 0 = 500
	Concurrency   int  // blocks repaired at once; 0 = 4
	SpillDir      string
	MemIDs        int // as in Config
	HeadIDs       int
	MaxReasons    int // failure reasons kept; 0 = 20
}

// RepairResult is what a repair did, and what a targeted re-check of the
// same ids still finds.
type RepairResult struct {
	Repaired int // documents written
	Deleted  int // orphan documents deleted
	Vanished int // missing or stale ids with no row any more when repaired
	Kept     int // orphans not deleted because their row had come back
	Failed   int // writes or deletes the engine refused
	// Reasons holds the first failures, id → the engine's reason.
	Reasons map[string]string

	// Remaining are the ids still different after the repair: the
	// re-checked ones that are, plus the differences not asked to be fixed
	// (orphans without DeleteOrphans, missing and stale without Resync).
	Remaining *IDList
}

// Close removes spilled id files.
func (r *RepairResult) Close() error { return r.Remaining.Close() }

// Repair fixes the differences found by Compare, block by block, and
// re-checks each block against Cassandra and the index as soon as it is
// done (_mget is realtime, so a written or deleted document shows at once).
// It builds documents again by id rather than keeping those of the scan: the
// scan held no documents (memory stays bounded however much drifted), and a
// repair should write what Cassandra holds now.
func Repair(ctx context.Context, cfg RepairConfig, found *Result) (*RepairResult, error) {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 500
	}
	if cfg.MemIDs <= 0 {
		cfg.MemIDs = 100000
	}
	if cfg.HeadIDs <= 0 {
		cfg.HeadIDs = 10
	}
	if cfg.MaxReasons <= 0 {
		cfg.MaxReasons = 20
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	r := &repairer{cfg: cfg, res: &RepairResult{
		Reasons:   map[string]string{},
		Remaining: NewIDList(cfg.SpillDir, cfg.MemIDs, cfg.HeadIDs),
	}}
	var err error
	for _, list := range []*IDList{found.Missing, found.Stale} {
		if err != nil {
			break
		}
		if !cfg.Resync {
			err = r.keep(list)
			continue
		}
		err = r.each(ctx, list, r.resync)
	}
	if err == nil {
		if cfg.DeleteOrphans {
			err = r.each(ctx, found.Orphans, r.deleteOrphans)
		} else {
			err = r.keep(found.Orphans)
		}
	}
	return r.res, err
}

type repairer struct {
	cfg RepairConfig
	mu  sync.Mutex // guards the counters of res
	res *RepairResult
}

// each calls fn with the blocks of list, Concurrency blocks at a time.
func (r *repairer) each(ctx context.Context, list *IDList, fn func(context.Context, []string) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.cfg.Concurrency)
	err := list.Batches(r.cfg.BatchSize, func(ids []string) error {
		if err := gctx.Err(); err != nil {
			return err // a block failed: stop handing out more
		}
		ids = slices.Clone(ids) // Batches reuses its slice
		g.Go(func() error { return fn(gctx, ids) })
		return nil
	})
	if werr := g.Wait(); werr != nil {
		return werr
	}
	return err
}

// keep carries differences that were not to be fixed into Remaining.
func (r *repairer) keep(list *IDList) error {
	return list.Batches(1000, func(ids []string) error {
		for _, id := range ids {
			if err := r.res.Remaining.Add(id); err != nil {
				return err
			}
		}
		return nil
	})
}

func (r *repairer) fail(id, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.res.Failed++
	if len(r.res.Reasons) < r.cfg.MaxReasons {
		r.res.Reasons[id] = reason
	}
}

// resync writes the current documents of missing or stale ids. Ids whose
// row went away since the scan are deleted from the index too when orphans
// are to be deleted: they have become orphans — if Keys confirms that their
// row is gone (the documents were read at the scan's consistency).
func (r *repairer) resync(ctx context.Context, ids []string) error {
	got, err := r.cfg.Docs.Documents(ctx, r.cfg.Kind, ids)
	if err != nil {
		return fmt.Errorf("read %d %ss to repair: %w", len(ids), r.cfg.Kind.Name, err)
	}
	r.count(&r.res.Vanished, len(got.NotFound))
	for id, reason := range got.Failed {
		r.fail(id, reason)
	}
	if len(got.Docs) > 0 {
		failed, err := r.cfg.Writer.Write(ctx, r.cfg.Kind, got.Docs)
		for id, reason := range failed {
			r.fail(id, reason)
		}
		if err != nil {
			return fmt.Errorf("write repaired documents into %s: %w", r.cfg.Index, err)
		}
		r.count(&r.res.Repaired, len(got.Docs)-len(failed))
	}
	if r.cfg.DeleteOrphans && len(got.NotFound) > 0 {
		gone, err := r.gone(ctx, got.NotFound)
		if err != nil {
			return err
		}
		if err := r.delete(ctx, gone); err != nil {
			return err
		}
	}
	return r.recheck(ctx, ids)
}

// gone returns the ids of ids that Keys finds no row for.
func (r *repairer) gone(ctx context.Context, ids []string) ([]string, error) {
	exists, err := r.cfg.Keys.Existing(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("check that %d ids have no row before deleting their documents (none of them was deleted): %w", len(ids), err)
	}
	var out []string
	for _, id := range ids {
		if !exists[id] {
			out = append(out, id)
		}
	}
	return out, nil
}

// deleteOrphans deletes orphan documents, except those whose row has come
// back since the walk (deleting them would make them missing).
func (r *repairer) deleteOrphans(ctx context.Context, ids []string) error {
	gone, err := r.gone(ctx, ids)
	if err != nil {
		return err
	}
	r.count(&r.res.Kept, len(ids)-len(gone))
	if err := r.delete(ctx, gone); err != nil {
		return err
	}
	return r.recheck(ctx, ids)
}

func (r *repairer) count(n *int, d int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	*n += d
}

func (r *repairer) delete(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	items := make([]search.BulkItem, len(ids))
	for i, id := range ids {
		items[i] = search.BulkItem{ID: id, Op: search.OpDelete}
	}
	res, err := r.cfg.Bulk.Bulk(ctx, r.cfg.Index, items)
	deleted := 0
	for _, it := range res {
		if it.OK {
			deleted++
		} else {
			r.fail(it.ID, it.Error)
		}
	}
	r.count(&r.res.Deleted, deleted)
	if err != nil {
		return fmt.Errorf("delete orphans from %s: %w", r.cfg.Index, err)
	}
	return nil
}

// recheck compares ids again, one by one, between what Cassandra would give
// now and what the index holds, and adds those that still differ to
// Remaining.
func (r *repairer) recheck(ctx context.Context, ids []string) error {
	ids = slices.Clone(ids)
	got, err := r.cfg.Docs.Documents(ctx, r.cfg.Kind, ids)
	if err != nil {
		return fmt.Errorf("re-read %d repaired %ss: %w", len(ids), r.cfg.Kind.Name, err)
	}
	indexed, err := r.cfg.Search.MGet(ctx, r.cfg.Index, ids)
	if err != nil {
		return fmt.Errorf("re-check repaired documents: %w", err)
	}
	for _, id := range ids {
		doc, inCassandra := got.Docs[id]
		raw, inIndex := indexed[id]
		ok := !inCassandra && !inIndex
		if inCassandra && inIndex {
			ok, _ = Same(raw, doc)
		}
		if !ok {
			if err := r.res.Remaining.Add(id); err != nil {
				return err
			}
		}
	}
	return nil
}
