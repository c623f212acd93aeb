package syncjob

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/indexsync/indexsync/internal/checkpoint"
	"github.com/indexsync/indexsync/internal/outcome"
)

// TestExecute pins how a run ends: its class, whether a rebuild's alias
// moves, and what the checkpoint says, for each way a run can go.
func TestExecute(t *testing.T) {
	unauthorized := errors.New("the Sync API rejected the API key (HTTP 401)")
	tests := []struct {
		name        string
		fail        func(blocks *int) func([]Item) (map[string]string, error)
		swapErr     error
		withSwap    bool
		wantClass   outcome.Class
		wantSwapped bool
		wantLeftOut bool
		wantDone    bool // checkpoint marked complete
		wantErr     string
		resume      ResumeMode
	}{
		{name: "all synced", wantClass: outcome.OK, wantDone: true},
		{name: "rebuild, all synced: the alias moves", withSwap: true, wantClass: outcome.OK, wantSwapped: true, wantDone: true},
		{name: "rebuild with failures keeps the alias", withSwap: true,
			fail: func(*int) func([]Item) (map[string]string, error) {
				return func(b []Item) (map[string]string, error) {
					if b[0].ID == "u0-1" {
						return map[string]string{"u0-1": "mapper_parsing_exception"}, nil
					}
					return nil, nil
				}
			},
			wantClass: outcome.SomeFailed, wantLeftOut: true, wantDone: true},
		// not marked complete: --resume comes back to the swap
		{name: "the swap fails", withSwap: true, swapErr: errors.New("aliases: 503"), wantClass: outcome.Fatal, wantDone: false, wantErr: "run again with --resume to finish it"},
		{name: "401 before the first block", fail: func(*int) func([]Item) (map[string]string, error) {
			return func([]Item) (map[string]string, error) {
				return nil, &StopError{Err: outcome.As(outcome.Unreachable, unauthorized)}
			}
		}, wantClass: outcome.Unreachable, wantErr: "rejected the API key"},
		{name: "401 mid-run", fail: func(n *int) func([]Item) (map[string]string, error) {
			return func([]Item) (map[string]string, error) {
				if *n++; *n > 3 {
					return nil, &StopError{Err: outcome.As(outcome.Unreachable, unauthorized)}
				}
				return nil, nil
			}
		}, wantClass: outcome.Fatal, wantErr: "run again with --resume"},
		{name: "a failure mid-run", fail: func(n *int) func([]Item) (map[string]string, error) {
			return func([]Item) (map[string]string, error) {
				if *n++; *n > 2 {
					return nil, &StopError{Err: errors.New("the API failed block after block")}
				}
				return nil, nil
			}
		}, wantClass: outcome.Fatal, wantErr: "checkpoint saved in"},
		// with --resume auto the same command line continues: the message says so
		{name: "a failure mid-run, --resume auto", resume: ResumeAuto, fail: func(n *int) func([]Item) (map[string]string, error) {
			return func([]Item) (map[string]string, error) {
				if *n++; *n > 2 {
					return nil, &StopError{Err: errors.New("the API failed block after block")}
				}
				return nil, nil
			}
		}, wantClass: outcome.Fatal, wantErr: "run the same command again (--resume auto continues it)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, path := newTracker(t, testUnits())
			var blocks int
			tgt := &fakeTarget{}
			if tt.fail != nil {
				f := tt.fail(&blocks)
				var mu = make(chan struct{}, 1)
				tgt.fail = func(b []Item) (map[string]string, error) {
					mu <- struct{}{}
					defer func() { <-mu }()
					return f(b)
				}
			}
			swaps := 0
			var swap func(context.Context) error
			if tt.withSwap {
				swap = func(context.Context) error { swaps++; return tt.swapErr }
			}
			rep := Execute(context.Background(), Job{
				Spec: Spec{BlockSize: 100, Concurrency: 1, Resume: tt.resume}, Tracker: tr, Source: seqSource{}, Target: tgt,
				Records: &fakeRecords{}, Swap: swap, CheckpointPath: path,
			})
			if rep.Class != tt.wantClass || outcome.Of(context.Background(), rep.Err) != tt.wantClass {
				t.Errorf("class %v (err %v), want %v", rep.Class, rep.Err, tt.wantClass)
			}
			if tt.wantErr != "" && (rep.Err == nil || !strings.Contains(rep.Err.Error(), tt.wantErr)) {
				t.Errorf("err %v, want it to say %q", rep.Err, tt.wantErr)
			}
			if rep.Swapped != tt.wantSwapped || rep.LeftOut != tt.wantLeftOut {
				t.Errorf("swapped %v left out %v, want %v %v", rep.Swapped, rep.LeftOut, tt.wantSwapped, tt.wantLeftOut)
			}
			if tt.wantLeftOut && swaps != 0 {
				t.Error("the alias was swapped although documents were left out")
			}
			st, err := checkpoint.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Complete != tt.wantDone {
				t.Errorf("checkpoint complete = %v, want %v", st.Complete, tt.wantDone)
			}
			if rep.Counts != st.Counts {
				t.Errorf("reported counts %+v, checkpoint %+v", rep.Counts, st.Counts)
			}
		})
	}
}

