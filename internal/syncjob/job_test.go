package syncjob

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/indexsync/indexsync/internal/checkpoint"
)

// seqSource yields items 1..n of each unit as ids "u<unit>-<seq>".
type seqSource struct{}

func (seqSource) Items(ctx context.Context, u checkpoint.Unit, after int64, fn func(Item) error) error {
	for s := after + 1; s <= u.End; s++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(Item{ID: fmt.Sprintf("u%d-%d", u.Start, s), Seq: s}); err != nil {
			return err
		}
	}
	return nil
}

// fakeTarget records what it got; hooks decide failures.
type fakeTarget struct {
	mu     sync.Mutex
	sent   map[string]int
	blocks int
	fail   func(block []Item) (map[string]string, error)
	after  func(blocks int) // called after each block, outside the lock
}

func (f *fakeTarget) Send(_ context.Context, block []Item) (Outcome, error) {
	f.mu.Lock()
	if f.sent == nil {
		f.sent = map[string]int{}
	}
	for _, it := range block {
		f.sent[it.ID]++
	}
	f.blocks++
	n := f.blocks
	f.mu.Unlock()
	var failed map[string]string
	var err error
	if f.fail != nil {
		failed, err = f.fail(block)
	}
	if f.after != nil {
		f.after(n)
	}
	return Outcome{Failed: failed, Success: err == nil && len(failed) == 0, Request: []byte("req"), Response: []byte("resp")}, err
}

type fakeRecords struct {
	mu      sync.Mutex
	records int
	failed  []string
}

func (r *fakeRecords) Record(bool, int, []byte, []byte) error {
	r.mu.Lock()
	r.records++
	r.mu.Unlock()
	return nil
}

func (r *fakeRecords) FailedIDs(ids []string) error {
	r.mu.Lock()
	r.failed = append(r.failed, ids...)
	r.mu.Unlock()
	return nil
}

// units: 4 units of 250 items each, numbered from unit start 0, 1000, 2000, 3000.
func testUnits() []checkpoint.Unit {
	var us []checkpoint.Unit
	for i := range 4 {
		us = append(us, checkpoint.NewUnit(int64(i*1000), int64(i*1000+250)))
	}
	return us
}

func newTracker(t *testing.T, units []checkpoint.Unit) (*checkpoint.Tracker, string) {
	path := filepath.Join(t.TempDir(), "checkpoint.json")
	tr := checkpoint.NewTracker(path, checkpoint.New(1, "fp", "user", "api", testTime, units))
	if err := tr.Save(); err != nil {
		t.Fatal(err)
	}
	return tr, path
}

func cfg(tr *checkpoint.Tracker, tgt Target, rec Records, conc int) Config {
	s := tr.Snapshot()
	return Config{Units: s.Units, Pending: tr.Pending(), Source: seqSource{}, Target: tgt, Checkpoint: tr, Records: rec, BlockSize: 100, Concurrency: conc}
}

func TestEveryItemOnce(t *testing.T) {
	for _, conc := range []int{1, 3, 8} {
		t.Run(fmt.Sprint(conc), func(t *testing.T) {
			tr, _ := newTracker(t, testUnits())
			tgt := &fakeTarget{}
			rec := &fakeRecords{}
			res, err := Run(context.Background(), cfg(tr, tgt, rec, conc))
			if err != nil || res.Interrupted {
				t.Fatalf("err %v interrupted %v", err, res.Interrupted)
			}
			if len(tgt.sent) != 1000 {
				t.Errorf("%d distinct ids sent, want 1000", len(tgt.sent))
			}
			for id, n := range tgt.sent {
				if n != 1 {
					t.Errorf("%s sent %d times", id, n)
				}
			}
			// blocks fill across units: 10 full blocks, plus at most one
			// partial block per other worker
			if tgt.blocks < 10 || tgt.blocks > 10+conc-1 || rec.records != tgt.blocks {
				t.Errorf("blocks %d records %d, want 10 to %d", tgt.blocks, rec.records, 10+conc-1)
			}
			if s := tr.Snapshot(); s.Counts.Succeeded != 1000 || len(tr.Pending()) != 0 {
				t.Errorf("checkpoint counts %+v, pending %v", s.Counts, tr.Pending())
			}
		})
	}
}

