package search

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestUpdateAliasesChecksActions: invalid actions are refused before
// anything is sent (the real alias calls are in engines_docs_test.go).
func TestUpdateAliasesChecksActions(t *testing.T) {
	e := newFakeEngine(t, "")
	c := newTestClient(t, e, Config{})
	for _, bad := range [][]AliasAction{
		{{Op: "swap", Index: "a", Alias: "b"}},
		{{Op: AliasAdd, Alias: "b"}},
		{{Op: AliasRemoveIndex, Index: "a", Alias: "b"}},
		{{Op: AliasRemove, Index: "a", Alias: "b", WriteIndex: true}},
	} {
		if err := c.UpdateAliases(context.Background(), bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if n := len(e.requests("")); n != 0 {
		t.Errorf("%d requests sent for invalid actions", n)
	}
}

// TestAliasSwapIsNotRetriedBlindly: a 503 may come after the swap happened,
// so only a 429 (nothing done) is retried.
func TestAliasSwapIsNotRetriedBlindly(t *testing.T) {
	e := newFakeEngine(t, "").on("POST /_aliases", jsonReply(503, `{"error":{"type":"process_cluster_event_timeout_exception","reason":"failed to process cluster event"},"status":503}`))
	c := newTestClient(t, e, Config{Retries: 3, RetryBase: 1})
	err := c.UpdateAliases(context.Background(), []AliasAction{{Op: AliasAdd, Index: "userv4", Alias: "user_alias"}})
	if err == nil || len(e.requests("POST /_aliases")) != 1 {
		t.Errorf("got %v after %d requests, want an error after 1", err, len(e.requests("POST /_aliases")))
	}
}

// TestIndexExistsForbidden: a 403 on HEAD (a user without the privilege) is
// an error, not "missing" — no test engine has security enabled.
func TestIndexExistsForbidden(t *testing.T) {
	e := newFakeEngine(t, "").on("HEAD /locked", reply{status: 403})
	if _, err := newTestClient(t, e, Config{}).IndexExists(context.Background(), "locked"); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("got %v, want ErrUnauthorized", err)
	}
}

// TestCountBrokenAnswers: what only a broken cluster or a wrong server
// answers (the real counts are in engines_docs_test.go).
func TestCountBrokenAnswers(t *testing.T) {
	tests := []struct {
		name    string
		reply   reply
		wantErr string
	}{
		{"shard failure", jsonReply(200, `{"count":900,"_shards":{"total":5,"successful":4,"failed":1,"failures":[{"shard":1,"index":"userv3","reason":{"type":"no_shard_available_action_exception","reason":"no shard"}}]}}`),
			"1 of 5 shards failed"},
		{"no count", jsonReply(200, `{"acknowledged":true}`), "no count in the answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newFakeEngine(t, "").on("GET /userv3/_count", tt.reply)
			_, err := newTestClient(t, e, Config{}).Count(context.Background(), "userv3")
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
