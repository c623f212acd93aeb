package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/indexsync/indexsync/internal/search"
	"github.com/indexsync/indexsync/internal/testenv"
)

// verifyFile is the part of verify_<ms>.json the tests read.
type verifyFile struct {
	ObjectType    string `json:"objectType"`
	Index         string `json:"index"`
	Complete      bool   `json:"complete"`
	CassandraDocs int64  `json:"cassandraDocs"`
	IndexDocs     int64  `json:"indexDocs"`
	Missing       int    `json:"missing"`
	Stale         int    `json:"stale"`
	Orphans       int    `json:"orphans"`
	StaleDiffs    []struct {
		ID     string   `json:"id"`
		Fields []string `json:"fields"`
	} `json:"staleDiffs"`
	MissingIDs   []string `json:"missingIds"`
	StaleIDs     []string `json:"staleIds"`
	OrphanIDs    []string `json:"orphanIds"`
	RemainingIDs []string `json:"remainingIds"`
	Remaining    int      `json:"remaining"`
	ExitCode     int      `json:"exitCode"`
	Repair       *struct {
		Repaired int `json:"repaired"`
		Deleted  int `json:"deleted"`
		Kept     int `json:"keptOrphans"`
		Failed   int `json:"failed"`
	} `json:"repair"`
}

// readVerifyFile reads the one verify_<ms>.json in dir.
func readVerifyFile(t *testing.T, dir string) verifyFile {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "verify_*.json"))
	if len(files) != 1 {
		t.Fatalf("verify reports in %s: %v, want one", dir, files)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var v verifyFile
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: %v", files[0], err)
	}
	return v
}

func sorted(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

// runVerifyCmd runs verify against the fixture with a fresh state dir and
// returns its report too.
func runVerifyCmd(t *testing.T, f *testenv.Fixture, extra ...string) (stdout string, code int, rep verifyFile) {
	t.Helper()
	dir := t.TempDir()
	args := append([]string{"verify", "--state-dir", dir}, extra...)
	args = append(append(args, f.CassandraArgs()...), f.SearchArgs()...)
	stdout, stderr, code := runCmd(t, args...)
	t.Logf("verify %v: exit %d\n%s%s", extra, code, stdout, stderr)
	return stdout, code, readVerifyFile(t, dir)
}

// syncFixture loads the fixture's objects of one type into its index with
// a direct-mode run.
func syncFixture(t *testing.T, f *testenv.Fixture, objectType string) {
	t.Helper()
	args := append([]string{"run", "--target", "search", "--object-type", objectType, "--state-dir", t.TempDir()}, f.CassandraArgs()...)
	if _, stderr, code := runCmd(t, append(args, f.SearchArgs()...)...); code != 0 {
		t.Fatalf("run --target search: exit %d: %s", code, stderr)
	}
}

func bulk(t *testing.T, f *testenv.Fixture, objectType string, items []search.BulkItem) {
	t.Helper()
	res, err := f.Search.Bulk(context.Background(), f.Aliases[objectType], items)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if !r.OK {
			t.Fatalf("bulk %s: %s", r.ID, r.Error)
		}
	}
}

