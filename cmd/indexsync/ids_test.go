package main

import (
	"os"
	"strings"
	"testing"

	"github.com/indexsync/indexsync/internal/idsfile"
	"github.com/indexsync/indexsync/internal/testenv"
)

// TestOddIDsNeverStopARun: a user whose id holds a line break and whose
// document the engine refuses fails alone — on both targets, and again when
// its failed-ids file is fed back — and never stops the run (exit 1, not 4).
// A Cassandra key longer than Elasticsearch allows for an id fails alone too.
// (The failed-ids writer used to refuse the line break, a fatal error before
// the checkpoint moved on: exit 4 on every run, for ever.)
func TestOddIDsNeverStopARun(t *testing.T) {
	f := testenv.NewFixture(t, 300, 20, 37)
	t.Setenv("INDEXSYNC_CASSANDRA_PASSWORD", f.Cass.Password.Reveal())
	broken := "bad\nuser \"one\""
	long := strings.Repeat("k", 600)
	for _, id := range []string{broken, long} {
		// dob is a date in Sunbird's mapping: the engine refuses this document
		if err := f.Session.Exec(t.Context(), "INSERT INTO "+f.Keyspace+".user (id, userid, dob) VALUES (?, ?, ?)", id, id, "not-a-date"); err != nil {
			t.Fatal(err)
		}
	}
	url := startServe(t, f)
	t.Setenv("INDEXSYNC_API_KEY", apiKey)
	for name, args := range map[string][]string{
		"search": searchRunArgs(f, t.TempDir(), "--block-size", "50"),
		"api":    append([]string{"run", "--api-endpoint", url, "--state-dir", t.TempDir()}, f.CassandraArgs()...),
	} {
		t.Run(name, func(t *testing.T) {
			dir := args[indexOf(args, "--state-dir")+1]
			out, stderr, code := runCmd(t, args...)
			if code != exitSomeFailed {
				t.Fatalf("exit %d, want 1 (some ids failed)\n%s\n%s", code, out, stderr)
			}
			failed := onlyFile(t, dir, "failed-ids_*.txt")
			b, _ := os.ReadFile(failed)
			if !strings.Contains(string(b), `"bad\nuser \"one\""`+"\n") || !strings.Contains(string(b), `"`+long+`"`+"\n") {
				t.Errorf("failed-ids does not hold both ids, one a line:\n%s", b)
			}
			// read back: the line break survives; the long id is reported,
			// it can never be synced
			back, err := idsfile.ReadFile(t.Context(), failed)
			if err != nil || len(back.IDs) != 1 || back.IDs[0] != broken || back.SkippedTotal != 1 || !strings.Contains(back.Skipped[0].Reason, "longer than 512") {
				t.Errorf("failed-ids reads back as %q, skipped %v (%v)", back.IDs, back.Skipped, err)
			}
			if s := readSummary(t, dir); s.Failed != 2 || s.Succeeded != 300 {
				t.Errorf("summary %+v, want 300 synced and 2 failed", s)
			}
			// fed back: they fail again, and the run still ends normally
			again := append(append([]string{}, args...), "--ids-file", failed)
			again[indexOf(again, "--state-dir")+1] = t.TempDir()
			if _, stderr, code := runCmd(t, again...); code != exitSomeFailed {
				t.Errorf("--ids-file of the failed ids: exit %d, want 1\n%s", code, stderr)
			}
		})
	}
}

func indexOf(l []string, s string) int {
	for i, v := range l {
		if v == s {
			return i
		}
	}
	return -1
}
