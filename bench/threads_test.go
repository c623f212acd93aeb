package main

import (
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestThreadGroups: CPU is counted per thread id, by the name a thread has
// at the end, so a worker renamed between readings (Cassandra's shared
// pool) moves its time to its new group instead of making one group
// negative and another too large.
func TestThreadGroups(t *testing.T) {
	before := map[string]thread{
		"10": {"ReadStage-1", 5},
		"11": {"ReadStage-2", 7},
		"12": {"Native-Transpor", 3},
		"13": {"GC Thread#0", 1},
	}
	after := map[string]thread{
		"10": {"ReadStage-1", 6},       // +1
		"11": {"Native-Transpor", 9},   // renamed, +2
		"12": {"Native-Transpor", 3.5}, // +0.5
		"14": {"ReadStage-3", 0.25},    // new, +0.25
	} // 13 ended: not seen
	want := map[string]float64{"ReadStage": 1.25, "Native-Transpor": 2.5}
	if d := cmp.Diff(want, threadGroups(before, after)); d != "" {
		t.Errorf("groups (-want +got):\n%s", d)
	}
	// a real process: this one, after using some CPU
	for end := time.Now().Add(200 * time.Millisecond); time.Now().Before(end); {
	}
	own := threadCPU(os.Getpid())
	if len(own) == 0 {
		t.Fatal("no threads read from /proc for this process")
	}
	var total float64
	for _, th := range own {
		total += th.cpu
	}
	if self, ok := procCPU(os.Getpid()); !ok || total <= 0 || total > self+0.05 {
		t.Errorf("threads sum to %.2f CPU-s, the process %.2f", total, self)
	}
}
