package cassandra_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

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
