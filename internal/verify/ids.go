package verify

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// IDList collects the ids of one kind of difference, added by parallel
// workers. Up to a limit they stay in memory; past it they go to a temporary
// file, one JSON string a line, so a verify that finds millions of
// differences (an empty index, a wrong alias) holds no more memory than one
// that finds ten. Close removes the file.
type IDList struct {
	mu      sync.Mutex
	dir     string
	memMax  int
	mem     []string
	head    []string // the first ids added, for the console
	headMax int
	n       int
	f       *os.File
	w       *bufio.Writer
}

// NewIDList returns a list that spills to a file in dir (os.TempDir when
// empty) once it holds more than memMax ids, and remembers the first
// headMax ids added.
func NewIDList(dir string, memMax, headMax int) *IDList {
	return &IDList{dir: dir, memMax: memMax, headMax: headMax}
}

// Add appends id.
func (l *IDList) Add(id string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	if len(l.head) < l.headMax {
		l.head = append(l.head, id)
	}
	if l.f == nil {
		l.mem = append(l.mem, id)
		if len(l.mem) <= l.memMax {
			return nil
		}
		if err := l.spill(); err != nil {
			return err
		}
		return nil
	}
	return l.write(id)
}

// spill moves the ids in memory to a new temporary file.
func (l *IDList) spill() error {
	f, err := os.CreateTemp(l.dir, ".indexsync-verify-ids-*")
	if err != nil {
		return fmt.Errorf("spill ids to disk: %w", err)
	}
	l.f, l.w = f, bufio.NewWriterSize(f, 64<<10)
	for _, id := range l.mem {
		if err := l.write(id); err != nil {
			return err
		}
	}
	l.mem = nil
	return nil
}

func (l *IDList) write(id string) error {
	b, err := json.Marshal(id)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if _, err := l.w.Write(b); err != nil {
		return fmt.Errorf("spill ids to %s: %w", l.f.Name(), err)
	}
	return nil
}

// Len returns how many ids were added.
func (l *IDList) Len() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// Head returns the first ids added (at most the headMax of NewIDList).
func (l *IDList) Head() []string {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.head...)
}

// eachJSON calls fn with every id, JSON-encoded, in the order added. No Add
// may run meanwhile.
func (l *IDList) eachJSON(fn func(raw []byte) error) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		for _, id := range l.mem {
			b, err := json.Marshal(id)
			if err != nil {
				return err
			}
			if err := fn(b); err != nil {
				return err
			}
		}
		return nil
	}
	if err := l.w.Flush(); err != nil {
		return fmt.Errorf("spill ids to %s: %w", l.f.Name(), err)
	}
	if _, err := l.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("read back %s: %w", l.f.Name(), err)
	}
	// back to the end for further Adds; a failure shows on the next write
	defer func() { _, _ = l.f.Seek(0, io.SeekEnd) }()
	sc := bufio.NewScanner(l.f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		if err := fn(sc.Bytes()); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read back %s: %w", l.f.Name(), err)
	}
	return nil
}

// Batches calls fn with the ids in slices of at most size, in the order
// added. No Add may run meanwhile.
func (l *IDList) Batches(size int, fn func(ids []string) error) error {
	size = max(size, 1)
	batch := make([]string, 0, min(size, l.Len()))
	err := l.eachJSON(func(raw []byte) error {
		var id string
		if err := json.Unmarshal(raw, &id); err != nil {
			return fmt.Errorf("read back an id: %w", err)
		}
		batch = append(batch, id)
		if len(batch) < size {
			return nil
		}
		err := fn(batch)
		batch = batch[:0]
		return err
	})
	if err != nil || len(batch) == 0 {
		return err
	}
	return fn(batch)
}

// All returns every id. Only for lists known to be small (tests, the
// console): use Batches otherwise.
func (l *IDList) All() ([]string, error) {
	var out []string
	err := l.Batches(1000, func(ids []string) error {
		out = append(out, ids...)
		return nil
	})
	return out, err
}

// Close removes the list's file, if it has one.
func (l *IDList) Close() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	name := l.f.Name()
	err := errors.Join(l.f.Close(), os.Remove(name))
	l.f, l.w = nil, nil
	return err
}
