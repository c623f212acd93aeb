package checkpoint

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var started = time.Date(2023, 9, 20, 12, 2, 24, 452_000_000, time.UTC)

func sampleUnits() []Unit {
	return []Unit{
		NewUnit(math.MinInt64, -3074457345618258603),
		NewUnit(-3074457345618258603, 3074457345618258602),
		NewUnit(3074457345618258602, math.MaxInt64),
	}
}

func sampleState() *State {
	return New(1695211344452, Fingerprint("user", "api", "sunbird", "0/1"), "user", "api", started, sampleUnits())
}

func TestNew(t *testing.T) {
	units := []Unit{{Start: -1, End: 99, Next: 50, Done: true}}
	got := New(7, "fp", "user", "search", started.In(time.FixedZone("IST", 19800)), units)
	want := &State{
		Version: 1, RunMS: 7, Fingerprint: "fp", ObjectType: "user", Target: "search",
		Started: started, Units: []Unit{{Start: -1, End: 99, Next: -1}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("New (-want +got):\n%s", diff)
	}
	if got.Started.Location() != time.UTC {
		t.Errorf("Started in %v, want UTC", got.Started.Location())
	}
	if units[0].Next != 50 {
		t.Errorf("New modified its argument")
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		state func() *State
	}{
		{"fresh", sampleState},
		{"progress", func() *State {
			s := sampleState()
			s.Units[0].Next = -5000000000000000000
			s.Units[1] = Unit{Start: s.Units[1].Start, End: s.Units[1].End, Next: s.Units[1].End, Done: true}
			s.Counts = Counts{Total: 1000, Succeeded: 990, Failed: 7, Skipped: 3, Retries: 12, RequestNo: 10}
			return s
		}},
		{"complete, ids file units", func() *State {
			s := New(1, "fp", "location", "search", started, []Unit{NewUnit(-1, 49999), NewUnit(49999, 99999)})
			for i := range s.Units {
				s.Units[i].Next, s.Units[i].Done = s.Units[i].End, true
			}
			s.Complete = true
			return s
		}},
		{"no units", func() *State { return New(1, "fp", "user", "api", started, nil) }},
		{"strings needing escapes", func() *State {
			return New(1, "fp\"\\<&>\u2028", "user\n", "ä\x01", started, nil)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), FileName)
			s := tt.state()
			if err := s.Save(path); err != nil {
				t.Fatal(err)
			}
			if s.SavedAt.IsZero() {
				t.Error("Save did not set SavedAt")
			}
			got, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(s, got); diff != "" {
				t.Errorf("Load after Save (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEncodingMatchesJSON checks the hand-written encoder against
// encoding/json, which is what Load decodes with.
func TestEncodingMatchesJSON(t *testing.T) {
	states := []*State{sampleState(), New(1, "a\"b", "<user>", "\u2028\xff", time.Time{}, nil), New(1, "fp", "user", "api", started, []Unit{})}
	states[0].Counts = Counts{1, 2, 3, 4, 5, 6}
	states[0].Complete = true
	states[0].SavedAt = started.Add(1234567 * time.Nanosecond)
	for _, s := range states {
		got, err := s.appendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, got); err != nil {
			t.Fatalf("invalid JSON %s: %v", got, err)
		}
		if diff := cmp.Diff(string(want), compact.String()); diff != "" {
			t.Errorf("appendJSON differs from json.Marshal (-want +got):\n%s", diff)
		}
	}
}

func TestSaveLeavesNoTempFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	s := sampleState()
	for range 5 {
		if err := s.Save(path); err != nil {
			t.Fatal(err)
		}
	}
	tr := NewTracker(path, s)
	for i := range 3 {
		if err := finish(tr, i); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]string{FileName}, dirNames(t, dir)); diff != "" {
		t.Errorf("state dir (-want +got):\n%s", diff)
	}
}

// TestCrashLeftover simulates a crash in the middle of a save: a partly
// written temp file next to the checkpoint. The old checkpoint still loads,
// and the next save works.
func TestCrashLeftover(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	s := sampleState()
	s.Counts.Succeeded = 100
	if err := s.Save(path); err != nil {
		t.Fatal(err)
	}
	leftover := filepath.Join(dir, FileName+".tmp-123456")
	if err := os.WriteFile(leftover, []byte(`{"version":1,"runMs":169521`), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s, got); diff != "" {
		t.Errorf("Load beside a leftover temp file (-want +got):\n%s", diff)
	}
	got.Counts.Succeeded = 200
	if err := got.Save(path); err != nil {
		t.Fatal(err)
	}
	again, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if again.Counts.Succeeded != 200 {
		t.Errorf("after a second save, succeeded = %d, want 200", again.Counts.Succeeded)
	}
}

func TestLoadMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	_, err := Load(path)
	if !errors.Is(err, ErrNoCheckpoint) {
		t.Fatalf("got error %v, want ErrNoCheckpoint", err)
	}
	if want := "no checkpoint at " + path; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
}

func TestLoadCorrupt(t *testing.T) {
	valid, err := sampleState().appendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		content string
		reason  string
	}{
		{"empty", "", "unexpected end of JSON input"},
		{"truncated", string(valid[:len(valid)/2]), "unexpected end of JSON input"},
		{"not JSON", "hello", "invalid character"},
		{"wrong type", `{"version":"1"}`, "cannot unmarshal"},
		{"other version", strings.Replace(string(valid), `"version":1`, `"version":2`, 1), "version 2, this indexsync reads version 1"},
		{"no fingerprint", `{"version":1}`, "no fingerprint"},
		{"next out of range", `{"version":1,"fingerprint":"f","units":[{"start":0,"end":10,"next":11}]}`, "unit 0: next 11 outside (0,10]"},
		{"next before start", `{"version":1,"fingerprint":"f","units":[{"start":0,"end":10,"next":-1}]}`, "unit 0: next -1 outside (0,10]"},
		{"negative counts", `{"version":1,"fingerprint":"f","counts":{"failed":-1}}`, "negative counts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), FileName)
			if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("got error %v, want ErrCorrupt", err)
			}
			for _, want := range []string{"checkpoint " + path + ": corrupt: ", tt.reason, "(delete it to start afresh, or choose another --state-dir)"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	a := Fingerprint("user", "api", "sunbird")
	if len(a) != 16 {
		t.Errorf("len = %d, want 16", len(a))
	}
	if b := Fingerprint("user", "api", "sunbird"); a != b {
		t.Errorf("not stable: %s, %s", a, b)
	}
	tests := [][2][]string{
		{{"ab", "c"}, {"a", "bc"}},
		{{"user", "api"}, {"user", "search"}},
		{{"x"}, {"x", ""}},
		{{}, {""}},
	}
	for _, tt := range tests {
		if Fingerprint(tt[0]...) == Fingerprint(tt[1]...) {
			t.Errorf("Fingerprint(%q) == Fingerprint(%q)", tt[0], tt[1])
		}
	}
}

func TestTrackerConcurrentAdvance(t *testing.T) {
	const workers, steps = 8, 100
	units := make([]Unit, workers)
	for i := range units {
		units[i] = NewUnit(int64(i*1000), int64(i*1000+steps))
	}
	path := filepath.Join(t.TempDir(), FileName)
	s := New(1, "fp", "user", "api", started, units)
	tr := NewTracker(path, s)
	if err := tr.Save(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 1; i <= steps; i++ {
				d := Counts{Total: 3, Succeeded: 2, Failed: 1, Retries: i % 2, RequestNo: 1}
				if err := advance(tr, w, int64(w*1000+i), d); err != nil {
					t.Error(err)
					return
				}
				// What Advance acknowledged is on disk already.
				if i == steps/2 {
					got, err := Load(path)
					if err != nil {
						t.Error(err)
						return
					}
					if got.Units[w].Next < int64(w*1000+i) {
						t.Errorf("unit %d: disk has next %d after Advance to %d", w, got.Units[w].Next, w*1000+i)
					}
				}
			}
			if err := finish(tr, w); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	wantCounts := Counts{Total: 3 * workers * steps, Succeeded: 2 * workers * steps, Failed: workers * steps, Retries: workers * steps / 2, RequestNo: workers * steps}
	snap := tr.Snapshot()
	if diff := cmp.Diff(wantCounts, snap.Counts); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	if p := tr.Pending(); len(p) != 0 {
		t.Errorf("pending = %v, want none", p)
	}
	if err := tr.MarkComplete(); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := tr.Snapshot()
	if diff := cmp.Diff(&want, got); diff != "" {
		t.Errorf("saved state differs from the tracker's (-want +got):\n%s", diff)
	}
	if !got.Complete {
		t.Error("not complete on disk")
	}
}

func TestTrackerResume(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	tr := NewTracker(path, sampleState())
	if err := advance(tr, 0, -6000000000000000000, Counts{Total: 100, Succeeded: 100, RequestNo: 1}); err != nil {
		t.Fatal(err)
	}
	if err := finish(tr, 1); err != nil {
		t.Fatal(err)
	}
	// A new process loads what the old one confirmed.
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{0, 2}, s.Pending()); diff != "" {
		t.Errorf("pending (-want +got):\n%s", diff)
	}
	tr2 := NewTracker(path, s)
	if diff := cmp.Diff([]int{0, 2}, tr2.Pending()); diff != "" {
		t.Errorf("tracker pending (-want +got):\n%s", diff)
	}
	if got := tr2.Snapshot().Units[0].Next; got != -6000000000000000000 {
		t.Errorf("unit 0 next = %d", got)
	}
	if err := tr2.MarkComplete(); err == nil || !strings.Contains(err.Error(), "2 of 3 units pending") {
		t.Errorf("MarkComplete with pending units: got %v", err)
	}
}

func TestTrackerErrors(t *testing.T) {
	newTracker := func(t *testing.T) *Tracker {
		tr := NewTracker(filepath.Join(t.TempDir(), FileName), New(1, "fp", "user", "api", started, []Unit{NewUnit(0, 10), NewUnit(10, 20)}))
		if err := advance(tr, 0, 5, Counts{}); err != nil {
			t.Fatal(err)
		}
		if err := finish(tr, 1); err != nil {
			t.Fatal(err)
		}
		return tr
	}
	tests := []struct {
		name string
		call func(*Tracker) error
		want string // "" for no error
	}{
		{"same next records counts", func(tr *Tracker) error { return advance(tr, 0, 5, Counts{Retries: 1}) }, ""},
		{"to the end", func(tr *Tracker) error { return advance(tr, 0, 10, Counts{}) }, ""},
		{"backwards", func(tr *Tracker) error { return advance(tr, 0, 4, Counts{}) }, "from 5 to 4: out of order or out of range"},
		{"past end", func(tr *Tracker) error { return advance(tr, 0, 11, Counts{}) }, "from 5 to 11: out of order or out of range"},
		{"no such unit", func(tr *Tracker) error { return advance(tr, 2, 1, Counts{}) }, "advance unit 2: no such unit (have 2)"},
		{"negative unit", func(tr *Tracker) error { return advance(tr, -1, 1, Counts{}) }, "advance unit -1: no such unit"},
		{"done unit", func(tr *Tracker) error { return advance(tr, 1, 20, Counts{}) }, "advance unit 1: already done"},
		{"finish twice", func(tr *Tracker) error { return finish(tr, 1) }, "advance unit 1: already done"},
		{"finish no such unit", func(tr *Tracker) error { return finish(tr, 5) }, "advance unit 5: no such unit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(newTracker(t))
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestTrackerSaveError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing-dir", FileName)
	tr := NewTracker(path, sampleState())
	err := advance(tr, 0, math.MinInt64+1, Counts{Succeeded: 1})
	if err == nil || !strings.Contains(err.Error(), "save checkpoint") {
		t.Fatalf("got error %v, want a save error", err)
	}
}

func TestTrackerSnapshotIsACopy(t *testing.T) {
	tr := NewTracker(filepath.Join(t.TempDir(), FileName), sampleState())
	snap := tr.Snapshot()
	snap.Units[0].Done = true
	if diff := cmp.Diff([]int{0, 1, 2}, tr.Pending()); diff != "" {
		t.Errorf("changing a snapshot changed the tracker (-want +got):\n%s", diff)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// BenchmarkAdvance measures confirmations from 8 concurrent workers against
// a checkpoint of 4096 units (each one a write and fsync, shared by
// concurrent callers).
func BenchmarkAdvance(b *testing.B) {
	units := make([]Unit, 4096)
	for i := range units {
		units[i] = NewUnit(int64(i)*1_000_000, int64(i+1)*1_000_000)
	}
	tr := NewTracker(filepath.Join(b.TempDir(), FileName), New(1, "fp", "user", "api", started, units))
	var worker atomic.Int64
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		u := int(worker.Add(1)-1) % len(units)
		next := units[u].Start
		for pb.Next() {
			if next < units[u].End {
				next++
			}
			if err := advance(tr, u, next, Counts{Succeeded: 1}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkEncode is the part of a save spent encoding 4096 units.
func BenchmarkEncode(b *testing.B) {
	units := make([]Unit, 4096)
	for i := range units {
		units[i] = NewUnit(int64(i)*1_000_000_000_000, int64(i+1)*1_000_000_000_000)
	}
	s := New(1, "fp", "user", "api", started, units)
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = s.appendJSON(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

// advance and finish are one-step Applies, as the sync job makes them.
func advance(tr *Tracker, unit int, next int64, d Counts) error {
	return tr.Apply([]Step{{Unit: unit, Next: next}}, d)
}

func finish(tr *Tracker, unit int) error {
	next := int64(0)
	if st := tr.Snapshot(); unit >= 0 && unit < len(st.Units) {
		next = st.Units[unit].Next
	}
	return tr.Apply([]Step{{Unit: unit, Next: next, Finished: true}}, Counts{})
}

// TestTrackerCovered: the share of the units' span confirmed, over the
// whole ring (spans that overflow int64 subtraction included).
func TestTrackerCovered(t *testing.T) {
	tr := NewTracker(filepath.Join(t.TempDir(), FileName), sampleState())
	if c := tr.Covered(); c != 0 {
		t.Errorf("fresh run covers %v, want 0", c)
	}
	// the first third done, the second half-way
	if err := tr.Apply([]Step{{Unit: 0, Next: -3074457345618258603, Finished: true}, {Unit: 1, Next: 0}}, Counts{Succeeded: 1}); err != nil {
		t.Fatal(err)
	}
	if c := tr.Covered(); math.Abs(c-0.5) > 1e-9 {
		t.Errorf("covers %v, want 0.5", c)
	}
	if err := tr.Apply([]Step{{Unit: 1, Next: 3074457345618258602, Finished: true}, {Unit: 2, Next: math.MaxInt64, Finished: true}}, Counts{Succeeded: 1}); err != nil {
		t.Fatal(err)
	}
	if c := tr.Covered(); math.Abs(c-1) > 1e-9 {
		t.Errorf("a finished run covers %v, want 1", c)
	}
}
