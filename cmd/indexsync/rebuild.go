package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/indexsync/indexsync/internal/cassandra"
	"github.com/indexsync/indexsync/internal/checkpoint"
	"github.com/indexsync/indexsync/internal/indexer"
	"github.com/indexsync/indexsync/internal/runlog"
	"github.com/indexsync/indexsync/internal/schema"
	"github.com/indexsync/indexsync/internal/search"
	"github.com/indexsync/indexsync/internal/store"
	"github.com/indexsync/indexsync/internal/syncjob"
	"github.com/indexsync/indexsync/internal/verify"
)

// Catch-up passes of a rebuild (--catch-up).
const (
	catchUpNone   = 0 // the alias moves after the load, nothing more
	catchUpAfter  = 1 // one pass after the move
	catchUpAround = 2 // one before the move (short window), one after (nothing lost)
)

// rebuildFinish is the end of a rebuild: the writes made while the new
// index loaded (by Sunbird's services or our serve, through the alias, into
// the old index) are caught up with around the alias move, so that every
// write acknowledged during the rebuild is in the new index when the run
// says it succeeded.
//
// A pass compares the new index with Cassandra and re-syncs what is missing
// or stale. The pass before the move catches the writes made during the
// load while the old index still serves searches. The pass after the move
// catches those made during the first pass: every write that reached
// Cassandra before the second pass read its range is re-synced by it, and
// every later one reaches the engine after the move, so it goes to the new
// index through the alias. Between the move and the end of the second pass
// (the window, measured and reported) searches may lack writes made during
// the first pass.
type rebuildFinish struct {
	rb      *schema.Rebuild
	client  *search.Client
	sess    *cassandra.Session
	units   []checkpoint.Unit
	src     syncjob.Source
	spec    syncjob.Spec
	passes  int
	dir     string
	log     *slog.Logger
	deleted bool // --delete-old

	// what happened, for the console and the summary
	Before, After *verify.CatchUp
	Window        time.Duration // alias moved → second pass done
}

func (f *rebuildFinish) pass(ctx context.Context) (verify.CatchUp, error) {
	kind := f.spec.Kind
	return verify.CatchUpPass(ctx, verify.Config{
		Index:       f.rb.Index,
		Units:       f.units,
		Source:      f.src,
		Search:      f.client,
		Concurrency: f.spec.Concurrency,
		SpillDir:    f.dir,
	}, verify.RepairConfig{
		Kind:        kind,
		Docs:        store.New(f.sess, f.spec.Keyspace, store.Options{}),
		Writer:      &indexer.Writer{Client: f.client, Indexes: indexer.Indexes{kind.Name: f.rb.Index}},
		Bulk:        f.client,
		Search:      f.client,
		Keys:        &verify.CassandraKeys{Session: f.sess, Keyspace: f.spec.Keyspace, Table: kind.Table, Key: kind.Key},
		Concurrency: f.spec.Concurrency,
		SpillDir:    f.dir,
	})
}

// Swap is the job's Swap: pass, move, pass. Safe to call again after a
// stop part-way (the move is skipped when done).
func (f *rebuildFinish) Swap(ctx context.Context) error {
	if f.passes >= catchUpAround {
		f.log.Info("catching up with the writes made during the load, before the alias moves", "index", f.rb.Index)
		c, err := f.pass(ctx)
		f.Before = &c
		if err != nil {
			return fmt.Errorf("catch-up of %s before the alias move: %w", f.rb.Index, err)
		}
	}
	if err := f.rb.Finish(ctx, f.client, f.deleted); err != nil {
		return fmt.Errorf("rebuild loaded %s but could not switch the alias: %w", f.rb.Index, err)
	}
	moved := time.Now()
	if f.passes >= catchUpAfter {
		f.log.Info("catching up with the writes made before the alias moved", "index", f.rb.Index)
		c, err := f.pass(ctx)
		f.After = &c
		f.Window = time.Since(moved)
		if err != nil {
			return fmt.Errorf("alias %s now on %s, but the catch-up after the move failed: %w", f.rb.Alias, f.rb.Index, err)
		}
		if c.Remaining > 0 {
			return fmt.Errorf("alias %s now on %s, but %d documents still differ from Cassandra after the catch-up (refused by the engine, or changed again while being re-synced): run verify --repair", f.rb.Alias, f.rb.Index, c.Remaining)
		}
	}
	return nil
}

// Print says what the catch-up found, in the order it happened.
func (f *rebuildFinish) Print(w io.Writer, swapSummary string) {
	kind := f.spec.Kind.Name
	line := func(when string, c *verify.CatchUp) {
		fmt.Fprintf(w, "Catch-up %s: %d %ss compared with %s; %d missing and %d stale (written during the rebuild), %d re-synced in %s",
			when, c.Compared, kind, f.rb.Index, c.Missing, c.Stale, c.Repaired, c.Took.Round(time.Millisecond))
		if c.Orphans > 0 {
			fmt.Fprintf(w, "; %d orphans (deleted from Cassandra meanwhile: verify --delete-orphans removes them)", c.Orphans)
		}
		fmt.Fprintln(w)
	}
	if f.Before != nil {
		line("before the alias moved", f.Before)
	}
	fmt.Fprintln(w, swapSummary)
	if f.After != nil {
		line("after the alias moved", f.After)
		fmt.Fprintf(w, "Every write made during the rebuild is in %s; for %s after the move (until this catch-up ended) searches could miss some of the writes made before it.\n",
			f.rb.Index, f.Window.Round(time.Millisecond))
	} else {
		fmt.Fprintf(w, "No catch-up after the move (--catch-up %d): writes made during the rebuild may be missing from %s; run verify --repair.\n", f.passes, f.rb.Index)
	}
}

func (f *rebuildFinish) summary(swapped bool) *runlog.Rebuild {
	conv := func(c *verify.CatchUp) *runlog.CatchUp {
		if c == nil {
			return nil
		}
		return &runlog.CatchUp{Compared: c.Compared, Missing: c.Missing, Stale: c.Stale, Orphans: c.Orphans, Repaired: c.Repaired, Seconds: c.Seconds}
	}
	return &runlog.Rebuild{Alias: f.rb.Alias, Index: f.rb.Index, Old: f.rb.Old, Swapped: swapped,
		CatchUpBefore: conv(f.Before), CatchUpAfter: conv(f.After), WindowSeconds: f.Window.Seconds()}
}
