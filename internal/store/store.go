// Package store reads Sunbird objects from Cassandra by id and writes their
// search documents with the shared builder's Appender (package sunbird),
// straight from the rows as a sync's source does. It serves the
// Sync API and the repair of drifted documents: blocks of ids are read in
// batches of partition keys (IN queries) with bounded concurrency, never one
// id after another, and organisation names are
// cached for a while because every user names a few of the same ones.
//
// Runs of ids whose partitions sit close together on the token ring — what
// a sync job sends: the ids of a token range, in token order — are read with
// one token-range query per run and table instead, which costs Cassandra a
// fraction of a point read per id. Whether a run is close enough is judged
// from the table's size as earlier reads showed it; a range read that meets
// more than a few partitions per id asked for stops and reads by key.
package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/indexsync/indexsync/internal/cassandra"
	"github.com/indexsync/indexsync/internal/sunbird"
)

// Defaults of Options fields left zero (serve's --read-concurrency,
// --read-batch and --org-cache-ttl use them).
const (
	DefaultConcurrency = 16
	DefaultBatch       = 25
	DefaultOrgTTL      = 5 * time.Minute
	// MaxBatch bounds --read-batch: partition keys per IN query (Cassandra
	// warns from 100 and a coordinator holds every partition of the query).
	MaxBatch = 1000
)

// Range reads: a read of at least rangeMin ids is made with one token-range
// query when the table's partitions in the ids' token span are expected to
// be at most rangeFactor per id; the query stops (and the ids are read by
// key) after rangeFactor per id + rangeSlack partitions.
const (
	rangeMin    = 16
	rangeFactor = 3
	rangeSlack  = 32
)

// Options tune a Store.
type Options struct {
	Concurrency int           // queries in flight per call; 0 = DefaultConcurrency
	Batch       int           // ids per IN query; 0 = DefaultBatch
	OrgTTL      time.Duration // how long an organisation name is trusted; 0 = DefaultOrgTTL
}

// Store reads objects from one keyspace.
type Store struct {
	sess     *cassandra.Session
	keyspace string
	conc     int
	batch    int
	orgs     *OrgCache
	orgTTL   time.Duration

	typesMu      sync.Mutex
	types        sunbird.OrgTypes
	typesExpires time.Time

	scanMu   sync.Mutex
	scanners map[string]*cassandra.Scanner // table → its scanner over every column (it learns the rows' width for its pages)

	murmurMu    sync.Mutex
	murmurKnown bool
	murmur      bool // the cluster's partitioner is Murmur3, whose tokens cassandra.Token computes

	sizeMu sync.Mutex
	sizes  map[string]float64 // table → partitions, as range reads saw them (absent: not known yet)

	appenders map[string]*sync.Pool // kind name → its Appenders (each keeps the layouts it compiled for the next calls)

	rangeReads, rangeStops, keyReads atomic.Int64
}

// ReadCounts are the Cassandra queries a Store made for objects, by kind.
type ReadCounts struct {
	Range     int64 // token-range queries that read a block's ids
	RangeStop int64 // token-range queries stopped for meeting too many partitions (their ids then read by key)
	Keys      int64 // IN queries
}

// Reads returns the queries made so far.
func (st *Store) Reads() ReadCounts {
	return ReadCounts{Range: st.rangeReads.Load(), RangeStop: st.rangeStops.Load(), Keys: st.keyReads.Load()}
}

// New returns a Store over an open session.
func New(sess *cassandra.Session, keyspace string, opts Options) *Store {
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.Batch <= 0 {
		opts.Batch = DefaultBatch
	}
	if opts.OrgTTL <= 0 {
		opts.OrgTTL = DefaultOrgTTL
	}
	st := &Store{sess: sess, keyspace: keyspace, conc: opts.Concurrency, batch: opts.Batch, orgTTL: opts.OrgTTL, scanners: map[string]*cassandra.Scanner{}, sizes: map[string]float64{}}
	st.orgs = NewOrgCache(opts.OrgTTL, st.readOrgNames)
	st.appenders = map[string]*sync.Pool{}
	for _, k := range sunbird.Kinds() {
		st.appenders[k.Name] = &sync.Pool{New: func() any { return k.Appender(sunbird.Lookups{}) }}
	}
	return st
}

