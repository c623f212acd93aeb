// Package syncjob runs a sync: units of work (token ranges of the ring, or
// slices of an ids file) are read by parallel workers, cut into blocks, and
// sent to a target — the Sync API or the search engine — one block at a time
// per worker. A unit's checkpoint advances only after the target answered for
// the whole block, so a crash re-sends at most the block each worker had in
// flight.
//
// The package owns small interfaces for its collaborators (a Source of items,
// a Target that takes a block and reports per item, the checkpoint and the
// run's files) and imports neither the Cassandra driver nor HTTP.
package syncjob

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/indexsync/indexsync/internal/checkpoint"
	"github.com/indexsync/indexsync/internal/throttle"
)

// Item is one object to sync.
type Item struct {
	ID      string
	Seq     int64  // position in its unit (a token, or an index in an ids file); increases within a unit
	Doc     []byte // the encoded document, for targets that write documents
	Missing bool   // the id has no row: counted as skipped, not sent
}

// Source yields the items of a unit in Seq order, those with Seq > after.
type Source interface {
	Items(ctx context.Context, u checkpoint.Unit, after int64, fn func(Item) error) error
}

// Outcome is a target's answer for one block.
type Outcome struct {
	Failed   map[string]string // ids of the block that failed, and why
	Success  bool              // the record goes to the success log (else the failure log)
	Request  []byte            // what was sent, for the log record
	Response []byte            // what came back, for the log record
	Retries  int               // retries the target made for this block
	PushBack int               // times the server pushed back (429/503/rejections)
}

// Target sends one block. An error means the block failed as a whole after
// the target's own retries (every id not in Outcome.Failed fails with it),
// unless it is a *StopError, which stops the run.
type Target interface {
	Send(ctx context.Context, block []Item) (Outcome, error)
}

// StopError stops the run: continuing cannot help (a rejected API key, the
// API failing block after block).
type StopError struct{ Err error }

func (e *StopError) Error() string { return e.Err.Error() }
func (e *StopError) Unwrap() error { return e.Err }

// Checkpoint records confirmed progress (checkpoint.Tracker does).
type Checkpoint interface {
	Advance(unit int, next int64, delta checkpoint.Counts) error
	Finish(unit int) error
}

// Records are the run's files (runlog.Log is one).
type Records interface {
	Record(success bool, requestNo int, request, response []byte) error
	FailedIDs(ids []string) error
}

// Config is one run.
type Config struct {
	Units           []checkpoint.Unit // all units, by index
	Pending         []int             // indexes of the units left to do
	Source          Source
	Target          Target
	Checkpoint      Checkpoint
	Records         Records
	BlockSize       int           // items per block
	BlockBytes      int           // document bytes per block (0: no limit)
	Concurrency     int           // workers
	Sleep           time.Duration // pause between a worker's calls (the old job's sleep)
	Throttle        *throttle.Throttle
	RequestNo       int // requests already made (a resumed run continues the numbering)
	MaxFailedInARow int // whole blocks failing in a row before the run stops; 0 = 3

	// OnBlock, when set, is called after each block is recorded, with the
	// counts of that block (for progress and console lines).
	OnBlock func(delta checkpoint.Counts)
}

// Result is what a run did (this process only; add the checkpoint's earlier
// counts for a resumed run).
type Result struct {
	Counts      checkpoint.Counts
	Blocks      int  // blocks answered
	Interrupted bool // ctx ended before all units were done
}

// ErrNoProgress wraps a stop before any block was answered: the target was
// never usable (exit 3 rather than 4).
var ErrNoProgress = errors.New("stopped before any block was answered")

// Run works through the pending units. It returns when all are done, when
// ctx ends (Interrupted; the blocks in flight are finished first), or on a
// fatal error (a source that cannot be read, a StopError, a checkpoint that
// cannot be saved).
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Concurrency < 1 {
		cfg.Concurrency = 1
	}
	if cfg.BlockSize < 1 {
		cfg.BlockSize = 100
	}
	if cfg.MaxFailedInARow <= 0 {
		cfg.MaxFailedInARow = 3
	}
	if cfg.Throttle == nil {
		cfg.Throttle = throttle.New(0)
	}
	r := &runner{cfg: cfg}
	r.reqNo.Store(int64(cfg.RequestNo))

	// stopCtx ends scanning on a fatal error; ctx (signals) ends it too.
	stopCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	units := make(chan int)
	var wg sync.WaitGroup
	for range min(cfg.Concurrency, max(len(cfg.Pending), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range units {
				if err := r.unit(ctx, stopCtx, u); err != nil {
					stop(err)
					return
				}
			}
		}()
	}
feed:
	for _, u := range cfg.Pending {
		select {
		case units <- u:
		case <-stopCtx.Done():
			break feed
		}
	}
	close(units)
	wg.Wait()

	res := Result{Counts: r.counts(), Blocks: int(r.blocks.Load())}
	if cause := context.Cause(stopCtx); cause != nil && !errors.Is(cause, context.Canceled) {
		if r.blocks.Load() == 0 {
			return res, fmt.Errorf("%w: %w", ErrNoProgress, cause)
		}
		return res, cause
	}
	if ctx.Err() != nil {
		res.Interrupted = true
	}
	return res, nil
}

type runner struct {
	cfg    Config
	reqNo  atomic.Int64
	blocks atomic.Int64

	mu        sync.Mutex
	total     checkpoint.Counts
	failedRow int // whole blocks failed in a row, over all workers
}