// TestVerifyUsers is the scenario: drift of every kind on 10,000
// synced users, found exactly, repaired, and gone on a second verify.
func TestVerifyUsers(t *testing.T) {
	f := testenv.NewFixture(t, 10000, 20, 31)
	t.Setenv("INDEXSYNC_CASSANDRA_PASSWORD", f.Cass.Password.Reveal())
	ctx := context.Background()
	syncFixture(t, f, "user")

	ids := f.UserIDs()
	changed, deleted, unindexed := ids[:37], ids[37:48], ids[48:61]
	ghosts := []string{"ghost-1", "ghost-2", "ghost-3", "ghost-4", "ghost-5"}
	for i, id := range changed {
		if err := f.Session.Query(fmt.Sprintf("UPDATE %s.user SET firstname = ? WHERE id = ?", f.Keyspace), fmt.Sprintf("Renamed %d", i), id).ExecContext(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range deleted {
		if err := f.Session.Query(fmt.Sprintf("DELETE FROM %s.user WHERE id = ?", f.Keyspace), id).ExecContext(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var items []search.BulkItem
	for _, id := range unindexed {
		items = append(items, search.BulkItem{ID: id, Op: search.OpDelete})
	}
	for _, id := range ghosts {
		items = append(items, search.BulkItem{ID: id, Op: search.OpIndex, Doc: []byte(`{"id":"` + id + `","identifier":"` + id + `","firstName":"Nobody"}`)})
	}
	bulk(t, f, "user", items)

	// 1. verify finds exactly the drift
	out, code, rep := runVerifyCmd(t, f)
	if code != exitSomeFailed {
		t.Errorf("verify: exit %d, want 1", code)
	}
	if rep.Missing != 13 || rep.Stale != 37 || rep.Orphans != 16 {
		t.Errorf("missing %d, stale %d, orphans %d; want 13, 37, 16", rep.Missing, rep.Stale, rep.Orphans)
	}
	if diff := cmp.Diff(sorted(unindexed), sorted(rep.MissingIDs)); diff != "" {
		t.Errorf("missingIds (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(sorted(changed), sorted(rep.StaleIDs)); diff != "" {
		t.Errorf("staleIds (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(sorted(append(slices.Clone(deleted), ghosts...)), sorted(rep.OrphanIDs)); diff != "" {
		t.Errorf("orphanIds (-want +got):\n%s", diff)
	}
	if rep.CassandraDocs != 10000-11 || rep.IndexDocs != 10000-13+5 {
		t.Errorf("counts: cassandra %d, index %d; want %d, %d", rep.CassandraDocs, rep.IndexDocs, 10000-11, 10000-13+5)
	}
	if len(rep.StaleDiffs) == 0 {
		t.Error("no staleDiffs hints")
	}
	for _, d := range rep.StaleDiffs {
		if !slices.Equal(d.Fields, []string{"firstName"}) {
			t.Errorf("staleDiffs %s: fields %v, want [firstName]", d.ID, d.Fields)
		}
	}
	if rep.ObjectType != "user" || rep.Index != f.Aliases["user"] || !rep.Complete || rep.ExitCode != 1 || rep.Remaining != 66 {
		t.Errorf("report header: %+v", rep)
	}
	for _, want := range []string{"missing", "stale", "orphans", "Missing (13): ", "Stale (37): ", "Orphans (16): ", "Report: "} {
		if !strings.Contains(out, want) {
			t.Errorf("console output lacks %q", want)
		}
	}
	shown := 0
	for line := range strings.Lines(out) {
		if rest, ok := strings.CutPrefix(line, "Stale (37): "); ok {
			for _, w := range strings.Fields(rest) {
				if slices.Contains(changed, w) {
					shown++
				}
			}
		}
	}
	if shown != 10 {
		t.Errorf("console shows %d stale ids, want the first 10:\n%s", shown, out)
	}

	// 2. repair: everything fixed, and the re-check says so
	_, code, rep = runVerifyCmd(t, f, "--repair", "--delete-orphans")
	if code != 0 {
		t.Errorf("verify --repair --delete-orphans: exit %d, want 0", code)
	}
	if rep.Repair == nil || rep.Repair.Repaired != 50 || rep.Repair.Deleted != 16 || rep.Repair.Failed != 0 || rep.Remaining != 0 || len(rep.RemainingIDs) != 0 {
		t.Errorf("repair report: %+v %+v", rep.Repair, rep)
	}

	// 3. a plain verify finds nothing
	_, code, rep = runVerifyCmd(t, f)
	if code != 0 || rep.Missing+rep.Stale+rep.Orphans != 0 {
		t.Errorf("verify after repair: exit %d, missing %d, stale %d, orphans %d; want 0 everywhere", code, rep.Missing, rep.Stale, rep.Orphans)
	}
	if rep.CassandraDocs != 9989 || rep.IndexDocs != 9989 {
		t.Errorf("counts after repair: cassandra %d, index %d; want 9989 both", rep.CassandraDocs, rep.IndexDocs)
	}
	// the repaired documents are what a sync writes
	want := f.ExpectedDocs(t, "user")
	for _, id := range deleted {
		delete(want, id)
	}
	got := f.IndexedDocs(t, "user", append(slices.Clone(unindexed), ids[100:200]...))
	for _, id := range unindexed {
		if string(got[id]) != string(want[id]) {
			t.Errorf("repaired document %s:\n got %s\nwant %s", id, got[id], want[id])
		}
	}
}

// TestVerifyOrganisations: the other object types go through the same
// path with their own table and index.
func TestVerifyOrganisations(t *testing.T) {
	f := testenv.NewFixture(t, 50, 30, 32)
	t.Setenv("INDEXSYNC_CASSANDRA_PASSWORD", f.Cass.Password.Reveal())
	ctx := context.Background()
	syncFixture(t, f, "organisation")
	var orgs []string
	for id := range f.ExpectedDocs(t, "organisation") {
		orgs = append(orgs, id)
	}
	slices.Sort(orgs)
	for _, id := range orgs[:2] {
		if err := f.Session.Query(fmt.Sprintf("UPDATE %s.organisation SET description = 'changed' WHERE id = ?", f.Keyspace), id).ExecContext(ctx); err != nil {
			t.Fatal(err)
		}
	}
	bulk(t, f, "organisation", []search.BulkItem{
		{ID: orgs[2], Op: search.OpDelete},
		{ID: "ghost-org", Op: search.OpIndex, Doc: []byte(`{"id":"ghost-org"}`)},
	})

	_, code, rep := runVerifyCmd(t, f, "--object-type", "organisation")
	if code != exitSomeFailed || rep.Missing != 1 || rep.Stale != 2 || rep.Orphans != 1 {
		t.Errorf("exit %d, missing %d, stale %d, orphans %d; want 1, 1, 2, 1", code, rep.Missing, rep.Stale, rep.Orphans)
	}
	if !slices.Equal(rep.MissingIDs, orgs[2:3]) || !slices.Equal(sorted(rep.StaleIDs), orgs[:2]) || !slices.Equal(rep.OrphanIDs, []string{"ghost-org"}) {
		t.Errorf("ids: missing %v stale %v orphans %v", rep.MissingIDs, rep.StaleIDs, rep.OrphanIDs)
	}
	if rep.Index != f.Aliases["organisation"] || rep.CassandraDocs != int64(len(orgs)) {
		t.Errorf("index %s, cassandra %d; want %s, %d", rep.Index, rep.CassandraDocs, f.Aliases["organisation"], len(orgs))
	}

	// only --repair: the orphan remains, exit 1
	_, code, rep = runVerifyCmd(t, f, "--object-type", "organisation", "--repair")
	if code != exitSomeFailed || rep.Repair == nil || rep.Repair.Repaired != 3 || !slices.Equal(rep.RemainingIDs, []string{"ghost-org"}) {
		t.Errorf("--repair alone: exit %d, repair %+v, remaining %v; want 1, 3 repaired, [ghost-org]", code, rep.Repair, rep.RemainingIDs)
	}
	_, code, _ = runVerifyCmd(t, f, "--object-type", "organisation", "--delete-orphans")
	if code != 0 {
		t.Errorf("--delete-orphans: exit %d, want 0", code)
	}
	_, code, rep = runVerifyCmd(t, f, "--object-type", "organisation")
	if code != 0 || rep.Remaining != 0 {
		t.Errorf("final verify: exit %d, remaining %d", code, rep.Remaining)
	}
}

// TestVerifyShard: the shards of a ring split find each difference once.
func TestVerifyShard(t *testing.T) {
	f := testenv.NewFixture(t, 500, 20, 33)
	t.Setenv("INDEXSYNC_CASSANDRA_PASSWORD", f.Cass.Password.Reveal())
	syncFixture(t, f, "user")
	ids := f.UserIDs()
	var items []search.BulkItem
	for _, id := range ids[:20] {
		items = append(items, search.BulkItem{ID: id, Op: search.OpDelete})
	}
	for i := range 20 {
		id := fmt.Sprintf("ghost-%d", i)
		items = append(items, search.BulkItem{ID: id, Op: search.OpIndex, Doc: []byte(`{"id":"` + id + `"}`)})
	}
	bulk(t, f, "user", items)
	var missing, orphans []string
	var scanned int64
	for i := range 3 {
		_, _, rep := runVerifyCmd(t, f, "--shard", fmt.Sprintf("%d/3", i))
		missing = append(missing, rep.MissingIDs...)
		orphans = append(orphans, rep.OrphanIDs...)
		scanned += rep.CassandraDocs
	}
	if len(missing) != 20 || len(orphans) != 20 || scanned != 500 {
		t.Errorf("over 3 shards: %d missing, %d orphans, %d scanned; want 20, 20, 500", len(missing), len(orphans), scanned)
	}
	if diff := cmp.Diff(sorted(ids[:20]), sorted(missing)); diff != "" {
		t.Errorf("missing (-want +got):\n%s", diff)
	}
}

func TestVerifyUsageAndConnect(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"bad object type", []string{"--object-type", "course"}, exitUsage, `--object-type "course"`},
		{"bad shard", []string{"--shard", "3/3"}, exitUsage, "--shard"},
		{"bad batch size", []string{"--batch-size", "0"}, exitUsage, "--batch-size 0"},
		{"state dir", []string{"--state-dir", "/proc/none"}, exitUsage, "--state-dir"},
		{"no cassandra", []string{"--cassandra-port", "1", "--cassandra-timeout", "2s"}, exitUnreachable, "cannot reach Cassandra"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := runCmd(t, append([]string{"verify", "--state-dir", t.TempDir()}, tt.args...)...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d stderr %q; want %d and %q", code, stderr, tt.code, tt.want)
			}
			if n := strings.Count(strings.TrimSpace(stderr), "\n"); n > 0 {
				t.Errorf("stderr has %d lines, want one: %q", n+1, stderr)
			}
		})
	}
}

func TestVerifyNoIndex(t *testing.T) {
	f := testenv.NewFixture(t, 10, 20, 34)
	t.Setenv("INDEXSYNC_CASSANDRA_PASSWORD", f.Cass.Password.Reveal())
	args := append([]string{"verify", "--state-dir", t.TempDir(), "--user-index", "no_such_alias_" + f.Keyspace}, f.CassandraArgs()...)
	args = append(args, "--search-url", f.SearchURL)
	_, stderr, code := runCmd(t, args...)
	if code != exitUsage || !strings.Contains(stderr, "no index or alias no_such_alias_") || !strings.Contains(stderr, "--user-index") {
		t.Errorf("exit %d stderr %q; want 2 naming the index and --user-index", code, stderr)
	}
	_, stderr, code = runCmd(t, append(args[:len(args)-2], "--search-url", "http://127.0.0.1:1", "--retries", "0")...)
	if code != exitUnreachable {
		t.Errorf("search unreachable: exit %d stderr %q; want 3", code, stderr)
	}
}

// TestVerifyCronJobFlags: every setting the CronJob manifest passes (its
// arguments, its ConfigMap and env names) is one verify knows, so a typo
// cannot silently fall back to a default. The manifest is the Helm chart
// rendered (make manifests); tools/chart checks every rendering the same way.
func TestVerifyCronJobFlags(t *testing.T) {
	data, err := os.ReadFile("../../deploy/kubernetes/indexsync.yaml")
	if err != nil {
		t.Fatal(err)
	}
	type container struct {
		Command []string `yaml:"command"`
		Args    []string `yaml:"args"`
		Env     []struct {
			Name string `yaml:"name"`
		} `yaml:"env"`
	}
	var (
		names []string
		cmd   []string
	)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc struct {
			Kind string            `yaml:"kind"`
			Data map[string]string `yaml:"data"`
			Spec struct {
				JobTemplate struct {
					Spec struct {
						Template struct {
							Spec struct {
								Containers []container `yaml:"containers"`
							} `yaml:"spec"`
						} `yaml:"template"`
					} `yaml:"spec"`
				} `yaml:"jobTemplate"`
			} `yaml:"spec"`
		}
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		for k := range doc.Data {
			names = append(names, k)
		}
		for _, c := range doc.Spec.JobTemplate.Spec.Template.Spec.Containers {
			if len(c.Command) == 0 {
				c.Command = []string{"indexsync"} // the image's entrypoint
			}
			cmd = append(slices.Clone(c.Command), c.Args...)
			for _, e := range c.Env {
				names = append(names, e.Name)
			}
		}
	}
	if len(cmd) < 2 || cmd[1] != "verify" {
		t.Fatalf("command %q: want indexsync verify", cmd)
	}
	root, _ := newRootCommand(io.Discard, io.Discard)
	verify, _, err := root.Find(cmd[1:2])
	if err != nil {
		t.Fatal(err)
	}
	if err := verify.ParseFlags(cmd[2:]); err != nil {
		t.Errorf("the CronJob's arguments do not parse: %v", err)
	}
	for _, n := range names {
		flag := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(n, "INDEXSYNC_")), "_", "-")
		if !strings.HasPrefix(n, "INDEXSYNC_") || verify.Flags().Lookup(flag) == nil {
			t.Errorf("%s names no flag of indexsync verify", n)
		}
	}
}

