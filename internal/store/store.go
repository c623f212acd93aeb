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
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/indexsync/indexsync/internal/cassandra"
	"github.com/indexsync/indexsync/internal/sunbird"
)

// Object types, as the Sync API names them.
const (
	User         = "user"
	Organisation = "organisation"
	Location     = "location"
)

// ValidObjectType reports whether t is one of the three object types.
func ValidObjectType(t string) bool {
	return t == User || t == Organisation || t == Location
}

// Options tune a Store.
type Options struct {
	Concurrency int           // queries in flight per call; 0 = 16
	Batch       int           // ids per IN query; 0 = 25
	OrgTTL      time.Duration // how long an organisation name is trusted; 0 = 5 minutes
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
	stmts  map[string]string // table → SELECT of every column by key
}

// New returns a Store over an open session.
func New(sess *cassandra.Session, keyspace string, opts Options) *Store {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 16
	}
	if opts.Batch <= 0 {
		opts.Batch = 25
	}
	if opts.OrgTTL <= 0 {
		opts.OrgTTL = 5 * time.Minute
	}
	st := &Store{sess: sess, keyspace: keyspace, conc: opts.Concurrency, batch: opts.Batch, orgTTL: opts.OrgTTL, stmts: map[string]string{}}
	st.orgs = NewOrgCache(opts.OrgTTL, st.readOrgNames)
	return st
}

// Result is what a block of ids gave.
type Result struct {
	Docs     map[string]sunbird.Document // id → document, for the ids found
	NotFound []string                    // ids with no row, in request order
}

// Documents reads the objects of one type by id and builds their documents.
// Ids are trimmed and de-duplicated. An id with no row is reported in
// NotFound; only a failure to read makes the whole call fail.
func (st *Store) Documents(ctx context.Context, objectType string, ids []string) (Result, error) {
	ids = Dedupe(ids)
	switch objectType {
	case User:
		return st.users(ctx, ids)
	case Organisation:
		types, err := st.orgTypes(ctx)
		if err != nil {
			return Result{}, err
		}
		return st.single(ctx, "organisation", "id", ids, func(r sunbird.Row) sunbird.Document { return sunbird.BuildOrganisation(r, types) })
	case Location:
		return st.single(ctx, "location", "id", ids, sunbird.BuildLocation)
	}
	return Result{}, fmt.Errorf("unknown object type %q", objectType)
}

// Dedupe trims ids and drops blanks and repeats, keeping the first order.
func Dedupe(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		id = strings.TrimSpace(id)
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, id)
	}
	return out
}

// selectIn returns "SELECT <every column> FROM ks.table WHERE key IN ?",
// with the column list read once from the schema (so extra columns of a real
// deployment are carried into documents too).
func (st *Store) selectIn(ctx context.Context, table, key string) (string, error) {
	st.stmtMu.Lock()
	defer st.stmtMu.Unlock()
	if s, ok := st.stmts[table]; ok {
		return s, nil
	}
	cols, err := st.sess.Columns(ctx, st.keyspace, table)
	if err != nil {
		return "", err
	}
	s := fmt.Sprintf("SELECT %s FROM %s.%s WHERE %s IN ?", cassandra.SelectList(cols), st.keyspace, table, key)
	st.stmts[table] = s
	return s, nil
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
		stmt, err := st.selectIn(ctx, rd.table, rd.key)
		if err != nil {
			return nil, err
		}
		byKey := make(map[string][]cassandra.Row, len(rd.ids))
		out[rd.table] = byKey
		for batch := range slices.Chunk(rd.ids, st.batch) {
			g.Go(func() error {
				rows, err := st.sess.Rows(gctx, stmt, batch)
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

func (st *Store) users(ctx context.Context, ids []string) (Result, error) {
	got, err := st.readAll(ctx,
		read{"user", "id", ids},
		read{"user_organisation", "userid", ids},
		read{"user_roles", "userid", ids})
	if err != nil {
		return Result{}, err
	}
	users := make([]*sunbird.User, len(ids))
	var orgIDs []string
	for i, id := range ids {
		rows := got["user"][id]
		if len(rows) == 0 {
			continue
		}
		u := &sunbird.User{Row: sunbird.Row(rows[0])}
		for _, m := range got["user_organisation"][id] {
			u.Orgs = append(u.Orgs, sunbird.Row(m))
		}
		for _, r := range got["user_roles"][id] {
			u.Roles = append(u.Roles, sunbird.Row(r))
		}
		users[i] = u
		orgIDs = append(orgIDs, OrgIDs(*u)...)
	}
	names, err := st.orgs.Names(ctx, orgIDs)
	if err != nil {
		return Result{}, err
	}
	res := Result{Docs: make(map[string]sunbird.Document, len(ids))}
	for i, u := range users {
		if u == nil {
			res.NotFound = append(res.NotFound, ids[i])
			continue
		}
		res.Docs[ids[i]] = sunbird.BuildUser(*u, names)
	}
	return res, nil
}

// OrgIDs lists the organisations a user document names: its root
// organisation and the organisations of its memberships.
func OrgIDs(u sunbird.User) []string {
	var out []string
	if id, ok := u.Row["rootorgid"].(string); ok && id != "" {
		out = append(out, id)
	}
	for _, m := range u.Orgs {
		if id, ok := m["organisationid"].(string); ok && id != "" {
			out = append(out, id)
		}
	}
	return out
}

func (st *Store) single(ctx context.Context, table, key string, ids []string, build func(sunbird.Row) sunbird.Document) (Result, error) {
	got, err := st.readAll(ctx, read{table, key, ids})
	if err != nil {
		return Result{}, err
	}
	res := Result{Docs: make(map[string]sunbird.Document, len(ids))}
	for _, id := range ids {
		rows := got[table][id]
		if len(rows) == 0 {
			res.NotFound = append(res.NotFound, id)
			continue
		}
		res.Docs[id] = build(sunbird.Row(rows[0]))
	}
	return res, nil
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
	stmt := fmt.Sprintf("SELECT id, orgname FROM %s.organisation WHERE id IN ?", st.keyspace)
	var mu sync.Mutex
	names := make(map[string]any, len(ids))
	for batch := range slices.Chunk(ids, st.batch) {
		g.Go(func() error {
			rows, err := st.sess.Rows(gctx, stmt, batch)
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