// Result is what a block of ids gave.
type Result struct {
	Docs     map[string][]byte // id → its document's canonical JSON, for the ids found
	NotFound []string          // ids with no row, in request order
	Failed   map[string]string // id → why its document could not be written (a value JSON cannot hold, such as a NaN float)
}

// Documents reads the objects of one kind by id and writes their documents
// (the bytes sunbird's Build and Encode give, written by an Appender
// straight from the rows, as a sync's source does). ids must be distinct
// (the callers' doors trim and de-duplicate them). An id with no row is
// reported in NotFound, one whose document cannot be written in Failed;
// only a failure to read makes the whole call fail.
func (st *Store) Documents(ctx context.Context, kind sunbird.Kind, ids []string) (Result, error) {
	reads := []read{{kind.Table, kind.Key, ids}}
	for _, c := range kind.Children {
		reads = append(reads, read{c.Table, c.Key, ids})
	}
	got, err := st.readAll(ctx, reads...)
	if err != nil {
		return Result{}, err
	}
	type object struct {
		row      sunbird.Values
		children [][]sunbird.Values
	}
	objects := make([]*object, len(ids))
	var orgIDs []string
	for i, id := range ids {
		rows := got[kind.Table][id]
		if len(rows) == 0 {
			continue
		}
		o := &object{row: rows[0], children: make([][]sunbird.Values, len(kind.Children))}
		for c, child := range kind.Children {
			o.children[c] = got[child.Table][id]
		}
		objects[i] = o
		orgIDs = append(orgIDs, kind.OrgIDs(o.row, o.children)...)
	}
	var lookups sunbird.Lookups
	if kind.UsesOrgNames() {
		if lookups.OrgNames, err = st.orgs.Names(ctx, orgIDs); err != nil {
			return Result{}, err
		}
	}
	if kind.UsesOrgTypes {
		if lookups.OrgTypes, err = st.orgTypes(ctx); err != nil {
			return Result{}, err
		}
	}
	pool := st.appenders[kind.Name]
	app := pool.Get().(*sunbird.Appender)
	defer pool.Put(app)
	app.SetLookups(lookups)
	defer app.SetLookups(sunbird.Lookups{}) // keep no names in the pool
	res := Result{Docs: make(map[string][]byte, len(ids))}
	size := 2048 // the last document's, to allocate the next one once
	for i, o := range objects {
		if o == nil {
			res.NotFound = append(res.NotFound, ids[i])
			continue
		}
		doc, err := app.Append(make([]byte, 0, size+size/8), o.row, o.children)
		if err != nil {
			if res.Failed == nil {
				res.Failed = map[string]string{}
			}
			res.Failed[ids[i]] = "encode document: " + err.Error()
			continue
		}
		size = len(doc)
		res.Docs[ids[i]] = doc
	}
	return res, nil
}

// scanner returns the Scanner of table (partition key key) over every
// column, the columns read once from the schema (so extra columns of a
// real deployment are carried into documents too). It is kept for the
// Store's life, so that its pages are sized at the width of the rows it
// has read.
func (st *Store) scanner(ctx context.Context, table, key string) (*cassandra.Scanner, error) {
	st.scanMu.Lock()
	defer st.scanMu.Unlock()
	if sc, ok := st.scanners[table]; ok {
		return sc, nil
	}
	cols, err := st.sess.Columns(ctx, st.keyspace, table)
	if err != nil {
		return nil, err
	}
	sc := &cassandra.Scanner{Session: st.sess, Keyspace: st.keyspace, Table: table, Key: key, Columns: cols}
	st.scanners[table] = sc
	return sc, nil
}

// read is one batch query: the rows of table whose key is one of ids.
type read struct {
	table, key string
	ids        []string
}

