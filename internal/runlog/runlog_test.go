package runlog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/indexsync/indexsync/internal/idsfile"
	"github.com/indexsync/indexsync/internal/sunbird"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// checkGolden compares got with testdata/name, or rewrites it with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (run go test -update if the change is intended) (-want +got):\n%s", name, diff)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const runMS = 1695211344452

func TestFilePaths(t *testing.T) {
	tests := []struct {
		objectType string
		want       Paths
	}{
		{"user", Paths{"d/userSyncSuccess_1695211344452.log", "d/userSyncFailure_1695211344452.log", "d/failed-ids_1695211344452.txt"}},
		{"organisation", Paths{"d/organisationSyncSuccess_1695211344452.log", "d/organisationSyncFailure_1695211344452.log", "d/failed-ids_1695211344452.txt"}},
		{"location", Paths{"d/locationSyncSuccess_1695211344452.log", "d/locationSyncFailure_1695211344452.log", "d/failed-ids_1695211344452.txt"}},
	}
	for _, tt := range tests {
		t.Run(tt.objectType, func(t *testing.T) {
			kind, _ := sunbird.KindNamed(tt.objectType)
			got := FilePaths("d", kind, runMS)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("FilePaths (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRecordGolden writes three records to each log, one with line breaks in
// its bodies, and compares the files with the old job's format.
func TestRecordGolden(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, sunbird.UserKind, runMS)
	if err != nil {
		t.Fatal(err)
	}
	records := []struct {
		success  bool
		n        int
		req, res string
	}{
		{true, 1, `{"params":{},"request":{"objectType":"user","objectIds":["u-1","u-2"],"operationFor":"es"}}`, `{"id":"api.data.sync","ver":"v1","ts":"2023-09-20 12:02:24:452+0000","params":{"resmsgid":"a","msgid":"a","err":null,"status":"SUCCESS","errmsg":null},"responseCode":"OK","result":{"response":"SUCCESS"}}`},
		{false, 2, `{"params":{},"request":{"objectType":"user","objectIds":["u-3"],"operationFor":"es"}}`, `{"error":"upstream timed out"}`},
		{true, 3, "{\n  \"params\": {},\n  \"request\": {\"objectType\":\"user\",\"objectIds\":[\"u-4\"]}\n}", "{\"result\":\r\n{\"response\":\"SUCCESS\"}}"},
		{false, 4, `{"params":{},"request":{"objectType":"user","objectIds":["u-5","u-6"],"operationFor":"es"}}`, "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n</html>\r\n"},
		{true, 5, `{"params":{},"request":{"objectType":"user","objectIds":["u-7"],"operationFor":"es"}}`, ``},
		{false, 6, `{"params":{},"request":{"objectType":"user","objectIds":["u-8"],"operationFor":"es"}}`, "connection refused\rafter 5 attempts"},
	}
	for _, r := range records {
		if err := l.Record(r.success, r.n, []byte(r.req), []byte(r.res)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	p := l.Paths()
	checkGolden(t, "userSyncSuccess.log", []byte(readFile(t, p.Success)))
	checkGolden(t, "userSyncFailure.log", []byte(readFile(t, p.Failure)))
	if got := readFile(t, p.FailedIDs); got != "" {
		t.Errorf("failed-ids = %q, want empty", got)
	}
}

// TestReopenAppends checks that a resumed run (same dir, same <ms>) continues
// the files instead of truncating them.
func TestReopenAppends(t *testing.T) {
	dir := t.TempDir()
	for i := 1; i <= 2; i++ {
		l, err := Open(dir, sunbird.OrganisationKind, runMS)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Record(false, i, []byte("req"), []byte("res")); err != nil {
			t.Fatal(err)
		}
		if err := l.FailedIDs([]string{"o-" + strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	p := FilePaths(dir, sunbird.OrganisationKind, runMS)
	want := "\nRequest No : 1\nRequest : req\nResponse : res\n\nRequest No : 2\nRequest : req\nResponse : res\n"
	if diff := cmp.Diff(want, readFile(t, p.Failure)); diff != "" {
		t.Errorf("failure log (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff("o-1\no-2\n", readFile(t, p.FailedIDs)); diff != "" {
		t.Errorf("failed-ids (-want +got):\n%s", diff)
	}
}

// TestRecordConcurrent has 8 goroutines write records with multi-line bodies
// at once (run with -race) and checks every record is intact and four lines.
func TestRecordConcurrent(t *testing.T) {
	const workers, perWorker = 8, 200
	dir := t.TempDir()
	l, err := Open(dir, sunbird.UserKind, runMS)
	if err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("x", 4096) // large writes make torn records likely if unguarded
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				n := w*perWorker + i + 1
				req := fmt.Sprintf("req-%d\nline2 %s", n, pad)
				res := fmt.Sprintf("res-%d\r\nline2", n)
				if err := l.Record(n%3 != 0, n, []byte(req), []byte(res)); err != nil {
					t.Error(err)
					return
				}
				if err := l.FailedIDs([]string{"id-" + strconv.Itoa(n)}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, path := range []string{l.Paths().Success, l.Paths().Failure} {
		lines := strings.Split(readFile(t, path), "\n")
		if lines[len(lines)-1] != "" {
			t.Fatalf("%s does not end with a newline", path)
		}
		lines = lines[:len(lines)-1]
		if len(lines)%4 != 0 {
			t.Fatalf("%s has %d lines, not a multiple of 4", path, len(lines))
		}
		for i := 0; i < len(lines); i += 4 {
			n, err := strconv.Atoi(strings.TrimPrefix(lines[i+1], "Request No : "))
			if err != nil || lines[i] != "" {
				t.Fatalf("%s: record at line %d is torn: %q", path, i+1, lines[i:i+4])
			}
			want := []string{"", "Request No : " + strconv.Itoa(n), fmt.Sprintf("Request : req-%d line2 %s", n, pad), fmt.Sprintf("Response : res-%d line2", n)}
			if diff := cmp.Diff(want, lines[i:i+4]); diff != "" {
				t.Fatalf("%s: record %d (-want +got):\n%s", path, n, diff)
			}
			if seen[n] {
				t.Fatalf("record %d written twice", n)
			}
			if wantSuccess := n%3 != 0; wantSuccess != (path == l.Paths().Success) {
				t.Errorf("record %d in %s", n, filepath.Base(path))
			}
			seen[n] = true
		}
	}
	if len(seen) != workers*perWorker {
		t.Errorf("got %d records, want %d", len(seen), workers*perWorker)
	}
	ids := strings.Fields(readFile(t, l.Paths().FailedIDs))
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) != workers*perWorker {
		t.Errorf("failed-ids has %d distinct ids, want %d", len(ids), workers*perWorker)
	}
}

func TestFailedIDs(t *testing.T) {
	tests := []struct {
		name    string
		calls   [][]string
		want    string
		wantErr string
	}{
		{name: "one call", calls: [][]string{{"u-1", "u-2"}}, want: "u-1\nu-2\n"},
		{name: "several calls", calls: [][]string{{"u-1"}, nil, {"u-2", "u-3"}}, want: "u-1\nu-2\nu-3\n"},
		{name: "unicode id", calls: [][]string{{"ü-1"}}, want: "ü-1\n"},
		{
			// ids are data: each has one line, quoted when a plain line
			// could not carry it, and --ids-file reads them back
			name:  "line breaks, spaces, quotes: written quoted",
			calls: [][]string{{"u-1", "a\nb", " sp ", "c\rd", `"q"`, "u-2"}},
			want:  "u-1\n\"a\\nb\"\n\" sp \"\n\"c\\rd\"\n\"\\\"q\\\"\"\nu-2\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Open(t.TempDir(), sunbird.UserKind, runMS)
			if err != nil {
				t.Fatal(err)
			}
			var gotErr string
			for _, ids := range tt.calls {
				if err := l.FailedIDs(ids); err != nil {
					gotErr = err.Error()
				}
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if gotErr != tt.wantErr {
				t.Errorf("error = %q, want %q", gotErr, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, readFile(t, l.Paths().FailedIDs)); diff != "" {
				t.Errorf("failed-ids (-want +got):\n%s", diff)
			}
			back, err := idsfile.ReadFile(context.Background(), l.Paths().FailedIDs)
			var want []string
			for _, ids := range tt.calls {
				want = append(want, ids...)
			}
			if err != nil || !slices.Equal(back.IDs, want) {
				t.Errorf("--ids-file reads back %q (%v), want %q", back.IDs, err, want)
			}
		})
	}
}

func TestUseAfterClose(t *testing.T) {
	l, err := Open(t.TempDir(), sunbird.UserKind, runMS)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := l.Record(true, 1, nil, nil); err == nil {
		t.Error("Record after Close: no error")
	}
	if err := l.FailedIDs([]string{"u"}); err == nil {
		t.Error("FailedIDs after Close: no error")
	}
	if err := l.Sync(); err != nil {
		t.Errorf("Sync after Close: %v", err)
	}
}

func TestOpenUnwritableDir(t *testing.T) {
	t.Run("permission denied", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root can write to any directory")
		}
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o755) })
		_, err := Open(dir, sunbird.UserKind, runMS)
		want := "state dir " + dir + ": permission denied (cannot create userSyncSuccess_1695211344452.log; choose a writable --state-dir)"
		if err == nil || err.Error() != want {
			t.Fatalf("got error %v, want %q", err, want)
		}
		if !errors.Is(err, fs.ErrPermission) {
			t.Errorf("errors.Is(err, fs.ErrPermission) = false")
		}
	})
	t.Run("permission denied creating the dir", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root can write to any directory")
		}
		parent := t.TempDir()
		if err := os.Chmod(parent, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(parent, 0o755) })
		dir := filepath.Join(parent, "state")
		_, err := Open(dir, sunbird.UserKind, runMS)
		want := "state dir " + dir + ": permission denied (choose a writable --state-dir)"
		if err == nil || err.Error() != want {
			t.Fatalf("got error %v, want %q", err, want)
		}
	})
	t.Run("a file in the way", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(file, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(file, "state")
		_, err := Open(dir, sunbird.UserKind, runMS)
		want := "state dir " + dir + ": not a directory (choose a writable --state-dir)"
		if err == nil || err.Error() != want {
			t.Fatalf("got error %v, want %q", err, want)
		}
	})
}

func TestOpenCreatesDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	l, err := Open(dir, sunbird.LocationKind, runMS)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, p := range []string{l.Paths().Success, l.Paths().Failure, l.Paths().FailedIDs} {
		if _, err := os.Stat(p); err != nil {
			t.Error(err)
		}
	}
}

var ist = time.FixedZone("IST", 5*3600+1800)

func sampleSummary() Summary {
	return Summary{
		ObjectType:      "user",
		Target:          "api",
		Started:         time.Date(2023, 9, 20, 17, 32, 24, 452_000_000, ist),
		Finished:        time.Date(2023, 9, 20, 17, 34, 4, 452_123_456, ist),
		DurationSeconds: 100.000123456,
		Total:           1000,
		Succeeded:       990,
		Failed:          7,
		Skipped:         3,
		Retries:         12,
		DocsPerSecond:   9.9,
		ExitCode:        1,
	}
}

func TestWriteSummaryGolden(t *testing.T) {
	tests := []struct {
		name    string
		resumed *Resumed
	}{
		{"fresh", nil},
		{"resumed", &Resumed{SavedAt: time.Date(2023, 9, 20, 17, 33, 0, 0, ist), Succeeded: 400, Failed: 2, Skipped: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := sampleSummary()
			s.ResumedFrom = tt.resumed
			path, err := WriteSummary(dir, runMS, s)
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(dir, "summary_1695211344452.json"); path != want {
				t.Errorf("path = %s, want %s", path, want)
			}
			checkGolden(t, "summary_"+tt.name+".json", []byte(readFile(t, path)))
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 {
				t.Errorf("dir holds %d entries, want only the summary (temp file left behind?)", len(entries))
			}
		})
	}
}

// TestSummaryKeys pins the key set of the summary, the contract scripts rely
// on.
func TestSummaryKeys(t *testing.T) {
	s := sampleSummary()
	s.ResumedFrom = &Resumed{SavedAt: time.Date(2023, 9, 20, 12, 3, 0, 0, time.UTC)}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatal(err)
	}
	wantKeys := []string{"objectType", "target", "started", "finished", "durationSeconds", "total", "succeeded", "failed", "skipped", "retries", "docsPerSecond", "exitCode", "resumedFrom"}
	if diff := cmp.Diff(sorted(wantKeys), sorted(keys(top))); diff != "" {
		t.Errorf("summary keys (-want +got):\n%s", diff)
	}
	var resumed map[string]json.RawMessage
	if err := json.Unmarshal(top["resumedFrom"], &resumed); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sorted([]string{"savedAt", "succeeded", "failed", "skipped"}), sorted(keys(resumed))); diff != "" {
		t.Errorf("resumedFrom keys (-want +got):\n%s", diff)
	}
	if got, want := string(top["started"]), `"2023-09-20T12:02:24.452Z"`; got != want {
		t.Errorf("started = %s, want %s (UTC)", got, want)
	}

	s.ResumedFrom = nil
	if b, err = json.Marshal(s); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"resumedFrom":null`)) {
		t.Errorf("fresh run: resumedFrom is not null in %s", b)
	}
}

func TestSummaryNonFinite(t *testing.T) {
	s := sampleSummary()
	s.DocsPerSecond = float64(s.Total) / 0 // +Inf: a run that took no time
	s.DurationSeconds = 0
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"docsPerSecond":0,`)) {
		t.Errorf("docsPerSecond not 0 in %s", b)
	}
}

func keys(m map[string]json.RawMessage) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
