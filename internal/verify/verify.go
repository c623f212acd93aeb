// Package verify compares Cassandra with the search index and repairs what
// drifted.
//
// Compare first walks every id in the index (a scroll, after a refresh) and
// files each under the token range its partition key hashes to, on disk.
// Then it scans Cassandra by those token ranges with the same source and
// document builder as a direct sync — so a document is "stale" exactly when
// a sync would write different bytes now — fetches the indexed documents in
// batches with _mget (realtime) and compares canonical bytes: key order and
// number formatting cannot cause false differences. While a range is
// scanned, the index ids filed under it are ticked off; those left are
// orphans. Cassandra is read once, as a sync reads it: no lookup per index
// id (see CassandraKeys for what that would cost). A document indexed after
// the walk is not looked at as a possible orphan until the next verify.
//
// Memory does not grow with the table: the scan holds a few batches, the
// index ids wait on disk, and only one group of ranges' ids is in memory per
// worker. The lists of differences spill to disk past a limit (IDList).
//
// Repair re-syncs missing and stale ids, deletes orphans, and then checks
// exactly those ids again (not a full rescan) to report what remains.
//
// The package owns small interfaces for what it reads and writes;
// cmd/indexsync wires in the Cassandra source, store, search client and
// indexer.
package verify

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/indexsync/indexsync/internal/cassandra"
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

// Config is one comparison.
type Config struct {
	Index string // index or alias to compare
	// Units are the token ranges to scan: the part of the ring verified.
	// Index ids whose token falls outside them are not looked at (--shard).
	Units  []checkpoint.Unit
	Source syncjob.Source // documents as a sync would build them now
	Search Index

	Concurrency  int // range scans, and _mget calls, in flight (each); 0 = 4
	BatchSize    int // ids per _mget; 0 = 500
	ScanPageSize int // ids per scroll page; 0 = 5000
	Groups       int // groups of units the index ids are filed under; 0 = 256
	DiffHints    int // stale documents whose differing fields are named; 0 = 5
	SpillDir     string
	MemIDs       int // ids of each list kept in memory before spilling; 0 = 100000
	HeadIDs      int // ids of each list remembered for the console; 0 = 10

	// OnScanned, when set, is called with the number of Cassandra documents
	// compared by each batch.
	OnScanned func(n int)
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
	if c.Groups <= 0 {
		c.Groups = 256
	}
	c.Groups = max(1, min(c.Groups, len(c.Units)))
	if c.DiffHints <= 0 {
		c.DiffHints = 5
	}
	if c.MemIDs <= 0 {
		c.MemIDs = 100000
	}
	if c.HeadIDs <= 0 {
		c.HeadIDs = 10
	}
}

// Result is what a comparison found. Close it to remove spilled id files.
type Result struct {
	CassandraDocs int64         // documents built from Cassandra
	IndexDocs     int64         // documents in the index when the walk started
	IndexChecked  int64         // index ids checked for orphans (those in the units)
	WalkTime      time.Duration // walking and filing the index ids
	ScanTime      time.Duration // scanning Cassandra and comparing

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

// Compare walks the index, then scans Cassandra against it. On error (or
// ctx ending) it returns what it found so far with the error.
func Compare(ctx context.Context, cfg Config) (*Result, error) {
	cfg.Units = slices.Clone(cfg.Units)
	slices.SortFunc(cfg.Units, func(a, b checkpoint.Unit) int {
		switch {
		case a.Start < b.Start:
			return -1
		case a.Start > b.Start:
			return 1
		}
		return 0
	})
	cfg.defaults()
	res := &Result{
		Missing: NewIDList(cfg.SpillDir, cfg.MemIDs, cfg.HeadIDs),
		Stale:   NewIDList(cfg.SpillDir, cfg.MemIDs, cfg.HeadIDs),
		Orphans: NewIDList(cfg.SpillDir, cfg.MemIDs, cfg.HeadIDs),
	}
	if len(cfg.Units) == 0 {
		return res, nil
	}
	c := &comparer{cfg: cfg, res: res}
	defer func() {
		res.CassandraDocs = c.cassandra.Load()
		res.IndexDocs = c.indexDocs.Load()
		res.IndexChecked = c.checked.Load()
	}()
	start := time.Now()
	files, err := c.fileIndexIDs(ctx)
	res.WalkTime = time.Since(start)
	if files != nil {
		defer files.remove()
	}
	if err != nil {
		return res, err
	}
	start = time.Now()
	err = c.scan(ctx, files)
	res.ScanTime = time.Since(start)
	return res, err
}

type comparer struct {
	cfg       Config
	res       *Result
	cassandra atomic.Int64
	indexDocs atomic.Int64
	checked   atomic.Int64
}

// group returns the group of the unit holding token t, or -1 when no unit
// holds it.
func (c *comparer) group(t int64) int {
	units := c.cfg.Units
	i := sort.Search(len(units), func(i int) bool { return units[i].End >= t })
	if i == len(units) || t <= units[i].Start {
		return -1
	}
	return i * c.cfg.Groups / len(units)
}

// groupUnits returns the units of group g: a run of neighbours on the ring.
func (c *comparer) groupUnits(g int) []checkpoint.Unit {
	n := len(c.cfg.Units)
	lo := (g*n + c.cfg.Groups - 1) / c.cfg.Groups
	hi := ((g+1)*n + c.cfg.Groups - 1) / c.cfg.Groups
	return c.cfg.Units[lo:hi]
}

// groupFiles hold the index ids of each group, one JSON string a line.
type groupFiles struct {
	dir   string
	files []*os.File
	ws    []*bufio.Writer
}

func (f *groupFiles) path(g int) string { return filepath.Join(f.dir, fmt.Sprintf("group-%04d", g)) }

func (f *groupFiles) add(g int, id string) error {
	if f.files[g] == nil {
		file, err := os.Create(f.path(g))
		if err != nil {
			return fmt.Errorf("file index ids: %w", err)
		}
		f.files[g], f.ws[g] = file, bufio.NewWriterSize(file, 4<<10)
	}
	b, err := json.Marshal(id)
	if err != nil {
		return err
	}
	if _, err := f.ws[g].Write(append(b, '\n')); err != nil {
		return fmt.Errorf("file index ids: %w", err)
	}
	return nil
}

// close flushes and closes every file; they are read back by name.
func (f *groupFiles) close() error {
	var errs []error
	for g, file := range f.files {
		if file == nil {
			continue
		}
		errs = append(errs, f.ws[g].Flush(), file.Close())
		f.files[g] = nil
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("file index ids: %w", err)
	}
	return nil
}

// load reads the ids of group g into a set.
func (f *groupFiles) load(g int) (map[string]struct{}, error) {
	ids := map[string]struct{}{}
	file, err := os.Open(f.path(g))
	if errors.Is(err, os.ErrNotExist) {
		return ids, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read filed index ids: %w", err)
	}
	defer func() { _ = file.Close() }()
	sc := bufio.NewScanner(file)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var id string
		if err := json.Unmarshal(sc.Bytes(), &id); err != nil {
			return nil, fmt.Errorf("read filed index ids: %w", err)
		}
		ids[id] = struct{}{}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read filed index ids: %w", err)
	}
	return ids, nil
}

