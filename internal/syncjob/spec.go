package syncjob

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/indexsync/indexsync/internal/checkpoint"
	"github.com/indexsync/indexsync/internal/config"
	"github.com/indexsync/indexsync/internal/sunbird"
)

// TargetType is where a run sends its work (--target).
type TargetType uint8

// The targets.
const (
	// APITarget posts blocks of ids to a Sync API, as the old job did.
	APITarget TargetType = iota + 1
	// SearchTarget writes documents straight into the search engine.
	SearchTarget
)

// ParseTarget reads --target.
func ParseTarget(s string) (TargetType, error) {
	switch s {
	case "api":
		return APITarget, nil
	case "search":
		return SearchTarget, nil
	}
	return 0, fmt.Errorf("--target %q: use api or search", s)
}

func (t TargetType) String() string {
	switch t {
	case APITarget:
		return "api"
	case SearchTarget:
		return "search"
	}
	return "unknown"
}

// RequestMode is how the API target calls the Sync API (--request-mode).
type RequestMode uint8

// The request modes.
const (
	// SyncRequests adds operationType "sync": the API answers per id.
	SyncRequests RequestMode = iota + 1
	// BackgroundRequests sends the old job's body as it is.
	BackgroundRequests
)

// ParseRequestMode reads --request-mode.
func ParseRequestMode(s string) (RequestMode, error) {
	switch s {
	case "sync":
		return SyncRequests, nil
	case "background":
		return BackgroundRequests, nil
	}
	return 0, fmt.Errorf("--request-mode %q: use sync or background", s)
}

// ResumeMode says what to do with the state dir's checkpoint (--resume).
type ResumeMode uint8

// The resume modes.
const (
	// StartFresh starts a new run; an unfinished checkpoint is set aside.
	StartFresh ResumeMode = iota
	// ResumeLast continues the unfinished run of the state dir; there must
	// be one, of the same settings.
	ResumeLast
	// ResumeAuto resumes when the state dir holds an unfinished checkpoint
	// of the same settings, and starts fresh otherwise.
	ResumeAuto
)

// ParseResume reads --resume: a bare --resume is "true".
func ParseResume(s string) (ResumeMode, error) {
	switch strings.ToLower(s) {
	case "", "false", "no":
		return StartFresh, nil
	case "true", "yes":
		return ResumeLast, nil
	case "auto":
		return ResumeAuto, nil
	}
	return 0, fmt.Errorf("--resume %q: use --resume (continue the last run), --resume auto (continue it when there is one of the same settings) or leave it out", s)
}

// Shard is the I-th of N slices of the work (--shard I/N); the zero value
// is the whole.
type Shard struct{ I, N int }

// ParseShard reads --shard I/N (0 ≤ I < N); empty is the whole.
func ParseShard(s string) (Shard, error) {
	if s == "" {
		return Shard{0, 1}, nil
	}
	is, ns, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(is)
	n, err2 := strconv.Atoi(ns)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n || n > MaxShards {
		return Shard{0, 1}, fmt.Errorf("--shard %q: want I/N with 0 ≤ I < N ≤ %d, e.g. 0/4", s, MaxShards)
	}
	return Shard{i, n}, nil
}

func (s Shard) String() string {
	if s.N <= 1 {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.I, s.N)
}

// Limits of the numeric settings.
const (
	MaxBlockSize   = 10000
	MaxConcurrency = 512
	MaxRanges      = 1 << 20
	MaxShards      = 4096
	MaxRetries     = 100
	MinBulkBytes   = 1 << 10
	MaxBulkBytes   = 1 << 30
)

// Defaults that differ by target.
const (
	// DefaultAPIBlockSize is the old job's block.
	DefaultAPIBlockSize = 100
	// DefaultSearchBlockSize: make bench gave about 1.5× the documents per
	// second of 100 at the same memory bound.
	DefaultSearchBlockSize = 500
)

