package verify

import (
	"context"
	"time"
)

// CatchUp is what one catch-up pass found and did.
type CatchUp struct {
	Compared  int64         `json:"compared"`  // documents built from Cassandra
	Missing   int           `json:"missing"`   // not in the index
	Stale     int           `json:"stale"`     // in the index, different
	Orphans   int           `json:"orphans"`   // in the index, no row any more (left for verify --delete-orphans)
	Repaired  int           `json:"repaired"`  // written
	Vanished  int           `json:"vanished"`  // gone from Cassandra before they could be written
	Remaining int           `json:"remaining"` // missing or stale still, after the repair
	Took      time.Duration `json:"-"`
	Seconds   float64       `json:"seconds"`
}

// CatchUpPass compares cmp.Index with Cassandra and re-syncs what is
// missing or stale into it: a rebuild's new index catching up with the
// writes made while it loaded. Orphans are counted, not deleted: deleting
// is verify --delete-orphans' decision, with its re-check at quorum.
func CatchUpPass(ctx context.Context, cmp Config, rep RepairConfig) (out CatchUp, err error) {
	start := time.Now()
	found, err := Compare(ctx, cmp)
	defer func() {
		out.Took = time.Since(start)
		out.Seconds = out.Took.Seconds()
	}()
	if found != nil {
		defer func() { _ = found.Close() }() // spill files only
		out.Compared = found.CassandraDocs
		out.Missing, out.Stale, out.Orphans = found.Missing.Len(), found.Stale.Len(), found.Orphans.Len()
	}
	if err != nil {
		return out, err
	}
	if out.Missing+out.Stale == 0 {
		return out, nil
	}
	rep.Index = cmp.Index
	rep.Resync, rep.DeleteOrphans = true, false
	repaired, err := Repair(ctx, rep, found)
	if repaired != nil {
		defer func() { _ = repaired.Close() }()
		out.Repaired, out.Vanished = repaired.Repaired, repaired.Vanished
		out.Remaining = repaired.Remaining.Len() - out.Orphans // Remaining keeps the orphans it was not asked to delete
	}
	return out, err
}
