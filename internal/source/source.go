// Package source provides the sync job's sources of items: partition keys
// from token-range scans (for the Sync API), whole documents joined from the
// user tables over the same ranges (for direct writes), and ids from a file.
package source

import (
	"context"
	"fmt"
	"math"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/indexsync/indexsync/internal/cassandra"
	"github.com/indexsync/indexsync/internal/checkpoint"
	"github.com/indexsync/indexsync/internal/store"
	"github.com/indexsync/indexsync/internal/sunbird"
	"github.com/indexsync/indexsync/internal/syncjob"
)

// Table returns the table and partition key column of an object type.
func Table(objectType string) (table, key string, err error) {
	switch objectType {
	case store.User:
		return "user", "id", nil
	case store.Organisation:
		return "organisation", "id", nil
	case store.Location:
		return "location", "id", nil
	}
	return "", "", fmt.Errorf("unknown object type %q", objectType)
}

// Keys yields the partition keys of a table, in token order.
type Keys struct{ Scanner *cassandra.Scanner }

// Items implements syncjob.Source.
func (k Keys) Items(ctx context.Context, u checkpoint.Unit, after int64, fn func(syncjob.Item) error) error {
	return k.Scanner.ScanKeys(ctx, cassandra.Range{Start: after, End: u.End}, func(tok int64, key string) error {
		return fn(syncjob.Item{ID: key, Seq: tok})
	})
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
	IDs        []string
	Store      *store.Store
	ObjectType string
	Block      int // ids read per store call
}

