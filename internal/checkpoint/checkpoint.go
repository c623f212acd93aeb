// Package checkpoint keeps the resume state of a run in checkpoint.json in
// its --state-dir, written atomically so that a crash, kill -9 or power loss
// at any moment leaves either the previous state or the new one on disk.
//
// The work of a run is a list of Units, each an interval (Start, End] of
// int64 positions: a token range of the Cassandra ring, or a slice of lines of
// an ids file (line index, with Start -1 before the first line). A worker owns
// a unit and reports progress through a Tracker: Apply(steps, counts) says
// that everything of each unit up to its step is confirmed by the target,
// and returns only once that is saved. A resumed run restarts each pending unit
// after its Next, so nothing confirmed is sent again except what was in
// flight when the process stopped.
//
// Saving is cheap enough to do on every confirmation: the state is encoded
// into a reused buffer by hand (no reflection), and concurrent Apply calls
// share one write and fsync (group commit) instead of queueing for one each.
package checkpoint

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/indexsync/indexsync/internal/atomicfile"
)

// FileName is the checkpoint's name in the state directory.
const FileName = "checkpoint.json"

// Version is the format version this package writes and reads.
const Version = 1

var (
	// ErrNoCheckpoint is returned (wrapped) by Load when there is no
	// checkpoint file.
	ErrNoCheckpoint = errors.New("no checkpoint")
	// ErrCorrupt is returned (wrapped) by Load when the file cannot be used.
	ErrCorrupt = errors.New("corrupt")
)

// State is the content of checkpoint.json.
type State struct {
	Version int   `json:"version"`
	RunMS   int64 `json:"runMs"` // the run's <ms>: a resumed run keeps writing the same files
	// Fingerprint identifies the work (object type, target, keyspace, shard,
	// ids file…); a resume with another fingerprint is refused.
	Fingerprint string    `json:"fingerprint"`
	ObjectType  string    `json:"objectType"`
	Target      string    `json:"target"`
	Started     time.Time `json:"started"`
	SavedAt     time.Time `json:"savedAt"`
	Complete    bool      `json:"complete"`
	Counts      Counts    `json:"counts"`
	Units       []Unit    `json:"units"` // the work, split for parallel workers
}

// Unit is one interval (Start, End] of the work.
type Unit struct {
	Start int64 `json:"start"` // exclusive lower bound: a token, or -1 before the first line of an ids file
	End   int64 `json:"end"`   // inclusive upper bound
	Next  int64 `json:"next"`  // everything ≤ Next is confirmed; starts at Start
	Done  bool  `json:"done"`
}

// NewUnit returns the unit (start, end] with nothing confirmed.
func NewUnit(start, end int64) Unit { return Unit{Start: start, End: end, Next: start} }

// Counts are the run's totals so far.
type Counts struct {
	Total     int `json:"total"`
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
	Skipped   int `json:"skipped"`
	Retries   int `json:"retries"`
	RequestNo int `json:"requestNo"` // the last "Request No" written to the run logs
}

// Add returns c + d.
func (c Counts) Add(d Counts) Counts {
	return Counts{
		Total:     c.Total + d.Total,
		Succeeded: c.Succeeded + d.Succeeded,
		Failed:    c.Failed + d.Failed,
		Skipped:   c.Skipped + d.Skipped,
		Retries:   c.Retries + d.Retries,
		RequestNo: c.RequestNo + d.RequestNo,
	}
}

// New returns the state of a fresh run over units. The units are copied,
// with Next reset to Start and Done to false.
func New(runMS int64, fingerprint, objectType, target string, started time.Time, units []Unit) *State {
	us := make([]Unit, len(units))
	for i, u := range units {
		us[i] = NewUnit(u.Start, u.End)
	}
	return &State{
		Version:     Version,
		RunMS:       runMS,
		Fingerprint: fingerprint,
		ObjectType:  objectType,
		Target:      target,
		Started:     started.UTC(),
		Units:       us,
	}
}

// Fingerprint hashes the parts that define a job into 16 hex digits. Parts
// are length-prefixed, so ("ab", "c") and ("a", "bc") differ.
func Fingerprint(parts ...string) string {
	h := sha256.New()
	var n [8]byte
	for _, p := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Pending returns the indexes of the units not done, in order.
func (s *State) Pending() []int {
	var out []int
	for i, u := range s.Units {
		if !u.Done {
			out = append(out, i)
		}
	}
	return out
}

// clone returns a deep copy of s.
func (s *State) clone() State {
	c := *s
	c.Units = slices.Clone(s.Units)
	return c
}

// Load reads the checkpoint at path. A missing file gives an error wrapping
// ErrNoCheckpoint; an unreadable, unparsable or inconsistent one an error
// wrapping ErrCorrupt that tells the user what to do.
func Load(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w at %s", ErrNoCheckpoint, path)
	}
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, corrupt(path, err)
	}
	if err := s.validate(); err != nil {
		return nil, corrupt(path, err)
	}
	return &s, nil
}

func corrupt(path string, err error) error {
	return fmt.Errorf("checkpoint %s: %w: %v (delete it to start afresh, or choose another --state-dir)", path, ErrCorrupt, err)
}

func (s *State) validate() error {
	if s.Version != Version {
		return fmt.Errorf("version %d, this indexsync reads version %d", s.Version, Version)
	}
	if s.Fingerprint == "" {
		return errors.New("no fingerprint")
	}
	for i, u := range s.Units {
		if u.Start > u.End || u.Next < u.Start || u.Next > u.End {
			return fmt.Errorf("unit %d: next %d outside (%d,%d]", i, u.Next, u.Start, u.End)
		}
	}
	c := s.Counts
	if c.Total < 0 || c.Succeeded < 0 || c.Failed < 0 || c.Skipped < 0 || c.Retries < 0 || c.RequestNo < 0 {
		return fmt.Errorf("negative counts %+v", c)
	}
	return nil
}

