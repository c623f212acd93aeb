package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/indexsync/indexsync/internal/schema"
	"github.com/indexsync/indexsync/internal/search"
	"github.com/indexsync/indexsync/internal/testenv"
)

func searchRunArgs(f *testenv.Fixture, dir string, extra ...string) []string {
	args := []string{"run", "--target", "search", "--state-dir", dir, "--progress", "never"}
	args = append(args, f.CassandraArgs()...)
	args = append(args, f.SearchArgs()...)
	return append(args, extra...)
}

// rawDocs reads the stored _source of each id, as bytes.
func rawDocs(t *testing.T, c *search.Client, index string, ids []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for start := 0; start < len(ids); start += 500 {
		got, err := c.MGet(context.Background(), index, ids[start:min(start+500, len(ids))])
		if err != nil {
			t.Fatal(err)
		}
		for id, raw := range got {
			out[id] = string(raw)
		}
	}
	return out
}

// TestSearchModeWritesWhatServeWrites: the direct path (joined range scans)
// and the Sync API path (reads by id) store byte-identical documents.
func TestSearchModeWritesWhatServeWrites(t *testing.T) {
	f := testenv.NewFixture(t, 1000, 30, 31)
	t.Setenv("INDEXSYNC_CASSANDRA_PASSWORD", f.Cass.Password.Reveal())
	out, stderr, code := runCmd(t, searchRunArgs(f, t.TempDir(), "--block-size", "200")...)
	if code != 0 {
		t.Fatalf("run --target search: exit %d\n%s\n%s", code, out, stderr)
	}
	ids := f.UserIDs()
	direct := rawDocs(t, f.Search, f.Aliases["user"], ids)
	if len(direct) != len(ids) {
		t.Fatalf("%d documents indexed, want %d", len(direct), len(ids))
	}
	testenv.CompareDocs(t, f.ExpectedDocs(t, "user"), f.IndexedDocs(t, "user", ids))

	// the same users again, through the Sync API: each stored document is
	// replaced by the one serve builds
	url := startServe(t, f)
	t.Setenv("INDEXSYNC_API_KEY", apiKey)
	if _, stderr, code := runCmd(t, append([]string{"run", "--api-endpoint", url, "--state-dir", t.TempDir()}, f.CassandraArgs()...)...); code != 0 {
		t.Fatalf("run --target api: exit %d %s", code, stderr)
	}
	viaAPI := rawDocs(t, f.Search, f.Aliases["user"], ids)
	diffs := 0
	for _, id := range ids {
		if direct[id] != viaAPI[id] {
			if diffs++; diffs <= 3 {
				t.Errorf("user %s: documents differ\n search: %s\n    api: %s", id, direct[id], viaAPI[id])
			}
		}
	}
	if diffs > 0 {
		t.Errorf("%d of %d documents differ between the two paths", diffs, len(ids))
	}
	// organisations and locations too
	for _, ot := range []string{"organisation", "location"} {
		if _, stderr, code := runCmd(t, searchRunArgs(f, t.TempDir(), "--object-type", ot)...); code != 0 {
			t.Fatalf("%s: exit %d %s", ot, code, stderr)
		}
		want := f.ExpectedDocs(t, ot)
		var oids []string
		for id := range want {
			oids = append(oids, id)
		}
		testenv.CompareDocs(t, want, f.IndexedDocs(t, ot, oids))
	}

	// an alias that does not exist is refused before anything is written:
	// the engine would otherwise create an index of that name with guessed
	// mappings
	missing := testenv.Name("it_missing")
	for name, args := range map[string][]string{
		"run":   searchRunArgs(f, t.TempDir(), "--user-index", missing),
		"serve": append(append([]string{"serve", "--auth", "none", "--listen", "127.0.0.1:0", "--state-dir", t.TempDir()}, f.CassandraArgs()...), append(f.SearchArgs(), "--org-index", missing)...),
	} {
		_, stderr, code := runCmd(t, args...)
		if code != 2 || !strings.Contains(stderr, "no index or alias "+missing) {
			t.Errorf("%s into a missing alias: exit %d, stderr %q; want exit 2 naming the alias", name, code, stderr)
		}
	}
	if ok, err := f.Search.IndexExists(context.Background(), missing); err != nil || ok {
		t.Errorf("index %s exists after the refused runs (err %v)", missing, err)
	}
}

