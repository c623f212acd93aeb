package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/indexsync/indexsync/internal/runlog"
	"github.com/indexsync/indexsync/internal/testenv"
)

// sunbirdWriter writes users as Sunbird's services do while a rebuild runs:
// a row to Cassandra, then the document through the Sync API
// (operationType "sync", which writes through the alias), and it keeps the
// ids the API answered true for.
type sunbirdWriter struct {
	f       *testenv.Fixture
	api     string
	created []string
	updated []string
	errs    []error
	retried []string // the answers a call was sent again after
}

func (w *sunbirdWriter) sync(ids []string) error { return w.syncAttempt(ids, 0) }

func (w *sunbirdWriter) syncAttempt(ids []string, attempt int) error {
	body, _ := json.Marshal(map[string]any{"request": map[string]any{"objectType": "user", "objectIds": ids, "operationType": "sync"}})
	req, _ := http.NewRequest(http.MethodPost, w.api, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 500 && attempt < 5 {
		// a sync call that timed out (500 SYNC_TIMEOUT on a loaded machine)
		// or a 503: its answer says to send the block again, as a caller does
		body, _ := io.ReadAll(resp.Body)
		w.retried = append(w.retried, fmt.Sprintf("HTTP %d %s", resp.StatusCode, bytes.TrimSpace(body)))
		time.Sleep(time.Second)
		return w.syncAttempt(ids, attempt+1)
	}
	var env struct {
		Result struct {
			ES map[string]bool `json:"esSyncResponse"`
		} `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil || resp.StatusCode != 200 {
		return fmt.Errorf("sync API: %d %v", resp.StatusCode, err)
	}
	for _, id := range ids {
		if !env.Result.ES[id] {
			return fmt.Errorf("sync API answered %v for %s", env.Result.ES[id], id)
		}
	}
	return nil
}

// round creates one user (a copy of an existing row under a new id) and
// updates another, then syncs both.
func (w *sunbirdWriter) round(ctx context.Context, k int, existing []string) error {
	sess, ks := w.f.Session, w.f.Keyspace
	src := existing[(k*7919)%len(existing)]
	var js string
	if err := sess.Query("SELECT JSON * FROM "+ks+".user WHERE id = ?", src).ScanContext(ctx, &js); err != nil {
		return fmt.Errorf("read %s: %w", src, err)
	}
	var row map[string]any
	if err := json.Unmarshal([]byte(js), &row); err != nil {
		return err
	}
	id := fmt.Sprintf("during-rebuild-%06d", k)
	row["id"], row["userid"], row["firstname"] = id, id, fmt.Sprintf("Created %d", k)
	b, _ := json.Marshal(row)
	if err := sess.Query("INSERT INTO "+ks+".user JSON ?", string(b)).ExecContext(ctx); err != nil {
		return fmt.Errorf("create %s: %w", id, err)
	}
	upd := existing[(k*104729+13)%len(existing)]
	if err := sess.Query("UPDATE "+ks+".user SET firstname = ?, lastname = ? WHERE id = ?", fmt.Sprintf("Renamed %d", k), "During-Rebuild", upd).ExecContext(ctx); err != nil {
		return fmt.Errorf("update %s: %w", upd, err)
	}
	if err := w.sync([]string{id, upd}); err != nil {
		return err
	}
	w.created = append(w.created, id)
	w.updated = append(w.updated, upd)
	return nil
}

// rebuildUnderWrites runs run --rebuild with the given --catch-up while the
// writer keeps writing, and returns the run's summary and output.
func rebuildUnderWrites(t *testing.T, f *testenv.Fixture, w *sunbirdWriter, catchUp string, offset int, existing []string) (runlog.Summary, string, int) {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(binary(t), searchRunArgs(f, dir, "--rebuild", "--rate", "2000", "--block-size", "200", "--catch-up", catchUp, "--delete-old")...)
	cmd.Env = append(os.Environ(), f.Env()...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for k := offset; ; k++ {
			select {
			case <-done:
				return
			default:
			}
			if err := w.round(context.Background(), k, existing); err != nil {
				w.errs = append(w.errs, err)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	err := cmd.Wait()
	close(done)
	wg.Wait()
	if len(w.retried) > 0 {
		t.Logf("the writer sent %d calls again after: %v", len(w.retried), w.retried)
	}
	for _, e := range w.errs {
		t.Fatalf("writer: %v", e)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	return readSummary(t, dir), out.String(), code
}

// TestRebuildUnderWrites: users created and updated through the Sync API
// while run --rebuild loads a new index are all in it, as Cassandra has
// them, when the run reports success. The control (--catch-up 0, the
// rebuild as it was) loses them.
func TestRebuildUnderWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("two rebuilds of 10,000 users under writes")
	}
	f := testenv.NewFixture(t, 10000, 30, 71)
	t.Setenv("INDEXSYNC_CASSANDRA_PASSWORD", f.Cass.Password.Reveal())
	if _, stderr, code := runCmd(t, searchRunArgs(f, t.TempDir())...); code != 0 {
		t.Fatalf("first sync: %d %s", code, stderr)
	}
	w := &sunbirdWriter{f: f, api: startServe(t, f)}
	// Each subtest updates users of its own: a call of the control that
	// timed out under load may still land late, and two calls for one user
	// can land in either order (the Sync API does not version documents:
	// README, "Rebuild: the guarantee and the window").
	users := f.UserIDs()

	t.Run("control: no catch-up loses the writes", func(t *testing.T) {
		sum, out, code := rebuildUnderWrites(t, f, w, "0", 0, users[:len(users)/2])
		if code != 0 {
			t.Fatalf("rebuild --catch-up 0: exit %d\n%s", code, out)
		}
		t.Logf("%d users created and %d updated during the rebuild", len(w.created), len(w.updated))
		_, vcode, rep := runVerifyCmd(t, f)
		if vcode != exitSomeFailed || rep.Missing+rep.Stale == 0 {
			t.Fatalf("without catch-up verify found %d missing, %d stale (exit %d): the test cannot see lost writes", rep.Missing, rep.Stale, vcode)
		}
		t.Logf("without catch-up: %d missing, %d stale after the swap (summary: %+v)", rep.Missing, rep.Stale, sum.Rebuild)
		if _, code, _ := runVerifyCmd(t, f, "--repair"); code != 0 {
			t.Fatalf("verify --repair: exit %d", code)
		}
	})

	t.Run("catch-up keeps every write", func(t *testing.T) {
		w.created, w.updated = nil, nil
		sum, out, code := rebuildUnderWrites(t, f, w, "2", 100000, users[len(users)/2:])
		if code != 0 {
			t.Fatalf("rebuild: exit %d\n%s", code, out)
		}
		t.Logf("rebuild output:\n%s", out)
		if len(w.created) < 50 {
			t.Fatalf("only %d writes during the rebuild: too few to show anything", len(w.created))
		}
		rb := sum.Rebuild
		if rb == nil || !rb.Swapped || rb.CatchUpBefore == nil || rb.CatchUpAfter == nil {
			t.Fatalf("summary rebuild = %+v", rb)
		}
		if !strings.Contains(out, "Every write made during the rebuild is in") {
			t.Errorf("the run does not state its guarantee")
		}
		// the writes made during the rebuild, read from the new index as Sunbird reads them
		ids := append(append([]string{}, w.created...), w.updated...)
		got := f.IndexedDocs(t, "user", ids)
		missing := 0
		for _, id := range w.created {
			if _, ok := got[id]; !ok {
				missing++
			}
		}
		renamed := 0
		for _, id := range w.updated {
			if strings.Contains(string(got[id]), `"lastName":"During-Rebuild"`) {
				renamed++
			}
		}
		t.Logf("during the rebuild: %d users created (%d in the new index), %d updated (%d with the update); catch-up before the move: %d missing %d stale re-synced in %.1fs; after: %d missing %d stale in %.1fs; window %.2fs",
			len(w.created), len(w.created)-missing, len(w.updated), renamed,
			rb.CatchUpBefore.Missing, rb.CatchUpBefore.Stale, rb.CatchUpBefore.Seconds,
			rb.CatchUpAfter.Missing, rb.CatchUpAfter.Stale, rb.CatchUpAfter.Seconds, rb.WindowSeconds)
		if missing > 0 || renamed != len(w.updated) {
			t.Errorf("%d created users missing, %d of %d updates lost", missing, len(w.updated)-renamed, len(w.updated))
		}
		// and nothing else differs: verify, as an operator would check
		if _, vcode, rep := runVerifyCmd(t, f); vcode != 0 || rep.Missing+rep.Stale != 0 {
			t.Errorf("verify after the rebuild: exit %d, %d missing, %d stale", vcode, rep.Missing, rep.Stale)
		}
	})
}
