package cassandra

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// Scanner reads one table by token ranges, page by page, so memory stays
// bounded whatever the table's size.
type Scanner struct {
	Session  *Session
	Keyspace string
	Table    string
	Key      string   // partition key column: id or userid
	Columns  []string // columns to read; nil reads every column of the table
	PageSize int      // rows per page; 0 = 1000 for whole rows (memory stays flat), 5000 for keys
	Retries  int      // re-reads of a range after a timeout, from where it stopped; 0 = 5

	// PageBytes sizes whole-row pages (Scan, ScanValues) by bytes: as many
	// rows as fit in PageBytes at the width the scan has measured so far,
	// at most PageSize; 0 = DefaultPageBytes, below 0 = PageSize rows
	// whatever their size. Cassandra serializes each page of a local read into one
	// heap buffer before it answers; a page of 1,000 Sunbird user rows
	// (about 1 MB) grows that buffer to half a G1 region or more (regions
	// are 1 MiB below a 4 GiB heap, 2 MiB below 8 GiB), and every such
	// "humongous" allocation can start a concurrent marking cycle of
	// Cassandra's whole heap.
	PageBytes int

	width    atomic.Int64        // measured bytes per row, smoothed; 0: none yet
	observer gocql.QueryObserver // sees every page fetched (tests)
}

// DefaultPageBytes is PageBytes when it is 0: small enough that
// Cassandra's buffer for a page stays under half a G1 region of a 1 GiB
// heap, large enough that a page still holds a hundred or more Sunbird
// user rows. A Scanner learns its rows' width as it reads, so one kept for
// many reads of a table sizes its pages better than one made per read.
const DefaultPageBytes = 192 << 10

// Page sizing by bytes: the width assumed before any row is measured, the
// bytes counted per column besides its text (Cassandra's cell header and
// the fixed-size values), and the fewest rows a page asks for.
const (
	assumedRowBytes = 2 << 10
	columnBytes     = 8
	minPageRows     = 10
)

// pageRows is the page size of the next query: PageSize (or def) rows, or,
// for whole rows (wide), fewer to keep a page near PageBytes.
func (sc *Scanner) pageRows(def int, wide bool) int {
	rows := sc.PageSize
	if rows <= 0 {
		rows = def
	}
	if !wide || sc.PageBytes < 0 {
		return rows
	}
	budget := int64(sc.PageBytes)
	if budget == 0 {
		budget = DefaultPageBytes
	}
	w := sc.width.Load()
	if w <= 0 {
		w = assumedRowBytes
	}
	fit := int(min(budget/w, int64(rows)))
	return max(fit, min(rows, minPageRows))
}

// measured folds one query's rows into the width estimate.
func (sc *Scanner) measured(rows, textBytes int64, cols int) {
	if rows < minPageRows {
		return // too few to say
	}
	w := textBytes/rows + int64(cols)*columnBytes
	if old := sc.width.Load(); old > 0 {
		w = (3*old + w) / 4
	}
	sc.width.Store(max(w, 1))
}

// Columns returns the table's column names, read from system_schema (not
// the driver's metadata cache, which may not know a keyspace created after
// the session opened): partition key, clustering columns, then the rest in
// alphabetical order, as Cassandra lists them for SELECT *.
func (s *Session) Columns(ctx context.Context, keyspace, table string) ([]string, error) {
	iter := s.Query(`SELECT column_name, kind, position FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ?`,
		keyspace, table).IterContext(ctx)
	type col struct {
		name, kind string
		pos        int
	}
	var cols []col
	var c col
	for iter.Scan(&c.name, &c.kind, &c.pos) {
		cols = append(cols, c)
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("read the columns of %s.%s: %w", keyspace, table, err)
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("keyspace %s has no table %s (create it with `indexsync schema`, or check --keyspace)", keyspace, table)
	}
	rank := map[string]int{"partition_key": 0, "clustering": 1, "static": 2, "regular": 2}
	slices.SortFunc(cols, func(a, b col) int {
		if d := rank[a.kind] - rank[b.kind]; d != 0 {
			return d
		}
		if a.kind != "regular" && a.kind != "static" {
			return a.pos - b.pos
		}
		return strings.Compare(a.name, b.name)
	})
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.name
	}
	return out, nil
}

func (sc *Scanner) query(cols []string) string {
	return fmt.Sprintf(`SELECT token(%s), %s FROM %s.%s WHERE token(%s) > ? AND token(%s) <= ?`,
		sc.Key, SelectList(cols), sc.Keyspace, sc.Table, sc.Key, sc.Key)
}

// SelectList returns cols quoted for a SELECT ("a", "b"), so column names
// keep their case and reserved words stay names.
func SelectList(cols []string) string {
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = `"` + strings.ReplaceAll(c, `"`, `""`) + `"`
	}
	return strings.Join(quoted, ", ")
}

// Scan calls fn for each row whose partition token is in r, in token order.
// A timeout re-reads the rest of the range from the last token delivered.
// An error from fn stops the scan and is returned as is.
func (sc *Scanner) Scan(ctx context.Context, r Range, fn func(token int64, row Row) error) error {
	return sc.ScanValues(ctx, r, func(tok int64, cols []string, vals []any) error {
		row := make(Row, len(cols))
		for i, c := range cols {
			row[c] = vals[i]
		}
		return fn(tok, row)
	})
}

