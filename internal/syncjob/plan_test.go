package syncjob

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/indexsync/indexsync/internal/checkpoint"
	"github.com/indexsync/indexsync/internal/outcome"
)

// fakeDir is a state dir holding at most one checkpoint.
type fakeDir struct {
	st       *checkpoint.State
	loadErr  error
	setAside []int64 // runs set aside
}

func (d *fakeDir) Load() (*checkpoint.State, error) {
	if d.loadErr != nil {
		return nil, d.loadErr
	}
	if d.st == nil {
		return nil, fmt.Errorf("%w at fake", checkpoint.ErrNoCheckpoint)
	}
	return d.st, nil
}

func (d *fakeDir) SetAside(st *checkpoint.State) (string, error) {
	d.setAside = append(d.setAside, st.RunMS)
	d.st = nil
	return fmt.Sprintf("checkpoint_%d.json", st.RunMS), nil
}

// TestPlanRun pins every decision about the state dir's checkpoint: which
// run resumes, which starts afresh, what is set aside, what is refused.
func TestPlanRun(t *testing.T) {
	unfinished := func(fp string) *checkpoint.State {
		return &checkpoint.State{RunMS: 42, Fingerprint: fp, ObjectType: "user", Target: "api",
			Units: []checkpoint.Unit{{Start: 0, End: 50, Next: 10}, {Start: 50, End: 100, Next: 50}}}
	}
	finished := func(fp string) *checkpoint.State { st := unfinished(fp); st.Complete = true; return st }
	tests := []struct {
		name        string
		dir         fakeDir
		mode        ResumeMode
		want        Decision
		wantAside   bool
		wantUsage   string // a refusal: usage error containing this
		wantPrevRun int64
	}{
		{"fresh, no checkpoint", fakeDir{}, StartFresh, Fresh, false, "", 0},
		{"--resume, no checkpoint", fakeDir{}, ResumeLast, 0, false, "--resume: no checkpoint", 0},
		{"--resume auto, no checkpoint", fakeDir{}, ResumeAuto, Fresh, false, "", 0},
		{"--resume, unfinished run of these settings", fakeDir{st: unfinished("fp")}, ResumeLast, Resume, false, "", 42},
		{"--resume auto, unfinished run of these settings", fakeDir{st: unfinished("fp")}, ResumeAuto, Resume, false, "", 42},
		{"--resume, a foreign fingerprint", fakeDir{st: unfinished("other")}, ResumeLast, 0, false, "is for another job", 0},
		{"--resume auto, a foreign fingerprint: set aside", fakeDir{st: unfinished("other")}, ResumeAuto, Fresh, true, "", 42},
		{"--resume, a finished run: nothing to do", fakeDir{st: finished("fp")}, ResumeLast, AlreadyDone, false, "", 42},
		{"--resume auto, a finished run: a new one", fakeDir{st: finished("fp")}, ResumeAuto, Fresh, false, "", 42},
		{"fresh over an unfinished run: set aside", fakeDir{st: unfinished("fp")}, StartFresh, Fresh, true, "", 42},
		{"fresh over a finished run", fakeDir{st: finished("fp")}, StartFresh, Fresh, false, "", 42},
		{"a corrupt checkpoint", fakeDir{loadErr: fmt.Errorf("checkpoint x: %w: units", checkpoint.ErrCorrupt)}, ResumeAuto, 0, false, "corrupt", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.dir
			plan, err := PlanRun(tt.mode, "fp", Span{0, 100}, &dir, "/state")
			if tt.wantUsage != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantUsage) || outcome.Of(context.Background(), err) != outcome.Usage {
					t.Fatalf("err %v, want a usage error containing %q", err, tt.wantUsage)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if plan.Decision != tt.want {
				t.Errorf("decision %v, want %v (%s)", plan.Decision, tt.want, plan.Reason)
			}
			if aside := len(dir.setAside) > 0; aside != tt.wantAside || (aside && plan.SetAside == "") {
				t.Errorf("set aside %v (%q), want %v", dir.setAside, plan.SetAside, tt.wantAside)
			}
			if tt.wantPrevRun != 0 && (plan.Prev == nil || plan.Prev.RunMS != tt.wantPrevRun) {
				t.Errorf("prev %+v, want run %d", plan.Prev, tt.wantPrevRun)
			}
			if plan.Reason == "" {
				t.Error("no reason given")
			}
		})
	}
}

func TestPlanRunSetAsideFails(t *testing.T) {
	dir := &failingAside{fakeDir{st: &checkpoint.State{RunMS: 7, Fingerprint: "x"}}}
	_, err := PlanRun(StartFresh, "fp", Span{0, 100}, dir, "/state")
	if err == nil || outcome.Of(context.Background(), err) != outcome.Usage || !errors.Is(err, errDiskFull) {
		t.Errorf("err %v, want a usage error wrapping the failure", err)
	}
}

var errDiskFull = errors.New("no space left on device")

type failingAside struct{ fakeDir }

func (f *failingAside) SetAside(*checkpoint.State) (string, error) { return "", errDiskFull }

// TestPlanRunRefusesCutCheckpoints: a checkpoint that parses but whose units
// do not tile the run's span (ranges cut out, overlapping, progress outside
// its unit) is refused as corrupt, not resumed into a false success.
func TestPlanRunRefusesCutCheckpoints(t *testing.T) {
	span := Span{-100, 100}
	ok := []checkpoint.Unit{{Start: -100, End: 0, Next: -100}, {Start: 0, End: 100, Next: 40}}
	tests := []struct {
		name  string
		units []checkpoint.Unit
		want  string
	}{
		{"a range cut out", ok[1:], "unit 0 starts at 0, want -100"},
		{"the last range cut out", ok[:1], "the units end at 0, want 100"},
		{"no units at all", nil, "no units"},
		{"overlapping", []checkpoint.Unit{{Start: -100, End: 10, Next: -100}, ok[1]}, "unit 1 starts at 0, want 10"},
		{"progress outside its unit", []checkpoint.Unit{ok[0], {Start: 0, End: 100, Next: 150}}, "progress 150 outside"},
		{"done before its end", []checkpoint.Unit{ok[0], {Start: 0, End: 100, Next: 40, Done: true}}, "marked done at 40"},
	}
	for _, tt := range tests {
		for _, mode := range []ResumeMode{ResumeLast, ResumeAuto} {
			dir := &fakeDir{st: &checkpoint.State{RunMS: 1, Fingerprint: "fp", Units: tt.units}}
			_, err := PlanRun(mode, "fp", span, dir, "/state")
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, checkpoint.ErrCorrupt) ||
				outcome.Of(context.Background(), err) != outcome.Usage {
				t.Errorf("%s (--resume %d): err %v, want a usage error saying %q", tt.name, mode, err, tt.want)
			}
		}
	}
	dir := &fakeDir{st: &checkpoint.State{RunMS: 1, Fingerprint: "fp", Units: ok}}
	if plan, err := PlanRun(ResumeLast, "fp", span, dir, "/state"); err != nil || plan.Decision != Resume {
		t.Errorf("a whole checkpoint: %v %v, want resumed", plan.Decision, err)
	}
}
