package main

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/indexsync/indexsync/internal/syncapi"
	"github.com/indexsync/indexsync/internal/testenv"
)

// gatedEngine is a reverse proxy to the real search engine that can hold
// bulk requests (as an engine under a long GC pause or a network partition
// would), so ids stay in serve's queue for as long as the test needs.
type gatedEngine struct {
	URL  string
	mu   sync.Mutex
	held bool
	open chan struct{}
}

func newGatedEngine(t *testing.T, target string) *gatedEngine {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	g := &gatedEngine{open: make(chan struct{})}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		held := g.held
		g.mu.Unlock()
		if held && strings.Contains(r.URL.Path, "_bulk") {
			select {
			case <-g.open:
			case <-r.Context().Done():
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	g.URL = srv.URL
	t.Cleanup(func() { close(g.open); srv.Close() })
	return g
}

// Hold makes every bulk request wait until the test ends.
func (g *gatedEngine) Hold() {
	g.mu.Lock()
	g.held = true
	g.mu.Unlock()
}

// serveProcess starts `indexsync serve` with the given search URL and state
// directory (2 workers, batches of 100).
func serveProcess(t *testing.T, f *testenv.Fixture, searchURL, stateDir string) *serveProc {
	t.Helper()
	args := append([]string{"--admin-listen", "127.0.0.1:0", "--state-dir", stateDir, "--workers", "2", "--batch-size", "100"}, f.CassandraArgs()...)
	args = append(args, "--search-url", searchURL)
	args = append(args, f.SearchArgs()[2:]...) // the index flags
	return startServeProc(t, args, f.Env(), "http", nil)
}

// TestServeKill9KeepsQueuedIDs: ids answered 200 in background mode and
// still queued when serve is killed with SIGKILL are indexed after the next
// start (the README's promise: never a 200 followed by silent loss).
func TestServeKill9KeepsQueuedIDs(t *testing.T) {
	f := testenv.NewFixture(t, 3000, 20, 91)
	engine := newGatedEngine(t, f.SearchURL)
	state := t.TempDir()
	serve1 := serveProcess(t, f, engine.URL, state)
	api := "http://" + serve1.addr + syncapi.RouteSync

	engine.Hold() // the engine stops answering bulk requests
	ids := f.UserIDs()
	for start := 0; start < len(ids); start += 100 {
		body, _ := json.Marshal(map[string]any{"request": map[string]any{"objectType": "user", "objectIds": ids[start:min(start+100, len(ids))]}})
		req, _ := http.NewRequest(http.MethodPost, api, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+apiKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("block at %d: status %d, want 200 (queued)", start, resp.StatusCode)
		}
	}
	if n := f.Count(t, "user"); n != 0 {
		t.Fatalf("%d users indexed while the engine held every bulk request", n)
	}
	if err := serve1.cmd.Process.Kill(); err != nil { // SIGKILL: no drain, no failed-ids file
		t.Fatal(err)
	}
	_ = serve1.cmd.Wait()
	if files, _ := filepath.Glob(filepath.Join(state, "serve-failed-*")); len(files) != 0 {
		t.Fatalf("a SIGKILL wrote %v", files)
	}

	serve2 := serveProcess(t, f, f.SearchURL, state) // the engine is back
	logs2 := serve2.logs
	waitFor(t, 60*time.Second, "every acknowledged user indexed", func() bool { return f.Count(t, "user") == int64(len(ids)) })
	if !strings.Contains(logs2.String(), "queued again the ids accepted before the last stop") {
		t.Errorf("the restart does not say it replayed the queue:\n%s", logs2.String())
	}
	got := f.IndexedDocs(t, "user", ids)
	testenv.CompareDocs(t, f.ExpectedDocs(t, "user"), got)

	_ = serve2.cmd.Process.Signal(os.Interrupt)
	if err := serve2.cmd.Wait(); err != nil {
		t.Fatalf("serve after SIGINT: %v\n%s", err, logs2.String())
	}
	left, _ := filepath.Glob(filepath.Join(state, syncapi.JournalDir, "segment-*"))
	if len(left) != 0 {
		t.Errorf("journal segments left after every id was indexed: %v", left)
	}
}

// TestServeShutdownWithCassandraFrozen: SIGTERM while Cassandra has stopped
// answering (paused, partitioned) ends within --shutdown-timeout and the
// session's close bound, and the ids still queued are kept (failed-ids
// file or journal), not lost.
func TestServeShutdownWithCassandraFrozen(t *testing.T) {
	f := testenv.NewFixture(t, 200, 5, 92)
	proxy := testenv.NewProxy(t, net.JoinHostPort(f.Cass.Host, strconv.Itoa(f.Cass.Port)))
	host, port, _ := net.SplitHostPort(proxy.Addr)
	state := t.TempDir()
	args := append([]string{"--admin-listen", "", "--state-dir", state, "--shutdown-timeout", "3s"}, f.CassandraArgs()...)
	args = append(append(args, f.SearchArgs()...), "--cassandra-hosts", host, "--cassandra-port", port)
	serve := startServeProc(t, args, f.Env(), "http", nil)
	cmd, logs, addr := serve.cmd, serve.logs, serve.addr
	proxy.Freeze()
	ids := f.UserIDs()
	body, _ := json.Marshal(map[string]any{"request": map[string]any{"objectType": "user", "objectIds": ids}})
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+syncapi.RouteSync, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("queueing: %d", resp.StatusCode)
	}
	time.Sleep(500 * time.Millisecond) // the workers are now stuck reading from Cassandra
	start := time.Now()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		t.Fatalf("serve still running 30 s after SIGTERM with --shutdown-timeout 3s\n%s", logs.String())
	}
	took := time.Since(start)
	t.Logf("SIGTERM to exit: %s (--shutdown-timeout 3s, session close bound %s)", took.Round(time.Millisecond), closeWait)
	if took > 3*time.Second+closeWait+3*time.Second {
		t.Errorf("shutdown took %s, more than --shutdown-timeout 3s + %s to close the session (+3 s of slack)\n%s", took, closeWait, logs.String())
	}
	// every accepted id is in the failed-ids file or still in the journal
	kept := 0
	if files, _ := filepath.Glob(filepath.Join(state, "serve-failed-user_*.txt")); len(files) == 1 {
		data, _ := os.ReadFile(files[0])
		kept = len(strings.Fields(string(data)))
	}
	if kept != len(ids) {
		segs, _ := filepath.Glob(filepath.Join(state, syncapi.JournalDir, "segment-*"))
		if len(segs) == 0 {
			t.Errorf("%d of %d accepted ids in the failed-ids file and no journal left\n%s", kept, len(ids), logs.String())
		}
	}
}
