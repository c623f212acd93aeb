package target

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/indexsync/indexsync/internal/outcome"
	"github.com/indexsync/indexsync/internal/search"
	"github.com/indexsync/indexsync/internal/syncapi"
	"github.com/indexsync/indexsync/internal/syncjob"
)

// verdict is what the job does with a block after the target's answer.
type verdict string

const (
	confirmed verdict = "confirmed" // the block is done (some ids may have failed)
	failBlock verdict = "fail"      // every id of the block failed, the run goes on
	sendAgain verdict = "again"     // the target is unavailable: the block is sent again later
	stopRun   verdict = "stop"      // the run stops
)

func verdictOf(err error) verdict {
	var stop *syncjob.StopError
	switch {
	case err == nil:
		return confirmed
	case errors.As(err, &stop):
		return stopRun
	case errors.Is(err, syncjob.ErrTransient):
		return sendAgain
	}
	return failBlock
}

func block(ids ...string) []syncjob.Item {
	out := make([]syncjob.Item, len(ids))
	for i, id := range ids {
		out[i] = syncjob.Item{ID: id, Doc: []byte(`{"id":"` + id + `"}`)}
	}
	return out
}

// closedURL is an address where nothing listens.
func closedURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return "http://" + addr
}

const okEnvelope = `{"id":"api.data.sync","ver":"v1","params":{"status":"SUCCESS"},"responseCode":"OK","result":%s}`

// TestAPI: how the Sync API target turns each answer into the job's
// decision: retried later, stopped, failed, or per-id outcomes. A fake
// server, because these are answers a real service gives only when broken.
func TestAPI(t *testing.T) {
	tests := []struct {
		name       string
		handler    http.HandlerFunc // nil: nothing listens
		want       verdict
		wantFailed []string
		wantClass  outcome.Class // for stops and retries: the class a stop before any block gets
	}{
		{"per id, ours", func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintf(w, okEnvelope, `{"response":"SUCCESS","esSyncResponse":{"a":true,"b":false}}`)
		}, confirmed, []string{"b"}, outcome.OK},
		{"per id, Sunbird's shape", func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintf(w, okEnvelope, `{"response":"SUCCESS","esSyncResponse":{"a":true},"b":false}`)
		}, confirmed, []string{"b"}, outcome.OK},
		{"401: the key is refused", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusUnauthorized)
		}, stopRun, nil, outcome.Unreachable},
		{"nothing listens", nil, sendAgain, nil, outcome.Unreachable},
		{"503 after every retry", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
		}, sendAgain, nil, outcome.Fatal},
		{"400: a permanent refusal of the block", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"params":{"status":"FAILED","err":"UOS_0072"},"responseCode":"CLIENT_ERROR","result":{}}`)
		}, failBlock, nil, outcome.Fatal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := closedURL(t)
			if tt.handler != nil {
				srv := httptest.NewServer(tt.handler)
				defer srv.Close()
				url = srv.URL
			}
			c, err := syncapi.NewClient(syncapi.ClientConfig{Endpoint: url + syncapi.RouteSync, Retries: 2, RetryBase: time.Millisecond, RetryMax: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			a := &API{Client: c, ObjectType: "user", RunMS: 1}
			out, err := a.Send(context.Background(), block("a", "b"))
			if got := verdictOf(err); got != tt.want {
				t.Fatalf("verdict %s (err %v), want %s", got, err, tt.want)
			}
			if len(out.Failed) != len(tt.wantFailed) {
				t.Errorf("failed %v, want %v", out.Failed, tt.wantFailed)
			}
			for _, id := range tt.wantFailed {
				if _, ok := out.Failed[id]; !ok {
					t.Errorf("failed %v, want %s in it", out.Failed, id)
				}
			}
			if err != nil && outcome.Of(context.Background(), err) != tt.wantClass {
				t.Errorf("class %v, want %v", outcome.Of(context.Background(), err), tt.wantClass)
			}
			if len(out.Request) == 0 || (tt.handler != nil && len(out.Response) == 0) {
				t.Errorf("the record lacks the request or response: %q %q", out.Request, out.Response)
			}
		})
	}
}

// TestSearch: the search target's decisions on bulk answers.
func TestSearch(t *testing.T) {
	info := `{"version":{"number":"2.19.6","distribution":"opensearch"}}`
	// bulk answers each action of a request with the item answer of its id
	bulk := func(items map[string]string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/" {
				fmt.Fprint(w, info)
				return
			}
			body, _ := io.ReadAll(r.Body)
			var answers []string
			for _, line := range strings.Split(strings.TrimSpace(string(body)), "\n") {
				var action struct {
					Index struct {
						ID string `json:"_id"`
					} `json:"index"`
				}
				if json.Unmarshal([]byte(line), &action) == nil && action.Index.ID != "" {
					answers = append(answers, items[action.Index.ID])
				}
			}
			fmt.Fprintf(w, `{"errors":true,"items":[%s]}`, strings.Join(answers, ","))
		}
	}
	const (
		created  = `{"index":{"status":201}}`
		refused  = `{"index":{"status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [dob]"}}}`
		rejected = `{"index":{"status":429,"error":{"type":"es_rejected_execution_exception"}}}`
	)
	tests := []struct {
		name       string
		handler    http.HandlerFunc
		want       verdict
		wantFailed []string
	}{
		{"all indexed", bulk(map[string]string{"a": created, "b": created}), confirmed, nil},
		{"one document refused", bulk(map[string]string{"a": created, "b": refused}), confirmed, []string{"b"}},
		{"429 after every retry: the block again later", bulk(map[string]string{"a": created, "b": rejected}), sendAgain, []string{"b"}},
		{"401", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/" {
				fmt.Fprint(w, info)
				return
			}
			w.WriteHeader(http.StatusUnauthorized)
		}, stopRun, []string{"a", "b"}},
		{"nothing listens", nil, sendAgain, []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := closedURL(t)
			if tt.handler != nil {
				srv := httptest.NewServer(tt.handler)
				defer srv.Close()
				url = srv.URL
			}
			c, err := search.NewClient(search.Config{URLs: []string{url}, Retries: 1, RetryBase: time.Millisecond, RetryMax: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if tt.handler != nil {
				if _, err := c.Info(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			s := &Search{Client: c, Index: "user_alias"}
			out, err := s.Send(context.Background(), block("a", "b"))
			if got := verdictOf(err); got != tt.want {
				t.Fatalf("verdict %s (err %v), want %s", got, err, tt.want)
			}
			var failed []string
			for id := range out.Failed {
				failed = append(failed, id)
			}
			if len(failed) != len(tt.wantFailed) {
				t.Errorf("failed %v, want %v", out.Failed, tt.wantFailed)
			}
			if !strings.Contains(string(out.Request), `"ids":["a","b"]`) {
				t.Errorf("the record does not name the ids: %s", out.Request)
			}
		})
	}
}
