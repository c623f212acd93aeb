package verify

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/indexsync/indexsync/internal/atomicfile"
	"github.com/indexsync/indexsync/internal/idsfile"
)

// Report is the content of verify_<ms>.json: counts, the complete id lists,
// hints for the first stale documents, and what a repair did.
type Report struct {
	ObjectType      string    `json:"objectType"`
	Keyspace        string    `json:"keyspace"`
	Index           string    `json:"index"`
	Shard           string    `json:"shard,omitempty"`
	Started         time.Time `json:"started"`
	Finished        time.Time `json:"finished"`
	DurationSeconds float64   `json:"durationSeconds"`
	// Complete is false when the verify stopped early (Error says why);
	// the counts and lists then cover only what was checked.
	Complete bool   `json:"complete"`
	Error    string `json:"error,omitempty"`
	// Warnings are problems found beside the comparison, e.g. an alias on
	// several indexes.
	Warnings []string `json:"warnings,omitempty"`

	CassandraDocs int64 `json:"cassandraDocs"`
	IndexDocs     int64 `json:"indexDocs"`
	IndexChecked  int64 `json:"indexChecked"`
	// WalkSeconds and ScanSeconds time the two passes of the comparison.
	WalkSeconds float64 `json:"walkSeconds"`
	ScanSeconds float64 `json:"scanSeconds"`
	Missing     int     `json:"missing"`
	Stale       int     `json:"stale"`
	Orphans     int     `json:"orphans"`
	StaleDiffs  []Diff  `json:"staleDiffs"`

	Repair *RepairReport `json:"repair,omitempty"`
	// Remaining is the number of differences left: all of them without a
	// repair, those the re-check still finds after one.
	Remaining int `json:"remaining"`
	ExitCode  int `json:"exitCode"`

	found    *Result
	repaired *RepairResult
}

// RepairReport is what --repair / --delete-orphans did.
type RepairReport struct {
	Resync        bool              `json:"resync"`
	DeleteOrphans bool              `json:"deleteOrphans"`
	Repaired      int               `json:"repaired"`
	Deleted       int               `json:"deleted"`
	Vanished      int               `json:"vanished"`
	Kept          int               `json:"keptOrphans"`
	Failed        int               `json:"failed"`
	Reasons       map[string]string `json:"failureReasons,omitempty"`
}

// NewReport fills a report from a comparison and, when there was one, a
// repair.
func NewReport(found *Result, repaired *RepairResult, resync, deleteOrphans bool) *Report {
	r := &Report{found: found, repaired: repaired, StaleDiffs: []Diff{}}
	if found != nil {
		r.CassandraDocs, r.IndexDocs, r.IndexChecked = found.CassandraDocs, found.IndexDocs, found.IndexChecked
		r.WalkSeconds, r.ScanSeconds = found.WalkTime.Seconds(), found.ScanTime.Seconds()
		r.Missing, r.Stale, r.Orphans = found.Missing.Len(), found.Stale.Len(), found.Orphans.Len()
		r.StaleDiffs = append(r.StaleDiffs, found.Diffs...)
		r.Remaining = found.Differences()
	}
	if repaired != nil {
		r.Repair = &RepairReport{
			Resync: resync, DeleteOrphans: deleteOrphans,
			Repaired: repaired.Repaired, Deleted: repaired.Deleted, Vanished: repaired.Vanished,
			Kept: repaired.Kept, Failed: repaired.Failed, Reasons: repaired.Reasons,
		}
		r.Remaining = repaired.Remaining.Len()
	}
	return r
}

// FileName is the report's name for a run started at ms (epoch millis).
func FileName(ms int64) string { return fmt.Sprintf("verify_%d.json", ms) }

// WriteFile writes the report into dir as verify_<ms>.json, atomically
// (package atomicfile), and returns its path. The id lists are
// streamed from their lists, one id a line.
func (r *Report) WriteFile(dir string, ms int64) (string, error) {
	path := filepath.Join(dir, FileName(ms))
	if err := atomicfile.WriteFunc(path, r.encode); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return path, nil
}

