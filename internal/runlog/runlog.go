// Package runlog writes the files an `indexsync run` leaves in its
// --state-dir: the success and failure logs in the old user sync job's record
// format (docs/sunbird.md, the old job), the failed-ids file to feed back with --ids-file,
// and the summary JSON.
//
// Every name carries one run timestamp <ms> (epoch milliseconds) so the files
// of one run sort together and a resumed run, which keeps its first run's
// <ms>, appends to the same files:
//
//	<type>SyncSuccess_<ms>.log   <type>SyncFailure_<ms>.log
//	failed-ids_<ms>.txt          summary_<ms>.json
//
// where <type> is user, organisation or location.
//
// Log writes go straight to the files (one write per record, no user-space
// buffer), so a killed process loses no record it reported as written; Sync
// makes them durable too, and the job calls it before it saves a checkpoint
// that counts them.
package runlog

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/indexsync/indexsync/internal/idsfile"
	"github.com/indexsync/indexsync/internal/sunbird"
)

// Paths are the three files a Log appends to.
type Paths struct {
	Success   string // <type>SyncSuccess_<ms>.log
	Failure   string // <type>SyncFailure_<ms>.log
	FailedIDs string // failed-ids_<ms>.txt
}

// FilePaths returns the names Open uses in dir, without touching the disk:
// the kind's name is the prefix of the log names, as the old job's
// userSyncSuccess_<ms>.log.
func FilePaths(dir string, kind sunbird.Kind, runMS int64) Paths {
	ms := strconv.FormatInt(runMS, 10)
	return Paths{
		Success:   filepath.Join(dir, kind.Name+"SyncSuccess_"+ms+".log"),
		Failure:   filepath.Join(dir, kind.Name+"SyncFailure_"+ms+".log"),
		FailedIDs: filepath.Join(dir, "failed-ids_"+ms+".txt"),
	}
}

// Log appends to one run's success log, failure log and failed-ids file. Its
// methods are safe for concurrent use.
type Log struct {
	paths Paths

	mu      sync.Mutex
	success *os.File
	failure *os.File
	failed  *os.File
	buf     []byte // reused record buffer, guarded by mu
	closed  bool
}

// Open creates dir if needed and opens (creating or appending to) the run's
// success log, failure log and failed-ids file. A resumed run passes its
// first run's runMS and so continues the same files.
//
// When the directory cannot be written the error says so and names
// --state-dir; it wraps the OS error, so errors.Is(err, fs.ErrPermission)
// works.
func Open(dir string, kind sunbird.Kind, runMS int64) (*Log, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, stateDirError(dir, "", err)
	}
	l := &Log{paths: FilePaths(dir, kind, runMS)}
	var err error
	open := func(path string) *os.File {
		if err != nil {
			return nil
		}
		var f *os.File
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			err = stateDirError(dir, filepath.Base(path), err)
		}
		return f
	}
	l.success = open(l.paths.Success)
	l.failure = open(l.paths.Failure)
	l.failed = open(l.paths.FailedIDs)
	if err != nil {
		for _, f := range []*os.File{l.success, l.failure, l.failed} {
			if f != nil {
				_ = f.Close()
			}
		}
		return nil, err
	}
	return l, nil
}

// stateDirError turns a failure to create files in dir into a message that
// tells the user what to change.
func stateDirError(dir, file string, err error) error {
	reason := err.Error()
	var pe *fs.PathError
	if errors.As(err, &pe) {
		reason = pe.Err.Error() // "permission denied", without repeating the path
	}
	where := ""
	if file != "" {
		where = "cannot create " + file + "; "
	}
	return &dirError{msg: fmt.Sprintf("state dir %s: %s (%schoose a writable --state-dir)", dir, reason, where), err: err}
}

type dirError struct {
	msg string
	err error
}

func (e *dirError) Error() string { return e.msg }
func (e *dirError) Unwrap() error { return e.err }

// Paths returns the three files the log appends to.
func (l *Log) Paths() Paths { return l.paths }

// Record appends one record in the old job's format to the success log
// (success true) or the failure log:
//
//	<blank line>
//	Request No : <requestNo>
//	Request : <request>
//	Response : <response>
//
// Line breaks inside request and response become spaces, so a record is
// always four lines and readers (including --ids-file) can rely on it.
func (l *Log) Record(success bool, requestNo int, request, response []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errors.New("run log: record after close")
	}
	b := l.buf[:0]
	b = append(b, "\nRequest No : "...)
	b = strconv.AppendInt(b, int64(requestNo), 10)
	b = append(b, "\nRequest : "...)
	b = appendOneLine(b, request)
	b = append(b, "\nResponse : "...)
	b = appendOneLine(b, response)
	b = append(b, '\n')
	l.buf = b
	f := l.failure
	if success {
		f = l.success
	}
	// One write per record: with O_APPEND it lands whole even if another
	// process appends to the same file.
	if _, err := f.Write(b); err != nil {
		return fmt.Errorf("write run log: %w", err)
	}
	return nil
}

// appendOneLine appends p with each line break (\r\n, \n or \r) replaced by
// one space.
func appendOneLine(b, p []byte) []byte {
	for len(p) > 0 {
		i := bytes.IndexAny(p, "\r\n")
		if i < 0 {
			return append(b, p...)
		}
		b = append(b, p[:i]...)
		b = append(b, ' ')
		if p[i] == '\r' && i+1 < len(p) && p[i+1] == '\n' {
			i++
		}
		p = p[i+1:]
	}
	return b
}

// FailedIDs appends ids to the failed-ids file, one a line. An id that is
// empty or contains a line break cannot be written as a line of its own; those
// are left out and reported in the error after the others are written, so
// the file never holds anything but ids.
func (l *Log) FailedIDs(ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errors.New("failed-ids file: write after close")
	}
	b := l.buf[:0]
	for _, id := range ids {
		// any id, line breaks included, has one line (idsfile.Line), and
		// --ids-file reads it back: an id never stops a run
		b = append(b, idsfile.Line(id)...)
		b = append(b, '\n')
	}
	l.buf = b
	if _, err := l.failed.Write(b); err != nil {
		return fmt.Errorf("write failed-ids file: %w", err)
	}
	return nil
}

// Sync flushes the three files to stable storage.
func (l *Log) Sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	return l.syncLocked()
}

func (l *Log) syncLocked() error {
	var errs []error
	for _, f := range []*os.File{l.success, l.failure, l.failed} {
		if err := f.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("sync %s: %w", f.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// Close syncs and closes the files. Closing twice is harmless.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	errs := []error{l.syncLocked()}
	for _, f := range []*os.File{l.success, l.failure, l.failed} {
		if err := f.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", f.Name(), err))
		}
	}
	return errors.Join(errs...)
}
