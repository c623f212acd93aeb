package verify

import (
	"context"

	"github.com/indexsync/indexsync/internal/cassandra"
)

// CassandraKeys tells which ids have a row in a table, with one
// IN query per call (cassandra.Session.ExistingKeys). Repair uses it to check
// orphans again just before deleting them, at Consistency — a quorum by
// default (DefaultDeleteConsistency), whatever the scan read at.
//
// Why a quorum: a replica that missed a write (down when it came in, hints
// lost or off) has no row for that user. The scan at LOCAL_ONE may be served
// by that replica, and so may a check at LOCAL_ONE: the user's document would
// be deleted although Cassandra has the user. A read at a quorum always
// includes a replica that acknowledged a write made at a quorum, and
// Cassandra repairs the stale replica on the way (cmd/indexsync
// TestVerifyDeleteOrphansRechecksAtQuorum shows both). For writes made at
// ONE only ALL is sure, and it needs every replica up.
//
// Compare does not use it: asking Cassandra about every index id was the
// most expensive part of a verify. BenchmarkExistence on the local stack
// (Cassandra 5, one node, 2 shared cores; 200,000 ids, 4 callers): IN
// batches of 50, 100, 200 and 500 ids gave 10.7k, 14.8k, 20.0k and 24.4k
// ids/s; concurrent single-partition reads (64 in flight) 10.3k ids/s — so
// 8–20 s of Cassandra work for 200,000 users, against about 16 s for the
// whole range scan. Compare ticks index ids off during the scan instead.
type CassandraKeys struct {
	Session  *cassandra.Session
	Keyspace string
	Table    string
	Key      string // partition key column
	// Consistency of the check; cassandra.ParseConsistency of the
	// --delete-consistency flag.
	Consistency cassandra.Consistency
	Retries     int // retries of a batch after a transient error; 0 = cassandra.DefaultRetries
}

// DefaultDeleteConsistency is the consistency orphans are checked at before
// they are deleted (--delete-consistency).
const DefaultDeleteConsistency = "LOCAL_QUORUM"

// Existing returns the ids of ids that have a row.
func (k *CassandraKeys) Existing(ctx context.Context, ids []string) (map[string]bool, error) {
	return k.Session.ExistingKeys(ctx, k.Keyspace, k.Table, k.Key, ids, k.Consistency, k.Retries)
}