func TestSearchKill9Resume(t *testing.T) {
	bin := binary(t)
	f := testenv.NewFixture(t, 50000, 50, 32)
	dir := t.TempDir()
	cmd := exec.Command(bin, searchRunArgs(f, dir, "--concurrency", "4", "--block-size", "500")...)
	cmd.Env = append(os.Environ(), f.Env()...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 120*time.Second, "10,000 confirmed documents", func() bool { return succeededInCheckpoint(dir) >= 10000 })
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	before := succeededInCheckpoint(dir)
	if before >= 50000 {
		t.Fatal("the run finished before the kill")
	}
	resume := exec.Command(bin, searchRunArgs(f, dir, "--resume", "--concurrency", "4", "--block-size", "500")...)
	resume.Env = cmd.Env
	if out, err := resume.CombinedOutput(); err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	if n := f.Count(t, "user"); n != 50000 {
		t.Errorf("index holds %d documents after kill -9 at %d and --resume, want 50000", n, before)
	}
	s := readSummary(t, dir)
	if s.Total < 1 || s.Succeeded != 50000-s.Failed-s.Skipped || s.Failed != 0 || s.ResumedFrom == nil {
		t.Errorf("summary %+v", s)
	}
	t.Logf("killed at %d confirmed documents; resumed to %d", before, s.Succeeded)
}

