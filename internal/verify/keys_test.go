package verify

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/indexsync/indexsync/internal/cassandra"
	"github.com/indexsync/indexsync/internal/testenv"
)

// BenchmarkExistence compares the two ways of asking Cassandra which ids
// exist, over every user id of a seeded keyspace:
//
//	INDEXSYNC_BENCH_KEYSPACE=bench_verify go test -run - -bench Existence -benchtime 1x ./internal/verify/
//
// It reports ids/s for IN batches of several sizes and for concurrent
// single-partition reads (the numbers behind CassandraKeys' doc comment).
func BenchmarkExistence(b *testing.B) {
	ks := os.Getenv("INDEXSYNC_BENCH_KEYSPACE")
	if ks == "" {
		b.Skip("INDEXSYNC_BENCH_KEYSPACE is not set (a keyspace seeded with `indexsync seed`)")
	}
	addr := testenv.Cassandra(b)
	ctx := context.Background()
	sess, err := cassandra.Connect(ctx, cassandra.Config{
		Hosts: []string{addr.Host}, Port: addr.Port, Username: addr.Username, Password: addr.Password,
		Timeout: 30 * time.Second, Consistency: "LOCAL_ONE",
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sess.Close()
	var ids []string
	sc := &cassandra.Scanner{Session: sess, Keyspace: ks, Table: "user", Key: "id"}
	if err := sc.ScanKeys(ctx, cassandra.Range{Start: cassandra.MinToken, End: cassandra.MaxToken}, func(_ int64, k string) error {
		ids = append(ids, k)
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	// index ids come in no token order: shuffle the scan's order away
	for i := range ids {
		j := int(cassandra.Token(ids[i])&0x7fffffff) % len(ids)
		ids[i], ids[j] = ids[j], ids[i]
	}
	one, err := cassandra.ParseConsistency("LOCAL_ONE")
	if err != nil {
		b.Fatal(err)
	}
	keys := &CassandraKeys{Session: sess, Keyspace: ks, Table: "user", Key: "id", Consistency: one}
	const workers = 4
	run := func(b *testing.B, batch int, check func(ctx context.Context, ids []string) (int, error)) {
		for range b.N {
			var found atomic.Int64
			start := time.Now()
			g, gctx := errgroup.WithContext(ctx)
			g.SetLimit(workers)
			for lo := 0; lo < len(ids); lo += batch {
				chunk := ids[lo:min(lo+batch, len(ids))]
				g.Go(func() error {
					n, err := check(gctx, chunk)
					found.Add(int64(n))
					return err
				})
			}
			if err := g.Wait(); err != nil {
				b.Fatal(err)
			}
			if int(found.Load()) != len(ids) {
				b.Fatalf("found %d of %d", found.Load(), len(ids))
			}
			b.ReportMetric(float64(len(ids))/time.Since(start).Seconds(), "ids/s")
		}
	}
	for _, batch := range []int{50, 100, 200, 500} {
		b.Run(fmt.Sprintf("in-%d", batch), func(b *testing.B) {
			run(b, batch, func(ctx context.Context, ids []string) (int, error) {
				m, err := keys.Existing(ctx, ids)
				return len(m), err
			})
		})
	}
	b.Run("single-64", func(b *testing.B) {
		stmt := fmt.Sprintf(`SELECT id FROM %s.user WHERE id = ?`, ks)
		run(b, 500, func(ctx context.Context, ids []string) (int, error) {
			var n atomic.Int64
			g, gctx := errgroup.WithContext(ctx)
			g.SetLimit(64 / workers)
			for _, id := range ids {
				g.Go(func() error {
					var got string
					err := sess.Query(stmt, id).Idempotent(true).ScanContext(gctx, &got)
					if err == nil {
						n.Add(1)
					}
					return err
				})
			}
			err := g.Wait()
			return int(n.Load()), err
		})
	})
}
