package indexer

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/indexsync/indexsync/internal/sunbird"
)

// gatedWriter records each merged call and holds the first one until
// released, so that calls pile up behind it.
type gatedWriter struct {
	mu      sync.Mutex
	calls   [][]string
	gate    chan struct{}
	started chan struct{}
	reject  map[string]bool
}

func (g *gatedWriter) Write(ctx context.Context, _ sunbird.Kind, docs map[string][]byte) (map[string]string, error) {
	g.mu.Lock()
	first := len(g.calls) == 0
	g.calls = append(g.calls, slices.Sorted(maps.Keys(docs)))
	g.mu.Unlock()
	if first {
		close(g.started)
		<-g.gate
	}
	failed := map[string]string{}
	for id := range docs {
		if g.reject[id] {
			failed[id] = "mapper_parsing_exception"
		}
	}
	return failed, nil
}

func docsOf(ids ...string) map[string][]byte {
	m := map[string][]byte{}
	for _, id := range ids {
		m[id] = []byte(`{"id":"` + id + `"}`)
	}
	return m
}

// TestCombinerMergesWaitingCalls: while the only flusher is busy, five calls
// wait; they go out together in one merged call (except the one that shares
// an id with another), and each caller gets exactly its own failures.
func TestCombinerMergesWaitingCalls(t *testing.T) {
	g := &gatedWriter{gate: make(chan struct{}), started: make(chan struct{}), reject: map[string]bool{"b2": true, "d1": true}}
	c := &Combiner{W: g, MaxDocs: 100, Flushers: 1}
	ctx := context.Background()

	type result struct {
		failed map[string]string
		err    error
	}
	results := make([]result, 6)
	inputs := [][]string{{"a1", "a2"}, {"b1", "b2"}, {"c1"}, {"d1", "d2", "d3"}, {"b1", "e1"}, {"f1"}}
	var wg sync.WaitGroup
	run := func(i int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := c.Write(ctx, sunbird.UserKind, docsOf(inputs[i]...))
			results[i] = result{f, err}
		}()
	}
	waiting := func(n int) {
		deadline := time.Now().Add(5 * time.Second)
		for {
			c.mu.Lock()
			got := len(c.pending)
			c.mu.Unlock()
			if got == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d calls waiting, want %d", got, n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	run(0)
	<-g.started
	for i := 1; i < len(inputs); i++ {
		run(i) // one at a time, so they wait in this order
		waiting(i)
	}
	close(g.gate)
	wg.Wait()

	want := [][]string{{"a1", "a2"}, {"b1", "b2", "c1", "d1", "d2", "d3", "f1"}, {"b1", "e1"}}
	if fmt.Sprint(g.calls) != fmt.Sprint(want) {
		t.Errorf("merged calls = %v, want %v", g.calls, want)
	}
	for i, r := range results {
		if r.err != nil {
			t.Errorf("call %d: %v", i, r.err)
		}
		for _, id := range inputs[i] {
			if _, bad := r.failed[id]; bad != g.reject[id] {
				t.Errorf("call %d: id %s failed=%v, want %v", i, id, bad, g.reject[id])
			}
		}
		if len(r.failed) > len(inputs[i]) {
			t.Errorf("call %d got failures of other calls: %v", i, r.failed)
		}
	}
}

// TestCombinerCallerGivesUp: a caller whose context ends while it waits gets
// the context's error; the others are not affected.
func TestCombinerCallerGivesUp(t *testing.T) {
	g := &gatedWriter{gate: make(chan struct{}), started: make(chan struct{})}
	c := &Combiner{W: g, Flushers: 1}
	done := make(chan error, 1)
	go func() {
		_, err := c.Write(context.Background(), sunbird.UserKind, docsOf("x"))
		done <- err
	}()
	<-g.started
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.Write(ctx, sunbird.UserKind, docsOf("y")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting caller: err = %v, want deadline exceeded", err)
	}
	c.mu.Lock()
	left := len(c.pending)
	c.mu.Unlock()
	if left != 0 {
		t.Errorf("%d calls still waiting after their caller gave up", left)
	}
	close(g.gate)
	if err := <-done; err != nil {
		t.Errorf("first caller: %v", err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if fmt.Sprint(g.calls) != "[[x]]" {
		t.Errorf("calls sent = %v, want only the first caller's [[x]]", g.calls)
	}
}
