package syncjob

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/indexsync/indexsync/internal/checkpoint"
	"github.com/indexsync/indexsync/internal/outcome"
	"github.com/indexsync/indexsync/internal/throttle"
)

// Tracker is the checkpoint of a run (checkpoint.Tracker is one).
type Tracker interface {
	Checkpoint
	Snapshot() checkpoint.State
	Pending() []int
	MarkComplete() error
}

// Job is a planned run with its parts wired in.
type Job struct {
	Spec    Spec
	Tracker Tracker // the run's checkpoint: fresh, or the resumed one
	Source  Source
	Target  Target
	Records Records
	// Swap, when set (a rebuild), is called after a complete load that
	// left no document out: it moves the alias to the loaded index (and
	// catches up with the writes made meanwhile). With documents left out,
	// the alias stays where it was. It must be safe to call again after a
	// stop part-way.
	Swap func(ctx context.Context) error
	// OnBlock, when set, sees the counts of every block (progress, console
	// lines, metrics); calls are serialized.
	OnBlock func(delta checkpoint.Counts)
	// CheckpointPath names the checkpoint in messages.
	CheckpointPath string
}

// Report is how a run ended.
type Report struct {
	Class outcome.Class
	// Err says why the run stopped or did not finish cleanly; nil for OK.
	// Its outcome.Of is Class.
	Err error
	// Counts are the run's, a resumed run's earlier ones included; ThisRun
	// only this process's.
	Counts, ThisRun checkpoint.Counts
	// Swapped: the rebuild's alias was moved. LeftOut: it was not, because
	// the load left documents out.
	Swapped, LeftOut bool
	Started          time.Time
	Finished         time.Time
}

// Execute runs the job to its end and classifies the ending. It never
// returns an error of its own: every failure is in the Report.
func Execute(ctx context.Context, j Job) Report {
	out := Report{Started: time.Now()}
	snap := j.Tracker.Snapshot()
	res, runErr := Run(ctx, Config{
		Units:       snap.Units,
		Pending:     j.Tracker.Pending(),
		Source:      j.Source,
		Target:      j.Target,
		Checkpoint:  j.Tracker,
		Records:     j.Records,
		BlockSize:   j.Spec.BlockSize,
		BlockBytes:  j.Spec.BlockBytes,
		Concurrency: j.Spec.Concurrency,
		Sleep:       j.Spec.Sleep,
		Throttle:    throttle.New(j.Spec.Rate),
		RequestNo:   snap.Counts.RequestNo,
		OnBlock:     j.OnBlock,
	})
	out.ThisRun = res.Counts
	resume := fmt.Sprintf("checkpoint saved in %s: %s", j.CheckpointPath, j.again())
	if _, notSaved := errors.AsType[*checkpoint.SaveError](runErr); notSaved {
		resume = fmt.Sprintf("the checkpoint in %s could NOT be updated and holds the last state saved before: free space in --state-dir, then %s (the blocks sent since that save are sent again)", j.CheckpointPath, j.again())
	}
	switch {
	case runErr != nil && errors.Is(runErr, ErrNoProgress) && outcome.Of(ctx, runErr) == outcome.Unreachable:
		out.Err = runErr // the target was never usable: the "cannot connect" of a start
	case runErr != nil:
		out.Err = outcome.As(outcome.Fatal, fmt.Errorf("%w; %s", runErr, resume))
	case res.Interrupted:
		out.Err = fmt.Errorf("interrupted; %s: %w", resume, context.Canceled)
	default:
		out.Err = j.finish(ctx, &out)
	}
	out.Class = outcome.Of(ctx, out.Err)
	out.Counts = j.Tracker.Snapshot().Counts
	out.Finished = time.Now()
	return out
}

// again says how to continue the run: with --resume auto the same command
// line resumes it, otherwise it needs --resume.
func (j Job) again() string {
	if j.Spec.Resume == ResumeAuto {
		return "run the same command again (--resume auto continues it)"
	}
	return "run again with --resume"
}

// finish ends a run that got through all its units: a rebuild's alias
// moved unless documents were left out, then the checkpoint marked
// complete. A rebuild is marked complete only after its swap, so a run
// stopped during the swap (or the catch-up around it) is resumed into it.
func (j Job) finish(ctx context.Context, out *Report) error {
	failed := j.Tracker.Snapshot().Counts.Failed
	switch {
	case j.Swap != nil && failed > 0:
		out.LeftOut = true
	case j.Swap != nil:
		if err := j.Swap(ctx); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted before the alias moved; checkpoint saved in %s: %s: %w", j.CheckpointPath, j.again(), context.Canceled)
			}
			return outcome.As(outcome.Fatal, fmt.Errorf("%w; the load is complete: %s to finish it", err, j.again()))
		}
		out.Swapped = true
	}
	if err := j.Tracker.MarkComplete(); err != nil {
		return outcome.As(outcome.Fatal, fmt.Errorf("save the checkpoint: %w", err))
	}
	if failed > 0 {
		return outcome.ErrSomeFailed
	}
	return nil
}

// DryRun reads every unit into blocks and hands them to target (one that
// sends nothing), with nothing checkpointed or recorded. It keeps
// spec.Rate, so a dry run can rehearse the read load of a paced run.
func DryRun(ctx context.Context, spec Spec, units []checkpoint.Unit, src Source, target Target) (Result, error) {
	pending := make([]int, len(units))
	for i := range units {
		pending[i] = i
	}
	return Run(ctx, Config{
		Units: units, Pending: pending, Source: src, Target: target,
		Checkpoint: nopCheckpoint{}, Records: nopRecords{},
		BlockSize: spec.BlockSize, BlockBytes: spec.BlockBytes, Concurrency: spec.Concurrency,
		Throttle: throttle.New(spec.Rate),
	})
}

type nopCheckpoint struct{}

func (nopCheckpoint) Apply([]checkpoint.Step, checkpoint.Counts) error { return nil }

type nopRecords struct{}

func (nopRecords) Record(bool, int, []byte, []byte) error { return nil }
func (nopRecords) FailedIDs([]string) error               { return nil }
