package cassandra

import (
	"math/big"
	"testing"
)

// covers checks that ranges tile within exactly: contiguous, in order, no gaps.
func covers(t *testing.T, within Range, rs []Range) {
	t.Helper()
	if len(rs) == 0 {
		t.Fatal("no ranges")
	}
	if rs[0].Start != within.Start || rs[len(rs)-1].End != within.End {
		t.Fatalf("ranges span (%d,%d], want %s", rs[0].Start, rs[len(rs)-1].End, within)
	}
	for i := 1; i < len(rs); i++ {
		if rs[i].Start != rs[i-1].End {
			t.Fatalf("gap or overlap between %s and %s", rs[i-1], rs[i])
		}
		if rs[i].Start >= rs[i].End {
			t.Fatalf("empty range %s", rs[i])
		}
	}
}

func TestShardsTileTheRing(t *testing.T) {
	for _, n := range []int{1, 2, 3, 4, 7, 64} {
		var all []Range
		for i := range n {
			all = append(all, Shard(i, n))
		}
		covers(t, Range{MinToken, MaxToken}, all)
	}
}

func TestSplit(t *testing.T) {
	ring := []int64{-9e18, -3e18, 0, 42, 5e18}
	whole := Range{MinToken, MaxToken}
	rs := Split(whole, ring, 1)
	covers(t, whole, rs)
	if len(rs) != 6 {
		t.Errorf("split at 5 tokens gives %d ranges, want 6", len(rs))
	}
	rs = Split(whole, ring, 256)
	covers(t, whole, rs)
	if len(rs) < 200 || len(rs) > 300 {
		t.Errorf("target 256 gave %d ranges", len(rs))
	}
	// Within a shard, only the ring tokens inside it cut.
	sh := Shard(1, 4)
	rs = Split(sh, ring, 1)
	covers(t, sh, rs)
	for _, r := range rs {
		w := new(big.Int).Sub(big.NewInt(r.End), big.NewInt(r.Start))
		if w.Sign() <= 0 {
			t.Errorf("bad range %s", r)
		}
	}
	// A tiny range cannot be split finer than its tokens.
	tiny := Range{10, 13}
	covers(t, tiny, Split(tiny, nil, 100))
}
