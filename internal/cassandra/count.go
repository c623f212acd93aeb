package cassandra

import (
	"context"
	"errors"
	"fmt"
	"math"

	"golang.org/x/sync/errgroup"
)

// EstimatePartitions returns Cassandra's own estimate of the partitions of a
// table in the ranges (system.size_estimates, refreshed every few minutes;
// read once); 0 when it has none.
//
// Each node records estimates only for the ranges it is the first replica
// of (Cassandra 4.0 on; 3.x, for every range it holds), and answers with its
// own table: so every node that is up is asked, and a range listed by
// several counts once. Asking one node gave a third of the users on the
// three-node test cluster (3,847 of 10,000).
func (s *Session) EstimatePartitions(ctx context.Context, keyspace, table string, rs []Range) (int64, error) {
	type span struct{ start, end string }
	counts := map[span]int64{}
	var errs []error
	asked := 0
	for _, h := range s.GetHosts() {
		if !h.IsUp() {
			continue
		}
		iter := s.Query(`SELECT range_start, range_end, partitions_count FROM system.size_estimates WHERE keyspace_name = ? AND table_name = ?`,
			keyspace, table).SetHostID(h.HostID()).IterContext(ctx)
		var (
			sp    span
			count int64
		)
		for iter.Scan(&sp.start, &sp.end, &count) {
			counts[sp] = max(counts[sp], count)
		}
		if err := iter.Close(); err != nil {
			errs = append(errs, fmt.Errorf("size estimates of %s: %w", h.ConnectAddress(), err))
			continue
		}
		asked++
	}
	if asked == 0 {
		return 0, errors.Join(append(errs, errors.New("no node answered"))...)
	}
	var total float64
	for sp, count := range counts {
		var st, en int64
		if _, err := fmt.Sscan(sp.start, &st); err != nil {
			continue
		}
		if _, err := fmt.Sscan(sp.end, &en); err != nil {
			continue
		}
		for _, r := range rs {
			total += float64(count) * overlap(Range{Start: st, End: en}, r)
		}
	}
	return int64(math.Round(total)), nil
}

// countPage is the page size of a count: Cassandra counts in pages of the
// query's page size, each read in full and serialized into one heap buffer
// as a data page is (see Scanner.PageBytes). The driver's default, 5,000
// Sunbird user rows, makes buffers of up to 8 MiB; 100 rows stay near
// 128 KiB.
const countPage = 100

// CountPartitions counts the partitions of a table in each range, exactly
// (count(*) per range, conc queries at a time), and returns the sum.
func (s *Session) CountPartitions(ctx context.Context, keyspace, table, key string, ranges []Range, conc int) (int64, error) {
	stmt := fmt.Sprintf("SELECT count(*) FROM %s.%s WHERE token(%s) > ? AND token(%s) <= ?", keyspace, table, key, key)
	counts := make([]int64, len(ranges))
	router := s.router(ctx)
	eg, gctx := errgroup.WithContext(ctx)
	eg.SetLimit(max(conc, 1))
	for i, r := range ranges {
		eg.Go(func() error {
			q := s.Query(stmt, r.Start, r.End).PageSize(countPage)
			if k := router.key(r); k != nil {
				q = q.RoutingKey(k) // to a replica of the range (route.go)
			}
			return q.ScanContext(gctx, &counts[i])
		})
	}
	if err := eg.Wait(); err != nil {
		return 0, fmt.Errorf("count %s.%s: %w", keyspace, table, err)
	}
	var total int64
	for _, c := range counts {
		total += c
	}
	return total, nil
}

// overlap is the fraction of a that lies in b (a may wrap around the ring).
func overlap(a, b Range) float64 {
	if a.End <= a.Start { // wrapping range: split it
		return overlapWeighted(Range{Start: a.Start, End: MaxToken}, b, a) +
			overlapWeighted(Range{Start: MinToken, End: a.End}, b, a)
	}
	return overlapWeighted(a, b, a)
}

func overlapWeighted(part, b, whole Range) float64 {
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
