package cassandra

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
)

// Range is a half-open slice of the Murmur3 token ring: tokens t with
// Start < t ≤ End. MinToken never belongs to a partition (the partitioner
// maps it to MaxToken), so (MinToken, MaxToken] is the whole ring.
type Range struct {
	Start int64 `json:"start"`
	End   int64 `json:"end"`
}

// Ring bounds.
const (
	MinToken int64 = math.MinInt64
	MaxToken int64 = math.MaxInt64
)

func (r Range) String() string { return fmt.Sprintf("(%d,%d]", r.Start, r.End) }

// Contains reports whether token t is in r.
func (r Range) Contains(t int64) bool { return t > r.Start && t <= r.End }

// span returns End-Start as a big integer (it can exceed int64).
func (r Range) span() *big.Int {
	return new(big.Int).Sub(big.NewInt(r.End), big.NewInt(r.Start))
}

// splitEven cuts r into n ranges of nearly equal width.
func (r Range) splitEven(n int) []Range {
	if n <= 1 {
		return []Range{r}
	}
	span := r.span()
	if span.Cmp(big.NewInt(int64(n))) < 0 {
		n = int(span.Int64())
		if n <= 1 {
			return []Range{r}
		}
	}
	out := make([]Range, 0, n)
	start := r.Start
	for i := 1; i <= n; i++ {
		var end int64
		if i == n {
			end = r.End
		} else {
			off := new(big.Int).Mul(span, big.NewInt(int64(i)))
			off.Quo(off, big.NewInt(int64(n)))
			end = new(big.Int).Add(big.NewInt(r.Start), off).Int64()
		}
		out = append(out, Range{Start: start, End: end})
		start = end
	}
	return out
}

// Shard returns the I-th of N equal, disjoint slices of the whole ring
// (0 ≤ i < n). The slices depend only on i and n, never on the cluster, so N
// processes agree on them without talking to each other.
func Shard(i, n int) Range {
	return Range{Start: MinToken, End: MaxToken}.splitEven(n)[i]
}

// Split cuts the part of the ring inside within into ranges for parallel
// scanning: first at the cluster's own token boundaries (so each range lives
// on one replica set), then evenly until there are at least target ranges.
// ringTokens may be empty (unknown topology).
func Split(within Range, ringTokens []int64, target int) []Range {
	cuts := slices.Clone(ringTokens)
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)
	var base []Range
	start := within.Start
	for _, t := range cuts {
		if t > start && t < within.End {
			base = append(base, Range{Start: start, End: t})
			start = t
		}
	}
	base = append(base, Range{Start: start, End: within.End})
	if target <= len(base) {
		return base
	}
	// Give each base range a share of the target in proportion to its width.
	total := within.span()
	var out []Range
	for _, b := range base {
		share := new(big.Int).Mul(b.span(), big.NewInt(int64(target)))
		share.Quo(share, total)
		out = append(out, b.splitEven(max(1, int(share.Int64())))...)
	}
	return out
}

// RingTokens returns every node's tokens as the driver knows them: the ring
// its token-aware routing uses (read by its control connection from one
// node's system.local and system.peers). Asking system.local and
// system.peers ourselves could land the two queries on different nodes and
// leave a node's tokens out.
func (s *Session) RingTokens(ctx context.Context) ([]int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var all []int64
	for _, h := range s.GetHosts() {
		for _, t := range h.Tokens() {
			v, err := strconv.ParseInt(t, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("token %q of %s is not a Murmur3 token (indexsync needs the Murmur3Partitioner): %w", t, h.ConnectAddress(), err)
			}
			all = append(all, v)
		}
	}
	if len(all) == 0 {
		return nil, errors.New("the driver knows no token of any node")
	}
	return all, nil
}