func TestExecuteInterrupted(t *testing.T) {
	tr, path := newTracker(t, testUnits())
	ctx, cancel := context.WithCancel(context.Background())
	tgt := &fakeTarget{after: func(n int) {
		if n == 2 {
			cancel()
		}
	}}
	rep := Execute(ctx, Job{Spec: Spec{BlockSize: 100, Concurrency: 1}, Tracker: tr, Source: seqSource{}, Target: tgt,
		Records: &fakeRecords{}, CheckpointPath: path})
	if rep.Class != outcome.Interrupted || !errors.Is(rep.Err, context.Canceled) {
		t.Errorf("class %v err %v, want interrupted", rep.Class, rep.Err)
	}
	if st, _ := checkpoint.Load(path); st.Complete || st.Counts.Succeeded != 200 {
		t.Errorf("checkpoint %+v, want 2 blocks confirmed and not complete", st.Counts)
	}
}

// TestExecuteCheckpointNotSaved: when the checkpoint cannot be written (its
// directory gone, a full disk), the run stops and says the checkpoint was
// NOT updated, instead of "checkpoint saved".
func TestExecuteCheckpointNotSaved(t *testing.T) {
	tr, path := newTracker(t, testUnits())
	blocks := 0
	tgt := &fakeTarget{fail: func([]Item) (map[string]string, error) {
		if blocks++; blocks == 3 {
			if err := os.RemoveAll(filepath.Dir(path)); err != nil {
				t.Fatal(err)
			}
		}
		return nil, nil
	}}
	rep := Execute(context.Background(), Job{
		Spec: Spec{BlockSize: 100, Concurrency: 1}, Tracker: tr, Source: seqSource{}, Target: tgt,
		Records: &fakeRecords{}, CheckpointPath: path,
	})
	if rep.Class != outcome.Fatal || rep.Err == nil {
		t.Fatalf("class %v err %v, want a fatal stop", rep.Class, rep.Err)
	}
	msg := rep.Err.Error()
	if !strings.Contains(msg, "could NOT be updated") || strings.Contains(msg, "checkpoint saved") {
		t.Errorf("err %q: want it to say the checkpoint was not updated", msg)
	}
}

// TestDryRunKeepsRate: a dry run reads at --rate too, so that it puts the
// read load of the real run on Cassandra (a rehearsal), and still builds
// every item once. 1,000 items at 4,000 a second cannot finish before the
// last block starts, when at least 950 items have been paced (0.2375 s).
func TestDryRunKeepsRate(t *testing.T) {
	tgt := &fakeTarget{}
	start := time.Now()
	res, err := DryRun(context.Background(), Spec{BlockSize: 100, Concurrency: 4, Rate: 4000}, testUnits(), seqSource{}, tgt)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 225*time.Millisecond {
		t.Errorf("dry run at --rate 4000 took %s for 1,000 items; want ≥ 225ms (the rate not kept)", took)
	}
	if res.Counts.Succeeded != 1000 || len(tgt.sent) != 1000 {
		t.Errorf("dry run built %d items (%d distinct); want 1,000 once each", res.Counts.Succeeded, len(tgt.sent))
	}
}
