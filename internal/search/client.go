package search

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/indexsync/indexsync/internal/backoff"
	"github.com/indexsync/indexsync/internal/httpretry"
	"github.com/indexsync/indexsync/internal/secret"
	"github.com/indexsync/indexsync/internal/tlstrust"
)

// Defaults for Config fields left zero.
const (
	DefaultTimeout   = 2 * time.Minute
	DefaultUserAgent = "indexsync"
)

// maxResponseBytes bounds what one answer may hold; the biggest we expect is
// an _mget of a few thousand documents.
const maxResponseBytes = 256 << 20

// Config configures a Client.
type Config struct {
	// URLs of the engine's nodes, each entry may be a comma-separated list.
	// Requests go round-robin over them, and a node that refuses connections
	// is skipped for the next one. A path (a proxy prefix) is kept.
	URLs []string
	// Username and Password for HTTP basic auth. When Username is empty, a
	// URL's own userinfo is used for that URL.
	Username string
	Password secret.String
	// TLSCA is a PEM file of CA certificates trusted in addition to the
	// system's. Not allowed together with HTTP.
	TLSCA string
	// Timeout bounds each HTTP attempt, reading the answer included.
	// 0 means DefaultTimeout.
	Timeout time.Duration
	// UserAgent, DefaultUserAgent when empty.
	UserAgent string
	// Retries: how many times a failed request or bulk item is sent again
	// (see Retryable). 0 disables retries.
	Retries int
	// RetryBase and RetryMax bound the backoff (httpretry.Policy); zero means
	// its defaults.
	RetryBase, RetryMax time.Duration
	// DisableCompression asks for answers without gzip. The engine's gzip
	// can cost more than the network it saves (verify reads every document
	// back). Not allowed together with HTTP.
	DisableCompression bool
	// HTTP replaces the default HTTP client (tests, custom transports).
	HTTP *http.Client
	// Logger receives the engine's deprecation warnings, each text once
	// (warnings.go); nil discards them.
	Logger *slog.Logger
}

// Stats are counters since the client was made.
type Stats struct {
	Requests     int64 // HTTP attempts, retries included
	Retries      int64 // waits before sending a request, or part of a bulk, again
	RetriedItems int64 // bulk items sent again
}

// Client talks to one Elasticsearch or OpenSearch cluster. It is safe for
// concurrent use.
type Client struct {
	endpoints []*endpoint
	next      atomic.Uint64
	hc        *http.Client
	userAgent string
	timeout   time.Duration
	retry     httpretry.Policy
	secrets   []string // password forms scrubbed from error bodies
	warnings  warnings

	dialect   atomic.Pointer[dialect]
	connectMu sync.Mutex

	requests, retries, retriedItems atomic.Int64
}

type endpoint struct {
	base string        // scheme://host[:port][/prefix], no userinfo, no trailing slash
	auth secret.String // the whole Authorization header value, or empty
	// deadUntil (unix nanoseconds): after a failed connection the node is
	// tried last until then, so a node that is down (or black-holes packets
	// for the whole dial timeout) does not slow every other request.
	deadUntil atomic.Int64
}

// deadFor is how long a node that refused a connection is tried last.
const deadFor = 10 * time.Second

// NewClient checks cfg and builds a client. It does not contact the engine:
// call Info first to check the connection and detect the version. Methods
// whose request differs by version detect it themselves if Info was not
// called.
func NewClient(cfg Config) (*Client, error) {
	var problems []error
	c := &Client{
		userAgent: cfg.UserAgent,
		timeout:   cfg.Timeout,
		retry:     httpretry.Policy{Retries: cfg.Retries, Base: cfg.RetryBase, Max: cfg.RetryMax},
		warnings:  warnings{log: cfg.Logger},
	}
	if c.userAgent == "" {
		c.userAgent = DefaultUserAgent
	}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	if cfg.Timeout < 0 {
		problems = append(problems, fmt.Errorf("search timeout %s is negative", cfg.Timeout))
	}
	if cfg.Retries < 0 {
		problems = append(problems, fmt.Errorf("search retries %d is negative", cfg.Retries))
	}
	if cfg.Password.IsSet() && cfg.Username == "" {
		problems = append(problems, errors.New("a search password is set but no username (set --search-username)"))
	}
	eps, secrets, errs := parseEndpoints(cfg.URLs, cfg.Username, cfg.Password)
	c.endpoints, c.secrets = eps, secrets
	problems = append(problems, errs...)
	if len(errs) == 0 && len(eps) == 0 {
		problems = append(problems, errors.New("no search URL given (set --search-url)"))
	}
	hc, err := httpClient(cfg)
	if err != nil {
		problems = append(problems, err)
	}
	c.hc = hc
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	return c, nil
}

