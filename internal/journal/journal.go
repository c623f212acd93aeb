// Package journal keeps work that was promised durable until it is done: an
// append-only log of records in segment files. Append returns only once the
// record is on stable storage (fsync), and concurrent Appends share one write
// and one fsync (group commit), so a burst of callers costs about one disk
// flush. Each record carries a count of items; Done says that n items of a
// segment are finished, and a segment whose items are all finished is
// deleted. Open replays what is left after a crash, kill -9 or power loss.
//
// Serve's background queue uses it: an id answered 200 is in the journal
// until it is indexed or written to the failed-ids file.
package journal

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// rotateBytes is the size at which a new segment is started, so that
// segments drain and are deleted while the service keeps running.
const rotateBytes = 8 << 20

// maxRecord bounds one record (a call's ids: 50 MiB bodies at most).
const maxRecord = 64 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Record is a record replayed by Open.
type Record struct {
	Segment uint64
	Data    []byte
	Items   int
}

// Journal is safe for concurrent use.
type Journal struct {
	dir string

	mu           sync.Mutex
	cond         *sync.Cond
	active       *os.File
	activeSeg    uint64
	size         int64          // bytes in the active segment, committed or pending
	left         map[uint64]int // items not yet done, per segment
	pending      []byte         // frames waiting for the next commit
	pendingItems int            // their items
	waiting      int            // generation of the frames in pending
	committed    int            // generations committed so far
	genSeg       map[int]uint64 // the segment each committed generation went to
	failed       map[int]error  // generations whose commit failed
	appenders    map[int]int    // Appends waiting on each generation (all of them read its outcome)
	flushing     bool           // a caller is writing and syncing
	torn         bool           // the active segment may end in a torn frame: start another before writing
	closed       bool
}

// Open opens (creating) the journal in dir and returns the records of
// earlier runs that are not done, oldest first. A torn record at the end of
// a segment (a crash during a write that was never acknowledged) is dropped.
func Open(dir string) (*Journal, []Record, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("journal %s: %w", dir, err)
	}
	j := &Journal{dir: dir, left: map[uint64]int{}, failed: map[int]error{}, genSeg: map[int]uint64{}, appenders: map[int]int{}}
	j.cond = sync.NewCond(&j.mu)
	segs, err := j.segments()
	if err != nil {
		return nil, nil, err
	}
	var records []Record
	for _, seg := range segs {
		recs, err := readSegment(j.path(seg), seg)
		if err != nil {
			return nil, nil, err
		}
		if len(recs) == 0 {
			_ = os.Remove(j.path(seg))
			continue
		}
		for _, r := range recs {
			j.left[seg] += r.Items
		}
		records = append(records, recs...)
	}
	next := uint64(1)
	if len(segs) > 0 {
		next = segs[len(segs)-1] + 1
	}
	if err := j.startSegment(next); err != nil {
		return nil, nil, err
	}
	return j, records, nil
}

func (j *Journal) path(seg uint64) string {
	return filepath.Join(j.dir, fmt.Sprintf("segment-%016d.log", seg))
}

func (j *Journal) segments() ([]uint64, error) {
	entries, err := os.ReadDir(j.dir)
	if err != nil {
		return nil, fmt.Errorf("journal %s: %w", j.dir, err)
	}
	var out []uint64
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, "segment-") || !strings.HasSuffix(name, ".log") {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, "segment-"), ".log"), 10, 64)
		if err == nil {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

// startSegment opens a new active segment; the caller holds no records in
// pending (called at Open, or by a commit between generations).
func (j *Journal) startSegment(seg uint64) error {
	f, err := os.OpenFile(j.path(seg), os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("journal: start a segment: %w", err)
	}
	if err := syncDir(j.dir); err != nil {
		_ = f.Close()
		_ = os.Remove(f.Name())
		return err
	}
	j.active, j.activeSeg, j.size = f, seg, 0
	return nil
}

// frame is length (4 bytes), CRC-32C of the body (4 bytes), item count (4
// bytes), body.
func frame(b []byte, data []byte, items int) []byte {
	var h [12]byte
	binary.LittleEndian.PutUint32(h[0:], uint32(len(data)))
	binary.LittleEndian.PutUint32(h[4:], crc32.Checksum(data, castagnoli))
	binary.LittleEndian.PutUint32(h[8:], uint32(items))
	return append(append(b, h[:]...), data...)
}

func readSegment(path string, seg uint64) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("journal: replay %s: %w", path, err)
	}
	defer func() { _ = f.Close() }() // read only
	r := bufio.NewReader(f)
	var out []Record
	for {
		var h [12]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return out, nil // end, or a torn header
		}
		n := binary.LittleEndian.Uint32(h[0:])
		if n > maxRecord {
			return out, nil
		}
		data := make([]byte, n)
		if _, err := io.ReadFull(r, data); err != nil {
			return out, nil // a torn record: never acknowledged
		}
		if crc32.Checksum(data, castagnoli) != binary.LittleEndian.Uint32(h[4:]) {
			return out, nil
		}
		out = append(out, Record{Segment: seg, Data: data, Items: int(binary.LittleEndian.Uint32(h[8:]))})
	}
}

