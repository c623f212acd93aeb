package cassandra

import (
	"context"
	"slices"
	"sort"
	"strconv"
	"sync"
)

// Routing range scans to a replica.
//
// The driver routes a query to a replica of its data only when it knows the
// query's partition key (the routing key) and hashes it to a token. A range
// scan, `WHERE token(id) > ? AND token(id) <= ?`, binds no key, so the driver
// would send it to any node (round robin), which then reads the range from
// its replicas: one more network hop for every page, and a coordinator that
// may hold none of the data. So every range query carries a routing key of
// our choosing: a short string whose token lies in the same stretch of the
// ring between two of the cluster's tokens as the range (Split cuts the ring
// at those tokens, so a whole range has one replica set). The driver's
// token-aware policy then sends the query to the first live replica of that
// stretch, and to the next ones if it is down.
//
// Such keys are found by hashing "r0", "r1", … until every stretch has one:
// for 3 nodes of 16 tokens about 300 hashes, for 100 nodes of 256 tokens a
// few hundred thousand (a few milliseconds), once per session.

// maxRouteTries bounds the search for routing keys: a stretch narrower than
// about one 4-millionth of the ring may be left without one (its ranges are
// then routed like any other query).
const maxRouteTries = 1 << 22

// router holds one routing key per stretch of the ring.
type router struct {
	tokens []int64  // the cluster's tokens, sorted
	keys   [][]byte // keys[i] hashes into (tokens[i-1], tokens[i]]; keys[0] into the wrapping stretch
}

// newRouter finds routing keys for the stretches the tokens cut the ring into.
func newRouter(ring []int64) *router {
	toks := slices.Clone(ring)
	slices.Sort(toks)
	toks = slices.Compact(toks)
	r := &router{tokens: toks, keys: make([][]byte, len(toks))}
	missing := len(toks)
	for i := 0; missing > 0 && i < maxRouteTries; i++ {
		k := "r" + strconv.Itoa(i)
		s := r.stretch(Token(k))
		if r.keys[s] == nil {
			r.keys[s] = []byte(k)
			missing--
		}
	}
	return r
}

// stretch is the index of the ring token that owns t: the first one ≥ t,
// wrapping to the first.
func (r *router) stretch(t int64) int {
	i := sort.Search(len(r.tokens), func(i int) bool { return r.tokens[i] >= t })
	if i == len(r.tokens) {
		return 0
	}
	return i
}

// key is a routing key for the tokens of rg: one that hashes into the
// stretch holding rg's end (all of rg when rg does not cross a ring token, as
// ranges made by Split never do). Nil when the ring is unknown.
func (r *router) key(rg Range) []byte {
	if r == nil || len(r.tokens) == 0 {
		return nil
	}
	return r.keys[r.stretch(rg.End)]
}

// routes is the session's router, made on first use from the ring's tokens.
// When the tokens cannot be read the scans go unrouted; the next call tries
// again.
type routes struct {
	mu sync.Mutex
	r  *router
}

func (s *Session) router(ctx context.Context) *router {
	s.routes.mu.Lock()
	defer s.routes.mu.Unlock()
	if s.routes.r == nil {
		ring, err := s.RingTokens(ctx)
		if err != nil || len(ring) == 0 {
			return nil
		}
		s.routes.r = newRouter(ring)
	}
	return s.routes.r
}
