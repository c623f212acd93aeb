// Package store reads Sunbird objects from Cassandra by id and builds their
// search documents with the shared builder (package sunbird). It serves the
// Sync API and the repair of drifted documents: blocks of ids are read in
// batches of partition keys (IN queries) with bounded concurrency, never one
// id after another, and organisation names are
// cached for a while because every user names a few of the same ones.
package store

import (
	"context"
	"fmt"
	"slices"
	"sync"
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

	stmtMu sync.Mutex
	cols   map[string][]string // table → every column
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
	st := &Store{sess: sess, keyspace: keyspace, conc: opts.Concurrency, batch: opts.Batch, orgTTL: opts.OrgTTL, cols: map[string][]string{}}
	st.orgs = NewOrgCache(opts.OrgTTL, st.readOrgNames)
	return st
}

// Result is what a block of ids gave.
type Result struct {
	Docs     map[string]sunbird.Document // id → document, for the ids found
	NotFound []string                    // ids with no row, in request order
}

// Documents reads the objects of one kind by id and builds their documents.
// ids must be distinct (the callers' doors trim and de-duplicate them). An id
// with no row is reported in NotFound; only a failure to read makes the
// whole call fail.
func (st *Store) Documents(ctx context.Context, kind sunbird.Kind, ids []string) (Result, error) {
	reads := []read{{kind.Table, kind.Key, ids}}
	for _, c := range kind.Children {
		reads = append(reads, read{c.Table, c.Key, ids})
	}
	got, err := st.readAll(ctx, reads...)
	if err != nil {
		return Result{}, err
	}
	objects := make([]*sunbird.Object, len(ids))
	var orgIDs []string
	for i, id := range ids {
		rows := got[kind.Table][id]
		if len(rows) == 0 {
			continue
		}
		o := &sunbird.Object{Row: sunbird.Row(rows[0]), Children: make([][]sunbird.Row, len(kind.Children))}
		for c, child := range kind.Children {
			for _, r := range got[child.Table][id] {
				o.Children[c] = append(o.Children[c], sunbird.Row(r))
			}
		}
		objects[i] = o
		orgIDs = append(orgIDs, kind.OrgIDs(*o)...)
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
	res := Result{Docs: make(map[string]sunbird.Document, len(ids))}
	for i, o := range objects {
		if o == nil {
			res.NotFound = append(res.NotFound, ids[i])
			continue
		}
		res.Docs[ids[i]] = kind.Build(*o, lookups)
	}
	return res, nil
}

// columns returns every column of table, read once from the schema (so
// extra columns of a real deployment are carried into documents too).
func (st *Store) columns(ctx context.Context, table string) ([]string, error) {
	st.stmtMu.Lock()
	defer st.stmtMu.Unlock()
	if c, ok := st.cols[table]; ok {
		return c, nil
	}
	cols, err := st.sess.Columns(ctx, st.keyspace, table)
	if err != nil {
		return nil, err
	}
	st.cols[table] = cols
	return cols, nil
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
func (st *Store) readAll(ctx context.Context, reads ...read) (map[string]map[string][]cassandra.Row, error) {
	out := make(map[string]map[string][]cassandra.Row, len(reads))
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(st.conc)
	for _, rd := range reads {
		cols, err := st.columns(ctx, rd.table)
		if err != nil {
			return nil, err
		}
		byKey := make(map[string][]cassandra.Row, len(rd.ids))
		out[rd.table] = byKey
		for batch := range slices.Chunk(rd.ids, st.batch) {
			g.Go(func() error {
				rows, err := st.sess.ReadByKeys(gctx, st.keyspace, rd.table, rd.key, cols, batch)
				if err != nil {
					return fmt.Errorf("read %d ids from %s.%s (%s %s…): %w", len(batch), st.keyspace, rd.table, rd.key, batch[0], err)
				}
				mu.Lock()
				defer mu.Unlock()
				for _, r := range rows {
					k, _ := r[rd.key].(string)
					byKey[k] = append(byKey[k], r)
				}
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
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
			rows, err := st.sess.ReadByKeys(gctx, st.keyspace, sunbird.OrganisationKind.Table, sunbird.OrganisationKind.Key, []string{"id", "orgname"}, batch)
			if err != nil {
				return fmt.Errorf("read the names of %d organisations (%s…): %w", len(batch), batch[0], err)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, r := range rows {
				id, _ := r["id"].(string)
				names[id] = r["orgname"]
			}
			return nil
		})
	}
	return names, g.Wait()
}
