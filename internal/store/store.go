// Package store reads Sunbird objects from Cassandra by id and builds their
// search documents with the shared builder (package sunbird). It serves the
// Sync API and the repair of drifted documents: blocks of ids are read with
// bounded concurrency, never one id after another, and organisation names are
// cached for a while because every user names a few of the same ones.
package store

import (
	"context"
	"fmt"
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
	Concurrency int           // queries in flight per call; 0 = 32
	OrgTTL      time.Duration // how long an organisation name is trusted; 0 = 5 minutes
}

// Store reads objects from one keyspace.
type Store struct {
	sess     *cassandra.Session
	keyspace string
	conc     int
	orgs     *OrgCache

	stmtMu sync.Mutex
	stmts  map[string]string // table → SELECT of every column by key
}

// New returns a Store over an open session.
func New(sess *cassandra.Session, keyspace string, opts Options) *Store {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 32
	}
	if opts.OrgTTL <= 0 {
		opts.OrgTTL = 5 * time.Minute
	}
	st := &Store{sess: sess, keyspace: keyspace, conc: opts.Concurrency, stmts: map[string]string{}}
	st.orgs = NewOrgCache(opts.OrgTTL, st.readOrgName)
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
		return st.single(ctx, "organisation", "id", ids, sunbird.BuildOrganisation)
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

// selectByKey returns "SELECT <every column> FROM ks.table WHERE key = ?",
// with the column list read once from the schema (so extra columns of a real
// deployment are carried into documents too).
func (st *Store) selectByKey(ctx context.Context, table, key string) (string, error) {
	st.stmtMu.Lock()
	defer st.stmtMu.Unlock()
	if s, ok := st.stmts[table]; ok {
		return s, nil
	}
	cols, err := st.sess.Columns(ctx, st.keyspace, table)
	if err != nil {
		return "", err
	}
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = `"` + c + `"`
	}
	s := fmt.Sprintf("SELECT %s FROM %s.%s WHERE %s = ?", strings.Join(quoted, ", "), st.keyspace, table, key)
	st.stmts[table] = s
	return s, nil
}

func (st *Store) rows(ctx context.Context, table, key, id string) ([]cassandra.Row, error) {
	stmt, err := st.selectByKey(ctx, table, key)
	if err != nil {
		return nil, err
	}
	rows, err := st.sess.Rows(ctx, stmt, id)
	if err != nil {
		return nil, fmt.Errorf("read %s.%s %s=%s: %w", st.keyspace, table, key, id, err)
	}
	return rows, nil
}

func (st *Store) users(ctx context.Context, ids []string) (Result, error) {
	users := make([]*sunbird.User, len(ids))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(st.conc)
	for i, id := range ids {
		g.Go(func() error {
			rows, err := st.rows(gctx, "user", "id", id)
			if err != nil || len(rows) == 0 {
				return err
			}
			u := &sunbird.User{Row: sunbird.Row(rows[0])}
			mems, err := st.rows(gctx, "user_organisation", "userid", id)
			if err != nil {
				return err
			}
			roles, err := st.rows(gctx, "user_roles", "userid", id)
			if err != nil {
				return err
			}
			for _, m := range mems {
				u.Orgs = append(u.Orgs, sunbird.Row(m))
			}
			for _, r := range roles {
				u.Roles = append(u.Roles, sunbird.Row(r))
			}
			users[i] = u
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return Result{}, err
	}
	var orgIDs []string
	for _, u := range users {
		if u != nil {
			orgIDs = append(orgIDs, OrgIDs(*u)...)
		}
	}
	names, err := st.orgs.Names(ctx, orgIDs, st.conc)
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
	found := make([]sunbird.Row, len(ids))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(st.conc)
	for i, id := range ids {
		g.Go(func() error {
			rows, err := st.rows(gctx, table, key, id)
			if err == nil && len(rows) > 0 {
				found[i] = sunbird.Row(rows[0])
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return Result{}, err
	}
	res := Result{Docs: make(map[string]sunbird.Document, len(ids))}
	for i, r := range found {
		if r == nil {
			res.NotFound = append(res.NotFound, ids[i])
			continue
		}
		res.Docs[ids[i]] = build(r)
	}
	return res, nil
}

func (st *Store) readOrgName(ctx context.Context, id string) (any, bool, error) {
	rows, err := st.sess.Rows(ctx, fmt.Sprintf("SELECT orgname FROM %s.organisation WHERE id = ?", st.keyspace), id)
	if err != nil {
		return nil, false, fmt.Errorf("read organisation %s: %w", id, err)
	}
	if len(rows) == 0 {
		return nil, false, nil
	}
	return rows[0]["orgname"], true, nil
}