// Save writes s to path atomically, setting SavedAt to now.
func (s *State) Save(path string) error {
	s.SavedAt = time.Now().UTC()
	b, err := s.appendJSON(nil)
	if err != nil {
		return err
	}
	return writeAtomic(path, b)
}

// appendJSON appends s as JSON, one unit a line: the same value json.Marshal
// gives, written without reflection because it runs on every confirmation.
func (s *State) appendJSON(b []byte) ([]byte, error) {
	b = append(b, "{\"version\":"...)
	b = strconv.AppendInt(b, int64(s.Version), 10)
	b = append(b, ",\"runMs\":"...)
	b = strconv.AppendInt(b, s.RunMS, 10)
	var err error
	for _, f := range []struct{ key, val string }{{"fingerprint", s.Fingerprint}, {"objectType", s.ObjectType}, {"target", s.Target}} {
		b = append(b, ",\n\""...)
		b = append(b, f.key...)
		b = append(b, "\":"...)
		if b, err = appendString(b, f.val); err != nil {
			return nil, err
		}
	}
	for _, f := range []struct {
		key string
		val time.Time
	}{{"started", s.Started}, {"savedAt", s.SavedAt}} {
		b = append(b, ",\n\""...)
		b = append(b, f.key...)
		b = append(b, "\":"...)
		if b, err = f.val.AppendText(append(b, '"')); err != nil {
			return nil, fmt.Errorf("encode checkpoint %s: %w", f.key, err)
		}
		b = append(b, '"')
	}
	b = append(b, ",\n\"complete\":"...)
	b = strconv.AppendBool(b, s.Complete)
	c := s.Counts
	b = append(b, ",\n\"counts\":{\"total\":"...)
	b = strconv.AppendInt(b, int64(c.Total), 10)
	b = append(b, ",\"succeeded\":"...)
	b = strconv.AppendInt(b, int64(c.Succeeded), 10)
	b = append(b, ",\"failed\":"...)
	b = strconv.AppendInt(b, int64(c.Failed), 10)
	b = append(b, ",\"skipped\":"...)
	b = strconv.AppendInt(b, int64(c.Skipped), 10)
	b = append(b, ",\"retries\":"...)
	b = strconv.AppendInt(b, int64(c.Retries), 10)
	b = append(b, ",\"requestNo\":"...)
	b = strconv.AppendInt(b, int64(c.RequestNo), 10)
	b = append(b, "},\n\"units\":"...)
	if s.Units == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, u := range s.Units {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, "\n{\"start\":"...)
			b = strconv.AppendInt(b, u.Start, 10)
			b = append(b, ",\"end\":"...)
			b = strconv.AppendInt(b, u.End, 10)
			b = append(b, ",\"next\":"...)
			b = strconv.AppendInt(b, u.Next, 10)
			b = append(b, ",\"done\":"...)
			b = strconv.AppendBool(b, u.Done)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, "}\n"...), nil
}

// appendString appends v as a JSON string exactly as encoding/json writes it.
// The strings are short and few, so the library does the escaping.
func appendString(b []byte, v string) ([]byte, error) {
	q, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, q...), nil
}

// SaveError is a checkpoint that could not be written (a full disk, a
// state dir gone read-only): the file on disk still holds the last state
// that was saved, so a resume starts from there.
type SaveError struct {
	Path string
	Err  error
}

func (e *SaveError) Error() string {
	var ce *atomicfile.CreateError
	if errors.As(e.Err, &ce) {
		return fmt.Sprintf("save checkpoint: %v (choose a writable --state-dir)", e.Err)
	}
	return fmt.Sprintf("save checkpoint %s: %v", e.Path, e.Err)
}

func (e *SaveError) Unwrap() error { return e.Err }

// writeAtomic saves data over path atomically (see package atomicfile).
func writeAtomic(path string, data []byte) error {
	if err := atomicfile.Write(path, data); err != nil {
		return &SaveError{Path: path, Err: err}
	}
	return nil
}

// CheckTiles reports whether the units tile (start, end] exactly — in
// order, each starting where the one before ends — and each unit's
// progress lies inside it: a checkpoint that parses but has ranges cut out
// (or added) would otherwise resume into a false success. The error wraps
// ErrCorrupt.
func (s *State) CheckTiles(start, end int64) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s (delete it to start afresh, or choose another --state-dir)", ErrCorrupt, fmt.Sprintf(format, args...))
	}
	if len(s.Units) == 0 {
		if start == end {
			return nil
		}
		return bad("no units, but there is work in (%d,%d]", start, end)
	}
	at := start
	for i, u := range s.Units {
		switch {
		case u.Start != at:
			return bad("unit %d starts at %d, want %d: the units do not cover (%d,%d] without gaps or overlaps", i, u.Start, at, start, end)
		case u.End <= u.Start:
			return bad("unit %d is empty: (%d,%d]", i, u.Start, u.End)
		case u.Next < u.Start || u.Next > u.End:
			return bad("unit %d: progress %d outside (%d,%d]", i, u.Next, u.Start, u.End)
		case u.Done && u.Next != u.End:
			return bad("unit %d is marked done at %d, before its end %d", i, u.Next, u.End)
		}
		at = u.End
	}
	if at != end {
		return bad("the units end at %d, want %d: work is missing", at, end)
	}
	return nil
}
