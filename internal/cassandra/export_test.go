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

// resultFrames passes the body length of each RESULT frame on.
type resultFrames func(length int)

func (f resultFrames) ObserveFrameHeader(_ context.Context, h gocql.ObservedFrameHeader) {
	if h.Opcode == 0x08 { // RESULT: rows, among others
		f(int(h.Length))
	}
}

// ObserveResults makes the sessions of cfg call fn with the length of each
// RESULT frame Cassandra sends (the serialized page of a query).
func ObserveResults(cfg *Config, fn func(length int)) { cfg.frames = resultFrames(fn) }
