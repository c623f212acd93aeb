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
