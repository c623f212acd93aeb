package search

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestGetAlias(t *testing.T) {
	tests := []struct {
		name  string
		reply reply
		want  []string
	}{
		{"two indices, sorted", jsonReply(200, `{"userv4":{"aliases":{"user_alias":{}}},"userv3":{"aliases":{"user_alias":{}}}}`), []string{"userv3", "userv4"}},
		{"missing alias (7+ shape)", jsonReply(404, `{"error":"alias [user_alias] missing","status":404}`), nil},
		{"missing alias (empty body)", jsonReply(404, `{}`), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newFakeEngine(t, "").on("GET /_alias/user_alias", tt.reply)
			got, err := newTestClient(t, e, Config{}).GetAlias(context.Background(), "user_alias")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestUpdateAliases(t *testing.T) {
	e := newFakeEngine(t, "").on("POST /_aliases", jsonReply(200, `{"acknowledged":true}`))
	c := newTestClient(t, e, Config{})
	err := c.UpdateAliases(context.Background(), []AliasAction{
		{Op: AliasRemove, Index: "userv3", Alias: "user_alias"},
		{Op: AliasAdd, Index: "userv4", Alias: "user_alias"},
	})
	if err != nil {
		t.Fatal(err)
	}
	reqs := e.requests("POST /_aliases")
	want := `{"actions":[{"remove":{"index":"userv3","alias":"user_alias"}},{"add":{"index":"userv4","alias":"user_alias"}}]}`
	if len(reqs) != 1 || reqs[0].Body != want {
		t.Errorf("got %+v, want one request with %s", reqs, want)
	}

	for _, bad := range [][]AliasAction{{{Op: "swap", Index: "a", Alias: "b"}}, {{Op: AliasAdd, Alias: "b"}}} {
		if err := c.UpdateAliases(context.Background(), bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if len(e.requests("POST /_aliases")) != 1 {
		t.Error("invalid actions were sent")
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

func TestIndexExists(t *testing.T) {
	e := newFakeEngine(t, "").
		on("HEAD /userv3", reply{status: 200}).
		on("HEAD /userv9", reply{status: 404}).
		on("HEAD /locked", reply{status: 403})
	c := newTestClient(t, e, Config{})
	for name, want := range map[string]bool{"userv3": true, "userv9": false} {
		got, err := c.IndexExists(context.Background(), name)
		if err != nil || got != want {
			t.Errorf("IndexExists(%s) = %v, %v; want %v", name, got, err, want)
		}
	}
	if _, err := c.IndexExists(context.Background(), "locked"); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("got %v, want ErrUnauthorized", err)
	}
}

func TestDeleteIndex(t *testing.T) {
	e := newFakeEngine(t, "").
		on("DELETE /userv2", jsonReply(200, `{"acknowledged":true}`)).
		on("DELETE /userv9", jsonReply(404, indexMissing))
	c := newTestClient(t, e, Config{})
	if err := c.DeleteIndex(context.Background(), "userv2"); err != nil {
		t.Error(err)
	}
	if err := c.DeleteIndex(context.Background(), "userv9"); !errors.Is(err, ErrNotFound) {
		t.Errorf("got %v, want ErrNotFound", err)
	}
	for _, name := range []string{"", "_all", "user*", "a,b"} {
		if err := c.DeleteIndex(context.Background(), name); err == nil || !strings.Contains(err.Error(), "refusing") {
			t.Errorf("DeleteIndex(%q) = %v, want a refusal", name, err)
		}
	}
	if n := len(e.requests("")); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

func TestSettings(t *testing.T) {
	e := newFakeEngine(t, "").
		on("PUT /userv4/_settings", jsonReply(200, `{"acknowledged":true}`)).
		on("GET /user_alias/_settings", jsonReply(200, `{"userv4":{"settings":{"index":{"number_of_replicas":"0","refresh_interval":"-1"}}}}`))
	c := newTestClient(t, e, Config{})
	body := `{"index":{"refresh_interval":"-1","number_of_replicas":0}}`
	if err := c.PutSettings(context.Background(), "userv4", []byte(body)); err != nil {
		t.Fatal(err)
	}
	if got := e.requests("PUT /userv4/_settings")[0].Body; got != body {
		t.Errorf("body %s, want %s", got, body)
	}
	got, err := c.GetSettings(context.Background(), "user_alias")
	if err != nil {
		t.Fatal(err)
	}
	if s := string(got["userv4"]); s != `{"index":{"number_of_replicas":"0","refresh_interval":"-1"}}` {
		t.Errorf("settings %s", s)
	}
}

func TestCount(t *testing.T) {
	tests := []struct {
		name    string
		reply   reply
		want    int64
		wantErr string
	}{
		{"count", jsonReply(200, `{"count":1234567,"_shards":{"total":5,"successful":5,"skipped":0,"failed":0}}`), 1234567, ""},
		{"zero", jsonReply(200, `{"count":0,"_shards":{"total":1,"successful":1,"failed":0}}`), 0, ""},
		{"shard failure", jsonReply(200, `{"count":900,"_shards":{"total":5,"successful":4,"failed":1,"failures":[{"shard":1,"index":"userv3","reason":{"type":"no_shard_available_action_exception","reason":"no shard"}}]}}`),
			0, "1 of 5 shards failed"},
		{"no count", jsonReply(200, `{"acknowledged":true}`), 0, "no count in the answer"},
		{"index missing", jsonReply(404, indexMissing), 0, "HTTP 404: index_not_found_exception: no such index [userv9]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newFakeEngine(t, "").on("GET /userv3/_count", tt.reply)
			got, err := newTestClient(t, e, Config{}).Count(context.Background(), "userv3")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("got %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

func TestRefresh(t *testing.T) {
	e := newFakeEngine(t, "").on("POST /userv4/_refresh", jsonReply(200, `{"_shards":{"total":10,"successful":5,"failed":0}}`))
	if err := newTestClient(t, e, Config{}).Refresh(context.Background(), "userv4"); err != nil {
		t.Fatal(err)
	}
}
