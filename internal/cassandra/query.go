package cassandra

import (
	"context"
	"fmt"
	"strings"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/indexsync/indexsync/internal/backoff"
)

// Retry waits: full jitter from RetryBase doubling up to RetryMax.
const (
	RetryBase = 200 * time.Millisecond
	RetryMax  = 5 * time.Second
	// DefaultRetries is how many times an idempotent request is sent again
	// after a transient error.
	DefaultRetries = 5
)

// retry runs an idempotent request, again after Transient errors, up to
// retries times (DefaultRetries when 0), waiting with backoff.FullJitter.
func retry(ctx context.Context, retries int, f func() error) error {
	if retries <= 0 {
		retries = DefaultRetries
	}
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil {
			return nil
		}
		if attempt > retries || !Transient(err) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := backoff.Sleep(ctx, backoff.FullJitter(attempt, RetryBase, RetryMax, nil)); err != nil {
			return err
		}
	}
}

// Exec runs one statement (DDL, a write), retried after transient errors.
func (s *Session) Exec(ctx context.Context, stmt string, args ...any) error {
	return retry(ctx, 0, func() error { return s.Query(stmt, args...).Idempotent(true).ExecContext(ctx) })
}

// Ping checks that the cluster answers a query.
func (s *Session) Ping(ctx context.Context) error {
	return s.Query("SELECT release_version FROM system.local").ExecContext(ctx)
}

// Unset is the value of a column a write leaves out (no tombstone).
var Unset any = gocql.UnsetValue

// InsertStmt is "INSERT INTO keyspace.table (cols) VALUES (?…)".
func InsertStmt(keyspace, table string, cols []string) string {
	marks := strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",")
	return fmt.Sprintf("INSERT INTO %s.%s (%s) VALUES (%s)", keyspace, table, strings.Join(cols, ","), marks)
}

// Write is one statement of a batch.
type Write struct {
	Stmt string
	Args []any
}

// ExecUnloggedBatch runs writes as one unlogged batch (for writes to one
// partition), retried after transient errors.
func (s *Session) ExecUnloggedBatch(ctx context.Context, writes []Write) error {
	return retry(ctx, 0, func() error {
		b := s.Batch(gocql.UnloggedBatch)
		for _, w := range writes {
			b.Query(w.Stmt, w.Args...)
		}
		return b.ExecContext(ctx)
	})
}

// ReadByKeys returns the rows of keyspace.table whose partition key column
// key is one of keys, with cols (nil: every column), in one IN query,
// retried after transient errors. Keep keys to a few dozen: one query for a
// batch of keys costs the coordinator much less than a read per key. Each
// row is the values of its columns, in the order of the names it returns
// (shared by the rows): no map per row.
func (s *Session) ReadByKeys(ctx context.Context, keyspace, table, key string, cols []string, keys []string) ([]string, [][]any, error) {
	list := "*"
	if cols != nil {
		list = SelectList(cols)
	}
	stmt := fmt.Sprintf("SELECT %s FROM %s.%s WHERE %s IN ?", list, keyspace, table, key)
	var (
		names []string
		rows  [][]any
	)
	err := retry(ctx, 0, func() error {
		iter := s.Query(stmt, keys).Idempotent(true).IterContext(ctx)
		dec := newRowDecoder(iter.Columns())
		names, rows = dec.names, nil
		sc := iter.Scanner()
		for sc.Next() {
			if err := sc.Scan(dec.dests...); err != nil {
				_ = iter.Close()
				return err
			}
			rows = append(rows, dec.values())
		}
		return iter.Close()
	})
	return names, rows, err
}

// ExistingKeys returns which of keys have a row in keyspace.table, in one
// IN query at consistency cons (whatever the session's), retried after
// transient errors.
func (s *Session) ExistingKeys(ctx context.Context, keyspace, table, key string, keys []string, cons Consistency, retries int) (map[string]bool, error) {
	out := make(map[string]bool, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	stmt := fmt.Sprintf(`SELECT %q FROM %s.%q WHERE %q IN ?`, key, keyspace, table, key)
	err := retry(ctx, retries, func() error {
		clear(out)
		iter := s.Query(stmt, keys).Consistency(cons).Idempotent(true).IterContext(ctx)
		var id string
		for iter.Scan(&id) {
			out[id] = true
		}
		return iter.Close()
	})
	if err != nil {
		return nil, fmt.Errorf("look up %d ids in %s.%s at %s: %w", len(keys), keyspace, table, cons, err)
	}
	return out, nil
}