// readAll runs the reads, each cut into batches of st.batch keys, with up to
// st.conc queries in flight, and returns table → key → rows (in clustering
// order). A partition key IN list is one query per batch instead of one per
// id: far less work for the coordinator and the client than point reads,
// while the small batches keep each query cheap on a multi-node cluster.
func (st *Store) readAll(ctx context.Context, reads ...read) (map[string]map[string][]sunbird.Values, error) {
	out := make(map[string]map[string][]sunbird.Values, len(reads))
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(st.conc)
	for _, rd := range reads {
		sc, err := st.scanner(ctx, rd.table, rd.key)
		if err != nil {
			return nil, err
		}
		byKey := make(map[string][]sunbird.Values, len(rd.ids))
		out[rd.table] = byKey
		add := func(rows []keyed) {
			mu.Lock()
			defer mu.Unlock()
			for _, r := range rows {
				byKey[r.key] = append(byKey[r.key], r.row)
			}
		}
		runs, rest := st.spans(ctx, rd)
		for _, sp := range runs {
			g.Go(func() error { return st.readRange(gctx, read{rd.table, rd.key, sp.ids}, sc, sp.r, add) })
		}
		for batch := range slices.Chunk(rest, st.batch) {
			g.Go(func() error { return st.readKeys(gctx, rd, sc.Columns, batch, add) })
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// keyed is a row read, with its partition key.
type keyed struct {
	key string
	row sunbird.Values
}

// readKeys reads one batch of ids with an IN query.
func (st *Store) readKeys(ctx context.Context, rd read, cols, batch []string, add func([]keyed)) error {
	st.keyReads.Add(1)
	names, rows, err := st.sess.ReadByKeys(ctx, st.keyspace, rd.table, rd.key, cols, batch)
	if err != nil {
		return fmt.Errorf("read %d ids from %s.%s (%s %s…): %w", len(batch), st.keyspace, rd.table, rd.key, batch[0], err)
	}
	key := slices.Index(names, rd.key)
	out := make([]keyed, len(rows))
	for i, vals := range rows {
		out[i].row = sunbird.Values{Cols: names, Vals: vals}
		if key >= 0 {
			out[i].key, _ = vals[key].(string)
		}
	}
	add(out)
	return nil
}

// span is a run of ids close together on the ring, read with one
// token-range query.
type span struct {
	r   cassandra.Range
	ids []string
}

// gapFactor: a gap between two ids of a read this many times the median gap
// splits them into two spans (a sync job's block can end one token range
// and start another far away).
const gapFactor = 16

// spans splits rd's ids into runs close together on the ring, to be read by
// token range, and the rest, to be read by key. Only a Murmur3 ring gives
// cassandra.Token's tokens, and a run needs rangeMin ids and — once the
// table's size is known — few enough partitions in its range.
func (st *Store) spans(ctx context.Context, rd read) (runs []span, rest []string) {
	if len(rd.ids) < rangeMin || !st.murmur3(ctx) {
		return nil, rd.ids
	}
	type tokID struct {
		t  int64
		id string
	}
	ts := make([]tokID, len(rd.ids))
	for i, id := range rd.ids {
		ts[i] = tokID{cassandra.Token(id), id}
	}
	slices.SortFunc(ts, func(a, b tokID) int { return cmp.Compare(a.t, b.t) })
	gaps := make([]uint64, len(ts)-1)
	for i := range gaps {
		gaps[i] = uint64(ts[i+1].t - ts[i].t)
	}
	median := slices.Clone(gaps)
	slices.Sort(median)
	limit := median[len(median)/2] * gapFactor
	if limit/gapFactor != median[len(median)/2] { // overflow: the ids are spread over the ring
		return nil, rd.ids
	}
	st.sizeMu.Lock()
	size, known := st.sizes[rd.table]
	st.sizeMu.Unlock()
	lo := 0
	for i := 0; i <= len(gaps); i++ {
		if i < len(gaps) && gaps[i] <= limit {
			continue
		}
		run := ts[lo : i+1] // tokens are > MinToken, so Start does not wrap
		lo = i + 1
		ids := make([]string, len(run))
		for j, x := range run {
			ids[j] = x.id
		}
		r := cassandra.Range{Start: run[0].t - 1, End: run[len(run)-1].t}
		if len(run) < rangeMin || (known && size*ringShare(r) > rangeFactor*float64(len(run))) {
			rest = append(rest, ids...)
			continue
		}
		runs = append(runs, span{r, ids})
	}
	return runs, rest
}

// ringShare is the fraction of the token ring r covers.
func ringShare(r cassandra.Range) float64 {
	return float64(uint64(r.End-r.Start)) / math.Exp2(64)
}

// errSparse stops a range read that meets too many partitions.
var errSparse = errors.New("more partitions in the range than ids asked for")

// readRange reads rd's ids with one token-range query over r, keeping the
// rows of the ids asked for, and learns the table's size from what it met.
// When the range holds many more partitions than ids, it stops and reads the
// ids by key.
func (st *Store) readRange(ctx context.Context, rd read, sc *cassandra.Scanner, r cassandra.Range, add func([]keyed)) error {
	want := make(map[string]bool, len(rd.ids))
	for _, id := range rd.ids {
		want[id] = true
	}
	limit := rangeFactor*len(rd.ids) + rangeSlack
	var rows []keyed
	parts, last := 0, r.Start
	err := sc.ScanKeyed(ctx, r, func(tok int64, k string, cols []string, vals []any) error {
		if parts == 0 || tok != last {
			if parts == limit {
				return errSparse
			}
			parts, last = parts+1, tok
		}
		if want[k] {
			rows = append(rows, keyed{k, sunbird.Values{Cols: cols, Vals: vals}})
		}
		return nil
	})
	switch {
	case errors.Is(err, errSparse):
		st.rangeStops.Add(1)
		st.learnSize(rd.table, parts, cassandra.Range{Start: r.Start, End: last})
		for batch := range slices.Chunk(rd.ids, st.batch) {
			if err := st.readKeys(ctx, rd, sc.Columns, batch, add); err != nil {
				return err
			}
		}
		return nil
	case err != nil:
		return fmt.Errorf("read %d ids from %s.%s by token range %s (%s %s…): %w", len(rd.ids), st.keyspace, rd.table, r, rd.key, rd.ids[0], err)
	}
	st.rangeReads.Add(1)
	st.learnSize(rd.table, parts, r)
	add(rows)
	return nil
}

// learnSize updates the table's estimated partition count from a range read
// that met parts partitions in r (a moving average: tables grow).
func (st *Store) learnSize(table string, parts int, r cassandra.Range) {
	share := ringShare(r)
	if share <= 0 {
		return
	}
	seen := float64(parts) / share
	st.sizeMu.Lock()
	defer st.sizeMu.Unlock()
	if old, ok := st.sizes[table]; ok {
		seen = 0.8*old + 0.2*seen
	}
	st.sizes[table] = seen
}

// murmur3 reports whether the cluster's partitioner is Murmur3 (asked
// once it can be): only then do cassandra.Token's tokens find the ids'
// partitions.
func (st *Store) murmur3(ctx context.Context) bool {
	st.murmurMu.Lock()
	defer st.murmurMu.Unlock()
	if !st.murmurKnown {
		var p string
		if err := st.sess.Query("SELECT partitioner FROM system.local").ScanContext(ctx, &p); err == nil {
			st.murmurKnown, st.murmur = true, strings.HasSuffix(p, ".Murmur3Partitioner")
		}
	}
	return st.murmur
}

// orgTypes returns the organisation types, read again after OrgTTL like the
// organisation names: Sunbird's services refresh their copy periodically too.
func (st *Store) orgTypes(ctx context.Context) (sunbird.OrgTypes, error) {
	st.typesMu.Lock()
	defer st.typesMu.Unlock()
	if st.types != nil && time.Now().Before(st.typesExpires) {
		return st.types, nil
	}
	types, _, err := LoadOrgTypes(ctx, st.sess, st.keyspace)
	if err != nil {
		return nil, err
	}
	st.types, st.typesExpires = types, time.Now().Add(st.orgTTL)
	return types, nil
}

// readOrgNames reads the names of the organisations that exist among ids.
func (st *Store) readOrgNames(ctx context.Context, ids []string) (map[string]any, error) {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(st.conc)
	var mu sync.Mutex
	names := make(map[string]any, len(ids))
	for batch := range slices.Chunk(ids, st.batch) {
		g.Go(func() error {
			_, rows, err := st.sess.ReadByKeys(gctx, st.keyspace, sunbird.OrganisationKind.Table, sunbird.OrganisationKind.Key, []string{"id", "orgname"}, batch)
			if err != nil {
				return fmt.Errorf("read the names of %d organisations (%s…): %w", len(batch), batch[0], err)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, r := range rows { // id, orgname: the columns asked for, in order
				id, _ := r[0].(string)
				names[id] = r[1]
			}
			return nil
		})
	}
	return names, g.Wait()
}
