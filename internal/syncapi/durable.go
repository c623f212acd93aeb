package syncapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/indexsync/indexsync/internal/journal"
	"github.com/indexsync/indexsync/internal/statedir"
)

// record is one accepted call's ids as the journal keeps them.
type record struct {
	ObjectType string   `json:"objectType"`
	IDs        []string `json:"ids"`
}

// openJournal takes the state directory's journal (one serve at a time) and
// queues again the ids that an earlier process accepted and did not finish.
func (s *Server) openJournal() error {
	if s.cfg.StateDir == "" {
		return errors.New("syncapi: Config.StateDir is required (it holds the queue's journal)")
	}
	dir := filepath.Join(s.cfg.StateDir, JournalDir)
	if err := statedir.Prepare(dir); err != nil {
		return err
	}
	unlock, err := statedir.Lock(dir)
	if err != nil {
		return fmt.Errorf("the queue's journal %s is in use by another indexsync serve: give each serve its own --state-dir: %w", dir, err)
	}
	j, recs, err := journal.Open(dir)
	if err != nil {
		unlock()
		return fmt.Errorf("open the queue's journal (--state-dir): %w", err)
	}
	s.journal, s.unlockJournal = j, unlock
	replayed := 0
	for _, r := range recs {
		var rec record
		if err := json.Unmarshal(r.Data, &rec); err != nil || len(rec.IDs) != r.Items {
			// kept in the journal, not guessed at: an operator can read it
			s.log.Error("a record of the queue's journal cannot be read; it is kept", "dir", dir, "segment", r.Segment, "err", err)
			continue
		}
		s.queue.Push(rec.ObjectType, rec.IDs, r.Segment, false)
		replayed += len(rec.IDs)
	}
	if replayed > 0 {
		s.log.Warn("queued again the ids accepted before the last stop and not yet indexed", "ids", replayed, "journal", dir)
	}
	return nil
}

// enqueue admits a call's ids to the background queue: room first, then the
// journal (on disk before the caller hears 200), then the queue. full says
// the queue had no room; err that the ids could not be made durable.
func (s *Server) enqueue(objectType string, ids []string) (full bool, err error) {
	if !s.queue.Reserve(len(ids)) {
		return true, nil
	}
	data, err := json.Marshal(record{ObjectType: objectType, IDs: ids})
	if err == nil {
		var seg uint64
		if seg, err = s.journal.Append(data, len(ids)); err == nil {
			s.queue.Push(objectType, ids, seg, true)
			return false, nil
		}
	}
	s.queue.Release(len(ids))
	return false, err
}

// done lets the journal forget ids that are indexed or recorded as failed.
func (s *Server) done(segs map[uint64]int) {
	for seg, n := range segs {
		s.journal.Done(seg, n)
	}
}

func (s *Server) closeJournal() error {
	err := s.journal.Close()
	if n := s.journal.Pending(); n > 0 {
		s.log.Warn("ids stay in the queue's journal; the next start indexes them", "ids", n)
	}
	s.unlockJournal()
	return err
}