func (f *groupFiles) remove() {
	_ = f.close()
	_ = os.RemoveAll(f.dir)
}

// fileIndexIDs walks every id in the index and files it under the group of
// the unit its token falls in.
func (c *comparer) fileIndexIDs(ctx context.Context) (*groupFiles, error) {
	// Documents written a moment ago (by a sync, or a repair) are visible
	// to _mget at once but to a scroll only after a refresh.
	if err := c.cfg.Search.Refresh(ctx, c.cfg.Index); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(c.cfg.SpillDir, ".indexsync-verify-index-ids-*")
	if err != nil {
		return nil, fmt.Errorf("file index ids: %w", err)
	}
	files := &groupFiles{dir: dir, files: make([]*os.File, c.cfg.Groups), ws: make([]*bufio.Writer, c.cfg.Groups)}
	opts := search.ScanOptions{PageSize: c.cfg.ScanPageSize}
	err = c.cfg.Search.ScanIDs(ctx, c.cfg.Index, opts, func(p search.ScanPage) error {
		c.indexDocs.Store(p.Total)
		for _, id := range p.IDs {
			g := c.group(cassandra.Token(id))
			if g < 0 {
				continue
			}
			if err := files.add(g, id); err != nil {
				return err
			}
			c.checked.Add(1)
		}
		return nil
	})
	if err == nil {
		err = files.close()
	}
	return files, err
}

// scan is the comparison proper: scan workers read groups of units and cut
// them into batches, ticking off the group's index ids; _mget workers check
// the batches, so reading Cassandra and asking the index overlap.
func (c *comparer) scan(ctx context.Context, files *groupFiles) error {
	g, gctx := errgroup.WithContext(ctx)
	groups := make(chan int)
	batches := make(chan []syncjob.Item, c.cfg.Concurrency)
	g.Go(func() error {
		defer close(groups)
		for i := range c.cfg.Groups {
			select {
			case groups <- i:
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
			for i := range groups {
				if err := c.scanGroup(gctx, files, i, batches); err != nil {
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

// scanGroup scans the units of group i. Index ids of the group that no row
// ticks off are orphans.
func (c *comparer) scanGroup(ctx context.Context, files *groupFiles, i int, out chan<- []syncjob.Item) error {
	indexed, err := files.load(i)
	if err != nil {
		return err
	}
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
	for _, u := range c.groupUnits(i) {
		err := c.cfg.Source.Items(ctx, u, u.Start, func(it syncjob.Item) error {
			if it.Missing {
				return nil
			}
			delete(indexed, it.ID)
			batch = append(batch, it)
			if len(batch) < c.cfg.BatchSize {
				return nil
			}
			return send()
		})
		if err != nil {
			return fmt.Errorf("scan Cassandra range (%d,%d]: %w", u.Start, u.End, err)
		}
	}
	if len(batch) > 0 {
		if err := send(); err != nil {
			return err
		}
	}
	orphans := make([]string, 0, len(indexed))
	for id := range indexed {
		orphans = append(orphans, id)
	}
	slices.Sort(orphans)
	for _, id := range orphans {
		if err := c.res.Orphans.Add(id); err != nil {
			return err
		}
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
