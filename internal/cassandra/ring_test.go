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

// TestRouterKeysHashIntoTheirRange: the routing key of a range made by Split
// hashes to a token of the same stretch of the ring as the whole range, so the
// driver's token-aware policy sends the scan to the range's own replicas.
func TestRouterKeysHashIntoTheirRange(t *testing.T) {
	ring := []int64{-9e18, -3e18, 0, 4e18, 4e18 + 1, 5e18, 9e18} // (4e18, 4e18+1]: a stretch one token wide
	r := newRouter(ring)
	for _, rg := range Split(Range{MinToken, MaxToken}, ring, 300) {
		k := r.key(rg)
		if rg.End == 4e18+1 {
			if k != nil && Token(string(k)) != rg.End {
				t.Errorf("range %s: key %q hashes to %d", rg, k, Token(string(k)))
			}
			continue // no key hashes to it within the search bound: unrouted, and that is fine
		}
		if k == nil {
			t.Fatalf("range %s has no routing key", rg)
		}
		got, want := r.stretch(Token(string(k))), r.stretch(rg.End)
		if got != want || r.stretch(rg.Start+1) != want {
			t.Errorf("range %s: key %q hashes into stretch %d, the range lies in %d", rg, k, got, want)
		}
	}
	// the wrapping stretch: above the last token and up to the first
	for _, rg := range []Range{{9e18, MaxToken}, {MinToken, -9e18}} {
		if s := r.stretch(Token(string(r.key(rg)))); s != 0 {
			t.Errorf("range %s: key in stretch %d, want 0 (the wrapping one)", rg, s)
		}
	}
	var none *router
	if none.key(Range{0, 1}) != nil {
		t.Error("no ring, no routing key")
	}
}
