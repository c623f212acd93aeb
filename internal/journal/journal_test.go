package journal

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func datas(recs []Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, fmt.Sprintf("%s/%d", r.Data, r.Items))
	}
	return out
}

func TestReplayKeepsWhatIsNotDone(t *testing.T) {
	dir := t.TempDir()
	j, recs, err := Open(dir)
	if err != nil || len(recs) != 0 {
		t.Fatalf("Open of an empty dir: %v, %d records", err, len(recs))
	}
	segA, err := j.Append([]byte("a"), 2)
	if err != nil {
		t.Fatal(err)
	}
	segB, err := j.Append([]byte("b"), 3)
	if err != nil {
		t.Fatal(err)
	}
	j.Done(segA, 2) // a is done, b is not
	// no Close: as after kill -9
	j2, recs, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	// a record is replayed until its whole segment is done: a was in b's segment
	want := []string{"a/2", "b/3"}
	if segA != segB {
		want = []string{"b/3"}
	}
	if diff := cmp.Diff(want, datas(recs)); diff != "" {
		t.Fatalf("replay (-want +got):\n%s", diff)
	}
	if got := j2.Pending(); got != 5 && got != 3 {
		t.Fatalf("Pending after replay = %d", got)
	}
	for _, r := range recs {
		j2.Done(r.Segment, r.Items)
	}
	if err := j2.Close(); err != nil {
		t.Fatal(err)
	}
	_, recs, err = Open(dir)
	if err != nil || len(recs) != 0 {
		t.Fatalf("after everything was done: %v, %v", err, datas(recs))
	}
}

func TestDoneSegmentsAreDeleted(t *testing.T) {
	dir := t.TempDir()
	j, _, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		seg, err := j.Append([]byte(fmt.Sprintf("record %d", i)), 1)
		if err != nil {
			t.Fatal(err)
		}
		j.Done(seg, 1)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "segment-*.log"))
	if len(files) > 1 {
		t.Fatalf("%d segment files stay after every record was done: %v", len(files), files)
	}
	if n := j.Pending(); n != 0 {
		t.Fatalf("Pending = %d, want 0", n)
	}
}

func TestTornTailIsDropped(t *testing.T) {
	dir := t.TempDir()
	j, _, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Append([]byte("whole"), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Append([]byte("torn record"), 1); err != nil {
		t.Fatal(err)
	}
	name := j.active.Name()
	_ = j.Close()
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(name, fi.Size()-3); err != nil { // a crash in the middle of the last write
		t.Fatal(err)
	}
	_, recs, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"whole/1"}, datas(recs)); diff != "" {
		t.Fatalf("replay (-want +got):\n%s", diff)
	}
}

func TestConcurrentAppendsAllDurable(t *testing.T) {
	dir := t.TempDir()
	j, _, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	const callers = 64
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 10; k++ {
				if _, err := j.Append([]byte(fmt.Sprintf("%d-%d", i, k)), 1); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	_, recs, err := Open(dir) // as after kill -9: nothing closed
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range recs {
		seen[string(r.Data)] = true
	}
	if len(seen) != callers*10 {
		t.Fatalf("replayed %d distinct records, want %d", len(seen), callers*10)
	}
}

// Appends that share a group commit each get the segment their record is in:
// once every caller has called Done with the segment Append gave it, nothing
// is pending and no segment file is left. (Only the first caller of a group
// used to get it; the others got segment 0, so the real segment was never
// done: serve warned of ids "left in the journal" after indexing them all,
// kept every segment file and indexed them again at its next start.)
func TestGroupCommitSegmentsAreDone(t *testing.T) {
	dir := t.TempDir()
	j, _, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	const callers, each = 64, 20
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < each; k++ {
				seg, err := j.Append([]byte(fmt.Sprintf("%d-%d", i, k)), 3)
				if err != nil {
					errs <- err
					return
				}
				j.Done(seg, 3)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := j.Pending(); n != 0 {
		t.Errorf("%d items pending after every one was done", n)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*")); len(files) != 0 {
		t.Errorf("segments left after every item was done: %v", files)
	}
}

// A failed write is not acknowledged, and records acknowledged after it
// are still replayed (they go to a new segment, not behind a torn frame).
func TestFailedWriteIsNotAcknowledged(t *testing.T) {
	dir := t.TempDir()
	j, _, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Append([]byte("before"), 1); err != nil {
		t.Fatal(err)
	}
	_ = j.active.Close() // the next write fails
	if _, err := j.Append([]byte("lost"), 1); err == nil {
		t.Fatal("Append succeeded on a segment that cannot be written")
	}
	if _, err := j.Append([]byte("after"), 1); err != nil {
		t.Fatalf("Append after a failed write: %v", err)
	}
	_, recs, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"before/1", "after/1"}, datas(recs)); diff != "" {
		t.Fatalf("replay (-want +got):\n%s", diff)
	}
}

func BenchmarkAppendParallel(b *testing.B) {
	j, _, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 2000)
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			seg, err := j.Append(data, 100)
			if err != nil {
				b.Error(err)
				return
			}
			j.Done(seg, 100)
		}
	})
}
