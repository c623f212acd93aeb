package syncjob

import (
	"errors"
	"fmt"
	"time"

	"github.com/indexsync/indexsync/internal/checkpoint"
	"github.com/indexsync/indexsync/internal/config"
)

// Decision is what a run does with the state dir's checkpoint.
type Decision uint8

// The decisions.
const (
	// Fresh starts a new run (an unfinished checkpoint of another run may
	// have been set aside: Plan.SetAside).
	Fresh Decision = iota + 1
	// Resume continues the unfinished run of Plan.Prev.
	Resume
	// AlreadyDone: --resume found a finished run; nothing to do.
	AlreadyDone
)

// Plan is what PlanRun decided.
type Plan struct {
	Decision Decision
	// Prev is the state dir's checkpoint: the run resumed (Resume), the
	// finished one (AlreadyDone), or the one set aside (Fresh).
	Prev *checkpoint.State
	// SetAside is where an unfinished checkpoint was kept when this run
	// starts afresh instead ("" when none was).
	SetAside string
	// Reason says in words why: for the console and the log.
	Reason string
}

// StateDir is the run's state directory (checkpoint.Dir is one).
type StateDir interface {
	// Load returns the checkpoint, or an error matching
	// checkpoint.ErrNoCheckpoint when there is none.
	Load() (*checkpoint.State, error)
	// SetAside keeps an unfinished checkpoint under another name and says
	// where.
	SetAside(st *checkpoint.State) (string, error)
}

// Span is the interval of positions a run's units tile: its shard of the
// token ring, or (-1, n-1] for the n ids of an ids file.
type Span struct{ Start, End int64 }

// PlanRun decides between a fresh run and resuming the state dir's
// checkpoint, given --resume, the fingerprint of this run's settings and the
// span its units must tile. Every refusal is a usage error that says what
// to do.
func PlanRun(mode ResumeMode, fingerprint string, span Span, dir StateDir, dirName string) (Plan, error) {
	st, err := dir.Load()
	switch {
	case errors.Is(err, checkpoint.ErrNoCheckpoint):
		if mode == ResumeLast {
			return Plan{}, config.Usagef("--resume: no checkpoint in %s (start a run without --resume, or use --resume auto)", dirName)
		}
		return Plan{Decision: Fresh, Reason: "no checkpoint in " + dirName}, nil
	case err != nil:
		return Plan{}, &config.UsageError{Err: err}
	}
	same := st.Fingerprint == fingerprint
	switch {
	case mode == ResumeLast && st.Complete:
		return Plan{Decision: AlreadyDone, Prev: st, Reason: fmt.Sprintf("the run in %s (%d) is already complete", dirName, st.RunMS)}, nil
	case mode == ResumeLast && !same:
		return Plan{}, config.Usagef("--resume: the checkpoint in %s is for another job (%s, target %s); give the same --object-type, --target, --keyspace, --shard, index and --ids-file, or start afresh without --resume", dirName, st.ObjectType, st.Target)
	case mode == ResumeLast, mode == ResumeAuto && same && !st.Complete:
		if err := st.CheckTiles(span.Start, span.End); err != nil {
			return Plan{}, config.Usagef("the checkpoint in %s cannot be resumed: %w", dirName, err)
		}
		return Plan{Decision: Resume, Prev: st, Reason: fmt.Sprintf("resuming the unfinished run %d from its checkpoint in %s", st.RunMS, dirName)}, nil
	case st.Complete:
		return Plan{Decision: Fresh, Prev: st, Reason: fmt.Sprintf("the last run in %s (%d) is complete: starting a new one", dirName, st.RunMS)}, nil
	}
	kept, err := dir.SetAside(st)
	if err != nil {
		return Plan{}, &config.UsageError{Err: fmt.Errorf("set aside the unfinished checkpoint in %s: %w", dirName, err)}
	}
	why := "without --resume"
	if mode == ResumeAuto {
		why = "its settings differ from this run's"
	}
	return Plan{Decision: Fresh, Prev: st, SetAside: kept,
		Reason: fmt.Sprintf("an unfinished run's checkpoint was set aside as %s (%s): starting afresh", kept, why)}, nil
}

// RunMS is the run's <ms>, which names its files: the resumed run's, or now.
func (p Plan) RunMS(now time.Time) int64 {
	if p.Decision == Resume {
		return p.Prev.RunMS
	}
	return now.UnixMilli()
}

// Checkpoints starts and continues checkpoints (checkpoint.Dir does).
type Checkpoints interface {
	Begin(st *checkpoint.State) (*checkpoint.Tracker, error)
	Continue(st *checkpoint.State) *checkpoint.Tracker
}

// Tracker returns the run's checkpoint: the resumed one, or a fresh one
// over units, saved before anything is sent. A failure to save is a usage
// error (the state dir does not take files).
func (p Plan) Tracker(c Checkpoints, spec Spec, fingerprint string, runMS int64, units []checkpoint.Unit, total int64) (*checkpoint.Tracker, error) {
	if p.Decision == Resume {
		return c.Continue(p.Prev), nil
	}
	st := checkpoint.New(runMS, fingerprint, spec.Kind.Name, spec.Target.String(), time.Now(), units)
	st.Counts.Total = int(total)
	t, err := c.Begin(st)
	if err != nil {
		return nil, &config.UsageError{Err: err}
	}
	return t, nil
}