func TestRebuild(t *testing.T) {
	bin := binary(t)
	f := testenv.NewFixture(t, 5000, 30, 33)
	t.Setenv("INDEXSYNC_CASSANDRA_PASSWORD", f.Cass.Password.Reveal())
	ctx := context.Background()
	alias := f.Aliases["user"]
	old := f.Indices["user"]
	// the fixture drops what its alias points to at the end; the indexes
	// the alias leaves behind here are dropped too
	t.Cleanup(func() { _ = f.Search.DeleteIndex(context.Background(), old) })
	if _, stderr, code := runCmd(t, searchRunArgs(f, t.TempDir())...); code != 0 {
		t.Fatalf("first sync: %d %s", code, stderr)
	}

	// interrupted: the alias stays where it was
	dir := t.TempDir()
	cmd := exec.Command(bin, searchRunArgs(f, dir, "--rebuild", "--rate", "1500", "--block-size", "100")...)
	cmd.Env = append(os.Environ(), f.Env()...)
	var output strings.Builder
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "1,000 documents in the new index", func() bool { return succeededInCheckpoint(dir) >= 1000 })
	_ = cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitInterrupted {
		t.Errorf("interrupted rebuild: %v, want exit 130; its output:\n%s", err, output.String())
	}
	if got, _ := f.Search.GetAlias(ctx, alias); len(got) != 1 || got[0] != old {
		t.Fatalf("after an interrupted rebuild the alias points to %v, want [%s]", got, old)
	}
	rb, err := schema.LoadRebuild(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Search.DeleteIndex(context.Background(), rb.Index) })

	// resumed to the end: the alias moves, the old index is kept
	out, stderr, code := runCmd(t, searchRunArgs(f, dir, "--rebuild", "--resume", "--block-size", "100")...)
	if code != 0 {
		t.Fatalf("resumed rebuild: exit %d\n%s\n%s", code, out, stderr)
	}
	got, _ := f.Search.GetAlias(ctx, alias)
	if len(got) != 1 || got[0] != rb.Index || got[0] == old {
		t.Fatalf("after the rebuild the alias points to %v, want [%s]", got, rb.Index)
	}
	if ok, _ := f.Search.IndexExists(ctx, old); !ok {
		t.Errorf("the old index %s was deleted without --delete-old", old)
	}
	if n := f.Count(t, "user"); n != 5000 {
		t.Errorf("new index holds %d documents, want 5000", n)
	}
	settings, _ := f.Search.GetSettings(ctx, rb.Index)
	if s := string(settings[rb.Index]); !strings.Contains(s, `"number_of_replicas":"0"`) || strings.Contains(s, `"refresh_interval":"-1"`) {
		t.Errorf("settings after the rebuild: %s", s)
	}

	// --delete-old removes the index the alias left
	out, stderr, code = runCmd(t, searchRunArgs(f, t.TempDir(), "--rebuild", "--delete-old")...)
	if code != 0 {
		t.Fatalf("rebuild --delete-old: exit %d\n%s\n%s", code, out, stderr)
	}
	if ok, _ := f.Search.IndexExists(ctx, rb.Index); ok {
		t.Errorf("--delete-old kept %s", rb.Index)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestSearchEngineDown20s stops a private engine of the kind under test
// (INDEXSYNC_TEST_ENGINE, OpenSearch when unset) for 20 s in the middle of a
// run: the run waits and retries and finishes, or stops with exit 4 and a
// checkpoint that --resume completes. Either way every user is indexed.
func TestSearchEngineDown20s(t *testing.T) {
	if testing.Short() {
		t.Skip("starts its own search engine")
	}
	bin := binary(t)
	f := testenv.NewFixture(t, 20000, 30, 34)
	engine := testenv.EngineName()
	if engine == "" {
		engine = "opensearch-2.19"
	}
	// Elasticsearch runs as an unprivileged user (testinfra/README.md), who
	// must be able to enter the stack dir: t.TempDir() is root's alone.
	stackDir, err := os.MkdirTemp("/var/tmp", "indexsync-down-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(stackDir) })
	if err := os.Chmod(stackDir, 0o755); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	stackEnv := append(os.Environ(), "STACK_DIR="+stackDir, "STACK_ENGINE="+engine, "STACK_SEARCH_PORT="+strconv.Itoa(port),
		"STACK_SEARCH_TRANSPORT_PORT="+strconv.Itoa(freePort(t)), "STACK_SEARCH_HEAP=512m", "STACK_KEEP_DATA=1")
	stack := func(args ...string) {
		t.Helper()
		c := exec.Command("../../testinfra/stack.sh", args...)
		c.Env = stackEnv
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("stack.sh %v: %v\n%s", args, err, out)
		}
	}
	stack("up", "search")
	t.Cleanup(func() { stack("down", "search") })
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	c, err := search.NewClient(search.Config{URLs: []string{url}, Retries: 3})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := schema.UserIndex.Body(1, 0)
	if _, err := schema.EnsureIndex(context.Background(), c, schema.UserIndex, "down_user", body, time.Now()); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	args := append([]string{"run", "--target", "search", "--state-dir", dir, "--progress", "never", "--search-url", url,
		"--user-index", "down_user", "--rate", "800", "--block-size", "200"}, f.CassandraArgs()...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), f.Env()...)
	logFile, _ := os.Create(filepath.Join(dir, "run.out"))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // a failed test leaves no run behind
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	waitFor(t, 60*time.Second, "2,000 documents", func() bool { return succeededInCheckpoint(dir) >= 2000 })
	stack("down", "search")
	downAt := succeededInCheckpoint(dir)
	time.Sleep(20 * time.Second)
	stack("up", "search")
	err = cmd.Wait()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	out, _ := os.ReadFile(filepath.Join(dir, "run.out"))
	switch code {
	case 0:
		t.Logf("the run waited through the outage (down at %d documents) and finished", downAt)
	case exitFatal:
		t.Logf("the run stopped with exit 4 during the outage (down at %d documents); resuming", downAt)
		resume := exec.Command(bin, append(args, "--resume")...)
		resume.Env = cmd.Env
		if out, err := resume.CombinedOutput(); err != nil {
			t.Fatalf("resume: %v\n%s", err, out)
		}
	default:
		t.Fatalf("run: exit %d, want 0 or 4\n%s", code, out)
	}
	_ = c.Refresh(context.Background(), "down_user")
	n, err := c.Count(context.Background(), "down_user")
	if err != nil || n != 20000 {
		t.Errorf("index holds %d documents (%v), want 20000\n%s", n, err, out)
	}
}

