// Package source provides the sync job's sources of items: partition keys
// from token-range scans (for the Sync API), whole documents joined from the
// user tables over the same ranges (for direct writes), and ids from a file.
package source

import (
	"context"
	"fmt"
	"log/slog"

	"golang.org/x/sync/errgroup"

	"github.com/indexsync/indexsync/internal/cassandra"
	"github.com/indexsync/indexsync/internal/checkpoint"
	"github.com/indexsync/indexsync/internal/idsfile"
	"github.com/indexsync/indexsync/internal/store"
	"github.com/indexsync/indexsync/internal/sunbird"
	"github.com/indexsync/indexsync/internal/syncjob"
)

// Keys yields the partition keys of a table, in token order.
type Keys struct{ Scanner *cassandra.Scanner }

// Items implements syncjob.Source.
func (k Keys) Items(ctx context.Context, u checkpoint.Unit, after int64, fn func(syncjob.Item) error) error {
	return k.Scanner.ScanKeys(ctx, cassandra.Range{Start: after, End: u.End}, func(tok int64, key string) error {
		return fn(checked(syncjob.Item{ID: key, Seq: tok}))
	})
}

// checked marks an item whose id cannot be synced (idsfile.Check: the rule
// every door applies) instead of sending it.
func checked(it syncjob.Item) syncjob.Item {
	if err := idsfile.Check(it.ID); err != nil {
		it.Invalid, it.Doc = err.Error(), nil
	}
	return it
}

// IDList yields ids from a list; a unit is a slice of it (Start exclusive,
// End inclusive, as indexes).
type IDList struct{ IDs []string }

// Items implements syncjob.Source.
func (l IDList) Items(ctx context.Context, u checkpoint.Unit, after int64, fn func(syncjob.Item) error) error {
	for i := after + 1; i <= u.End && i < int64(len(l.IDs)); i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(syncjob.Item{ID: l.IDs[i], Seq: i}); err != nil {
			return err
		}
	}
	return nil
}

// IDUnits cuts n ids into units of at most per ids.
func IDUnits(n, per int) []checkpoint.Unit {
	var out []checkpoint.Unit
	for lo := 0; lo < n; lo += per {
		hi := min(lo+per, n) - 1
		out = append(out, checkpoint.Unit{Start: int64(lo) - 1, End: int64(hi), Next: int64(lo) - 1})
	}
	return out
}

// RangeUnits turns token ranges into units.
func RangeUnits(rs []cassandra.Range) []checkpoint.Unit {
	out := make([]checkpoint.Unit, len(rs))
	for i, r := range rs {
		out[i] = checkpoint.Unit{Start: r.Start, End: r.End, Next: r.Start}
	}
	return out
}

// IDDocs yields the documents of ids from a list, read by id in blocks.
type IDDocs struct {
	IDs   []string
	Store *store.Store
	Kind  sunbird.Kind
	Block int // ids read per store call
}

// Items implements syncjob.Source.
func (d IDDocs) Items(ctx context.Context, u checkpoint.Unit, after int64, fn func(syncjob.Item) error) error {
	block := max(d.Block, 1)
	for lo := after + 1; lo <= u.End && lo < int64(len(d.IDs)); lo += int64(block) {
		hi := min(lo+int64(block)-1, u.End, int64(len(d.IDs))-1)
		ids := d.IDs[lo : hi+1]
		res, err := d.Store.Documents(ctx, d.Kind, ids)
		if err != nil {
			return err
		}
		for i, id := range ids {
			it := syncjob.Item{ID: id, Seq: lo + int64(i)}
			if doc, ok := res.Docs[id]; ok {
				it.Doc = doc
			} else if reason, bad := res.Failed[id]; bad {
				it.Invalid = reason
			} else {
				it.Missing = true
			}
			if err := fn(it); err != nil {
				return err
			}
		}
	}
	return nil
}

