package checkpoint

import (
	"fmt"
	"sync"
	"time"
)

// Tracker records the progress of concurrent workers in a State and saves
// it to a file before acknowledging each change.
//
// Saves are group-committed: a change waits for a save that includes it; the
// first waiter writes the state with every change made so far while later
// ones wait for its result, so N workers confirming at once cost one write
// and fsync rather than N.
type Tracker struct {
	path string

	mu      sync.Mutex
	saved   *sync.Cond // signalled when a save ends
	st      State
	gen     uint64 // changes applied to st
	durable uint64 // changes covered by the last successful save
	saving  bool   // a save is in progress (outside mu)
	buf     []byte // encoding buffer, used only by the saver
}

// NewTracker returns a Tracker over a copy of st that saves to path. It does
// not save; call Save to write the initial state of a fresh run.
func NewTracker(path string, st *State) *Tracker {
	t := &Tracker{path: path, st: st.clone()}
	t.saved = sync.NewCond(&t.mu)
	return t
}

// MarkComplete marks the run complete and saves; --resume on it then does
// nothing. Every unit must be done.
func (t *Tracker) MarkComplete() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p := t.st.Pending(); len(p) > 0 {
		return fmt.Errorf("checkpoint: cannot mark the run complete: %d of %d units pending", len(p), len(t.st.Units))
	}
	t.st.Complete = true
	return t.commitLocked()
}

// Save writes the current state.
func (t *Tracker) Save() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.commitLocked()
}

// Pending returns the indexes of the units not done, in order.
func (t *Tracker) Pending() []int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.st.Pending()
}

// Covered returns the share of the units' span confirmed so far, 0 to 1:
// for token ranges, the share of the ring (of a shard) synced. Rows are
// spread evenly over the ring, so done / Covered estimates the total when
// Cassandra's own estimate is off.
func (t *Tracker) Covered() float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var done, all float64
	for _, u := range t.st.Units {
		span := float64(uint64(u.End - u.Start))
		all += span
		switch {
		case u.Done:
			done += span
		default:
			done += float64(uint64(u.Next - u.Start))
		}
	}
	if all == 0 {
		return 0
	}
	return done / all
}

// Snapshot returns a copy of the current state (saved or not).
func (t *Tracker) Snapshot() State {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.st.clone()
}

func (t *Tracker) unitLocked(unit int) (*Unit, error) {
	if unit < 0 || unit >= len(t.st.Units) {
		return nil, fmt.Errorf("checkpoint: advance unit %d: no such unit (have %d)", unit, len(t.st.Units))
	}
	u := &t.st.Units[unit]
	if u.Done {
		return nil, fmt.Errorf("checkpoint: advance unit %d: already done", unit)
	}
	return u, nil
}

// commitLocked counts a change to st and returns once a save that includes
// it has succeeded (or the save this caller made has failed). t.mu is held
// on entry and on return, and released during the write.
func (t *Tracker) commitLocked() error {
	t.gen++
	mine := t.gen
	for t.durable < mine {
		if t.saving {
			t.saved.Wait()
			continue
		}
		// Become the saver for every change applied so far.
		t.saving = true
		upto := t.gen
		t.st.SavedAt = time.Now().UTC()
		b, err := t.st.appendJSON(t.buf[:0])
		if err == nil {
			t.buf = b
			t.mu.Unlock()
			err = writeAtomic(t.path, b)
			t.mu.Lock()
		}
		t.saving = false
		if err == nil && upto > t.durable {
			t.durable = upto
		}
		// Waiters whose change this save covered return; the others (or all,
		// after a failure) try a save of their own.
		t.saved.Broadcast()
		if err != nil {
			return err
		}
	}
	return nil
}

// Step is how far one unit gets when a block is confirmed.
type Step struct {
	Unit     int
	Next     int64 // everything of the unit up to Next is confirmed
	Finished bool  // and nothing follows: the unit is done
}

// Apply records one confirmed block — the progress of every unit it touched
// and its counts — in a single save, so a crash leaves the block either
// wholly recorded or not at all (never counted twice after a resume).
func (t *Tracker) Apply(steps []Step, delta Counts) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range steps {
		u, err := t.unitLocked(s.Unit)
		if err != nil {
			return err
		}
		if s.Next < u.Next || s.Next > u.End {
			return fmt.Errorf("checkpoint: advance unit %d (%d,%d] from %d to %d: out of order or out of range", s.Unit, u.Start, u.End, u.Next, s.Next)
		}
	}
	for _, s := range steps {
		u := &t.st.Units[s.Unit]
		u.Next = s.Next
		if s.Finished {
			u.Next, u.Done = u.End, true
		}
	}
	t.st.Counts = t.st.Counts.Add(delta)
	return t.commitLocked()
}
