package checkpoint

import (
	"fmt"
	"os"
	"path/filepath"
)

// Dir is a run's state directory as far as its checkpoint goes.
type Dir string

// Path is the checkpoint's path in the directory.
func (d Dir) Path() string { return filepath.Join(string(d), FileName) }

// Load reads the directory's checkpoint (see Load).
func (d Dir) Load() (*State, error) { return Load(d.Path()) }

// SetAside keeps the checkpoint of an unfinished run as
// checkpoint_<ms>.json, so that a new run can start without losing it.
func (d Dir) SetAside(st *State) (string, error) {
	kept := filepath.Join(string(d), fmt.Sprintf("checkpoint_%d.json", st.RunMS))
	if err := os.Rename(d.Path(), kept); err != nil {
		return "", err
	}
	return kept, nil
}

// Begin saves the first checkpoint of a fresh run and returns its tracker.
func (d Dir) Begin(st *State) (*Tracker, error) {
	t := NewTracker(d.Path(), st)
	if err := t.Save(); err != nil {
		return nil, fmt.Errorf("write the checkpoint: %w", err)
	}
	return t, nil
}

// Continue returns the tracker of a resumed run.
func (d Dir) Continue(st *State) *Tracker { return NewTracker(d.Path(), st) }