// Spec is what the user asked a run to do, checked.
type Spec struct {
	Kind        sunbird.Kind
	Target      TargetType
	RequestMode RequestMode   // api target
	Keyspace    string        // part of the fingerprint
	Index       string        // search target: the index or alias written (part of the fingerprint)
	IDsFile     string        // only these ids; "" for the whole table
	BlockSize   int           // ids per call, or documents per bulk request; 0: the target's default
	BlockBytes  int           // bytes per bulk request
	Concurrency int           // workers; 0: 1 for the API, 2 × cores for the engine
	Ranges      int           // token ranges; 0: 32 per worker, at least 256
	Retries     int           // per call or item
	Sleep       time.Duration // between a worker's calls
	Rate        float64       // documents per second; 0: no limit
	Shard       Shard
	Resume      ResumeMode
	Rebuild     bool // search target: load a fresh index, then swap the alias
	DeleteOld   bool // with Rebuild
	DryRun      bool
}

// Finish fills the defaults that depend on the target and checks every
// setting, reporting every problem at once as a usage error.
func (s *Spec) Finish(cores int) error {
	var errs []error
	if s.Target != APITarget && s.Target != SearchTarget {
		errs = append(errs, errors.New("no --target"))
	}
	if s.BlockSize == 0 {
		s.BlockSize = DefaultAPIBlockSize
		if s.Target == SearchTarget {
			s.BlockSize = DefaultSearchBlockSize
		}
	}
	if s.Concurrency == 0 {
		s.Concurrency = 1
		if s.Target == SearchTarget {
			s.Concurrency = 2 * max(cores, 1)
		}
	}
	if s.Ranges == 0 {
		s.Ranges = min(max(256, 32*s.Concurrency), MaxRanges)
	}
	if s.Shard.N == 0 {
		s.Shard = Shard{0, 1}
	}
	bounds := []struct {
		flag      string
		v, lo, hi int
	}{
		{"--block-size", s.BlockSize, 1, MaxBlockSize},
		{"--concurrency", s.Concurrency, 1, MaxConcurrency},
		{"--ranges", s.Ranges, 1, MaxRanges},
		{"--retries", s.Retries, 0, MaxRetries},
		{"--bulk-bytes", s.BlockBytes, MinBulkBytes, MaxBulkBytes},
	}
	for _, b := range bounds {
		if b.v < b.lo || b.v > b.hi {
			errs = append(errs, fmt.Errorf("%s %d: give %d to %d", b.flag, b.v, b.lo, b.hi))
		}
	}
	if s.Rate < 0 {
		errs = append(errs, fmt.Errorf("--rate %g: must not be negative", s.Rate))
	}
	if s.Sleep < 0 {
		errs = append(errs, fmt.Errorf("--sleep %s: must not be negative", s.Sleep))
	}
	if s.Rebuild && s.Target != SearchTarget {
		errs = append(errs, errors.New("--rebuild needs --target search"))
	}
	if s.DeleteOld && !s.Rebuild {
		errs = append(errs, errors.New("--delete-old only goes with --rebuild"))
	}
	if s.IDsFile != "" && s.Rebuild {
		errs = append(errs, errors.New("--rebuild rewrites the whole index: it cannot take --ids-file"))
	}
	if s.Rebuild && s.Shard.N > 1 {
		errs = append(errs, errors.New("--rebuild loads one new index and moves the alias once: it cannot take --shard (rebuild with one run, or load shards with --target search into the live index)"))
	}
	return config.Join(errs...)
}

// Fingerprint names the work a checkpoint belongs to: a resumed run must be
// the same job. idsFile describes the ids file (path, size, time) when
// there is one.
func (s Spec) Fingerprint(idsFile string) string {
	parts := []string{s.Kind.Name, s.Target.String(), s.Keyspace, s.Shard.String()}
	if idsFile != "" {
		parts = append(parts, idsFile)
	}
	if s.Target == SearchTarget {
		parts = append(parts, s.Index, strconv.FormatBool(s.Rebuild))
	}
	return checkpoint.Fingerprint(parts...)
}
