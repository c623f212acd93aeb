package search

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/indexsync/indexsync/internal/secret"
)

const testPassword = "hunter2-S3cret!"

func TestNewClientConfig(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		wantURLs []string
		wantErrs []string // every one must be in the joined error
	}{
		{name: "one URL", cfg: Config{URLs: []string{"http://127.0.0.1:9200"}},
			wantURLs: []string{"http://127.0.0.1:9200"}},
		{name: "comma list, spaces, trailing slash, empty entries",
			cfg:      Config{URLs: []string{" http://es1:9200/ , https://es2:9243,", "http://es3:9200/proxy/es/"}},
			wantURLs: []string{"http://es1:9200", "https://es2:9243", "http://es3:9200/proxy/es"}},
		{name: "userinfo is stripped", cfg: Config{URLs: []string{"http://sync:" + testPassword + "@es1:9200"}},
			wantURLs: []string{"http://es1:9200"}},
		{name: "no URL", cfg: Config{}, wantErrs: []string{"no search URL given (set --search-url)"}},
		{name: "only commas", cfg: Config{URLs: []string{" , "}}, wantErrs: []string{"no search URL given"}},
		{name: "no scheme", cfg: Config{URLs: []string{"localhost:9200"}},
			wantErrs: []string{`invalid search URL "localhost:9200": it must start with http:// or https://`}},
		{name: "wrong scheme", cfg: Config{URLs: []string{"ftp://es1:9200"}},
			wantErrs: []string{`invalid search URL "ftp://es1:9200": it must start with http:// or https://`}},
		{name: "no host", cfg: Config{URLs: []string{"http://:9200"}}, wantErrs: []string{`invalid search URL "http://:9200": no host`}},
		{name: "query", cfg: Config{URLs: []string{"http://es1:9200/?pretty"}}, wantErrs: []string{"a query or fragment is not allowed"}},
		{name: "bad port, password masked", cfg: Config{URLs: []string{"http://sync:" + testPassword + "@es1:92x0"}},
			wantErrs: []string{`invalid search URL "http://sync:REDACTED@es1:92x0"`}},
		{name: "password without username", cfg: Config{URLs: []string{"http://es1:9200"}, Password: secret.New(testPassword)},
			wantErrs: []string{"a search password is set but no username (set --search-username)"}},
		{name: "every problem at once",
			cfg:      Config{URLs: []string{"es1", "http://ok:9200", "http://"}, Retries: -1, Timeout: -1},
			wantErrs: []string{`"es1"`, `"http://": no host`, "search retries -1 is negative", "search timeout -1ns is negative"}},
		{name: "missing CA file", cfg: Config{URLs: []string{"https://es1:9200"}, TLSCA: "/nonexistent/ca.pem"},
			wantErrs: []string{"read --search-tls-ca", "no such file"}},
		{name: "CA and custom HTTP client", cfg: Config{URLs: []string{"https://es1:9200"}, TLSCA: "x.pem", HTTP: http.DefaultClient},
			wantErrs: []string{"cannot be combined"}},
		{name: "no compression and custom HTTP client", cfg: Config{URLs: []string{"http://es1:9200"}, DisableCompression: true, HTTP: http.DefaultClient},
			wantErrs: []string{"cannot be combined"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewClient(tt.cfg)
			if len(tt.wantErrs) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.wantURLs, c.URLs()); diff != "" {
					t.Errorf("URLs (-want +got):\n%s", diff)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range tt.wantErrs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if strings.Contains(err.Error(), testPassword) {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

func TestCredentialsAndPathPrefix(t *testing.T) {
	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }
	tests := []struct {
		name     string
		cfg      Config
		wantAuth string
		wantPath string
	}{
		{"no auth", Config{URLs: []string{"http://es:9200"}}, "", "/"},
		{"username and password", Config{URLs: []string{"http://es:9200"}, Username: "sync", Password: secret.New(testPassword)}, basic("sync", testPassword), "/"},
		{"username without password", Config{URLs: []string{"http://es:9200"}, Username: "sync"}, basic("sync", ""), "/"},
		{"userinfo in URL", Config{URLs: []string{"http://u:p%40ss@es:9200"}}, basic("u", "p@ss"), "/"},
		{"flags win over userinfo", Config{URLs: []string{"http://u:p@es:9200"}, Username: "sync", Password: secret.New("x")}, basic("sync", "x"), "/"},
		{"path prefix", Config{URLs: []string{"http://gw:80/search/"}}, "", "/search/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newFakeEngine(t, "opensearch-2.19.6.json")
			if tt.wantPath != "/" {
				e.on("GET "+tt.wantPath, fixtureReply(t, 200, "info/opensearch-2.19.6.json"))
			}
			tt.cfg.HTTP = &http.Client{Transport: handlerTransport{e}}
			c, err := NewClient(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Info(context.Background()); err != nil {
				t.Fatal(err)
			}
			got := e.requests("")[0]
			if got.Auth != tt.wantAuth || got.Path != tt.wantPath {
				t.Errorf("got auth %q path %q, want %q %q", got.Auth, got.Path, tt.wantAuth, tt.wantPath)
			}
		})
	}
}

func TestUnauthorized(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"401", 401,
			`{"error":{"root_cause":[{"type":"security_exception","reason":"unable to authenticate user [sync] for REST request [/]"}],"type":"security_exception","reason":"unable to authenticate user [sync] for REST request [/]","header":{"WWW-Authenticate":"Basic realm=\"security\" charset=\"UTF-8\""}},"status":401}`,
			"the search engine at %s rejected the credentials (HTTP 401 on GET /: security_exception: unable to authenticate user [sync] for REST request [/]) (check --search-username / INDEXSYNC_SEARCH_PASSWORD)"},
		{"401 OpenSearch plain text", 401, "Unauthorized",
			"the search engine at %s rejected the credentials (HTTP 401 on GET /: Unauthorized) (check --search-username / INDEXSYNC_SEARCH_PASSWORD)"},
		{"403", 403,
			`{"error":{"type":"security_exception","reason":"action [cluster:monitor/main] is unauthorized for user [sync]"},"status":403}`,
			"the search engine at %s rejected the credentials for GET / (HTTP 403: security_exception: action [cluster:monitor/main] is unauthorized for user [sync]) (check --search-username / INDEXSYNC_SEARCH_PASSWORD and that user's privileges)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			}))
			defer srv.Close()
			c, err := NewClient(Config{URLs: []string{srv.URL}, Username: "sync", Password: secret.New(testPassword), Retries: 3})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Info(context.Background())
			if !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("got %v, want ErrUnauthorized", err)
			}
			if want := fmt.Sprintf(tt.want, srv.URL); err.Error() != want {
				t.Errorf("got  %q\nwant %q", err, want)
			}
			if got := c.Stats().Requests; got != 1 {
				t.Errorf("%d requests, want 1: credentials are not retried", got)
			}
		})
	}
}

func closedPortURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func TestConnectionRefused(t *testing.T) {
	url := closedPortURL(t)
	c, err := NewClient(Config{URLs: []string{url}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Info(context.Background())
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("got %v, want ErrUnreachable", err)
	}
	var ce *ConnectError
	if !errors.As(err, &ce) || ce.URL != url {
		t.Fatalf("got %#v, want a *ConnectError for %s", err, url)
	}
	if want := "cannot reach the search engine at " + url + ": connection refused (check --search-url)"; err.Error() != want {
		t.Errorf("got  %q\nwant %q", err, want)
	}
}

func TestFailoverAndRoundRobin(t *testing.T) {
	info := fixture(t, "info/opensearch-2.19.6.json")
	var hits [2]atomic.Int64
	var urls []string
	for i := range hits {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits[i].Add(1)
			w.Write(info)
		}))
		defer srv.Close()
		urls = append(urls, srv.URL)
	}
	dead := closedPortURL(t)

	t.Run("dead node skipped", func(t *testing.T) {
		c, err := NewClient(Config{URLs: []string{dead + "," + urls[0]}})
		if err != nil {
			t.Fatal(err)
		}
		for range 4 {
			if _, err := c.Info(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("all dead names every node", func(t *testing.T) {
		dead2 := closedPortURL(t)
		c, err := NewClient(Config{URLs: []string{dead, dead2}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Info(context.Background())
		if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), dead) || !strings.Contains(err.Error(), dead2) {
			t.Errorf("got %v, want ErrUnreachable naming both nodes", err)
		}
	})
	t.Run("round robin", func(t *testing.T) {
		hits[0].Store(0)
		hits[1].Store(0)
		c, err := NewClient(Config{URLs: urls})
		if err != nil {
			t.Fatal(err)
		}
		for range 10 {
			if _, err := c.Info(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		if hits[0].Load() != 5 || hits[1].Load() != 5 {
			t.Errorf("hits %d and %d, want 5 each", hits[0].Load(), hits[1].Load())
		}
	})
}

func TestNotJSONAnswers(t *testing.T) {
	longHTML := "<!DOCTYPE html>\n<html>\n  <head><title>502 Bad Gateway</title></head>\n  <body>" + strings.Repeat("nginx filler ", 200) + "</body>\n</html>\n"
	tests := []struct {
		name     string
		status   int
		body     string
		wantType any
		contains []string
	}{
		{"200 HTML from a proxy", 200, longHTML, &ResponseError{},
			[]string{"GET ", "HTTP 200 with an answer that is not a search engine's JSON", "<!DOCTYPE html> <html> <head><title>502 Bad Gateway", "…", "check that --search-url points at Elasticsearch or OpenSearch"}},
		{"502 HTML", 502, longHTML, &HTTPError{},
			[]string{"HTTP 502: <!DOCTYPE html> <html> <head><title>502 Bad Gateway</title>", "…"}},
		{"200 truncated JSON", 200, `{"version":{"number":"7.`, &ResponseError{}, []string{`{\"version\":{\"number\":\"7.`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			}))
			defer srv.Close()
			c, err := NewClient(Config{URLs: []string{srv.URL}})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Info(context.Background())
			if err == nil {
				t.Fatal("no error")
			}
			switch tt.wantType.(type) {
			case *ResponseError:
				var re *ResponseError
				if !errors.As(err, &re) {
					t.Errorf("got %T, want *ResponseError", err)
				}
			case *HTTPError:
				var he *HTTPError
				if !errors.As(err, &he) {
					t.Errorf("got %T, want *HTTPError", err)
				}
			}
			for _, s := range tt.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			if len(err.Error()) > 900 {
				t.Errorf("error is %d bytes long, want the body truncated", len(err.Error()))
			}
		})
	}
}

// TestPasswordNeverInErrors provokes every kind of error with a password set,
// including a server that echoes the request headers back, and checks that
// neither the password nor its base64 form appears.
func TestPasswordNeverInErrors(t *testing.T) {
	encoded := base64.StdEncoding.EncodeToString([]byte("sync:" + testPassword))
	echo := func(status int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"error":{"type":"security_exception","reason":"bad header %s (%s)"},"status":%d}`,
				r.Header.Get("Authorization"), testPassword, status)
		}
	}
	htmlEcho := func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "<html>you sent %s</html>", r.Header.Get("Authorization"))
	}
	tests := []struct {
		name    string
		handler http.HandlerFunc // nil: nothing listens
		urls    func(base string) []string
	}{
		{"401 echoing the header", echo(401), nil},
		{"403 echoing the header", echo(403), nil},
		{"500 echoing the header", echo(500), nil},
		{"HTML echoing the header", htmlEcho, nil},
		{"connection refused", nil, nil},
		{"password in URL userinfo, refused", nil, func(base string) []string {
			return []string{strings.Replace(base, "http://", "http://sync:"+testPassword+"@", 1)}
		}},
		{"password in URL userinfo, 401", echo(401), func(base string) []string {
			return []string{strings.Replace(base, "http://", "http://sync:"+testPassword+"@", 1)}
		}},
		{"passwords in a comma list of URLs", echo(401), func(base string) []string {
			u := strings.Replace(base, "http://", "http://sync:"+testPassword+"@", 1)
			return []string{u + "," + u}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := closedPortURL(t)
			if tt.handler != nil {
				srv := httptest.NewServer(tt.handler)
				defer srv.Close()
				base = srv.URL
			}
			cfg := Config{URLs: []string{base}, Username: "sync", Password: secret.New(testPassword)}
			if tt.urls != nil {
				cfg = Config{URLs: tt.urls(base)}
			}
			c, err := NewClient(cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Info(context.Background())
			if err == nil {
				t.Fatal("no error")
			}
			for _, msg := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", c), fmt.Sprintf("%+v", c)} {
				if strings.Contains(msg, testPassword) || strings.Contains(msg, encoded) {
					t.Errorf("the password leaks: %s", msg)
				}
			}
		})
	}
}

func TestTLSCA(t *testing.T) {
	info := fixture(t, "info/elasticsearch-8.19.7.json")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(info) }))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the rejected handshake is expected
	srv.StartTLS()
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("trusted with the CA file", func(t *testing.T) {
		c, err := NewClient(Config{URLs: []string{srv.URL}, TLSCA: caFile})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Info(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("untrusted without it", func(t *testing.T) {
		c, err := NewClient(Config{URLs: []string{srv.URL}, Retries: 3})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Info(context.Background())
		if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "check --search-tls-ca") {
			t.Errorf("got %v, want ErrUnreachable pointing at --search-tls-ca", err)
		}
		if Retryable(0, err) || c.Stats().Requests != 1 {
			t.Errorf("a TLS trust failure must not be retried (requests: %d)", c.Stats().Requests)
		}
	})
	t.Run("https to a plain HTTP port", func(t *testing.T) {
		plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(info) }))
		defer plain.Close()
		c, err := NewClient(Config{URLs: []string{strings.Replace(plain.URL, "http://", "https://", 1)}, Retries: 3})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Info(context.Background())
		if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "http versus https") || c.Stats().Requests != 1 {
			t.Errorf("got %v after %d requests, want one ErrUnreachable about the scheme", err, c.Stats().Requests)
		}
	})
	t.Run("a file without certificates", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.pem")
		os.WriteFile(bad, []byte("not a certificate"), 0o600)
		_, err := NewClient(Config{URLs: []string{srv.URL}, TLSCA: bad})
		if err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
			t.Errorf("got %v, want a complaint about the CA file", err)
		}
	})
}

// TestDisableCompression: the client asks for gzip unless told not to.
func TestDisableCompression(t *testing.T) {
	info := fixture(t, "info/elasticsearch-8.19.7.json")
	for _, disable := range []bool{false, true} {
		var got atomic.Value
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got.Store(r.Header.Get("Accept-Encoding"))
			w.Write(info)
		}))
		c, err := NewClient(Config{URLs: []string{srv.URL}, DisableCompression: disable})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Info(context.Background()); err != nil {
			t.Fatal(err)
		}
		srv.Close()
		want := "gzip"
		if disable {
			want = ""
		}
		if got.Load() != want {
			t.Errorf("DisableCompression %v: Accept-Encoding %q, want %q", disable, got.Load(), want)
		}
	}
}

// hostTransport answers per host: hosts in down fail to connect, the others
// go to h.
type hostTransport struct {
	h     http.Handler
	down  map[string]bool
	dials *atomic.Int64 // connection attempts to down hosts
}

func (tr hostTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if tr.down[req.URL.Host] {
		tr.dials.Add(1)
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	}
	return handlerTransport{tr.h}.RoundTrip(req)
}

func TestDeadNodeIsTriedLast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var dials atomic.Int64
		e := newFakeEngine(t, "opensearch-2.19.6.json")
		c, err := NewClient(Config{
			URLs: []string{"http://down:9200", "http://up:9200"},
			HTTP: &http.Client{Transport: hostTransport{h: e, down: map[string]bool{"down:9200": true}, dials: &dials}},
		})
		if err != nil {
			t.Fatal(err)
		}
		for range 10 {
			if _, err := c.Info(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		if got := dials.Load(); got != 1 {
			t.Errorf("the down node was dialled %d times in 10 requests, want 1", got)
		}
		time.Sleep(deadFor + time.Second)
		for range 2 {
			if _, err := c.Info(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		if got := dials.Load(); got != 2 {
			t.Errorf("after %s the down node was dialled %d times in all, want 2 (tried again once)", deadFor, got)
		}
	})
}
