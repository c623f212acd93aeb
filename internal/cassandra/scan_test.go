package cassandra_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/indexsync/indexsync/internal/cassandra"
	"github.com/indexsync/indexsync/internal/testenv"
)

// TestScanWholeTableAndCancel reads a seeded user table across many ranges
// and checks every row arrives once; then a scan whose context is already
// cancelled (what SIGINT does mid-run) returns the context's error rather
// than crashing on a result that has no columns.
func TestScanWholeTableAndCancel(t *testing.T) {
	f := testenv.NewFixture(t, 700, 10, 11)
	ctx := context.Background()
	sc := &cassandra.Scanner{Session: f.Session, Keyspace: f.Keyspace, Table: "user", Key: "id", PageSize: 50}
	whole := cassandra.Range{Start: cassandra.MinToken, End: cassandra.MaxToken}
	seen := map[string]int{}
	for _, r := range cassandra.Split(whole, nil, 16) {
		err := sc.Scan(ctx, r, func(tok int64, row cassandra.Row) error {
			id, _ := row["id"].(string)
			seen[id]++
			return nil
		})
		if err != nil {
			t.Fatalf("scan %s: %v", r, err)
		}
	}
	for _, id := range f.UserIDs() {
		if seen[id] != 1 {
			t.Errorf("user %s scanned %d times, want once", id, seen[id])
		}
	}
	if len(seen) != 700 {
		t.Errorf("scanned %d distinct users, want 700", len(seen))
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	var rows atomic.Int64
	sc.Columns = []string{"id", "firstname"} // so the scan itself meets the cancelled context
	err := sc.Scan(cctx, whole, func(int64, cassandra.Row) error { rows.Add(1); return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("scan with a cancelled context: err = %v, want context.Canceled", err)
	}
	err = sc.ScanKeys(cctx, whole, func(int64, string) error { rows.Add(1); return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("key scan with a cancelled context: err = %v, want context.Canceled", err)
	}
}

// TestPagesSizedByBytes reads real user rows with PageBytes set and checks,
// from the pages the driver fetched, that each holds about PageBytes of
// rows at the width measured here from the rows themselves (a first query
// goes by the assumed width), that no row is lost or repeated, and that
// with byte sizing off (PageBytes < 0) the same scan fetches pages of
// PageSize rows. Our width is an estimate: the bytes Cassandra itself sends
// for each page (its RESULT frames) must be near PageBytes too, and far
// above it with byte sizing off.
func TestPagesSizedByBytes(t *testing.T) {
	const users, pageBytes = 1200, 24 << 10
	f := testenv.NewFixture(t, users, 10, 11)
	ctx := context.Background()
	whole := cassandra.Range{Start: cassandra.MinToken, End: cassandra.MaxToken}
	ranges := cassandra.Split(whole, nil, 4)

	var frames []int // lengths of the RESULT frames of the scan under way
	var framesMu sync.Mutex
	cfg := cassandra.Config{Hosts: []string{f.Cass.Host}, Port: f.Cass.Port, Username: f.Cass.Username, Password: f.Cass.Password,
		Timeout: 30 * time.Second, Consistency: "LOCAL_ONE"}
	cassandra.ObserveResults(&cfg, func(n int) {
		framesMu.Lock()
		defer framesMu.Unlock()
		frames = append(frames, n)
	})
	sess, err := cassandra.Connect(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	largest := func() int {
		framesMu.Lock()
		defer framesMu.Unlock()
		m := slices.Max(append(frames, 0))
		frames = nil
		return m
	}

	scan := func(pb int) (pages [][]int, seen map[string]int, width float64) {
		largest() // forget the frames before this scan
		sc := &cassandra.Scanner{Session: sess, Keyspace: f.Keyspace, Table: "user", Key: "id", PageSize: 1000, PageBytes: pb}
		seen = map[string]int{}
		var bytes, rows int64
		for _, r := range ranges {
			var ps []int
			cassandra.ObservePages(sc, func(n int) { ps = append(ps, n) })
			err := sc.ScanValues(ctx, r, func(_ int64, cols []string, vals []any) error {
				for i, v := range vals {
					if s, ok := v.(string); ok {
						bytes += int64(len(s))
					}
					if cols[i] == "id" {
						seen[v.(string)]++
					}
				}
				bytes += int64(8 * len(cols))
				rows++
				return nil
			})
			if err != nil {
				t.Fatalf("scan %s: %v", r, err)
			}
			pages = append(pages, ps)
		}
		return pages, seen, float64(bytes) / float64(rows)
	}

	pages, seen, width := scan(pageBytes)
	if len(seen) != users {
		t.Errorf("scanned %d distinct users, want %d", len(seen), users)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("user %s scanned %d times, want once", id, n)
		}
	}
	want := pageBytes / width // rows a page should hold
	t.Logf("rows %.0f bytes wide (text and 8 per column): %.1f rows in %d bytes; pages per range %v", width, want, pageBytes, pages)
	for i, ps := range pages[1:] { // the first range goes by the assumed width
		for j, n := range ps {
			last := j == len(ps)-1 // holds what is left of the range
			if float64(n) > want*1.5 || !last && float64(n) < want/2 {
				t.Errorf("range %d page %d: %d rows, want about %.0f (PageBytes %d at %.0f bytes a row)", i+1, j, n, want, pageBytes, width)
			}
		}
	}

	m := largest()
	t.Logf("largest page Cassandra sent: %d bytes (PageBytes %d)", m, pageBytes)
	if m > pageBytes*3/2 || m < pageBytes/2 {
		t.Errorf("largest page Cassandra sent: %d bytes; want about PageBytes, %d", m, pageBytes)
	}

	pages, _, _ = scan(-1)
	for i, ps := range pages {
		if len(ps) == 0 || float64(ps[0]) < 2*want { // a range holds about 300 users
			t.Errorf("with byte sizing off, range %d pages %v: want pages of up to 1,000 rows", i, ps)
		}
	}
	m = largest()
	t.Logf("largest page Cassandra sent with byte sizing off: %d bytes", m)
	if m < 2*pageBytes {
		t.Errorf("largest page Cassandra sent with byte sizing off: %d bytes; want over %d (else the check above proves nothing)", m, 2*pageBytes)
	}
}