// Append writes a record of items and returns, once it is on stable
// storage, the segment it is in (for Done). An error means the record may
// not be durable: the caller must not acknowledge the work.
func (j *Journal) Append(data []byte, items int) (uint64, error) {
	if len(data) > maxRecord {
		return 0, fmt.Errorf("journal: a record of %d bytes, more than %d", len(data), maxRecord)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return 0, errors.New("journal: closed")
	}
	j.pending = frame(j.pending, data, items)
	j.pendingItems += items
	gen := j.waiting
	j.appenders[gen]++
	for j.committed <= gen {
		if !j.flushing {
			j.commitLocked()
			continue
		}
		j.cond.Wait()
	}
	// every Append of a group commit reads the generation's outcome; the
	// last one forgets it
	seg, err := j.genSeg[gen], j.failed[gen]
	if j.appenders[gen]--; j.appenders[gen] == 0 {
		delete(j.appenders, gen)
		delete(j.genSeg, gen)
		delete(j.failed, gen)
	}
	if err != nil {
		return 0, err
	}
	return seg, nil
}

// commitLocked writes and syncs the pending frames as one generation; the
// lock is released while the disk works, so new records gather for the next
// generation meanwhile. The generation's items count for its segment before
// the lock is released, so a Done of other items cannot delete the segment
// under them; segments rotate only between generations.
func (j *Journal) commitLocked() {
	gen := j.waiting
	if j.torn {
		// a write failed and no segment could be started since: writing
		// after a torn frame would hide these records from a replay
		if err := j.rotateLocked(); err != nil {
			j.pending, j.pendingItems, j.waiting = nil, 0, gen+1
			j.failed[gen] = err
			j.committed = gen + 1
			j.cond.Broadcast()
			return
		}
	}
	buf, items, f, seg := j.pending, j.pendingItems, j.active, j.activeSeg
	j.pending, j.pendingItems, j.waiting, j.flushing = nil, 0, gen+1, true
	j.left[seg] += items
	j.mu.Unlock()
	_, err := f.Write(buf)
	if err == nil {
		err = f.Sync()
	}
	j.mu.Lock()
	j.flushing = false
	j.size += int64(len(buf))
	if err != nil {
		// not durable: not acknowledged. Later records go to a new segment,
		// so a torn frame here cannot hide them from a replay.
		j.failed[gen] = fmt.Errorf("journal: write %s: %w", f.Name(), err)
		j.left[seg] -= items
		j.torn = true
		_ = j.rotateLocked() // on failure, the next commit tries again
	} else {
		j.genSeg[gen] = seg
		if j.size >= rotateBytes {
			_ = j.rotateLocked() // on failure, keep appending to this one
		}
	}
	j.committed = gen + 1
	j.cond.Broadcast()
}

// rotateLocked starts a new active segment; the old one is deleted when
// its items are done.
func (j *Journal) rotateLocked() error {
	old, oldSeg := j.active, j.activeSeg
	if err := j.startSegment(oldSeg + 1); err != nil {
		return err
	}
	j.torn = false
	_ = old.Close()
	j.dropIfDoneLocked(oldSeg)
	return nil
}

// Done records that n items of segment seg are finished (indexed, or
// written where they cannot be lost). A segment that is not the active one
// and has no items left is deleted.
func (j *Journal) Done(seg uint64, n int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.left[seg] -= n
	if seg == j.activeSeg {
		if j.left[seg] == 0 && j.size > 0 && !j.flushing && len(j.pending) == 0 && !j.closed {
			_ = j.rotateLocked() // everything of the active segment is done: start afresh (or later)
		}
		return
	}
	j.dropIfDoneLocked(seg)
}

func (j *Journal) dropIfDoneLocked(seg uint64) {
	if j.left[seg] > 0 {
		return
	}
	delete(j.left, seg)
	_ = os.Remove(j.path(seg))
}

// Pending returns how many items are not done.
func (j *Journal) Pending() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	n := 0
	for _, l := range j.left {
		n += l
	}
	return n
}

// Close closes the active segment; its file stays while items are not done.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	for j.flushing {
		j.cond.Wait()
	}
	j.closed = true
	err := j.active.Close()
	if j.left[j.activeSeg] == 0 {
		_ = os.Remove(j.path(j.activeSeg))
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	defer func() { _ = d.Close() }()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("journal: sync %s: %w", dir, err)
	}
	return nil
}
