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

	"github.com/indexsync/indexsync/internal/backoff"
	"github.com/indexsync/indexsync/internal/checkpoint"
	"github.com/indexsync/indexsync/internal/throttle"
)

// Item is one object to sync.
type Item struct {
	ID      string
	Seq     int64  // position in its unit (a token, or an index in an ids file); increases within a unit
	Doc     []byte // the encoded document, for targets that write documents
	Missing bool   // the id has no row: counted as skipped, not sent
	// Invalid says why the id cannot be synced (idsfile.Check): counted as
	// failed and written to the failed ids, not sent.
	Invalid string
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
// the target's own retries. If the error wraps ErrTransient (the target is
// unreachable or overloaded), the job waits and sends the same block again,
// and stops with the block unconfirmed — so --resume sends it — when the
// target does not come back; any other error fails the block's ids. A
// *StopError stops the run at once.
type Target interface {
	Send(ctx context.Context, block []Item) (Outcome, error)
}

// ErrTransient marks a target error that may go away: a Target wraps it.
var ErrTransient = errors.New("target unavailable")

// StopError stops the run: continuing cannot help (a rejected API key, the
// API failing block after block).
type StopError struct{ Err error }

func (e *StopError) Error() string { return e.Err.Error() }
func (e *StopError) Unwrap() error { return e.Err }

// Checkpoint records confirmed progress (checkpoint.Tracker does): all the
// steps of one block and its counts at once.
type Checkpoint interface {
	Apply(steps []checkpoint.Step, delta checkpoint.Counts) error
}

// Records are the run's files (runlog.Log is one).
type Records interface {
	Record(success bool, requestNo int, request, response []byte) error
	FailedIDs(ids []string) error
}

// Config is one run.
type Config struct {
	Units       []checkpoint.Unit // all units, by index
	Pending     []int             // indexes of the units left to do
	Source      Source
	Target      Target
	Checkpoint  Checkpoint
	Records     Records
	BlockSize   int           // items per block
	BlockBytes  int           // document bytes per block (0: no limit)
	Concurrency int           // workers
	Sleep       time.Duration // pause between a worker's calls (the old job's sleep)
	Throttle    *throttle.Throttle
	RequestNo   int // requests already made (a resumed run continues the numbering)
	// Rounds is how many times a block is sent after a transient failure
	// (each time after the target's own retries) before the run stops;
	// RoundWait is the pause between rounds. Defaults: 3 and 10 s.
	Rounds    int
	RoundWait time.Duration

	// OnBlock, when set, is called after each block is recorded, with the
	// counts of that block (for progress and console lines). Calls are
	// serialized.
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
	if cfg.Rounds <= 0 {
		cfg.Rounds = 3
	}
	if cfg.RoundWait <= 0 {
		cfg.RoundWait = 10 * time.Second
	}
	if cfg.Throttle == nil {
		cfg.Throttle = throttle.New(0)
	}
	r := &runner{cfg: cfg, gate: make(chan struct{})}
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
			if err := r.worker(ctx, stopCtx, units); err != nil {
				stop(err)
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

	mu    sync.Mutex
	total checkpoint.Counts

	onBlockMu sync.Mutex

	// The first call goes alone: a target that refuses the key or cannot be
	// reached then sees one call, not one per worker.
	leader   atomic.Bool
	gate     chan struct{}
	gateOnce sync.Once
}

// first claims the first call, or waits until it has been answered; false
// when the run stopped meanwhile.
func (r *runner) first(stopCtx context.Context) (leader, ok bool) {
	if r.leader.CompareAndSwap(false, true) {
		return true, true
	}
	select {
	case <-r.gate:
	case <-stopCtx.Done():
	}
	return false, stopCtx.Err() == nil
}

func (r *runner) openGate() { r.gateOnce.Do(func() { close(r.gate) }) }

func (r *runner) counts() checkpoint.Counts {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total
}

// block is a run of items to send in one call. It may span units: a worker
// reads unit after unit into full blocks, and marks say how far each unit
// gets once the block is confirmed.
type block struct {
	items []Item
	marks []mark
}

// mark is the checkpoint of one unit after its block is confirmed.
type mark struct {
	unit     int
	next     int64 // Seq of the unit's last item in the block (or its old Next)
	finished bool  // the unit has no items after this block
}

func (b *block) touch(unit int, seq int64) {
	if n := len(b.marks); n > 0 && b.marks[n-1].unit == unit {
		b.marks[n-1].next = seq
		return
	}
	b.marks = append(b.marks, mark{unit: unit, next: seq})
}

// worker takes units from the channel, reads them into blocks and sends
// the blocks in order. Reading runs one block ahead of sending, so the
// source and the target work at the same time.
func (r *runner) worker(ctx, stopCtx context.Context, units <-chan int) error {
	rctx, rcancel := context.WithCancel(stopCtx)
	defer rcancel()
	blocks := make(chan block, 1)
	readErr := make(chan error, 1)
	go func() {
		defer close(blocks)
		readErr <- r.read(rctx, units, blocks)
	}()

	first := true
	for b := range blocks {
		if stopCtx.Err() != nil {
			continue // drain: blocks not yet in flight are not sent
		}
		if len(b.items) > 0 && !first && r.cfg.Sleep > 0 {
			if err := backoff.Sleep(stopCtx, r.cfg.Sleep); err != nil {
				continue
			}
		}
		leader := false
		if len(b.items) > 0 {
			if first {
				var ok bool
				if leader, ok = r.first(stopCtx); !ok {
					continue
				}
			}
			first = false
		}
		err := r.send(ctx, b)
		if leader && err == nil {
			r.openGate() // on an error the run stops, which releases the others
		}
		if err != nil {
			rcancel() // let the reader stop, then report
			for range blocks {
			}
			if rerr := <-readErr; rerr != nil && !errors.Is(rerr, context.Canceled) {
				err = errors.Join(err, rerr)
			}
			return err
		}
	}
	err := <-readErr
	if stopCtx.Err() != nil {
		return nil // interrupted or stopped elsewhere: unfinished units stay pending
	}
	return err
}

// read fills blocks from the units it takes, until there are none left.
func (r *runner) read(ctx context.Context, units <-chan int, blocks chan<- block) error {
	var cur block
	size := 0
	flush := func() error {
		if len(cur.items) == 0 && len(cur.marks) == 0 {
			return nil
		}
		select {
		case blocks <- cur:
			cur, size = block{}, 0
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for ui := range units {
		u := r.cfg.Units[ui]
		err := r.cfg.Source.Items(ctx, u, u.Next, func(it Item) error {
			if len(cur.items) > 0 && (len(cur.items) >= r.cfg.BlockSize || (r.cfg.BlockBytes > 0 && size+len(it.Doc) > r.cfg.BlockBytes)) {
				if err := flush(); err != nil {
					return err
				}
			}
			cur.items = append(cur.items, it)
			cur.touch(ui, it.Seq)
			size += len(it.Doc)
			return nil
		})
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read unit %d (%d,%d]: %w", ui, u.Start, u.End, err)
		}
		// the unit is read to its end: it is done once this block is confirmed
		if n := len(cur.marks); n > 0 && cur.marks[n-1].unit == ui {
			cur.marks[n-1].finished = true
		} else {
			cur.marks = append(cur.marks, mark{unit: ui, next: u.Next, finished: true})
		}
	}
	return flush()
}

// send delivers one block (finishing it even if ctx ends meanwhile), records
// the outcome, and advances the unit's checkpoint.
func (r *runner) send(ctx context.Context, b block) error {
	var toSend []Item
	var skipped int
	var failedIDs []string
	for _, it := range b.items {
		switch {
		case it.Missing:
			skipped++
		case it.Invalid != "":
			failedIDs = append(failedIDs, it.ID)
		default:
			toSend = append(toSend, it)
		}
	}
	delta := checkpoint.Counts{Skipped: skipped}
	if len(toSend) > 0 {
		out, err := r.deliver(ctx, toSend)
		if err != nil {
			return err
		}
		reqNo := int(r.reqNo.Add(1))
		for _, it := range toSend {
			if _, bad := out.Failed[it.ID]; bad || out.err != nil {
				failedIDs = append(failedIDs, it.ID)
			}
		}
		success := out.err == nil && out.Success
		if rerr := r.cfg.Records.Record(success, reqNo, out.Request, out.Response); rerr != nil {
			return fmt.Errorf("write the run log: %w", rerr)
		}
		delta.Retries = out.Retries
		delta.RequestNo = 1
	}
	if len(failedIDs) > 0 {
		if ferr := r.cfg.Records.FailedIDs(failedIDs); ferr != nil {
			return fmt.Errorf("write the failed ids: %w", ferr)
		}
	}
	delta.Failed = len(failedIDs)
	delta.Succeeded = len(b.items) - skipped - len(failedIDs)
	r.add(delta)
	if len(b.items) > 0 {
		r.blocks.Add(1)
	}
	steps := make([]checkpoint.Step, len(b.marks))
	for i, m := range b.marks {
		steps[i] = checkpoint.Step{Unit: m.unit, Next: m.next, Finished: m.finished}
	}
	if err := r.cfg.Checkpoint.Apply(steps, delta); err != nil {
		return fmt.Errorf("save the checkpoint: %w", err)
	}
	if r.cfg.OnBlock != nil && len(b.items) > 0 {
		r.onBlockMu.Lock()
		r.cfg.OnBlock(delta)
		r.onBlockMu.Unlock()
	}
	return nil
}

// delivered is a target's answer, with a permanent error kept for the record.
type delivered struct {
	Outcome
	err error
}

// deliver sends a block until the target answers for it: a transient
// failure is retried in rounds; when the target stays away, or ctx ends
// while waiting, the block is left unconfirmed and an error stops the run.
// A request in flight when ctx ends is let finish (its answer is recorded),
// but no wait for a retry outlasts ctx: a stop takes a request's time, not
// a retry storm's.
func (r *runner) deliver(ctx context.Context, items []Item) (delivered, error) {
	sendCtx := backoff.Interruptible(context.WithoutCancel(ctx), ctx)
	retries := 0
	for round := 0; ; round++ {
		if err := r.cfg.Throttle.Wait(sendCtx, len(items)); err != nil {
			return delivered{}, &StopError{Err: fmt.Errorf("interrupted before sending a block: %w", err)}
		}
		out, err := r.cfg.Target.Send(sendCtx, items)
		if err != nil && ctx.Err() != nil {
			// the target gave up waiting to retry: what it did is not an
			// answer for the block, which stays unconfirmed for --resume
			return delivered{}, &StopError{Err: fmt.Errorf("interrupted while the target was retrying: %w", context.Cause(ctx))}
		}
		retries += out.Retries
		if out.PushBack > 0 {
			r.cfg.Throttle.PushBack() // one signal per call, however many refusals it met
		}
		var stopErr *StopError
		switch {
		case errors.As(err, &stopErr):
			return delivered{}, err
		case err == nil || !errors.Is(err, ErrTransient):
			out.Retries = retries
			return delivered{Outcome: out, err: err}, nil
		case round+1 >= r.cfg.Rounds:
			return delivered{}, &StopError{Err: fmt.Errorf("the target did not come back after %d rounds of retries: %w; the block was not confirmed — run again with --resume", r.cfg.Rounds, err)}
		}
		retries++
		if err := backoff.Sleep(ctx, r.cfg.RoundWait); err != nil {
			return delivered{}, &StopError{Err: fmt.Errorf("interrupted while waiting for the target: %w", err)}
		}
	}
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