// Items implements syncjob.Source.
func (d IDDocs) Items(ctx context.Context, u checkpoint.Unit, after int64, fn func(syncjob.Item) error) error {
	block := max(d.Block, 1)
	for lo := after + 1; lo <= u.End && lo < int64(len(d.IDs)); lo += int64(block) {
		hi := min(lo+int64(block)-1, u.End, int64(len(d.IDs))-1)
		ids := d.IDs[lo : hi+1]
		res, err := d.Store.Documents(ctx, d.ObjectType, ids)
		if err != nil {
			return err
		}
		for i, id := range ids {
			it := syncjob.Item{ID: id, Seq: lo + int64(i)}
			if doc, ok := res.Docs[strings.TrimSpace(id)]; ok {
				if it.Doc, err = doc.Encode(); err != nil {
					return fmt.Errorf("encode document %s: %w", id, err)
				}
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

// Rows yields the documents of a single-table object type (organisation,
// location) from range scans.
type Rows struct {
	Scanner *cassandra.Scanner
	Build   func(sunbird.Row) sunbird.Document
}

// Items implements syncjob.Source.
func (s Rows) Items(ctx context.Context, u checkpoint.Unit, after int64, fn func(syncjob.Item) error) error {
	return s.Scanner.Scan(ctx, cassandra.Range{Start: after, End: u.End}, func(tok int64, row cassandra.Row) error {
		id, _ := row["id"].(string)
		doc, err := s.Build(sunbird.Row(row)).Encode()
		if err != nil {
			return fmt.Errorf("encode document %s: %w", id, err)
		}
		return fn(syncjob.Item{ID: id, Seq: tok, Doc: doc})
	})
}

// Users yields user documents: it scans user, user_organisation and
// user_roles over the same token range at once (they share the partition
// key, so the same users sit in the same range of all three) and joins the
// three streams in token order, holding one user at a time.
type Users struct {
	Users, Memberships, Roles *cassandra.Scanner
	OrgNames                  sunbird.OrgNames
}

// narrowPage is the page size of the user_organisation and user_roles
// scans: their rows are narrow (a few hundred bytes) and a user has several,
// so larger pages keep them from needing more round trips than the user rows
// they join (+7 % docs/s in make bench), at a few MiB a page. User rows keep
// the Scanner's default.
const narrowPage = 5000

// NewUsers returns the joined source over the three user tables of keyspace,
// every column of each (read once from the schema).
func NewUsers(ctx context.Context, sess *cassandra.Session, keyspace string, orgNames sunbird.OrgNames) (Users, error) {
	scanner := func(table, key string, page int) (*cassandra.Scanner, error) {
		cols, err := sess.Columns(ctx, keyspace, table)
		if err != nil {
			return nil, err
		}
		return &cassandra.Scanner{Session: sess, Keyspace: keyspace, Table: table, Key: key, Columns: cols, PageSize: page}, nil
	}
	u := Users{OrgNames: orgNames}
	var err error
	if u.Users, err = scanner("user", "id", 0); err != nil {
		return u, err
	}
	if u.Memberships, err = scanner("user_organisation", "userid", narrowPage); err != nil {
		return u, err
	}
	u.Roles, err = scanner("user_roles", "userid", narrowPage)
	return u, err
}

type tokRow struct {
	tok int64
	key string
	row cassandra.Row
}

// Items implements syncjob.Source.
func (s Users) Items(ctx context.Context, u checkpoint.Unit, after int64, fn func(syncjob.Item) error) error {
	r := cassandra.Range{Start: after, End: u.End}
	g, gctx := errgroup.WithContext(ctx)
	stream := func(sc *cassandra.Scanner, keyCol string) <-chan tokRow {
		ch := make(chan tokRow, 128) // smooths the three scans; bounded memory
		g.Go(func() error {
			defer close(ch)
			return sc.Scan(gctx, r, func(tok int64, row cassandra.Row) error {
				k, _ := row[keyCol].(string)
				select {
				case ch <- tokRow{tok, k, row}:
					return nil
				case <-gctx.Done():
					return gctx.Err()
				}
			})
		})
		return ch
	}
	users := stream(s.Users, "id")
	mems := &peeker{ch: stream(s.Memberships, "userid")}
	roles := &peeker{ch: stream(s.Roles, "userid")}
	g.Go(func() error {
		for ur := range users {
			user := sunbird.User{Row: sunbird.Row(ur.row)}
			for _, m := range mems.take(ur.tok, ur.key) {
				user.Orgs = append(user.Orgs, sunbird.Row(m))
			}
			for _, rr := range roles.take(ur.tok, ur.key) {
				user.Roles = append(user.Roles, sunbird.Row(rr))
			}
			doc, err := sunbird.BuildUser(user, s.OrgNames).Encode()
			if err != nil {
				return fmt.Errorf("encode document %s: %w", ur.key, err)
			}
			if err := fn(syncjob.Item{ID: ur.key, Seq: ur.tok, Doc: doc}); err != nil {
				return err
			}
		}
		// the user stream is done: rows after the last user belong to no
		// user; stop the other scans
		mems.drain()
		roles.drain()
		return nil
	})
	return g.Wait()
}

// peeker reads a token-ordered stream of child rows and hands out those of
// one partition at a time. Rows of partitions with no user row (orphans) are
// skipped. Within one token, Cassandra orders partitions by key bytes.
type peeker struct {
	ch   <-chan tokRow
	head *tokRow
	done bool
}

func (p *peeker) peek() *tokRow {
	if p.head == nil && !p.done {
		if r, ok := <-p.ch; ok {
			p.head = &r
		} else {
			p.done = true
		}
	}
	return p.head
}

func (p *peeker) take(tok int64, key string) []cassandra.Row {
	var out []cassandra.Row
	for {
		h := p.peek()
		if h == nil || h.tok > tok || (h.tok == tok && h.key > key) {
			return out
		}
		if h.tok == tok && h.key == key {
			out = append(out, h.row)
		}
		p.head = nil
	}
}

func (p *peeker) drain() {
	for p.peek() != nil {
		p.head = nil
	}
}

// Estimate returns Cassandra's own estimate of the partitions of a table in
// r (system.size_estimates, refreshed every few minutes); 0 when unknown.
func Estimate(ctx context.Context, sess *cassandra.Session, keyspace, table string, r cassandra.Range) (int64, error) {
	iter := sess.Query(`SELECT range_start, range_end, partitions_count FROM system.size_estimates WHERE keyspace_name = ? AND table_name = ?`,
		keyspace, table).IterContext(ctx)
	var (
		start, end string
		count      int64
		total      float64
	)
	for iter.Scan(&start, &end, &count) {
		var s, e int64
		if _, err := fmt.Sscan(start, &s); err != nil {
			continue
		}
		if _, err := fmt.Sscan(end, &e); err != nil {
			continue
		}
		total += float64(count) * overlap(cassandra.Range{Start: s, End: e}, r)
	}
	if err := iter.Close(); err != nil {
		return 0, err
	}
	return int64(math.Round(total)), nil
}

// overlap is the fraction of a that lies in b (a may wrap around the ring).
func overlap(a, b cassandra.Range) float64 {
	if a.End <= a.Start { // wrapping range: split it
		return overlapWeighted(cassandra.Range{Start: a.Start, End: cassandra.MaxToken}, b, a) +
			overlapWeighted(cassandra.Range{Start: cassandra.MinToken, End: a.End}, b, a)
	}
	return overlapWeighted(a, b, a)
}

func overlapWeighted(part, b, whole cassandra.Range) float64 {
	lo := max(part.Start, b.Start)
	hi := min(part.End, b.End)
	if hi <= lo {
		return 0
	}
	w := float64(whole.End) - float64(whole.Start)
	if whole.End <= whole.Start {
		w += math.Pow(2, 64)
	}
	return (float64(hi) - float64(lo)) / w
}
