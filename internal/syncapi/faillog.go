package syncapi

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/indexsync/indexsync/internal/idsfile"
)

// failLog appends the ids that background indexing could not index to one
// file per object type in the state directory (serve-failed-<type>_<ms>.txt),
// one id a line, ready for `indexsync run --ids-file`. A 200 answered before
// indexing is then never a silent loss.
type failLog struct {
	dir   string
	stamp int64

	mu    sync.Mutex
	files map[string]*os.File
	n     int
}

func newFailLog(dir string, started time.Time) *failLog {
	return &failLog{dir: dir, stamp: started.UnixMilli(), files: map[string]*os.File{}}
}

func (f *failLog) add(objectType string, ids []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	fh, ok := f.files[objectType]
	if !ok {
		p := filepath.Join(f.dir, fmt.Sprintf("serve-failed-%s_%d.txt", objectType, f.stamp))
		var err error
		if fh, err = os.OpenFile(p, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err != nil {
			return err
		}
		f.files[objectType] = fh
	}
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(idsfile.Line(id)) // read back by indexsync run --ids-file
		b.WriteByte('\n')
	}
	if _, err := fh.WriteString(b.String()); err != nil {
		return err
	}
	f.n += len(ids)
	return fh.Sync()
}

func (f *failLog) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

func (f *failLog) paths() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, fh := range f.files {
		out = append(out, fh.Name())
	}
	sort.Strings(out)
	return out
}

// recordFailed keeps ids that were accepted but not indexed, and says so;
// false when they could not be written (they stay in the journal then).
func (s *Server) recordFailed(objectType string, ids []string, reason string) bool {
	if len(ids) == 0 {
		return true
	}
	if err := s.failures.add(objectType, ids); err != nil {
		s.log.Error("could not record ids that were not indexed; they stay in the queue's journal and are retried after a restart",
			"objectType", objectType, "count", len(ids), "reason", reason, "err", err)
		return false
	}
	s.log.Warn("ids not indexed; recorded for a re-run", "objectType", objectType, "count", len(ids), "reason", reason)
	return true
}