// OrgNames reads every organisation's name once: organisations are few,
// every user names some, and a complete map also knows which do not exist.
func OrgNames(ctx context.Context, sess *cassandra.Session, keyspace string, conc int) (sunbird.OrgNames, int, error) {
	sc := &cassandra.Scanner{Session: sess, Keyspace: keyspace, Table: "organisation", Key: "id", Columns: []string{"id", "orgname"}}
	ranges := cassandra.Split(cassandra.Range{Start: cassandra.MinToken, End: cassandra.MaxToken}, nil, 4*max(conc, 1))
	parts := make([]map[string]any, len(ranges))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(conc, 1))
	for i, r := range ranges {
		g.Go(func() error {
			m := map[string]any{}
			err := sc.Scan(gctx, r, func(_ int64, row cassandra.Row) error {
				if id, ok := row["id"].(string); ok {
					m[id] = row["orgname"]
				}
				return nil
			})
			parts[i] = m
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, 0, fmt.Errorf("read organisation names: %w", err)
	}
	all := map[string]any{}
	for _, m := range parts {
		for k, v := range m {
			all[k] = v
		}
	}
	return func(id string) (any, bool) { v, ok := all[id]; return v, ok }, len(all), nil
}

// Docs yields the documents of one kind from range scans: it scans the
// kind's table and its child tables (user_organisation and user_roles for
// users) over the same token range at once — they share the partition key,
// so the same objects sit in the same range of all of them — and joins the
// streams in token order, holding one object at a time.
type Docs struct {
	Kind     sunbird.Kind
	Main     *cassandra.Scanner
	Children []*cassandra.Scanner // by Kind.Children
	Lookups  sunbird.Lookups
}

// narrowPage is the most rows a page of a child table scan holds (pages
// are sized in bytes below that: cassandra.DefaultPageBytes): their rows
// are narrow (a few hundred bytes) and a user has several, so larger pages
// keep them from needing more round trips than the user rows they join.
// The main table keeps the Scanner's default, 1,000.
const narrowPage = 5000

// NewDocs returns the joined source over the kind's tables in keyspace,
// every column of each (read once from the schema).
func NewDocs(ctx context.Context, sess *cassandra.Session, keyspace string, kind sunbird.Kind, lookups sunbird.Lookups) (Docs, error) {
	scanner := func(table, key string, page int) (*cassandra.Scanner, error) {
		cols, err := sess.Columns(ctx, keyspace, table)
		if err != nil {
			return nil, err
		}
		return &cassandra.Scanner{Session: sess, Keyspace: keyspace, Table: table, Key: key, Columns: cols, PageSize: page}, nil
	}
	d := Docs{Kind: kind, Lookups: lookups}
	var err error
	if d.Main, err = scanner(kind.Table, kind.Key, 0); err != nil {
		return d, err
	}
	for _, c := range kind.Children {
		sc, err := scanner(c.Table, c.Key, narrowPage)
		if err != nil {
			return d, err
		}
		d.Children = append(d.Children, sc)
	}
	return d, nil
}

type tokRow struct {
	tok int64
	key string
	row sunbird.Values
}

// Items implements syncjob.Source.
func (s Docs) Items(ctx context.Context, u checkpoint.Unit, after int64, fn func(syncjob.Item) error) error {
	r := cassandra.Range{Start: after, End: u.End}
	g, gctx := errgroup.WithContext(ctx)
	stream := func(sc *cassandra.Scanner) <-chan tokRow {
		ch := make(chan tokRow, 128) // smooths the scans; bounded memory
		g.Go(func() error {
			defer close(ch)
			return sc.ScanKeyed(gctx, r, func(tok int64, k string, cols []string, vals []any) error {
				select {
				case ch <- tokRow{tok, k, sunbird.Values{Cols: cols, Vals: vals}}:
					return nil
				case <-gctx.Done():
					return gctx.Err()
				}
			})
		})
		return ch
	}
	main := stream(s.Main)
	children := make([]*peeker, len(s.Children))
	for i, sc := range s.Children {
		children[i] = &peeker{ch: stream(sc)}
	}
	g.Go(func() error {
		app := s.Kind.Appender(s.Lookups)
		size := 2048 // the last document's, to allocate the next one once
		kids := make([][]sunbird.Values, len(children))
		for mr := range main {
			for i, p := range children {
				kids[i] = p.take(kids[i][:0], mr.tok, mr.key) // Append keeps none of them
			}
			doc, err := app.Append(make([]byte, 0, size+size/8), mr.row, kids)
			size = len(doc)
			if err != nil {
				return fmt.Errorf("encode document %s: %w", mr.key, err)
			}
			if err := fn(checked(syncjob.Item{ID: mr.key, Seq: mr.tok, Doc: doc})); err != nil {
				return err
			}
		}
		// the main stream is done: child rows after the last object belong
		// to no object; stop the other scans
		for _, p := range children {
			p.drain()
		}
		return nil
	})
	return g.Wait()
}

// peeker reads a token-ordered stream of child rows and hands out those of
// one partition at a time. Rows of partitions with no user row (orphans) are
// skipped. Within one token, Cassandra orders partitions by key bytes.
type peeker struct {
	ch   <-chan tokRow
	head tokRow
	has  bool // head holds the next row
	done bool
}

// peek returns the next row, or nil at the end of the stream.
func (p *peeker) peek() *tokRow {
	if !p.has && !p.done {
		p.head, p.has = <-p.ch
		p.done = !p.has
	}
	if !p.has {
		return nil
	}
	return &p.head
}

// take appends the rows of the partition (tok, key) to out, skipping the
// orphans before it.
func (p *peeker) take(out []sunbird.Values, tok int64, key string) []sunbird.Values {
	for {
		h := p.peek()
		if h == nil || h.tok > tok || (h.tok == tok && h.key > key) {
			return out
		}
		if h.tok == tok && h.key == key {
			out = append(out, h.row)
		}
		p.has = false
	}
}

func (p *peeker) drain() {
	for p.peek() != nil {
		p.has = false
	}
}

// For returns the source of a range run of kind: partition keys for the Sync
// API (it reads the rows itself), whole documents for the search engine,
// with the lookups they need (every organisation's name, the organisation
// types). log hears where the lookups came from.
func For(ctx context.Context, sess *cassandra.Session, keyspace string, kind sunbird.Kind, target syncjob.TargetType, conc int, log *slog.Logger) (syncjob.Source, error) {
	if _, err := sess.Columns(ctx, keyspace, kind.Table); err != nil { // a clear error for a missing table
		return nil, err
	}
	if target == syncjob.APITarget {
		return Keys{Scanner: &cassandra.Scanner{Session: sess, Keyspace: keyspace, Table: kind.Table, Key: kind.Key}}, nil
	}
	var lookups sunbird.Lookups
	if kind.UsesOrgNames() {
		names, n, err := OrgNames(ctx, sess, keyspace, conc)
		if err != nil {
			return nil, err
		}
		log.Info("organisation names loaded", "organisations", n)
		lookups.OrgNames = names
	}
	if kind.UsesOrgTypes {
		types, from, err := store.LoadOrgTypes(ctx, sess, keyspace)
		if err != nil {
			return nil, err
		}
		log.Info("organisation types", "from", from, "types", len(types))
		lookups.OrgTypes = types
	}
	return NewDocs(ctx, sess, keyspace, kind, lookups)
}

// PlanRanges cuts one shard of the ring into at least n units, at the
// cluster's own token boundaries where it can read them; ringErr says why
// it could not (the ring is then cut evenly, which is still correct).
func PlanRanges(ctx context.Context, sess *cassandra.Session, shard syncjob.Shard, n int) (units []checkpoint.Unit, ringErr error) {
	ring, ringErr := sess.RingTokens(ctx)
	return RangeUnits(cassandra.Split(cassandra.Shard(shard.I, shard.N), ring, n)), ringErr
}

// estimatedFrom is Total's from for Cassandra's estimate.
const estimatedFrom = "estimated from system.size_estimates"

// Total counts what a range run of kind covers: for the search target
// Cassandra's own estimate when it has one (no pass over the data; from
// says so), else exactly, count(*) per unit in parallel.
func Total(ctx context.Context, sess *cassandra.Session, keyspace string, kind sunbird.Kind, target syncjob.TargetType, units []checkpoint.Unit, conc int) (total int64, from string, err error) {
	ranges := make([]cassandra.Range, len(units))
	for i, u := range units {
		ranges[i] = cassandra.Range{Start: u.Start, End: u.End}
	}
	if target == syncjob.SearchTarget {
		if est, err := sess.EstimatePartitions(ctx, keyspace, kind.Table, ranges); err == nil && est > 0 {
			return est, estimatedFrom, nil
		}
	}
	total, err = sess.CountPartitions(ctx, keyspace, kind.Table, kind.Key, ranges, max(conc, 4))
	return total, "counted in Cassandra", err
}

// Work is what a run goes through: its units, where their items come from,
// and how many items there are.
type Work struct {
	Units     []checkpoint.Unit
	Source    syncjob.Source
	Total     int64
	TotalFrom string // how Total was found, for the console
	Estimated bool   // Total is Cassandra's estimate, not a count
}

// PlanWork plans the work of spec: the ids of an ids file when ids is not
// nil (read by id for the search engine), else the token ranges of the
// ring. A resumed run (prev) keeps its units and total.
func PlanWork(ctx context.Context, sess *cassandra.Session, spec syncjob.Spec, ids []string, prev *checkpoint.State, log *slog.Logger) (Work, error) {
	var w Work
	var err error
	if ids != nil {
		w.Units = IDUnits(len(ids), max(spec.BlockSize*20, 1000))
		w.Total, w.TotalFrom = int64(len(ids)), "ids in --ids-file"
		w.Source = IDList{IDs: ids}
		if spec.Target == syncjob.SearchTarget {
			w.Source = IDDocs{IDs: ids, Store: store.New(sess, spec.Keyspace, store.Options{}), Kind: spec.Kind, Block: spec.BlockSize}
		}
	} else {
		var ringErr error
		if w.Units, ringErr = PlanRanges(ctx, sess, spec.Shard, spec.Ranges); ringErr != nil {
			log.Warn("could not read the ring's tokens; splitting the ring evenly", "err", ringErr)
		}
		if w.Source, err = For(ctx, sess, spec.Keyspace, spec.Kind, spec.Target, spec.Concurrency, log); err != nil {
			return w, err
		}
	}
	switch {
	case prev != nil:
		w.Units, w.Total = prev.Units, int64(prev.Counts.Total)
	case ids == nil:
		w.Total, w.TotalFrom, err = Total(ctx, sess, spec.Keyspace, spec.Kind, spec.Target, w.Units, spec.Concurrency)
		w.Estimated = w.TotalFrom == estimatedFrom
	}
	return w, err
}
