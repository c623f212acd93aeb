package cassandra_test

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/indexsync/indexsync/internal/cassandra"
	"github.com/indexsync/indexsync/internal/testenv"
)

// TestScanSpreadsOverTheCluster: on the three-node cluster, a scan of a table
// at RF 3 cut by Split at the cluster's tokens sends each range query to a
// replica that owns the range (the first in ring order, route.go), so the
// scan is spread over the three nodes in proportion to what each owns, and
// every range is read where it is coordinated. The figures come from each
// node's own table metrics (system_views.coordinator_scan_latency: range
// queries the node coordinated; local_scan_latency: range reads it served),
// read before and after the scan.
func TestScanSpreadsOverTheCluster(t *testing.T) {
	c := testenv.Cluster(t)
	ctx := context.Background()
	ks := testenv.Name("spread")
	sess := c.Connect(t, "", "LOCAL_ONE")
	if err := sess.Exec(ctx, "CREATE KEYSPACE "+ks+" WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sess.Exec(context.Background(), "DROP KEYSPACE IF EXISTS "+ks) })
	if err := sess.Exec(ctx, "CREATE TABLE "+ks+".t (id text PRIMARY KEY, v text)"); err != nil {
		t.Fatal(err)
	}
	const rows = 3000
	var g errgroup.Group
	g.SetLimit(32)
	for i := range rows {
		g.Go(func() error {
			return sess.Exec(ctx, "INSERT INTO "+ks+".t (id, v) VALUES (?, ?)", fmt.Sprintf("row-%05d", i), "x")
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}

	owners := tokenOwners(t, sess) // ring token → the address of the node that owns it
	ring := make([]int64, 0, len(owners))
	for tok := range owners {
		ring = append(ring, tok)
	}
	ranges := cassandra.Split(cassandra.Range{Start: cassandra.MinToken, End: cassandra.MaxToken}, ring, 256)
	want := map[string]int{} // range queries per node, if each goes to the range's first replica
	for _, r := range ranges {
		want[owners[ownerToken(ring, r.End)]]++
	}

	before := scanMetrics(t, sess, ks)
	sc := &cassandra.Scanner{Session: sess, Keyspace: ks, Table: "t", Key: "id"}
	seen := 0
	for _, r := range ranges {
		if err := sc.ScanKeys(ctx, r, func(int64, string) error { seen++; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if seen != rows {
		t.Fatalf("scanned %d rows, want %d", seen, rows)
	}
	after := scanMetrics(t, sess, ks)

	nodes := make([]string, 0, len(after))
	for n := range after {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	if len(nodes) != 3 {
		t.Fatalf("metrics from %d nodes (%v), want 3", len(nodes), nodes)
	}
	t.Logf("%d ranges over %d ring tokens; %d rows", len(ranges), len(ring), rows)
	t.Logf("%-10s %14s %20s %18s", "node", "ranges owned", "scans coordinated", "range reads served")
	for _, n := range nodes {
		coord := after[n].coordinated - before[n].coordinated
		served := after[n].served - before[n].served
		t.Logf("%-10s %14d %20d %18d", n, want[n], coord, served)
		switch {
		case coord == 0:
			t.Errorf("node %s coordinated no range query: the scan did not reach it", n)
		case coord < int64(want[n]):
			t.Errorf("node %s coordinated %d range queries, want the %d ranges it owns first", n, coord, want[n])
		case served != coord:
			t.Errorf("node %s coordinated %d range queries but served %d range reads: queries went to nodes that do not own their range first", n, coord, served)
		}
	}
}

// tokenOwners maps every ring token to the address of the node that has it,
// each node asked about itself.
func tokenOwners(t *testing.T, sess *cassandra.Session) map[int64]string {
	t.Helper()
	out := map[int64]string{}
	for _, h := range sess.GetHosts() {
		var toks []string
		if err := sess.Query("SELECT tokens FROM system.local").SetHostID(h.HostID()).Scan(&toks); err != nil {
			t.Fatalf("tokens of %s: %v", h.ConnectAddress(), err)
		}
		for _, s := range toks {
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			out[v] = h.ConnectAddress().String()
		}
	}
	return out
}

// ownerToken is the ring token whose node owns t first: the first one ≥ t,
// wrapping around.
func ownerToken(ring []int64, t int64) int64 {
	sorted := append([]int64(nil), ring...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	for _, r := range sorted {
		if r >= t {
			return r
		}
	}
	return sorted[0]
}

type scanCounts struct{ coordinated, served int64 }

// scanMetrics reads, from each node, how many range queries on ks.t it has
// coordinated and how many range reads of ks.t it has served.
func scanMetrics(t *testing.T, sess *cassandra.Session, ks string) map[string]scanCounts {
	t.Helper()
	out := map[string]scanCounts{}
	for _, h := range sess.GetHosts() {
		var c scanCounts
		for table, dst := range map[string]*int64{"coordinator_scan_latency": &c.coordinated, "local_scan_latency": &c.served} {
			err := sess.Query("SELECT count FROM system_views."+table+" WHERE keyspace_name = ? AND table_name = 't'", ks).
				SetHostID(h.HostID()).Scan(dst)
			if err != nil {
				t.Fatalf("system_views.%s on %s: %v", table, h.ConnectAddress(), err)
			}
		}
		out[h.ConnectAddress().String()] = c
	}
	return out
}

// TestEstimateAsksEveryNode: each node keeps size estimates only for the
// ranges it is the first replica of, so the estimate of a table must add up
// every node's. The table flushes every second (memtable_flush_period_in_ms)
// and the test cluster records estimates every 10 s, so they come within a
// minute.
func TestEstimateAsksEveryNode(t *testing.T) {
	c := testenv.Cluster(t)
	ctx := context.Background()
	ks := testenv.Name("est")
	sess := c.Connect(t, "", "ALL")
	if err := sess.Exec(ctx, "CREATE KEYSPACE "+ks+" WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sess.Exec(context.Background(), "DROP KEYSPACE IF EXISTS "+ks) })
	if err := sess.Exec(ctx, "CREATE TABLE "+ks+".t (id text PRIMARY KEY, v text) WITH memtable_flush_period_in_ms = 1000"); err != nil {
		t.Fatal(err)
	}
	const rows = 4000
	var g errgroup.Group
	g.SetLimit(32)
	for i := range rows {
		g.Go(func() error {
			return sess.Exec(ctx, "INSERT INTO "+ks+".t (id, v) VALUES (?, ?)", fmt.Sprintf("row-%05d", i), "x")
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	whole := []cassandra.Range{{Start: cassandra.MinToken, End: cassandra.MaxToken}}
	var est int64
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		var err error
		if est, err = sess.EstimatePartitions(ctx, ks, "t", whole); err != nil {
			t.Fatal(err)
		}
		if est >= rows*3/4 && est <= rows*5/4 {
			break
		}
		time.Sleep(2 * time.Second)
	}
	perNode := map[string]int64{}
	for _, h := range sess.GetHosts() {
		iter := sess.Query("SELECT partitions_count FROM system.size_estimates WHERE keyspace_name = ? AND table_name = 't'", ks).
			SetHostID(h.HostID()).Iter()
		var n int64
		for iter.Scan(&n) {
			perNode[h.ConnectAddress().String()] += n
		}
		if err := iter.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d rows; estimate from every node %d; each node's own estimate %v", rows, est, perNode)
	if est < rows*3/4 || est > rows*5/4 {
		t.Errorf("estimate %d for %d rows, want within 25%%", est, rows)
	}
}
