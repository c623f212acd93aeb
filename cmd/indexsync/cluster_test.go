package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/indexsync/indexsync/internal/cassandra"
	"github.com/indexsync/indexsync/internal/search"
	"github.com/indexsync/indexsync/internal/syncapi"
	"github.com/indexsync/indexsync/internal/testenv"
)

// clusterStack is a private corner of the three-node cluster (a keyspace at
// RF 3) and of the search engine (aliases under prefixes of its own).
type clusterStack struct {
	c        testenv.ClusterAddr
	search   string
	keyspace string
	prefixes []string
	sess     *cassandra.Session // LOCAL_ONE, no keyspace bound
}

// newClusterStack creates the keyspace at RF 3 with Sunbird's tables, and the
// three indexes under each of n alias prefixes.
func newClusterStack(t *testing.T, n int) *clusterStack {
	t.Helper()
	s := &clusterStack{c: testenv.Cluster(t), search: testenv.SearchURL(t), keyspace: testenv.Name("cl")}
	t.Setenv("INDEXSYNC_CASSANDRA_PASSWORD", s.c.Password.Reveal())
	s.sess = s.c.Connect(t, "", "LOCAL_ONE")
	t.Cleanup(func() {
		_ = s.sess.Query("DROP KEYSPACE IF EXISTS " + s.keyspace).Exec()
		s.dropIndexes()
	})
	args := append([]string{"schema", "--replication", "3", "--skip-search"}, s.c.Args(s.keyspace)...)
	if _, stderr, code := runCmd(t, args...); code != 0 {
		t.Fatalf("schema --replication 3: exit %d: %s", code, stderr)
	}
	for range n {
		p := testenv.Name("cl")
		s.prefixes = append(s.prefixes, p)
		args := append([]string{"schema", "--skip-cassandra", "--index-shards", "1", "--index-replicas", "0"}, s.c.Args(s.keyspace)...)
		if _, stderr, code := runCmd(t, append(args, s.searchArgs(p)...)...); code != 0 {
			t.Fatalf("schema --skip-cassandra: exit %d: %s", code, stderr)
		}
	}
	return s
}

func (s *clusterStack) searchArgs(prefix string) []string {
	return []string{
		"--search-url", s.search,
		"--user-index", prefix + "_user", "--org-index", prefix + "_org", "--location-index", prefix + "_location",
	}
}

// args are the cluster's and the search engine's flags for one prefix.
func (s *clusterStack) args(prefix string) []string {
	return append(s.c.Args(s.keyspace), s.searchArgs(prefix)...)
}

