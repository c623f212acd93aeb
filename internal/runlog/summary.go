package runlog

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"time"

	"github.com/indexsync/indexsync/internal/atomicfile"
)

// Summary is the content of summary_<ms>.json, the machine-readable result
// of a run. Times are written in UTC with RFC 3339 (nanosecond) precision
// whatever their location.
type Summary struct {
	ObjectType      string    `json:"objectType"`
	Target          string    `json:"target"`
	Started         time.Time `json:"started"`
	Finished        time.Time `json:"finished"`
	DurationSeconds float64   `json:"durationSeconds"`
	Total           int       `json:"total"`
	Succeeded       int       `json:"succeeded"`
	Failed          int       `json:"failed"`
	Skipped         int       `json:"skipped"`
	Retries         int       `json:"retries"`
	DocsPerSecond   float64   `json:"docsPerSecond"`
	ExitCode        int       `json:"exitCode"`
	// ResumedFrom is nil for a run that started afresh; for a resumed run it
	// is what the checkpoint held when this process took over.
	ResumedFrom *Resumed `json:"resumedFrom"`
	// Rebuild is set for run --rebuild: where the alias went and what the
	// catch-up passes around the move found.
	Rebuild *Rebuild `json:"rebuild,omitempty"`
}

// Rebuild is what a rebuild did at its end.
type Rebuild struct {
	Alias         string   `json:"alias"`
	Index         string   `json:"index"`
	Old           []string `json:"old"`
	Swapped       bool     `json:"swapped"`
	CatchUpBefore *CatchUp `json:"catchUpBefore,omitempty"`
	CatchUpAfter  *CatchUp `json:"catchUpAfter,omitempty"`
	WindowSeconds float64  `json:"windowSeconds"` // alias moved → catch-up after it done
}

// CatchUp is one catch-up pass of a rebuild.
type CatchUp struct {
	Compared int64   `json:"compared"`
	Missing  int     `json:"missing"`
	Stale    int     `json:"stale"`
	Orphans  int     `json:"orphans"`
	Repaired int     `json:"repaired"`
	Seconds  float64 `json:"seconds"`
}

// Resumed describes the checkpoint a resumed run started from.
type Resumed struct {
	SavedAt   time.Time `json:"savedAt"`
	Succeeded int       `json:"succeeded"`
	Failed    int       `json:"failed"`
	Skipped   int       `json:"skipped"`
}

// MarshalJSON writes times in UTC and non-finite rates (a zero-length run)
// as 0, which JSON cannot otherwise represent.
func (s Summary) MarshalJSON() ([]byte, error) {
	type plain Summary // no methods: no recursion
	p := plain(s)
	p.Started = p.Started.UTC()
	p.Finished = p.Finished.UTC()
	p.DurationSeconds = finite(p.DurationSeconds)
	p.DocsPerSecond = finite(p.DocsPerSecond)
	if p.ResumedFrom != nil {
		r := *p.ResumedFrom
		r.SavedAt = r.SavedAt.UTC()
		p.ResumedFrom = &r
	}
	return json.Marshal(p)
}

func finite(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

// SummaryPath returns the name WriteSummary uses in dir.
func SummaryPath(dir string, runMS int64) string {
	return filepath.Join(dir, "summary_"+strconv.FormatInt(runMS, 10)+".json")
}

// WriteSummary writes s, indented, to summary_<runMS>.json in dir and returns
// its path. The write is atomic: readers see the old file or the new one,
// never a part (temp file in dir, fsync, rename, fsync of dir). A resumed
// run replaces its earlier summary.
func WriteSummary(dir string, runMS int64, s Summary) (string, error) {
	path := SummaryPath(dir, runMS)
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode summary: %w", err)
	}
	b = append(b, '\n')
	if err := writeAtomic(path, b); err != nil {
		return "", fmt.Errorf("write summary: %w", err)
	}
	return path, nil
}

// writeAtomic saves data over path atomically (see package atomicfile).
func writeAtomic(path string, data []byte) error {
	err := atomicfile.Write(path, data)
	var ce *atomicfile.CreateError
	if errors.As(err, &ce) {
		return stateDirError(filepath.Dir(path), filepath.Base(path), ce.Err)
	}
	return err
}