func (r *runner) counts() checkpoint.Counts {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total
}

type block struct {
	items []Item
	last  int64 // Seq of the last item: the unit's checkpoint after this block
}

// unit reads one unit and sends its blocks. Reading runs one block ahead of
// sending, so the source and the target work at the same time.
func (r *runner) unit(ctx, stopCtx context.Context, ui int) error {
	u := r.cfg.Units[ui]
	uctx, ucancel := context.WithCancel(stopCtx)
	defer ucancel()
	blocks := make(chan block, 1)
	scanErr := make(chan error, 1)
	go func() {
		defer close(blocks)
		var cur block
		size := 0
		flush := func() bool {
			if len(cur.items) == 0 {
				return true
			}
			select {
			case blocks <- cur:
				cur, size = block{}, 0
				return true
			case <-uctx.Done():
				return false
			}
		}
		err := r.cfg.Source.Items(uctx, u, u.Next, func(it Item) error {
			if len(cur.items) > 0 && (len(cur.items) >= r.cfg.BlockSize || (r.cfg.BlockBytes > 0 && size+len(it.Doc) > r.cfg.BlockBytes)) {
				if !flush() {
					return uctx.Err()
				}
			}
			cur.items = append(cur.items, it)
			cur.last = it.Seq
			size += len(it.Doc)
			return nil
		})
		if err == nil {
			flush()
		}
		scanErr <- err
	}()

	first := true
	for b := range blocks {
		if stopCtx.Err() != nil {
			continue // drain: blocks not yet in flight are not sent
		}
		if !first && r.cfg.Sleep > 0 {
			if err := sleep(stopCtx, r.cfg.Sleep); err != nil {
				continue
			}
		}
		first = false
		if err := r.send(ctx, ui, b); err != nil {
			// let the reader stop, then report
			ucancel()
			for range blocks {
			}
			<-scanErr
			return err
		}
	}
	err := <-scanErr
	switch {
	case stopCtx.Err() != nil:
		return nil // interrupted or stopped elsewhere: the unit stays pending
	case err != nil:
		return fmt.Errorf("read unit %d (%d,%d]: %w", ui, u.Start, u.End, err)
	}
	return r.cfg.Checkpoint.Finish(ui)
}

// send delivers one block (finishing it even if ctx ends meanwhile), records
// the outcome, and advances the unit's checkpoint.
func (r *runner) send(ctx context.Context, ui int, b block) error {
	var toSend []Item
	var skipped int
	for _, it := range b.items {
		if it.Missing {
			skipped++
			continue
		}
		toSend = append(toSend, it)
	}
	delta := checkpoint.Counts{Skipped: skipped}
	var failedIDs []string
	if len(toSend) > 0 {
		if err := r.cfg.Throttle.Wait(context.WithoutCancel(ctx), len(toSend)); err != nil {
			return err
		}
		out, err := r.cfg.Target.Send(context.WithoutCancel(ctx), toSend)
		var stopErr *StopError
		if errors.As(err, &stopErr) {
			return err
		}
		for i := 0; i < out.PushBack; i++ {
			r.cfg.Throttle.PushBack()
		}
		reqNo := int(r.reqNo.Add(1))
		for _, it := range toSend {
			if _, bad := out.Failed[it.ID]; bad || err != nil {
				failedIDs = append(failedIDs, it.ID)
			}
		}
		success := err == nil && out.Success
		if rerr := r.cfg.Records.Record(success, reqNo, out.Request, out.Response); rerr != nil {
			return fmt.Errorf("write the run log: %w", rerr)
		}
		if len(failedIDs) > 0 {
			if ferr := r.cfg.Records.FailedIDs(failedIDs); ferr != nil {
				return fmt.Errorf("write the failed ids: %w", ferr)
			}
		}
		delta.Retries = out.Retries
		delta.RequestNo = 1
		if err := r.countWholeFailure(err); err != nil {
			// record the block first (done above), then stop
			delta.Failed = len(failedIDs)
			delta.Succeeded = len(toSend) - len(failedIDs)
			r.add(delta)
			_ = r.cfg.Checkpoint.Advance(ui, b.last, delta)
			return err
		}
	}
	delta.Failed = len(failedIDs)
	delta.Succeeded = len(toSend) - len(failedIDs)
	r.add(delta)
	r.blocks.Add(1)
	if err := r.cfg.Checkpoint.Advance(ui, b.last, delta); err != nil {
		return fmt.Errorf("save the checkpoint: %w", err)
	}
	if r.cfg.OnBlock != nil {
		r.cfg.OnBlock(delta)
	}
	return nil
}

// countWholeFailure tracks blocks that failed as a whole; too many in a row
// stop the run instead of failing every id that follows.
func (r *runner) countWholeFailure(err error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		r.failedRow = 0
		return nil
	}
	r.failedRow++
	if r.failedRow >= r.cfg.MaxFailedInARow {
		return &StopError{Err: fmt.Errorf("%d blocks in a row failed after all retries (last: %w); stopping — fix the cause, then run again with --resume", r.failedRow, err)}
	}
	return nil
}

func (r *runner) add(d checkpoint.Counts) {
	r.mu.Lock()
	r.total.Succeeded += d.Succeeded
	r.total.Failed += d.Failed
	r.total.Skipped += d.Skipped
	r.total.Retries += d.Retries
	r.total.RequestNo += d.RequestNo
	r.mu.Unlock()
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
