package progress

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestLoggerRateOfThisProcess: a resumed run counts what was done before it
// in "done" and the percentage, but its rate and ETA are this process's own
// (10,000 done before, 100 now in a second is about 100 docs/s, not 10,100).
func TestLoggerRateOfThisProcess(t *testing.T) {
	var out bytes.Buffer
	l := newLogger(Options{Total: 20000, Before: 10000, Label: "syncing users", Log: slog.New(slog.NewTextHandler(&out, nil)), Every: time.Hour})
	l.start = time.Now().Add(-time.Second)
	l.Add(100)
	l.report()
	l.Finish()
	line := out.String()
	for _, want := range []string{"done=10100", "percent=50.5"} {
		if !strings.Contains(line, want) {
			t.Errorf("progress line %q does not say %s", line, want)
		}
	}
	if !strings.Contains(line, "docsPerSecond=99 ") && !strings.Contains(line, "docsPerSecond=100 ") {
		t.Errorf("progress line %q: want about 100 docs/s (this process's rate, not counting the 10,000 done before it)", line)
	}
}

// TestLoggerRefinesAnEstimatedTotal: an estimated total that the run
// outgrows (Cassandra's size estimate of a table loaded since) is replaced by
// done / the share of the ring covered, so the percentage and ETA stay
// true; an exact total, or one with too little covered yet, stays.
func TestLoggerRefinesAnEstimatedTotal(t *testing.T) {
	line := func(o Options, done int64) string {
		var out bytes.Buffer
		o.Label, o.Log, o.Every = "syncing users", slog.New(slog.NewTextHandler(&out, nil)), time.Hour
		l := newLogger(o)
		l.start = time.Now().Add(-10 * time.Second)
		l.Add(done)
		l.report()
		l.Finish()
		return out.String()
	}
	half := func() float64 { return 0.5 }
	for _, tt := range []struct {
		name string
		o    Options
		want []string
	}{
		{"estimate outgrown", Options{Total: 1000, TotalSource: "estimated", Estimated: true, Covered: half},
			[]string{"total=1600 ", "percent=50.0", "eta=10s", `totalFrom="estimated (1000), scaled by the share of the ring synced"`}},
		{"exact total kept", Options{Total: 1000, TotalSource: "counted", Covered: half},
			[]string{"total=1000 ", "percent=80.0", "totalFrom=counted"}},
		{"too little covered", Options{Total: 1000, TotalSource: "estimated", Estimated: true, Covered: func() float64 { return 0.01 }},
			[]string{"total=1000 ", "percent=80.0"}},
		{"never below done", Options{Total: 500, TotalSource: "estimated", Estimated: true},
			[]string{"total=800 ", "percent=100.0"}},
	} {
		got := line(tt.o, 800)
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: progress line %q lacks %s", tt.name, got, w)
			}
		}
	}
}