// TestResumeAuto: the same command line, started again after a SIGTERM,
// resumes and says so (and the stop said to run the same command again);
// started once more after the run finished, it starts a new run. (With other
// settings it sets the unfinished checkpoint aside: syncjob's TestPlanRun.)
func TestResumeAuto(t *testing.T) {
	bin := binary(t)
	f := testenv.NewFixture(t, 8000, 20, 36)
	dir := t.TempDir()
	args := searchRunArgs(f, dir, "--resume", "auto", "--rate", "2000", "--block-size", "200")
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), f.Env()...)
	var first strings.Builder
	cmd.Stdout, cmd.Stderr = &first, &first
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "1,000 confirmed documents", func() bool { return succeededInCheckpoint(dir) >= 1000 })
	_ = cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitInterrupted {
		t.Fatalf("SIGTERM: %v, want exit 130\n%s", err, first.String())
	}
	if !strings.Contains(first.String(), "--resume auto: no checkpoint in") {
		t.Errorf("the first run did not say it started afresh:\n%s", first.String())
	}
	if !strings.Contains(first.String(), "run the same command again (--resume auto continues it)") {
		t.Errorf("the stopped run did not say the same command continues it:\n%s", first.String())
	}
	stopped := succeededInCheckpoint(dir)

	again := func(args []string) string {
		t.Helper()
		c := exec.Command(bin, args...)
		c.Env = cmd.Env
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return string(out)
	}
	out := again(args)
	if !strings.Contains(out, "--resume auto: resuming the unfinished run") {
		t.Errorf("the second run did not say it resumed:\n%s", out)
	}
	if n := f.Count(t, "user"); n != 8000 {
		t.Errorf("index holds %d documents, want 8000", n)
	}
	if s := readSummary(t, dir); s.ResumedFrom == nil || s.Succeeded != 8000 {
		t.Errorf("summary %+v, want a resumed run of 8000", s)
	}
	out = again(args)
	if !strings.Contains(out, "is complete: starting a new one") {
		t.Errorf("the third run did not say it started a new run:\n%s", out)
	}
	t.Logf("stopped by SIGTERM at %d documents, resumed to 8000", stopped)
}

// TestDryRunKeepsRateOnRealServers: a dry run reads and builds every user
// from the real Cassandra at the --rate asked for — so it puts a paced run's
// read load on the cluster — and writes nothing to the engine.
func TestDryRunKeepsRateOnRealServers(t *testing.T) {
	f := testenv.NewFixture(t, 400, 10, 37)
	t.Setenv("INDEXSYNC_CASSANDRA_PASSWORD", f.Cass.Password.Reveal())
	out, stderr, code := runCmd(t, searchRunArgs(f, t.TempDir(), "--dry-run", "--rate", "200", "--block-size", "50")...)
	if code != 0 {
		t.Fatalf("run --dry-run --rate 200: exit %d\n%s\n%s", code, out, stderr)
	}
	m := regexp.MustCompile(`Dry run: 400 users would be sent .* built in (\S+)\. Nothing was sent\.`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the summary does not say that 400 users were built and none sent:\n%s\n%s", out, stderr)
	}
	// 400 users at 200 a second: 2 s, less the throttle's first block (0.25
	// s); without the rate it takes about 0.2 s here
	if took, err := time.ParseDuration(m[1]); err != nil || took < 1500*time.Millisecond {
		t.Errorf("dry run of 400 users at --rate 200 built them in %s (%v); want ≥ 1.5 s (the rate not kept)", m[1], err)
	}
	if n := f.Count(t, "user"); n != 0 {
		t.Errorf("the dry run indexed %d users, want none", n)
	}
}