func TestFailuresAreRecorded(t *testing.T) {
	tr, _ := newTracker(t, testUnits())
	var calls int
	var mu sync.Mutex
	tgt := &fakeTarget{fail: func(block []Item) (map[string]string, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 2 {
			return nil, errors.New("503 after all retries")
		}
		return map[string]string{block[0].ID: "false"}, nil
	}}
	rec := &fakeRecords{}
	res, err := Run(context.Background(), cfg(tr, tgt, rec, 1))
	if err != nil {
		t.Fatal(err)
	}
	// block 2 failed whole (100 ids), the 9 other blocks one id each
	if res.Counts.Failed != 109 || res.Counts.Succeeded != 891 {
		t.Errorf("counts %+v", res.Counts)
	}
	if len(rec.failed) != 109 {
		t.Errorf("failed ids recorded: %d", len(rec.failed))
	}
}

func TestStopErrorStops(t *testing.T) {
	tr, _ := newTracker(t, testUnits())
	tgt := &fakeTarget{fail: func([]Item) (map[string]string, error) {
		return nil, &StopError{Err: errors.New("401")}
	}}
	// with several workers too, the first call goes alone
	res, err := Run(context.Background(), cfg(tr, tgt, &fakeRecords{}, 4))
	if !errors.Is(err, ErrNoProgress) {
		t.Errorf("err = %v, want ErrNoProgress", err)
	}
	if tgt.blocks != 1 {
		t.Errorf("%d calls after a StopError, want 1", tgt.blocks)
	}
	_ = res
}

func TestTransientFailureRetriedInRounds(t *testing.T) {
	t.Run("target stays away", func(t *testing.T) {
		tr, path := newTracker(t, testUnits())
		tgt := &fakeTarget{fail: func([]Item) (map[string]string, error) {
			return nil, fmt.Errorf("%w: connection refused", ErrTransient)
		}}
		rec := &fakeRecords{}
		c := cfg(tr, tgt, rec, 1)
		c.RoundWait = time.Millisecond
		_, err := Run(context.Background(), c)
		var stop *StopError
		if !errors.As(err, &stop) {
			t.Fatalf("err = %v, want a StopError", err)
		}
		if tgt.blocks != 3 {
			t.Errorf("the block was sent %d times, want 3 rounds", tgt.blocks)
		}
		if rec.records != 0 || len(rec.failed) != 0 {
			t.Errorf("an unconfirmed block was recorded: %d records, %d failed ids", rec.records, len(rec.failed))
		}
		st, _ := checkpoint.Load(path)
		if st.Units[0].Next != st.Units[0].Start {
			t.Errorf("checkpoint advanced past an unconfirmed block: %+v", st.Units[0])
		}
	})
	t.Run("target comes back", func(t *testing.T) {
		tr, _ := newTracker(t, testUnits())
		var mu sync.Mutex
		calls := 0
		tgt := &fakeTarget{fail: func([]Item) (map[string]string, error) {
			mu.Lock()
			defer mu.Unlock()
			if calls++; calls <= 2 {
				return nil, fmt.Errorf("%w: 503", ErrTransient)
			}
			return nil, nil
		}}
		rec := &fakeRecords{}
		c := cfg(tr, tgt, rec, 1)
		c.RoundWait = time.Millisecond
		res, err := Run(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		if res.Counts.Succeeded != 1000 || res.Counts.Failed != 0 || rec.records != 10 {
			t.Errorf("counts %+v, records %d", res.Counts, rec.records)
		}
	})
}

// TestInterruptAndResume: cancel in the middle; the block in flight is
// finished and checkpointed; a resumed run sends exactly the rest.
func TestInterruptAndResume(t *testing.T) {
	tr, path := newTracker(t, testUnits())
	ctx, cancel := context.WithCancel(context.Background())
	first := &fakeTarget{after: func(n int) {
		if n == 5 {
			cancel()
		}
	}}
	res, err := Run(ctx, cfg(tr, first, &fakeRecords{}, 2))
	if err != nil || !res.Interrupted {
		t.Fatalf("err %v interrupted %v", err, res.Interrupted)
	}
	st, err := checkpoint.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Counts.Succeeded != len(first.sent) {
		t.Errorf("checkpoint says %d succeeded, target got %d", st.Counts.Succeeded, len(first.sent))
	}
	tr2 := checkpoint.NewTracker(path, st)
	second := &fakeTarget{}
	if _, err := Run(context.Background(), cfg(tr2, second, &fakeRecords{}, 2)); err != nil {
		t.Fatal(err)
	}
	var both []string
	for id := range first.sent {
		both = append(both, id)
	}
	for id := range second.sent {
		if first.sent[id] > 0 {
			t.Errorf("%s sent again after resume", id)
		}
		both = append(both, id)
	}
	sort.Strings(both)
	if len(both) != 1000 {
		t.Errorf("%d ids sent over both runs, want 1000", len(both))
	}
	if s := tr2.Snapshot(); s.Counts.Succeeded != 1000 {
		t.Errorf("final count %d", s.Counts.Succeeded)
	}
}
