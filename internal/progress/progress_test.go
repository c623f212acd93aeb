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