// parseEndpoints splits, checks and normalises the URLs. Error messages show
// a URL with its password masked.
func parseEndpoints(raws []string, user string, pass secret.String) ([]*endpoint, []string, []error) {
	var eps []*endpoint
	var secrets []string
	var errs []error
	addSecret := func(u, p string) {
		if len(p) >= 4 {
			secrets = append(secrets, p)
		}
		secrets = append(secrets, base64.StdEncoding.EncodeToString([]byte(u+":"+p)))
	}
	if user != "" {
		addSecret(user, pass.Reveal())
	}
	for _, entry := range raws {
		for raw := range strings.SplitSeq(entry, ",") {
			raw = strings.TrimSpace(raw)
			if raw == "" {
				continue
			}
			u, err := url.Parse(raw)
			if err != nil {
				var ue *url.Error
				if errors.As(err, &ue) {
					err = ue.Err
				}
				errs = append(errs, fmt.Errorf("invalid search URL %q: %v", secret.RedactURL(raw), err))
				continue
			}
			switch {
			case u.Scheme != "http" && u.Scheme != "https":
				errs = append(errs, fmt.Errorf("invalid search URL %q: it must start with http:// or https:// (like http://127.0.0.1:9200)", secret.RedactURL(raw)))
				continue
			case u.Host == "" || u.Hostname() == "":
				errs = append(errs, fmt.Errorf("invalid search URL %q: no host", secret.RedactURL(raw)))
				continue
			case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
				errs = append(errs, fmt.Errorf("invalid search URL %q: a query or fragment is not allowed", secret.RedactURL(raw)))
				continue
			}
			ep := &endpoint{base: u.Scheme + "://" + u.Host + strings.TrimRight(u.EscapedPath(), "/")}
			u2, p2 := user, pass.Reveal()
			if user == "" && u.User != nil {
				u2 = u.User.Username()
				p2, _ = u.User.Password()
				addSecret(u2, p2)
			}
			if u2 != "" {
				ep.auth = secret.New("Basic " + base64.StdEncoding.EncodeToString([]byte(u2+":"+p2)))
			}
			eps = append(eps, ep)
		}
	}
	return eps, secrets, errs
}

func httpClient(cfg Config) (*http.Client, error) {
	if cfg.HTTP != nil {
		if cfg.TLSCA != "" {
			return nil, errors.New("search TLS CA and a custom HTTP client cannot be combined")
		}
		if cfg.DisableCompression {
			return nil, errors.New("search DisableCompression and a custom HTTP client cannot be combined")
		}
		return cfg.HTTP, nil
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	// Bulk workers run 2×cores requests at once; the default of 2 idle
	// connections per host would close and reopen connections constantly.
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 128
	t.DisableCompression = cfg.DisableCompression
	if cfg.TLSCA != "" {
		pool, err := tlstrust.Pool(cfg.TLSCA, "--search-tls-ca", true)
		if err != nil {
			return nil, err
		}
		t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: t}, nil
}

// String names the nodes, without credentials, so a client is safe to print
// or log (the fields hold the Authorization header value).
func (c *Client) String() string { return "search.Client(" + strings.Join(c.URLs(), ", ") + ")" }

// GoString is String, so %#v prints no credentials either.
func (c *Client) GoString() string { return c.String() }

// URLs are the node URLs as used, without credentials: safe to print.
func (c *Client) URLs() []string {
	out := make([]string, len(c.endpoints))
	for i, ep := range c.endpoints {
		out[i] = ep.base
	}
	return out
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	return Stats{Requests: c.requests.Load(), Retries: c.retries.Load(), RetriedItems: c.retriedItems.Load()}
}

// Info asks GET / which engine and version answer, checks that we support it
// and fixes the client's dialect. Call it once at start: its errors are the
// "cannot connect" class (ErrUnreachable, ErrUnauthorized, ErrUnsupportedVersion,
// *ResponseError for something that is not a search engine).
func (c *Client) Info(ctx context.Context) (Info, error) {
	r := &request{op: "info", method: http.MethodGet, path: "/", idempotent: true, read: true}
	res, err := c.do(ctx, r, nil)
	if err != nil {
		return Info{}, err
	}
	info, err := parseInfo(res.body)
	if err != nil {
		return Info{}, c.responseError(r, res, err)
	}
	d, ok := newDialect(info)
	if !ok {
		return info, &VersionError{URL: res.url, Info: info}
	}
	c.dialect.Store(&d)
	return info, nil
}

// ensureDialect returns the dialect, detecting it on first use.
func (c *Client) ensureDialect(ctx context.Context) (*dialect, error) {
	if d := c.dialect.Load(); d != nil {
		return d, nil
	}
	c.connectMu.Lock()
	defer c.connectMu.Unlock()
	if d := c.dialect.Load(); d != nil {
		return d, nil
	}
	if _, err := c.Info(ctx); err != nil {
		return nil, err
	}
	return c.dialect.Load(), nil
}

// request describes one API call.
type request struct {
	op          string // for metrics
	method      string
	path        string // escaped, starting with "/"
	query       string // escaped, without "?"
	contentType string
	// idempotent: sending it twice does no harm (see retryAllowed).
	idempotent bool
	// read: the request only reads. An answer that says the engine wrote a
	// document instead is an error (readWrote in dialect.go).
	read bool
}

func (r *request) target() string {
	if r.query == "" {
		return r.path
	}
	return r.path + "?" + r.query
}

type response struct {
	url    string // the node's base URL
	status int
	header http.Header
	body   []byte
}

// payload is a request body that may be sent several times (retries,
// redirects). It tracks its open readers: net/http may still read a body
// after Do returns, so the bytes go back to a pool only once every reader
// is closed (released).
type payload struct {
	data []byte
	open atomic.Int32
}

func (p *payload) reader() io.ReadCloser {
	p.open.Add(1)
	return &payloadReader{r: bytes.NewReader(p.data), p: p}
}

func (p *payload) released() bool { return p == nil || p.open.Load() == 0 }

type payloadReader struct {
	mu     sync.Mutex
	r      *bytes.Reader
	p      *payload
	closed bool
}

func (r *payloadReader) Read(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, errors.New("request body read after close")
	}
	return r.r.Read(b)
}