func (s *clusterStack) client(t *testing.T) *search.Client {
	t.Helper()
	c, err := search.NewClient(search.Config{URLs: []string{s.search}, Retries: 2})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (s *clusterStack) dropIndexes() {
	c, err := search.NewClient(search.Config{URLs: []string{s.search}})
	if err != nil {
		return
	}
	ctx := context.Background()
	for _, p := range s.prefixes {
		for _, a := range []string{"_user", "_org", "_location"} {
			indices, _ := c.GetAlias(ctx, p+a)
			for _, ix := range indices {
				_ = c.DeleteIndex(ctx, ix)
			}
		}
	}
}

// primaryOwners maps every ring token to the node (1-based, by address) that
// owns it, from the driver's view of the ring.
func (s *clusterStack) primaryOwners(t *testing.T) (tokens []int64, owner map[int64]int) {
	t.Helper()
	owner = map[int64]int{}
	for _, h := range s.sess.GetHosts() {
		node := 0
		for i, a := range s.c.Hosts {
			if h.ConnectAddress().String() == a {
				node = i + 1
			}
		}
		if node == 0 {
			t.Fatalf("host %s is not one of %v", h.ConnectAddress(), s.c.Hosts)
		}
		for _, tok := range h.Tokens() {
			v, err := strconv.ParseInt(tok, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			tokens = append(tokens, v)
			owner[v] = node
		}
	}
	sort.Slice(tokens, func(i, j int) bool { return tokens[i] < tokens[j] })
	return tokens, owner
}

// idsOwnedBy returns n ids of the form prefix-<i> whose first replica in
// ring order is node: with SimpleSnitch and no dynamic snitch (the test
// cluster's cassandra.yaml), a read at ONE of such an id, or of a range
// holding it, is served by that node.
func (s *clusterStack) idsOwnedBy(t *testing.T, node, n int, prefix string) []string {
	t.Helper()
	tokens, owner := s.primaryOwners(t)
	var out []string
	for i := 0; len(out) < n; i++ {
		id := fmt.Sprintf("%s-%d", prefix, i)
		tok := cassandra.Token(id)
		j := sort.Search(len(tokens), func(j int) bool { return tokens[j] >= tok })
		if j == len(tokens) {
			j = 0
		}
		if owner[tokens[j]] == node {
			out = append(out, id)
		}
	}
	return out
}

// TestVerifyDeleteOrphansRechecksAtQuorum: a user whose row one replica
// missed looks like an orphan to a scan at LOCAL_ONE served by that replica.
// `verify --delete-orphans` checks again before deleting; at ONE (as it did
// before --delete-consistency: at the scan's own level) that check asks the
// same stale replica and deletes a real user's document. At LOCAL_QUORUM,
// the default, it finds the row on a replica that has it and keeps the
// document.
//
// The stale replica: node 2 is stopped, the users are written at QUORUM (to
// nodes 1 and 3), node 2 comes back; hinted handoff is off in the test
// cluster, so node 2 stays without them. The users are chosen so that node 2
// is the first replica of their tokens, the one a read at ONE goes to
// (SimpleSnitch, no dynamic snitch, no speculative retry on the table).
func TestVerifyDeleteOrphansRechecksAtQuorum(t *testing.T) {
	s := newClusterStack(t, 2)
	ctx := context.Background()
	for _, table := range []string{"user", "user_organisation", "user_roles"} {
		if err := s.sess.Exec(ctx, "ALTER TABLE "+s.keyspace+"."+table+" WITH speculative_retry = 'NONE'"); err != nil {
			t.Fatal(err)
		}
	}
	ids := s.idsOwnedBy(t, 2, 2, "user-node2")

	s.c.Stack(t, "down", testenv.Node(2))
	stopped := true
	t.Cleanup(func() {
		if stopped {
			s.c.Stack(t, "up", testenv.Node(2))
		}
	})
	w := s.c.Connect(t, "", "QUORUM")
	for _, id := range ids {
		if err := w.Exec(ctx, "INSERT INTO "+s.keyspace+".user (id, firstname, userid) VALUES (?, ?, ?)", id, "Ananya", id); err != nil {
			t.Fatalf("write %s at QUORUM with node 2 down: %v", id, err)
		}
	}
	s.c.Stack(t, "up", testenv.Node(2))
	stopped = false

	// The premise: a read at ONE is served by node 2, which has no row.
	one := s.c.Connect(t, "", "ONE")
	for _, id := range ids {
		var n int
		if err := one.Query("SELECT count(*) FROM "+s.keyspace+".user WHERE id = ?", id).ScanContext(ctx, &n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("premise: a read at ONE of %s found its row, so it was not served by node 2, the replica that missed it", id)
		}
	}

	c := s.client(t)
	for i, tc := range []struct {
		name        string
		flags       []string
		wantDeleted bool
	}{
		{"check at ONE deletes a real user", []string{"--delete-consistency", "ONE"}, true},
		{"check at LOCAL_QUORUM (the default) keeps the user", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, alias := ids[i], s.prefixes[i]+"_user"
			res, err := c.Bulk(ctx, alias, []search.BulkItem{{ID: id, Op: search.OpIndex, Doc: []byte(`{"identifier":"` + id + `","firstName":"Ananya"}`)}})
			if err != nil || !res[0].OK {
				t.Fatalf("index %s: %v %+v", id, err, res)
			}
			dir := t.TempDir()
			args := append(append([]string{"verify", "--delete-orphans", "--state-dir", dir}, tc.flags...), s.args(s.prefixes[i])...)
			out, stderr, code := runCmd(t, args...)
			t.Logf("verify --delete-orphans %v: exit %d\n%s%s", tc.flags, code, out, stderr)
			rep := readVerifyFile(t, dir)
			if rep.Orphans != 1 || len(rep.OrphanIDs) != 1 || rep.OrphanIDs[0] != id {
				t.Fatalf("premise: the scan at LOCAL_ONE should see %s as an orphan; orphans %v", id, rep.OrphanIDs)
			}
			got, err := c.MGet(ctx, alias, []string{id})
			if err != nil {
				t.Fatal(err)
			}
			_, kept := got[id]
			switch {
			case tc.wantDeleted && kept:
				t.Errorf("the check at ONE kept %s: the test does not reach the stale replica, so it proves nothing", id)
			case !tc.wantDeleted && !kept:
				t.Errorf("verify --delete-orphans deleted the document of %s, a user Cassandra has (on 2 of 3 replicas)", id)
			case !tc.wantDeleted && (rep.Repair == nil || rep.Repair.Kept != 1 || rep.Repair.Deleted != 0):
				t.Errorf("repair %+v, want 1 orphan kept and none deleted", rep.Repair)
			}
		})
	}
	// The check at quorum repaired node 2 on the way: a read at ONE finds the
	// kept user now.
	var n int
	if err := one.Query("SELECT count(*) FROM "+s.keyspace+".user WHERE id = ?", ids[1]).ScanContext(ctx, &n); err != nil || n != 1 {
		t.Errorf("after the check at quorum, a read at ONE of %s finds %d rows (%v), want 1 (read repair)", ids[1], n, err)
	}
}

func TestDeleteConsistencyUsage(t *testing.T) {
	for _, v := range []string{"SOMETIMES", "ANY", ""} {
		_, stderr, code := runCmd(t, "verify", "--delete-consistency", v)
		if code != exitUsage || !strings.Contains(stderr, "--delete-consistency") {
			t.Errorf("--delete-consistency %q: exit %d, stderr %q; want exit %d naming the flag", v, code, stderr, exitUsage)
		}
	}
}

// TestRunNodeStoppedMidScan: runs over an RF-3 keyspace at LOCAL_ONE go on
// when a node dies in the middle of them and finish with nothing missing, as
// verify shows (run with the node still down): the driver sends the range
// reads of the dead node to the other replicas, and what failed in flight is
// read again from where it stopped. A run --target search and a run --target
// api (through indexsync serve, which reads by id from the same cluster) go
// at once; node 1 — the seed, and the first contact point — is killed
// (SIGKILL: connections reset, queries in flight fail, the other nodes take
// some seconds to notice) once each has synced a tenth of the users.
func TestRunNodeStoppedMidScan(t *testing.T) {
	const users, node = 5000, 1
	s := newClusterStack(t, 2)
	// Seeded at ALL: every replica has every row, so a read at ONE from any
	// of them sees all (with hinted handoff off, a mutation a replica dropped
	// under load would stay missing there).
	args := append([]string{"seed", "--users", strconv.Itoa(users), "--seed", "23", "--cassandra-consistency", "ALL"}, s.c.Args(s.keyspace)...)
	if _, stderr, code := runCmd(t, args...); code != 0 {
		t.Fatalf("seed: exit %d: %s", code, stderr)
	}
	type job struct {
		target, prefix, dir string
		out, errb           strings.Builder
		done                chan error
	}
	var jobs []*job
	for i, target := range []string{"search", "api"} {
		j := &job{target: target, prefix: s.prefixes[i], dir: t.TempDir(), done: make(chan error, 1)}
		// rates that keep both runs going for some 20 s, so that the node
		// dies in the middle of both
		args := append([]string{"run", "--target", target, "--progress", "never", "--state-dir", j.dir}, s.args(j.prefix)...)
		if target == "search" {
			args = append(args, "--rate", "200")
		} else {
			args = append(args, "--rate", "400", "--api-endpoint", s.startServe(t, j.prefix), "--concurrency", "4", "--block-size", "100")
		}
		cmd := exec.Command(binary(t), args...)
		cmd.Env = append(os.Environ(), append(s.c.Env(), "INDEXSYNC_API_KEY="+apiKey)...)
		cmd.Stdout, cmd.Stderr = &j.out, &j.errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		go func() { j.done <- cmd.Wait() }()
		jobs = append(jobs, j)
	}
	for _, j := range jobs {
		waitFor(t, 120*time.Second, "a tenth of the users synced by run --target "+j.target, func() bool { return succeededInCheckpoint(j.dir) >= users/10 })
	}
	s.c.Stack(t, "kill", testenv.Node(node))
	t.Cleanup(func() { s.c.Stack(t, "up", testenv.Node(node)) })
	atStop := map[string]int{}
	for _, j := range jobs {
		atStop[j.target] = succeededInCheckpoint(j.dir)
	}
	t.Logf("node %d killed with %v of %d users synced", node, atStop, users)

	for _, j := range jobs {
		t.Run(j.target, func(t *testing.T) {
			var err error
			select {
			case err = <-j.done:
			case <-time.After(5 * time.Minute):
				t.Fatalf("run --target %s did not finish in 5 minutes\n%s%s", j.target, j.out.String(), j.errb.String())
			}
			t.Logf("run --target %s: %v\n%s\n%s", j.target, err, lastLines(j.out.String(), 3), lastLines(j.errb.String(), 8))
			if err != nil {
				t.Fatalf("run --target %s with node %d killed mid-scan failed: %v", j.target, node, err)
			}
			if atStop[j.target] >= users {
				t.Fatalf("the run was done before node %d died: not a stop mid-scan", node)
			}
			sum := readSummary(t, j.dir)
			if sum.Succeeded != users || sum.Failed != 0 {
				t.Errorf("summary: %d succeeded, %d failed; want %d, 0", sum.Succeeded, sum.Failed, users)
			}
			vdir := t.TempDir()
			vout, verr, code := runCmd(t, append([]string{"verify", "--state-dir", vdir}, s.args(j.prefix)...)...)
			t.Logf("verify with node %d still down: exit %d\n%s%s", node, code, vout, lastLines(verr, 2))
			rep := readVerifyFile(t, vdir)
			if code != 0 || rep.CassandraDocs != users || rep.Missing+rep.Stale+rep.Orphans != 0 {
				t.Errorf("verify: exit %d, %d users in Cassandra, %d missing, %d stale, %d orphans; want 0, %d, 0, 0, 0",
					code, rep.CassandraDocs, rep.Missing, rep.Stale, rep.Orphans, users)
			}
		})
	}
}

// startServe runs `indexsync serve` over the cluster and the prefix's
// indexes and returns its sync URL once /health answers.
func (s *clusterStack) startServe(t *testing.T, prefix string) string {
	t.Helper()
	p := startServeProc(t, append([]string{"--state-dir", t.TempDir()}, s.args(prefix)...), s.c.Env(), "http", nil)
	return "http://" + p.addr + syncapi.RouteSync
}

// lastLines is the end of a long output, for the log.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{"…"}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
