package syncapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/indexsync/indexsync/internal/indexer"
	"github.com/indexsync/indexsync/internal/secret"
	"github.com/indexsync/indexsync/internal/store"
	"github.com/indexsync/indexsync/internal/syncapi"
	"github.com/indexsync/indexsync/internal/testenv"
)

const key = "integration-key"

// startServer runs the real service (store over Cassandra, writer over
// OpenSearch) on a loopback port until the test ends.
func startServer(t *testing.T, f *testenv.Fixture, cfg syncapi.Config) string {
	t.Helper()
	st := store.New(f.Session, f.Keyspace, store.Options{})
	w := &indexer.Writer{Client: f.Search, Indexes: indexer.Indexes{
		"user": f.Aliases["user"], "organisation": f.Aliases["organisation"], "location": f.Aliases["location"],
	}}
	cfg.APIKeys = []secret.String{secret.New(key)}
	cfg.StateDir = t.TempDir()
	cfg.SyncWriter = &indexer.Combiner{W: w, MaxDocs: 500, Flushers: 2} // as indexsync serve
	reg := prometheus.NewRegistry()
	srv, err := syncapi.New(cfg, st, w, slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return "http://" + ln.Addr().String()
}

func call(t testing.TB, url, objectType string, ids []string, sync bool) (int, syncapi.Envelope) {
	t.Helper()
	req := map[string]any{"objectType": objectType, "objectIds": ids, "operationFor": "es"}
	if sync {
		req["operationType"] = "sync"
	}
	body, _ := json.Marshal(map[string]any{"params": map[string]any{}, "request": req})
	hr, _ := http.NewRequest(http.MethodPost, url+syncapi.RouteSync, bytes.NewReader(body))
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env syncapi.Envelope
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatalf("decode envelope: %v", err)
	}
	return resp.StatusCode, env
}

func TestSyncModeWritesSunbirdDocuments(t *testing.T) {
	f := testenv.NewFixture(t, 400, 20, 11)
	url := startServer(t, f, syncapi.Config{})
	ids := f.UserIDs()
	for start := 0; start < len(ids); start += 100 {
		block := append(slices.Clone(ids[start:min(start+100, len(ids))]), "no-such-user-"+strconv.Itoa(start))
		code, env := call(t, url, "user", block, true)
		if code != 200 {
			t.Fatalf("status %d: %s %s", code, *env.Params.Err, *env.Params.ErrMsg)
		}
		es, _ := env.Result["esSyncResponse"].(map[string]any)
		for _, id := range block[:len(block)-1] {
			if es[id] != true {
				t.Errorf("esSyncResponse[%s] = %v, want true", id, es[id])
			}
		}
		if v, ok := es[block[len(block)-1]]; !ok || v != false {
			t.Errorf("unknown id: esSyncResponse = %v (present %v), want false", v, ok)
		}
	}
	testenv.CompareDocs(t, f.ExpectedDocs(t, "user"), f.IndexedDocs(t, "user", ids))
	if n := f.Count(t, "user"); n != int64(len(ids)) {
		t.Errorf("index holds %d documents, want %d", n, len(ids))
	}
}

func TestBackgroundModeAndOtherObjectTypes(t *testing.T) {
	f := testenv.NewFixture(t, 300, 25, 12)
	url := startServer(t, f, syncapi.Config{Workers: 2, BatchSize: 50})
	for _, objectType := range []string{"user", "organisation", "location"} {
		want := f.ExpectedDocs(t, objectType)
		ids := slices.Sorted(func(yield func(string) bool) {
			for id := range want {
				if !yield(id) {
					return
				}
			}
		})
		for start := 0; start < len(ids); start += 100 {
			code, env := call(t, url, objectType, ids[start:min(start+100, len(ids))], false)
			if code != 200 || env.Result["response"] != "SUCCESS" {
				t.Fatalf("%s: status %d %+v", objectType, code, env)
			}
		}
		deadline := time.Now().Add(60 * time.Second)
		for f.Count(t, objectType) < int64(len(ids)) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: only %d of %d documents indexed after 60 s", objectType, f.Count(t, objectType), len(ids))
			}
			time.Sleep(200 * time.Millisecond)
		}
		testenv.CompareDocs(t, want, f.IndexedDocs(t, objectType, ids))
	}
}

// TestLoad: 8 clients post 100-id blocks for INDEXSYNC_TEST_LOAD_SECONDS (10 by
// default): no 5xx, and the index ends up with exactly the distinct ids sent.
func TestLoad(t *testing.T) {
	seconds := 10
	if v, err := strconv.Atoi(os.Getenv("INDEXSYNC_TEST_LOAD_SECONDS")); err == nil && v > 0 {
		seconds = v
	}
	f := testenv.NewFixture(t, 5000, 50, 13)
	url := startServer(t, f, syncapi.Config{})
	ids := f.UserIDs()
	var (
		mu        sync.Mutex
		sent      = map[string]bool{}
		latencies []time.Duration
		calls     int
		bad       []string
	)
	stop := time.Now().Add(time.Duration(seconds) * time.Second)
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(c), 99))
			for time.Now().Before(stop) {
				start := r.IntN(len(ids) - 100)
				block := ids[start : start+100]
				t0 := time.Now()
				code, env := call(t, url, "user", block, true)
				d := time.Since(t0)
				mu.Lock()
				calls++
				latencies = append(latencies, d)
				if code != 200 {
					bad = append(bad, fmt.Sprintf("%d %v", code, env.Params.ErrMsg))
				} else {
					for _, id := range block {
						sent[id] = true
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("%d calls failed, first: %s", len(bad), bad[0])
	}
	if n := f.Count(t, "user"); n != int64(len(sent)) {
		t.Errorf("index holds %d documents, %d distinct ids were sent", n, len(sent))
	}
	slices.Sort(latencies)
	p99 := latencies[len(latencies)*99/100]
	t.Logf("load: %d calls of 100 ids in %ds by 8 clients: %.0f ids/s, p50 %s, p99 %s, %d distinct ids",
		calls, seconds, float64(calls*100)/float64(seconds), latencies[len(latencies)/2].Round(time.Millisecond), p99.Round(time.Millisecond), len(sent))
}