// ScanValues is Scan with each row as the values of its columns, in the
// order of cols, which the rows of one query share (and nobody may
// modify): no map per row (a sync reads tens of millions of cells; making a
// map of each row was a tenth of its CPU).
func (sc *Scanner) ScanValues(ctx context.Context, r Range, fn func(token int64, cols []string, vals []any) error) error {
	cols := sc.Columns
	if cols == nil {
		var err error
		if cols, err = sc.Session.Columns(ctx, sc.Keyspace, sc.Table); err != nil {
			return err
		}
	}
	stmt := sc.query(cols)
	return sc.scan(ctx, r, stmt, 1000, true, func(iter *gocql.Iter) error {
		var tok int64
		meta := iter.Columns()
		if len(meta) == 0 {
			// the query failed before any page arrived (a cancelled
			// context, a timeout): Close reports why
			return nil
		}
		dec := newRowDecoder(meta[1:])
		dests := append([]any{&tok}, dec.dests...)
		var rows int64
		defer func() { sc.measured(rows, dec.arena.n, len(dec.names)) }()
		it := iter.Scanner()
		for it.Next() {
			if err := it.Scan(dests...); err != nil {
				return err
			}
			rows++
			if err := fn(tok, dec.names, dec.values()); err != nil {
				return &stopError{err}
			}
			r.Start = tok
		}
		return it.Err()
	}, &r)
}

// ScanKeyed is ScanValues with each row's partition key (the value of
// the Key column; "" if it is not read).
func (sc *Scanner) ScanKeyed(ctx context.Context, r Range, fn func(token int64, key string, cols []string, vals []any) error) error {
	var cols []string // of the rows so far, with the key's index
	key := -1
	return sc.ScanValues(ctx, r, func(tok int64, rowCols []string, vals []any) error {
		if len(rowCols) == 0 || len(cols) == 0 || &rowCols[0] != &cols[0] {
			cols, key = rowCols, slices.Index(rowCols, sc.Key)
		}
		var k string
		if key >= 0 {
			k, _ = vals[key].(string)
		}
		return fn(tok, k, rowCols, vals)
	})
}

// ScanKeys calls fn with the token and partition key of each partition in r,
// in token order: the cheap scan for jobs that only need ids.
func (sc *Scanner) ScanKeys(ctx context.Context, r Range, fn func(token int64, key string) error) error {
	stmt := fmt.Sprintf(`SELECT token(%s), %s FROM %s.%s WHERE token(%s) > ? AND token(%s) <= ?`,
		sc.Key, sc.Key, sc.Keyspace, sc.Table, sc.Key, sc.Key)
	if sc.Key != "id" {
		// clustering rows repeat the key; DISTINCT gives one row a partition
		stmt = strings.Replace(stmt, "SELECT ", "SELECT DISTINCT ", 1)
	}
	return sc.scan(ctx, r, stmt, 5000, false, func(iter *gocql.Iter) error {
		var (
			tok int64
			key string
		)
		s := iter.Scanner()
		for s.Next() {
			if err := s.Scan(&tok, &key); err != nil {
				return err
			}
			if err := fn(tok, key); err != nil {
				return &stopError{err}
			}
			r.Start = tok
		}
		return s.Err()
	}, &r)
}

// stopError carries an error from the caller's callback through the retry loop.
type stopError struct{ err error }

func (e *stopError) Error() string { return e.err.Error() }

// scan runs stmt over *r, retrying from r.Start (advanced by each) after
// transient errors; pages as pageRows(defaultPage, wide).
func (sc *Scanner) scan(ctx context.Context, r Range, stmt string, defaultPage int, wide bool, each func(*gocql.Iter) error, cur *Range) error {
	router := sc.Session.router(ctx)
	err := retry(ctx, sc.Retries, func() error {
		q := sc.Session.Query(stmt, cur.Start, cur.End).PageSize(sc.pageRows(defaultPage, wide)).Idempotent(true)
		if sc.observer != nil {
			q = q.Observer(sc.observer)
		}
		if k := router.key(*cur); k != nil {
			q = q.RoutingKey(k)
		}
		iter := q.IterContext(ctx)
		err := each(iter)
		if cerr := iter.Close(); err == nil {
			err = cerr
		}
		return err
	})
	if stop, ok := errors.AsType[*stopError](err); ok {
		return stop.err
	}
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("scan %s.%s range %s: %w", sc.Keyspace, sc.Table, r, err)
	}
	return err
}

// Transient reports whether a Cassandra error may go away on retry.
func Transient(err error) bool {
	var (
		rt *gocql.RequestErrReadTimeout
		wt *gocql.RequestErrWriteTimeout
		un *gocql.RequestErrUnavailable
		rf *gocql.RequestErrReadFailure
	)
	if _, ok := errors.AsType[*stopError](err); ok {
		return false // the callback's own error: it stops the scan
	}
	switch {
	case errors.As(err, &rt), errors.As(err, &wt), errors.As(err, &un), errors.As(err, &rf),
		errors.Is(err, gocql.ErrTimeoutNoResponse), errors.Is(err, gocql.ErrNoConnections),
		errors.Is(err, gocql.ErrConnectionClosed):
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "overloaded") || strings.Contains(msg, "timeout") || strings.Contains(msg, "connection reset")
}

// Rows runs a query and returns all its rows (for small, single-partition
// reads; use a Scanner for tables).
func (s *Session) Rows(ctx context.Context, stmt string, args ...any) ([]Row, error) {
	iter := s.Query(stmt, args...).Idempotent(true).IterContext(ctx)
	return collect(iter, newRowDecoder(iter.Columns()))
}

// collect reads every row of iter with dec and closes it.
func collect(iter *gocql.Iter, dec *rowDecoder) ([]Row, error) {
	sc := iter.Scanner()
	var out []Row
	for sc.Next() {
		r, err := dec.scan(sc)
		if err != nil {
			_ = iter.Close()
			return nil, err
		}
		out = append(out, r)
	}
	if err := iter.Close(); err != nil {
		return nil, err
	}
	return out, nil
}
