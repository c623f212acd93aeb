package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/indexsync/indexsync/internal/checkpoint"
	"github.com/indexsync/indexsync/internal/runlog"
	"github.com/indexsync/indexsync/internal/syncapi"
	"github.com/indexsync/indexsync/internal/testenv"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// binary builds indexsync once for tests that need a real process (kill -9,
// the UserSync_run.sh wrapper).
func binary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "indexsync-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "indexsync")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

const apiKey = "test-api-key-5f3a9"

// startServe runs `indexsync serve` over the fixture as a separate process
// (the heavy side of the API tests stays out of the race-instrumented test
// binary) and returns its sync URL once /health answers.
func startServe(t *testing.T, f *testenv.Fixture) string {
	t.Helper()
	url, _ := startServeAdmin(t, f)
	return url
}

// startServeAdmin is startServe, and also returns the URL of serve's
// /metrics.
func startServeAdmin(t *testing.T, f *testenv.Fixture) (url, metrics string) {
	t.Helper()
	admin := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	args := append([]string{"--admin-listen", admin, "--state-dir", t.TempDir()}, f.CassandraArgs()...)
	p := startServeProc(t, append(args, f.SearchArgs()...), f.Env(), "http", nil)
	return "http://" + p.addr + syncapi.RouteSync, "http://" + admin + "/metrics"
}

// metricValue returns the value of one sample (name with its labels, as
// /metrics writes it) from a Prometheus text page; -1 when absent.
func metricValue(t *testing.T, url, sample string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, sample+" "); ok {
			v, err := strconv.ParseFloat(rest, 64)
			if err != nil {
				t.Fatalf("%s: %q", sample, line)
			}
			return v
		}
	}
	return -1
}

// logRecord is one record of an old-format success or failure log.
type logRecord struct {
	no  int
	ids []string
}

// readLog parses a success/failure log and checks its format strictly.
func readLog(t *testing.T, path string) []logRecord {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []logRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines)%4 != 0 {
		t.Fatalf("%s: %d lines, not records of 4", path, len(lines))
	}
	for i := 0; i < len(lines); i += 4 {
		if lines[i] != "" || !strings.HasPrefix(lines[i+1], "Request No : ") || !strings.HasPrefix(lines[i+2], "Request : ") || !strings.HasPrefix(lines[i+3], "Response : ") {
			t.Fatalf("%s: record at line %d is not in the old format: %q", path, i+1, lines[i:i+4])
		}
		no, err := strconv.Atoi(strings.TrimPrefix(lines[i+1], "Request No : "))
		if err != nil {
			t.Fatalf("bad request number %q", lines[i+1])
		}
		var body struct {
			Request struct {
				ObjectIDs []string `json:"objectIds"`
			} `json:"request"`
			IDs []string `json:"ids"` // search-mode records
		}
		if err := json.Unmarshal([]byte(strings.TrimPrefix(lines[i+2], "Request : ")), &body); err != nil {
			t.Fatalf("request of record %d is not JSON: %v", no, err)
		}
		out = append(out, logRecord{no: no, ids: append(body.Request.ObjectIDs, body.IDs...)})
	}
	return out
}

func onlyFile(t *testing.T, dir, pattern string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, pattern))
	if len(m) != 1 {
		t.Fatalf("files %s in %s: %v, want exactly one", pattern, dir, m)
	}
	return m[0]
}