func (r *payloadReader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		r.closed = true
		r.p.open.Add(-1)
	}
	return nil
}

// do sends r, retrying what retryAllowed permits, and turns non-2xx answers
// into *HTTPError (the response is returned alongside it).
func (c *Client) do(ctx context.Context, r *request, body []byte) (*response, error) {
	var p *payload
	if body != nil {
		p = &payload{data: body}
	}
	for attempt := 1; ; attempt++ {
		res, err := c.roundTrip(ctx, r, p, nil)
		status := 0
		retryAfter := time.Duration(0)
		if err == nil {
			if res.status >= 200 && res.status < 300 {
				if r.read {
					if ack, wrote := readWrote(res.status, res.body); wrote {
						return nil, c.readWroteError(ctx, r, res, ack)
					}
				}
				return res, nil
			}
			err = c.httpError(r, res)
			status = res.status
			retryAfter = backoff.RetryAfter(res.header.Get("Retry-After"), time.Now())
		}
		if ctx.Err() != nil || attempt > c.retry.Retries || !retryAllowed(r.idempotent, status, err) {
			return res, err
		}
		if err := c.backoff(ctx, attempt, retryAfter); err != nil {
			return nil, fmt.Errorf("%s %s: %w", r.method, r.path, err)
		}
	}
}

// roundTrip makes one attempt. Nodes take turns (round-robin); a node that
// cannot be connected to is skipped for the next one, which is safe for any
// request as it never left. Nodes that failed recently go last. Only when no
// node can be connected to is it a *ConnectError. buf, when given, receives
// the body.
func (c *Client) roundTrip(ctx context.Context, r *request, p *payload, buf *bytes.Buffer) (*response, error) {
	n := len(c.endpoints)
	start := int(c.next.Add(1) % uint64(n))
	now := time.Now().UnixNano()
	dead := make([]bool, n) // as at the start: this attempt's own marks do not count
	for i, ep := range c.endpoints {
		dead[i] = ep.deadUntil.Load() > now
	}
	var tried []string
	var last *ConnectError
	for _, recentlyDead := range []bool{false, true} {
		for i := range n {
			k := (start + i) % n
			if dead[k] != recentlyDead {
				continue
			}
			ep := c.endpoints[k]
			res, err := c.send(ctx, ep, r, p, buf)
			if err == nil {
				if recentlyDead {
					ep.deadUntil.Store(0)
				}
				return res, nil
			}
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%s %s: %w", r.method, r.path, ctx.Err())
			}
			if errors.Is(err, errTooLarge) {
				return nil, fmt.Errorf("%s %s%s: %w", r.method, ep.base, r.path, err)
			}
			last = &ConnectError{URL: ep.base, Err: err, dial: isDialError(err)}
			if !last.dial {
				return nil, last
			}
			ep.deadUntil.Store(time.Now().Add(deadFor).UnixNano())
			tried = append(tried, ep.base)
		}
	}
	last.URL = strings.Join(tried, ", ")
	return nil, last
}