// encode writes the fields of r, then the id lists, as one indented object.
func (r *Report) encode(w io.Writer) error {
	head, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	// head ends with "\n}": keep the object open for the lists
	if _, err := w.Write(head[:len(head)-2]); err != nil {
		return err
	}
	lists := []struct {
		key  string
		list *IDList
	}{{"missingIds", nil}, {"staleIds", nil}, {"orphanIds", nil}}
	if r.found != nil {
		lists[0].list, lists[1].list, lists[2].list = r.found.Missing, r.found.Stale, r.found.Orphans
	}
	if r.repaired != nil {
		lists = append(lists, struct {
			key  string
			list *IDList
		}{"remainingIds", r.repaired.Remaining})
	}
	for _, l := range lists {
		if _, err := fmt.Fprintf(w, ",\n  %q: [", l.key); err != nil {
			return err
		}
		first := true
		err := l.list.eachJSON(func(raw []byte) error {
			sep := ",\n    "
			if first {
				sep, first = "\n    ", false
			}
			if _, err := io.WriteString(w, sep); err != nil {
				return err
			}
			_, err := w.Write(raw)
			return err
		})
		if err != nil {
			return err
		}
		end := "\n  ]"
		if first {
			end = "]"
		}
		if _, err := io.WriteString(w, end); err != nil {
			return err
		}
	}
	_, err = io.WriteString(w, "\n}\n")
	return err
}

// Print writes the console summary: a table of counts and the first ids of
// each list (at most maxIDs; the file has them all).
func (r *Report) Print(w io.Writer, maxIDs int, path string) {
	fmt.Fprintf(w, "Verify of %s documents: Cassandra keyspace %s vs index %s", r.ObjectType, r.Keyspace, r.Index)
	if r.Shard != "" {
		fmt.Fprintf(w, " (shard %s)", r.Shard)
	}
	fmt.Fprintln(w)
	if !r.Complete {
		fmt.Fprintln(w, "  (stopped early: the counts cover only what was checked)")
	}
	type line struct {
		name string
		n    int64
	}
	lines := []line{{"cassandra", r.CassandraDocs}, {"index", r.IndexDocs},
		{"missing", int64(r.Missing)}, {"stale", int64(r.Stale)}, {"orphans", int64(r.Orphans)}}
	if r.Repair != nil {
		lines = append(lines, line{"repaired", int64(r.Repair.Repaired)}, line{"deleted", int64(r.Repair.Deleted)})
		if r.Repair.Kept > 0 {
			lines = append(lines, line{"kept", int64(r.Repair.Kept)})
		}
		if r.Repair.Failed > 0 {
			lines = append(lines, line{"failed", int64(r.Repair.Failed)})
		}
		lines = append(lines, line{"remaining", int64(r.Remaining)})
	}
	width := 1
	for _, l := range lines {
		width = max(width, len(strconv.FormatInt(l.n, 10)))
	}
	for _, l := range lines {
		fmt.Fprintf(w, "  %-10s %*d\n", l.name, width, l.n)
	}
	if r.found != nil && maxIDs > 0 {
		printIDs(w, "Missing", r.found.Missing, maxIDs, path)
		printIDs(w, "Stale", r.found.Stale, maxIDs, path)
		for _, d := range r.StaleDiffs {
			fmt.Fprintf(w, "    %s differs in %s\n", idsfile.Line(d.ID), strings.Join(d.Fields, ", "))
		}
		printIDs(w, "Orphans", r.found.Orphans, maxIDs, path)
	}
	if r.repaired != nil && maxIDs > 0 {
		printIDs(w, "Remaining", r.repaired.Remaining, maxIDs, path)
		ids := slices.Sorted(maps.Keys(r.Repair.Reasons))
		for _, id := range ids[:min(len(ids), maxIDs)] {
			fmt.Fprintf(w, "    %s failed: %s\n", idsfile.Line(id), r.Repair.Reasons[id])
		}
	}
	if path != "" {
		fmt.Fprintf(w, "Report: %s\n", path)
	}
}

func printIDs(w io.Writer, label string, l *IDList, maxIDs int, path string) {
	n := l.Len()
	if n == 0 || maxIDs <= 0 {
		return
	}
	head := l.Head()
	head = head[:min(len(head), maxIDs)]
	shown := make([]string, len(head))
	for i, id := range head {
		shown[i] = idsfile.Line(id) // one line, whatever the id holds
	}
	fmt.Fprintf(w, "%s (%d): %s", label, n, strings.Join(shown, " "))
	if n > len(head) {
		fmt.Fprintf(w, " … (first %d", len(head))
		if path != "" {
			fmt.Fprintf(w, "; all in %s", filepath.Base(path))
		}
		fmt.Fprint(w, ")")
	}
	fmt.Fprintln(w)
}