func readSummary(t *testing.T, dir string) runlog.Summary {
	t.Helper()
	var s runlog.Summary
	b, err := os.ReadFile(onlyFile(t, dir, "summary_*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRunAPIEndToEnd: 20,000 users through the real Sync API, block 100.
func TestRunAPIEndToEnd(t *testing.T) {
	f := testenv.NewFixture(t, 20000, 40, 21)
	t.Setenv("INDEXSYNC_CASSANDRA_PASSWORD", f.Cass.Password.Reveal())
	t.Setenv("INDEXSYNC_API_KEY", apiKey)
	url, metrics := startServeAdmin(t, f)
	dir := t.TempDir()
	args := append([]string{"run", "--api-endpoint", url, "--block-size", "100", "--concurrency", "4", "--state-dir", dir, "--progress", "never"}, f.CassandraArgs()...)
	out, stderr, code := runCmd(t, args...)
	if code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", code, out, stderr)
	}
	for _, want := range []string{"Total number of user records to be synced : 20000", "Sync API call done for 20000/20000 records...", "User Sync Job Completed!!!"} {
		if !strings.Contains(out, want) {
			t.Errorf("console lacks %q", want)
		}
	}
	// every id sent exactly once, numbered requests, nothing failed
	recs := readLog(t, onlyFile(t, dir, "userSyncSuccess_*.log"))
	if fails := readLog(t, onlyFile(t, dir, "userSyncFailure_*.log")); len(fails) != 0 {
		t.Errorf("%d failure records", len(fails))
	}
	seen := map[string]int{}
	nos := map[int]bool{}
	for _, r := range recs {
		nos[r.no] = true
		if len(r.ids) > 100 {
			t.Errorf("request %d carried %d ids", r.no, len(r.ids))
		}
		for _, id := range r.ids {
			seen[id]++
		}
	}
	// blocks are full except at most one partial block per worker
	if len(recs) < 200 || len(recs) > 203 || len(nos) != len(recs) {
		t.Errorf("%d records with %d distinct numbers, want 200 to 203", len(recs), len(nos))
	}
	for _, id := range f.UserIDs() {
		if seen[id] != 1 {
			t.Errorf("user %s sent %d times", id, seen[id])
		}
	}
	if len(seen) != 20000 {
		t.Errorf("%d distinct ids sent", len(seen))
	}
	s := readSummary(t, dir)
	if s.Total != 20000 || s.Succeeded != 20000 || s.Failed != 0 || s.Skipped != 0 || s.ExitCode != 0 || s.Target != "api" || s.ObjectType != "user" {
		t.Errorf("summary %+v", s)
	}
	if n := f.Count(t, "user"); n != 20000 {
		t.Errorf("index holds %d documents, want 20000", n)
	}
	ids := f.UserIDs()
	testenv.CompareDocs(t, f.ExpectedDocs(t, "user"), f.IndexedDocs(t, "user", ids))
	// serve read the run's blocks (one token range's ids each) by token
	// range, and no range held more than the blocks' own users
	ranges := metricValue(t, metrics, `indexsync_cassandra_reads_total{how="token_range"}`)
	stopped := metricValue(t, metrics, `indexsync_cassandra_reads_total{how="token_range_stopped"}`)
	keys := metricValue(t, metrics, `indexsync_cassandra_reads_total{how="keys"}`)
	t.Logf("serve's reads: %.0f by token range, %.0f stopped, %.0f by key", ranges, stopped, keys)
	if ranges < 3*200 || stopped != 0 {
		t.Errorf("serve's reads: %.0f by token range, %.0f stopped; want at least 3 per call (600) and none stopped", ranges, stopped)
	}

	// a resume of a complete run does nothing and says so
	out, _, code = runCmd(t, "run", "--resume", "--api-endpoint", url, "--state-dir", dir)
	if code != 0 || !strings.Contains(out, "already complete") {
		t.Errorf("resume of a complete run: exit %d, %q", code, out)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func succeededInCheckpoint(dir string) int {
	st, err := checkpoint.Load(filepath.Join(dir, "checkpoint.json"))
	if err != nil {
		return 0
	}
	return st.Counts.Succeeded
}

// TestRunKill9Resume: kill -9 in the middle of a 50,000-user run, then
// --resume: every id reaches the API, at most one block per worker is sent
// again, and the summary adds up.
func TestRunKill9Resume(t *testing.T) {
	bin := binary(t)
	f := testenv.NewFixture(t, 50000, 50, 22)
	url := startServe(t, f)
	dir := t.TempDir()
	const workers, block = 4, 100
	args := append([]string{"run", "--api-endpoint", url, "--block-size", strconv.Itoa(block), "--concurrency", strconv.Itoa(workers), "--state-dir", dir, "--progress", "never"}, f.CassandraArgs()...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), append(f.Env(), "INDEXSYNC_API_KEY="+apiKey)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 120*time.Second, "10,000 confirmed ids", func() bool { return succeededInCheckpoint(dir) >= 10000 })
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	before := succeededInCheckpoint(dir)
	if before >= 50000 {
		t.Fatal("the run finished before the kill")
	}

	resume := exec.Command(bin, append([]string{"run", "--resume", "--api-endpoint", url, "--block-size", strconv.Itoa(block), "--concurrency", strconv.Itoa(workers), "--state-dir", dir, "--progress", "never"}, f.CassandraArgs()...)...)
	resume.Env = cmd.Env
	if out, err := resume.CombinedOutput(); err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	seen := map[string]int{}
	for _, r := range readLog(t, onlyFile(t, dir, "userSyncSuccess_*.log")) {
		for _, id := range r.ids {
			seen[id]++
		}
	}
	dups := 0
	for _, id := range f.UserIDs() {
		switch n := seen[id]; {
		case n == 0:
			t.Errorf("user %s never reached the API", id)
		case n > 1:
			dups += n - 1
		}
	}
	if dups > workers*block {
		t.Errorf("%d ids sent again after the resume; at most one block per worker (%d) may be", dups, workers*block)
	}
	t.Logf("killed after %d confirmed ids; %d ids sent twice (bound %d)", before, dups, workers*block)
	s := readSummary(t, dir)
	if s.Total != 50000 || s.Succeeded+s.Failed+s.Skipped != s.Total || s.ResumedFrom == nil || s.ResumedFrom.Succeeded != before {
		t.Errorf("summary %+v (resumedFrom %+v), checkpoint had %d before the resume", s, s.ResumedFrom, before)
	}
	if n := f.Count(t, "user"); n != 50000 {
		t.Errorf("index holds %d documents, want 50000", n)
	}
}

// fakeAPI answers like the Sync API in sync mode, with a hook per call.
type fakeAPI struct {
	mu    sync.Mutex
	calls int
	ids   map[string]int
	auth  []string
	hook  func(call int, w http.ResponseWriter) bool // true: answered
}

func (a *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Request struct {
			ObjectIDs []string `json:"objectIds"`
		} `json:"request"`
	}
	_ = json.NewDecoder(r.Body).Decode(&body)
	a.mu.Lock()
	a.calls++
	call := a.calls
	a.auth = append(a.auth, r.Header.Get("Authorization"))
	a.mu.Unlock()
	if a.hook != nil && a.hook(call, w) {
		return
	}
	a.mu.Lock()
	if a.ids == nil {
		a.ids = map[string]int{}
	}
	es := map[string]bool{}
	for _, id := range body.Request.ObjectIDs {
		a.ids[id]++
		es[id] = true
	}
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"id": "api.data.sync", "ver": "v1", "ts": "2026-11-25 10:00:00:000+0000",
		"params":       map[string]any{"resmsgid": "x", "msgid": "x", "status": "SUCCESS", "err": nil, "errmsg": nil},
		"responseCode": "OK", "result": map[string]any{"response": "SUCCESS", "esSyncResponse": es},
	})
}