func (c *Client) send(ctx context.Context, ep *endpoint, r *request, p *payload, buf *bytes.Buffer) (*response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, r.method, ep.base+r.target(), nil)
	if err != nil {
		return nil, err
	}
	if p != nil {
		req.Body = p.reader()
		req.GetBody = func() (io.ReadCloser, error) { return p.reader(), nil }
		req.ContentLength = int64(len(p.data))
		ct := r.contentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if ep.auth.IsSet() {
		req.Header.Set("Authorization", ep.auth.Reveal())
	}
	c.requests.Add(1)
	resp, err := c.hc.Do(req)
	if err == nil {
		c.warnings.note(r, ep.base, resp.Header.Values("Warning"))
		if buf == nil {
			buf = new(bytes.Buffer)
		}
		buf.Reset()
		if n := resp.ContentLength; n > 0 && n <= maxResponseBytes {
			// one allocation of the right size instead of doubling (an
			// _mget answer is megabytes)
			buf.Grow(int(n) + bytes.MinRead)
		}
		err = readBody(buf, resp.Body)
		_ = resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	return &response{url: ep.base, status: resp.StatusCode, header: resp.Header, body: buf.Bytes()}, nil
}

var errTooLarge = fmt.Errorf("answer larger than %d MiB", maxResponseBytes>>20)

func readBody(buf *bytes.Buffer, r io.Reader) error {
	n, err := buf.ReadFrom(io.LimitReader(r, maxResponseBytes+1))
	if err != nil {
		return err
	}
	if n > maxResponseBytes {
		return errTooLarge
	}
	return nil
}

// httpError describes a non-2xx answer.
func (c *Client) httpError(r *request, res *response) *HTTPError {
	e := &HTTPError{URL: res.url, Method: r.method, Path: r.path, Status: res.status}
	var eb struct {
		Error *engineError `json:"error"`
	}
	if json.Unmarshal(res.body, &eb) == nil && eb.Error != nil {
		e.Type = c.scrub(eb.Error.Type)
		e.Reason = c.scrub(eb.Error.describe())
		e.requestFault = requestFault(eb.Error)
	}
	e.Body = c.scrub(snippet(res.body))
	return e
}

// responseError describes a 2xx answer we could not read.
func (c *Client) responseError(r *request, res *response, err error) *ResponseError {
	return &ResponseError{URL: res.url, Method: r.method, Path: r.path, Status: res.status,
		Body: c.scrub(snippet(res.body)), Err: err}
}

// decode reads a 2xx JSON body into v.
func (c *Client) decode(r *request, res *response, v any) error {
	if err := json.Unmarshal(res.body, v); err != nil {
		return c.responseError(r, res, err)
	}
	return nil
}

// scrub removes the password from text the server sent back: a proxy that
// echoes headers must not put it into our errors.
func (c *Client) scrub(s string) string {
	for _, sec := range c.secrets {
		if sec != "" && strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, "REDACTED")
		}
	}
	return s
}

// readWroteError reports a read that the engine took as a write (readWrote),
// after deleting the document it created. The delete is conditional on the
// sequence number and primary term of that very write, so it removes exactly
// what this request made and nothing a writer put there since; a document
// that was "updated" existed before and is left alone: it is not ours to
// delete, and what it held is gone either way.
func (c *Client) readWroteError(ctx context.Context, r *request, res *response, ack writeAck) *ReadWroteError {
	e := &ReadWroteError{URL: res.url, Method: r.method, Path: r.path, Status: res.status,
		Index: ack.Index, ID: ack.ID, Result: ack.Result}
	if ack.Result != "created" || ack.Index == "" || ack.ID == "" || ack.SeqNo == nil || ack.PrimaryTerm == nil {
		return e
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	del := &request{op: "undo_read_write", method: http.MethodDelete, path: docPath(ack.Index, ack.ID),
		query: fmt.Sprintf("if_seq_no=%d&if_primary_term=%d&refresh=true", *ack.SeqNo, *ack.PrimaryTerm)}
	dres, err := c.roundTrip(ctx, del, nil, nil)
	switch {
	case err != nil:
		e.CleanupErr = err
	case dres.status < 200 || dres.status > 299:
		e.CleanupErr = c.httpError(del, dres)
	default:
		e.Deleted = true
	}
	return e
}
