package cassandra

import (
	"context"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// RowsBothWays reads stmt's rows twice: with the row decoder's own cells,
// and with the driver's reflective decoding only, which the cells replace.
func RowsBothWays(ctx context.Context, s *Session, stmt string) (cells, driver []Row, err error) {
	read := func(fast func(gocql.TypeInfo, *textArena) cell) ([]Row, error) {
		iter := s.Query(stmt).IterContext(ctx)
		return collect(iter, newRowDecoderWith(iter.Columns(), fast))
	}
	if cells, err = read(fastCell); err != nil {
		return nil, nil, err
	}
	driver, err = read(func(gocql.TypeInfo, *textArena) cell { return nil })
	return cells, driver, err
}

// pageObserver passes each page's row count on.
type pageObserver func(rows int)

func (f pageObserver) ObserveQuery(_ context.Context, q gocql.ObservedQuery) { f(q.Rows) }

// ObservePages calls fn with the number of rows of each page sc fetches.
func ObservePages(sc *Scanner, fn func(rows int)) { sc.observer = pageObserver(fn) }
