package search

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// scrollPage1 is the first page of a scan, as 7.17 answers it.
const scrollPage1 = `{"_scroll_id":"FGluY2x1ZGVfY29udGV4dF91dWlk","took":3,"timed_out":false,"_shards":{"total":1,"successful":1,"skipped":0,"failed":0},"hits":{"total":{"value":3,"relation":"eq"},"max_score":null,"hits":[{"_index":"userv3","_id":"u1","_score":null,"sort":[0]},{"_index":"userv3","_id":"u2","_score":null,"sort":[1]}]}}`

// TestScanIDsFailures: answers a real engine gives only when something is
// broken — a failed shard, an expired scroll (the real scans are in
// engines_docs_test.go).
func TestScanIDsFailures(t *testing.T) {
	tests := []struct {
		name    string
		first   reply
		next    reply
		wantErr string
		is      error
	}{
		{"shard failure", fixtureReply(t, 200, "search/shard-failure.json"), reply{},
			"1 of 5 shards failed, the answer is incomplete (userv3 shard 2: node_not_connected_exception: [node-2][10.0.0.2:9300] Node not connected)", nil},
		{"scroll expired", jsonReply(200, scrollPage1),
			jsonReply(404, `{"error":{"type":"search_phase_execution_exception","reason":"all shards failed","caused_by":{"type":"search_context_missing_exception","reason":"No search context found for id [23]"}},"status":404}`),
			"the scroll expired, a page took longer than 5m0s to handle", ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newFakeEngine(t, "elasticsearch-7.17.29.json").
				on("POST /user_alias/_search", tt.first).
				on("DELETE /_search/scroll", jsonReply(200, `{"succeeded":true}`))
			if tt.next.status != 0 {
				e.on("POST /_search/scroll", tt.next)
			}
			err := newTestClient(t, e, Config{}).ScanIDs(context.Background(), "user_alias", ScanOptions{}, func(ScanPage) error { return nil })
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("got %v, want errors.Is %v", err, tt.is)
			}
			if n := len(e.requests("DELETE /_search/scroll")); n != 1 {
				t.Errorf("%d clear-scroll requests, want 1", n)
			}
		})
	}
}

func TestDurationParam(t *testing.T) {
	for d, want := range map[time.Duration]string{5 * time.Minute: "300s", 1500 * time.Millisecond: "1500ms", time.Second: "1s"} {
		if got := durationParam(d); got != want {
			t.Errorf("durationParam(%s) = %q, want %q", d, got, want)
		}
	}
}

// TestMGetBrokenAnswers: an answer cut short or without "docs" is an
// error, never a short map (which verify would report as missing
// documents). Sources that contain the members the answer is read by are
// read back byte for byte from the real engines (TestEnginesDocuments).
func TestMGetBrokenAnswers(t *testing.T) {
	e := newFakeEngine(t, "elasticsearch-8.19.7.json").
		on("POST /u/_mget", jsonReply(200, `{"docs":[{"_id":"a","found":true,"_source":{"x":`), jsonReply(200, `{"took":1}`))
	c := newTestClient(t, e, Config{})
	for _, name := range []string{"truncated answer", "answer without docs"} {
		if got, err := c.MGet(context.Background(), "u", []string{"a"}); err == nil {
			t.Errorf("%s: got %v and no error", name, got)
		}
	}
}