func TestRunRetries503AndStopsOn401(t *testing.T) {
	f := testenv.NewFixture(t, 300, 20, 23)
	t.Setenv("INDEXSYNC_CASSANDRA_PASSWORD", f.Cass.Password.Reveal())
	t.Setenv("INDEXSYNC_API_KEY", apiKey)

	t.Run("503 twice per block", func(t *testing.T) {
		tries := map[int]int{}
		var mu sync.Mutex
		api := &fakeAPI{}
		api.hook = func(call int, w http.ResponseWriter) bool {
			mu.Lock()
			defer mu.Unlock()
			// calls 1,2 fail, 3 succeeds; 4,5 fail, 6 succeeds; …
			tries[call]++
			if call%3 != 0 {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte("<html>503 Service Temporarily Unavailable</html>"))
				return true
			}
			return false
		}
		srv := httptest.NewServer(api)
		defer srv.Close()
		dir := t.TempDir()
		out, stderr, code := runCmd(t, append([]string{"run", "--api-endpoint", srv.URL + "/v1/data/sync", "--block-size", "100", "--state-dir", dir}, f.CassandraArgs()...)...)
		if code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
		}
		s := readSummary(t, dir)
		if s.Retries != 6 || s.Succeeded != 300 {
			t.Errorf("summary retries %d succeeded %d, want 6 retries (2 per block) and 300", s.Retries, s.Succeeded)
		}
		if len(api.ids) != 300 {
			t.Errorf("%d ids reached the API", len(api.ids))
		}
		if api.auth[0] != "Bearer "+apiKey {
			t.Errorf("Authorization = %q", api.auth[0])
		}
	})

	t.Run("SIGINT during retries stops at once", func(t *testing.T) {
		// every call is refused with 503 and Retry-After: 30 until healthy:
		// a stop must not wait out the retries, nor record the block as failed
		var healthy atomic.Bool
		api := &fakeAPI{}
		api.hook = func(_ int, w http.ResponseWriter) bool {
			if healthy.Load() {
				return false
			}
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		srv := httptest.NewServer(api)
		defer srv.Close()
		dir := t.TempDir()
		args := append([]string{"run", "--api-endpoint", srv.URL + "/v1/data/sync", "--block-size", "100", "--concurrency", "1", "--state-dir", dir}, f.CassandraArgs()...)
		cmd := exec.Command(binary(t), args...)
		cmd.Env = append(os.Environ(), f.Env()...)
		var output testenv.Output
		cmd.Stdout, cmd.Stderr = &output, &output
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, "the first call", func() bool { api.mu.Lock(); defer api.mu.Unlock(); return api.calls >= 1 })
		time.Sleep(200 * time.Millisecond) // into the 30 s wait
		start := time.Now()
		_ = cmd.Process.Signal(os.Interrupt)
		err := cmd.Wait()
		took := time.Since(start)
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitInterrupted {
			t.Errorf("interrupted run: %v, want exit 130; its output:\n%s", err, output.String())
		}
		if took > 10*time.Second {
			t.Errorf("the run took %v to stop after SIGINT, waiting out a Retry-After of 30 s; want a prompt stop", took)
		}
		if s := readSummary(t, dir); s.Failed != 0 || s.Succeeded != 0 {
			t.Errorf("summary after the stop: %d failed, %d succeeded; want the block unconfirmed (neither)", s.Failed, s.Succeeded)
		}
		if logs, _ := filepath.Glob(filepath.Join(dir, "userSyncFailure_*.log")); len(logs) == 1 {
			if recs := readLog(t, logs[0]); len(recs) != 0 {
				t.Errorf("%d failure records after a stop during retries, want none", len(recs))
			}
		}
		t.Logf("stopped %v after SIGINT, in a 30 s Retry-After", took.Round(time.Millisecond))

		healthy.Store(true)
		out, stderr, code := runCmd(t, append([]string{"run", "--resume", "--api-endpoint", srv.URL + "/v1/data/sync", "--state-dir", dir}, f.CassandraArgs()...)...)
		if code != 0 {
			t.Fatalf("resume: exit %d\n%s\n%s", code, out, stderr)
		}
		api.mu.Lock()
		defer api.mu.Unlock()
		if len(api.ids) != 300 {
			t.Errorf("%d ids reached the API after the resume, want 300", len(api.ids))
		}
	})

	t.Run("401 stops after one call", func(t *testing.T) {
		api := &fakeAPI{}
		api.hook = func(_ int, w http.ResponseWriter) bool {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"id":"api.data.sync","params":{"status":"FAILED","err":"UNAUTHORIZED"},"responseCode":"UNAUTHORIZED","result":{}}`))
			return true
		}
		srv := httptest.NewServer(api)
		defer srv.Close()
		_, stderr, code := runCmd(t, append([]string{"run", "--api-endpoint", srv.URL + "/v1/data/sync", "--concurrency", "4", "--state-dir", t.TempDir()}, f.CassandraArgs()...)...)
		if code != exitUnreachable {
			t.Errorf("exit %d, want 3", code)
		}
		if api.calls != 1 {
			t.Errorf("%d calls with a rejected key, want 1", api.calls)
		}
		if !strings.Contains(stderr, "rejected the API key") || strings.Contains(stderr, apiKey) {
			t.Errorf("stderr = %q", stderr)
		}
	})

	t.Run("API unreachable at start", func(t *testing.T) {
		_, stderr, code := runCmd(t, append([]string{"run", "--api-endpoint", "http://127.0.0.1:1/v1/data/sync", "--state-dir", t.TempDir()}, f.CassandraArgs()...)...)
		if code != exitUnreachable || !strings.Contains(stderr, "cannot reach the Sync API at http://127.0.0.1:1") {
			t.Errorf("exit %d stderr %q", code, stderr)
		}
	})
}

func TestRunShardsCoverEveryIDOnce(t *testing.T) {
	f := testenv.NewFixture(t, 2000, 20, 24)
	t.Setenv("INDEXSYNC_CASSANDRA_PASSWORD", f.Cass.Password.Reveal())
	api := &fakeAPI{}
	srv := httptest.NewServer(api)
	defer srv.Close()
	per := map[int]int{}
	for i := range 4 {
		before := len(api.ids)
		_, stderr, code := runCmd(t, append([]string{"run", "--api-endpoint", srv.URL, "--shard", fmt.Sprintf("%d/4", i), "--block-size", "50", "--state-dir", t.TempDir()}, f.CassandraArgs()...)...)
		if code != 0 {
			t.Fatalf("shard %d: exit %d %s", i, code, stderr)
		}
		per[i] = len(api.ids) - before
	}
	for _, id := range f.UserIDs() {
		if api.ids[id] != 1 {
			t.Errorf("user %s sent %d times over the 4 shards", id, api.ids[id])
		}
	}
	for i, n := range per {
		if n == 0 {
			t.Errorf("shard %d/4 sent nothing", i)
		}
	}
	t.Logf("ids per shard: %v", per)
}

func TestRunIDsFile(t *testing.T) {
	f := testenv.NewFixture(t, 200, 20, 25)
	t.Setenv("INDEXSYNC_CASSANDRA_PASSWORD", f.Cass.Password.Reveal())
	api := &fakeAPI{}
	srv := httptest.NewServer(api)
	defer srv.Close()
	ids := f.UserIDs()
	dir := t.TempDir()
	// an old job's failure log, plus garbage
	oldLog := fmt.Sprintf("\nRequest No : 1\nRequest : {\"params\":{},\"request\":{\"objectType\":\"user\",\"objectIds\":[%q,%q],\"operationFor\":\"es\"}}\nResponse : <html>502 Bad Gateway</html>\n", ids[0], ids[1])
	file := filepath.Join(dir, "ids.txt")
	content := "# users to fix\n" + ids[2] + "\n" + ids[3] + "\nnot an id\n" + oldLog
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := runCmd(t, append([]string{"run", "--api-endpoint", srv.URL, "--ids-file", file, "--state-dir", dir}, f.CassandraArgs()...)...)
	if code != 0 {
		t.Fatalf("exit %d %s %s", code, out, stderr)
	}
	if len(api.ids) != 4 {
		t.Errorf("%d ids sent, want the 4 of the file: %v", len(api.ids), api.ids)
	}
	if !strings.Contains(stderr, "1 lines skipped") {
		t.Errorf("garbage line not reported: %q", stderr)
	}
	// usage errors come before any call
	for _, tc := range []struct{ args []string }{
		{[]string{"--ids-file", filepath.Join(dir, "missing.txt")}},
		{[]string{"--state-dir", "/proc/none"}},
		{[]string{"--context_param", "sunbird_bogus=1"}},
		{[]string{"--sleep", "soon"}},
		{[]string{"--shard", "4/4"}},
	} {
		calls := api.calls
		_, stderr, code := runCmd(t, append(append([]string{"run", "--api-endpoint", srv.URL}, tc.args...), f.CassandraArgs()...)...)
		if code != exitUsage || api.calls != calls {
			t.Errorf("%v: exit %d (stderr %q), %d calls made", tc.args, code, stderr, api.calls-calls)
		}
	}
}

// TestUserSyncRunScript runs the wrapper with the seed document's command
// line and checks that no process shows the password or the key.
func TestUserSyncRunScript(t *testing.T) {
	bin := binary(t)
	f := testenv.NewFixture(t, 300, 20, 26)
	var mu sync.Mutex
	var leaked []string
	api := &fakeAPI{}
	api.hook = func(int, http.ResponseWriter) bool {
		// while the job runs, look at every process's command line
		mu.Lock()
		defer mu.Unlock()
		// The test stack's password is "cassandra", like its user name, so
		// look for the parameter that would carry it, and for the key.
		leaked = append(leaked, scanProcesses("sunbird_cassandra_password", "sunbird_user_sync_api_key", apiKey)...)
		return false
	}
	srv := httptest.NewServer(api)
	defer srv.Close()
	// the scan does see a process that carries the parameter
	// (a second command after the sleep keeps the shell from replacing
	// itself with sleep, whose command line lacks the parameter)
	ctl := exec.Command("sh", "-c", "sleep 5; exit 0", "sunbird_cassandra_password")
	if err := ctl.Start(); err != nil {
		t.Fatal(err)
	}
	seen := false
	for deadline := time.Now().Add(3 * time.Second); !seen && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		seen = len(scanProcesses("sunbird_cassandra_password")) > 0
	}
	if !seen {
		t.Error("the process scan misses a command line that has the parameter")
	}
	_ = ctl.Process.Kill()
	_ = ctl.Wait()
	dir := t.TempDir()
	cmd := exec.Command("../../UserSync_run.sh",
		"--context_param", `sunbird_cassandra_server="`+f.Cass.Host+`"`,
		"--context_param", `sunbird_cassandra_port="`+strconv.Itoa(f.Cass.Port)+`"`,
		"--context_param", `sunbird_cassandra_username="`+f.Cass.Username+`"`,
		"--context_param", `sunbird_cassandra_password="`+f.Cass.Password.Reveal()+`"`,
		"--context_param", `sunbird_user_sync_api_endpoint="`+srv.URL+`/api/data/v1/index/sync"`,
		"--context_param", `sunbird_user_sync_api_key="`+apiKey+`"`,
		"--context_param", `sunbird_user_sync_block_size="50"`,
		"--context_param", `sunbird_user_sync_sleep_time="100"`,
		"--context_param", "sunbird_cassandra_keyspace="+f.Keyspace,
		"--state-dir", dir,
	)
	cmd.Env = append(os.Environ(), "INDEXSYNC_BIN="+bin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("UserSync_run.sh: %v\n%s", err, out)
	}
	for _, want := range []string{"Total number of user records to be synced : 300", "Sync API call done for 300/300 records...", "User Sync Job Completed!!!", "userSyncSuccess_", "userSyncFailure_"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if len(api.ids) != 300 || api.calls != 6 {
		t.Errorf("%d ids in %d calls, want 300 in 6 (block size 50)", len(api.ids), api.calls)
	}
	if api.auth[0] != "Bearer "+apiKey {
		t.Errorf("Authorization = %q", api.auth[0])
	}
	if len(leaked) > 0 {
		t.Errorf("secrets visible in the process list: %v", leaked)
	}
	if strings.Contains(string(out), apiKey) || strings.Contains(string(out), f.Cass.Password.Reveal()+"\"") {
		t.Errorf("a secret is in the output")
	}
}

var pidRE = regexp.MustCompile(`^\d+$`)

// scanProcesses returns the command lines that contain any of the needles.
func scanProcesses(needles ...string) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if !pidRE.MatchString(e.Name()) {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		line := strings.ReplaceAll(string(b), "\x00", " ")
		for _, n := range needles {
			if strings.Contains(line, n) {
				out = append(out, line[:min(len(line), 300)])
				break
			}
		}
	}
	return out
}