// TestVerifyAliasOnSeveralIndexes: after Sunbird's playbook re-creates an
// index behind the alias, verify warns, naming the indexes, and compares the
// write index; without a write index (every write fails) it stops with exit 2.
func TestVerifyAliasOnSeveralIndexes(t *testing.T) {
	f := testenv.NewFixture(t, 200, 20, 35)
	t.Setenv("INDEXSYNC_CASSANDRA_PASSWORD", f.Cass.Password.Reveal())
	ctx := context.Background()
	alias, ours := f.Aliases["user"], f.Indices["user"]
	syncFixture(t, f, "user")
	extra := testenv.Name("it_recreated")
	if err := f.Search.CreateIndex(ctx, extra, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Search.DeleteIndex(context.Background(), extra) })
	if err := f.Search.UpdateAliases(ctx, []search.AliasAction{{Op: search.AliasAdd, Index: extra, Alias: alias}}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	args := append(append([]string{"verify", "--state-dir", dir}, f.CassandraArgs()...), f.SearchArgs()...)
	_, stderr, code := runCmd(t, args...)
	rep := readVerifyFile(t, dir)
	if code != exitOK || rep.Index != ours || rep.CassandraDocs != 200 || rep.Remaining != 0 {
		t.Errorf("exit %d, report index %s, %d docs, %d remaining; want 0, the write index %s, 200, 0", code, rep.Index, rep.CassandraDocs, rep.Remaining, ours)
	}
	if !strings.Contains(stderr, "warning: alias "+alias+" points to 2 indexes") || !strings.Contains(stderr, extra) || !strings.Contains(stderr, "writes go to "+ours) {
		t.Errorf("stderr %q: want a warning naming both indexes and the write index", stderr)
	}
	data, _ := os.ReadFile(filepath.Join(dir, filepath.Base(mustGlob(t, dir))))
	if !strings.Contains(string(data), `"warnings"`) {
		t.Errorf("the report has no warnings: %s", data)
	}

	// no write index: every write through the alias fails
	if err := f.Search.UpdateAliases(ctx, []search.AliasAction{
		{Op: search.AliasRemove, Index: ours, Alias: alias}, {Op: search.AliasAdd, Index: ours, Alias: alias},
	}); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = runCmd(t, append(append([]string{"verify", "--state-dir", t.TempDir()}, f.CassandraArgs()...), f.SearchArgs()...)...)
	if code != exitUsage || !strings.Contains(stderr, "none is its write index") {
		t.Errorf("no write index: exit %d stderr %q; want 2 saying so", code, stderr)
	}
}

func mustGlob(t *testing.T, dir string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "verify_*.json"))
	if len(files) != 1 {
		t.Fatalf("reports in %s: %v", dir, files)
	}
	return files[0]
}
