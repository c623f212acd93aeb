package search

import (
	"bytes"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkGolden compares got with testdata/name, or rewrites it with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run go test -update if the change is intended)\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

// handlerTransport serves requests in-process, without sockets, so tests can
// run inside a synctest bubble (a goroutine blocked on a socket is not
// "durably blocked" and would stop the fake clock).
type handlerTransport struct{ h http.Handler }

func (tr handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	tr.h.ServeHTTP(rec, req)
	if req.Body != nil {
		req.Body.Close()
	}
	if err := req.Context().Err(); err != nil {
		return nil, err // what a real transport reports for a cancelled request
	}
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}

// reply is one canned answer.
type reply struct {
	status int
	header map[string]string
	body   []byte
}

// recorded is one request the fake engine saw.
type recorded struct {
	Method, Path, Query, ContentType, Auth string
	Body                                   string
	At                                     time.Time // when it arrived (the fake clock in a synctest bubble)
}

// fakeEngine answers GET / with info and other routes ("METHOD /path") with
// queued replies, the last repeating. It records every request.
type fakeEngine struct {
	t      testing.TB
	info   []byte
	mu     sync.Mutex
	routes map[string][]reply
	seen   []recorded
}

func newFakeEngine(t testing.TB, infoFixture string) *fakeEngine {
	e := &fakeEngine{t: t, routes: map[string][]reply{}}
	if infoFixture != "" {
		e.info = fixture(t, filepath.Join("info", infoFixture))
	}
	return e
}

func (e *fakeEngine) on(route string, replies ...reply) *fakeEngine {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.routes[route] = append(e.routes[route], replies...)
	return e
}

func (e *fakeEngine) requests(route string) []recorded {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []recorded
	for _, r := range e.seen {
		if route == "" || r.Method+" "+r.Path == route {
			out = append(out, r)
		}
	}
	return out
}

func (e *fakeEngine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body []byte
	if r.Body != nil { // client-side requests, as handlerTransport passes them
		body, _ = io.ReadAll(r.Body)
	}
	route := r.Method + " " + r.URL.EscapedPath()
	e.mu.Lock()
	e.seen = append(e.seen, recorded{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery,
		ContentType: r.Header.Get("Content-Type"), Auth: r.Header.Get("Authorization"), Body: string(body), At: time.Now()})
	queue := e.routes[route]
	var rep reply
	switch {
	case len(queue) > 0:
		rep = queue[0]
		if len(queue) > 1 {
			e.routes[route] = queue[1:]
		}
	case route == "GET /" && e.info != nil:
		rep = reply{status: 200, body: e.info}
	default:
		rep = reply{status: 599, body: []byte("fake engine: no reply for " + route)}
	}
	e.mu.Unlock()
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	if rep.header["Content-Type"] == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(rep.status)
	w.Write(rep.body)
}

// newTestClient is a client whose requests go in-process to h.
func newTestClient(t testing.TB, h http.Handler, cfg Config) *Client {
	t.Helper()
	if len(cfg.URLs) == 0 {
		cfg.URLs = []string{"http://engine.test:9200"}
	}
	cfg.HTTP = &http.Client{Transport: handlerTransport{h}}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func jsonReply(status int, body string) reply {
	return reply{status: status, body: []byte(body)}
}

func fixtureReply(t testing.TB, status int, name string) reply {
	return reply{status: status, body: fixture(t, name)}
}

// lines splits NDJSON into its lines (the final newline ends the last one).
func lines(s string) []string {
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}
