package syncapi

// The client side: what `indexsync run --target api` uses to call a Sync API,
// ours or Sunbird's (docs/sunbird.md, the Sync API, the old job). Retry classification lives in
// classify and the waits in (*Client).backoff (the go-retryablehttp
// CheckRetry/Backoff split), so the whole policy can be read in one place.

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/indexsync/indexsync/internal/backoff"
	"github.com/indexsync/indexsync/internal/httpretry"
	"github.com/indexsync/indexsync/internal/secret"
	"github.com/indexsync/indexsync/internal/tlstrust"
)

// DefaultClientTimeout bounds one attempt when ClientConfig.Timeout is zero.
const DefaultClientTimeout = 60 * time.Second

const (
	// maxKeptResponse is how much of a response body CallResult keeps for
	// the run logs.
	maxKeptResponse = 64 << 10
	// maxReadResponse bounds what is read to parse the envelope: a per-id
	// answer for 10,000 ids is about half a megabyte.
	maxReadResponse = 32 << 20
)

// Errors a Sync call can be classified by with errors.Is.
var (
	// ErrUnauthorized: the API answered 401 or 403. Every later call will
	// fail the same way, so the job should stop.
	ErrUnauthorized = errors.New("the Sync API rejected the API key")
	// ErrUnreachable: the call ended without any HTTP answer (connection
	// refused or reset, timeouts, DNS, TLS trust). The error also wraps the
	// transport error.
	ErrUnreachable = errors.New("the Sync API is unreachable")
	// ErrRetriesExhausted: every attempt failed with a retryable error.
	ErrRetriesExhausted = errors.New("retries exhausted")
)

// ClientConfig configures a Client.
type ClientConfig struct {
	// Endpoint is the full URL of the sync route, e.g.
	// http://localhost:9000/v1/data/sync or
	// https://host/api/data/v1/index/sync through Sunbird's gateway.
	Endpoint string
	// APIKey is sent as "Authorization: Bearer <key>" when set.
	APIKey secret.String
	// Timeout bounds one attempt, reading the answer included; default 60s.
	Timeout time.Duration
	// Retries is how many times a call is sent again after the first
	// attempt; 0 disables retries.
	Retries int
	// RetryBase and RetryMax bound the exponential backoff; defaults 500ms
	// and 30s.
	RetryBase, RetryMax time.Duration
	// Background sends exactly the old job's body; otherwise the body also
	// asks for "operationType":"sync" so the server reports each id.
	Background bool
	// HTTP is the client to use; nil: a client of our own.
	HTTP *http.Client
	// TLSCA is a PEM file of CA certificates trusted, besides the system's,
	// for an https endpoint (--api-tls-ca); not with HTTP.
	TLSCA string
	// UserAgent is sent with every call; default "indexsync".
	UserAgent string
}

// Client calls a Sync API. It is safe for concurrent use.
type Client struct {
	endpoint   string // as configured, for the request
	display    string // the endpoint with any password redacted, for messages
	key        secret.String
	timeout    time.Duration
	retry      httpretry.Policy
	background bool
	http       *http.Client
	userAgent  string
}

// NewClient checks cfg and returns a client.
func NewClient(cfg ClientConfig) (*Client, error) {
	var errs []error
	u, err := url.Parse(strings.TrimSpace(cfg.Endpoint))
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // ue repeats the URL
	}
	switch {
	case strings.TrimSpace(cfg.Endpoint) == "":
		errs = append(errs, errors.New("no Sync API endpoint: set --api-endpoint, e.g. http://localhost:9000/v1/data/sync"))
	case strings.Contains(cfg.Endpoint, "{{"):
		errs = append(errs, fmt.Errorf("invalid Sync API endpoint %q: replace the {{…}} placeholder with the real address (check --api-endpoint)", cfg.Endpoint))
	case err != nil:
		errs = append(errs, fmt.Errorf("invalid Sync API endpoint %q: %w (check --api-endpoint)", cfg.Endpoint, err))
	case u.Scheme != "http" && u.Scheme != "https":
		errs = append(errs, fmt.Errorf("invalid Sync API endpoint %q: it must start with http:// or https://, e.g. http://localhost:9000/v1/data/sync (check --api-endpoint)", secret.RedactURL(cfg.Endpoint)))
	case u.Hostname() == "" || strings.ContainsAny(u.Host, "{}"):
		errs = append(errs, fmt.Errorf("invalid Sync API endpoint %q: no host name in it (check --api-endpoint)", secret.RedactURL(cfg.Endpoint)))
	}
	if cfg.Timeout < 0 {
		errs = append(errs, fmt.Errorf("invalid Sync API timeout %v: must not be negative", cfg.Timeout))
	}
	if cfg.Retries < 0 {
		errs = append(errs, fmt.Errorf("invalid retry count %d: must not be negative (check --retries)", cfg.Retries))
	}
	if cfg.RetryBase < 0 || cfg.RetryMax < 0 {
		errs = append(errs, fmt.Errorf("invalid retry backoff %v–%v: must not be negative", cfg.RetryBase, cfg.RetryMax))
	}
	var tlsCfg *tls.Config
	switch {
	case cfg.TLSCA != "" && cfg.HTTP != nil:
		errs = append(errs, errors.New("a Sync API TLS CA and a custom HTTP client cannot be combined"))
	case cfg.TLSCA != "":
		pool, err := tlstrust.Pool(cfg.TLSCA, "--api-tls-ca", true)
		if err != nil {
			errs = append(errs, err)
		}
		tlsCfg = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	c := &Client{
		endpoint:   u.String(),
		display:    secret.RedactURL(u.String()),
		key:        cfg.APIKey,
		timeout:    orDefault(cfg.Timeout, DefaultClientTimeout),
		retry:      httpretry.Policy{Retries: cfg.Retries, Base: cfg.RetryBase, Max: cfg.RetryMax},
		background: cfg.Background,
		http:       cfg.HTTP,
		userAgent:  cfg.UserAgent,
	}
	if c.userAgent == "" {
		c.userAgent = "indexsync"
	}
	if c.http == nil {
		c.http = newHTTPClient(tlsCfg)
	}
	return c, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// newHTTPClient is the default client: connections kept for parallel
// callers, and no silent POST→GET downgrade on a 301/302 (the 3xx is
// returned instead, so the user learns the right URL). tlsCfg, when set,
// says which CAs an https endpoint may be signed by.
func newHTTPClient(tlsCfg *tls.Config) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	if tlsCfg != nil {
		tr.TLSClientConfig = tlsCfg
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 10 {
				return errors.New("stopped after 10 redirects")
			}
			if req.Method != via[0].Method {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
}

// Endpoint returns the endpoint, any password redacted.
func (c *Client) Endpoint() string { return c.display }

// CallResult is what one Sync call did, error or not.
type CallResult struct {
	Status   int    // last HTTP status; 0 when there was no answer
	Request  []byte // the JSON body sent
	Response []byte // the last response body, at most 64 KiB of it
	// OK: HTTP 200 with a well-formed envelope whose params.status is not
	// FAILED.
	OK bool
	// PerID is result.esSyncResponse for the ids sent: ids the server left
	// out are false. Nil when the server reported no ids (background mode,
	// or Sunbird without operationType).
	PerID     map[string]bool
	Attempts  int
	Retries   int
	Throttled int // attempts answered 429 or 503
}

// HTTPStatusError is an answer that sending again will not change: a 4xx
// other than 401/403/408/429, a 3xx, or a 200 envelope with status FAILED.
type HTTPStatusError struct {
	URL      string // the endpoint, any password redacted
	Status   int
	Body     []byte // at most 64 KiB of it
	Location string // for a redirect: where to
}

func (e *HTTPStatusError) Error() string {
	msg := fmt.Sprintf("the Sync API at %s answered HTTP %d", e.URL, e.Status)
	if e.Location != "" {
		return msg + " redirecting to " + e.Location + ": use that URL as --api-endpoint"
	}
	if d := describeBody(e.Body); d != "" {
		msg += ": " + d
	}
	return msg
}

// requestBody is the old job's body, field order included.
type requestBody struct {
	Params  struct{}    `json:"params"`
	Request requestSpec `json:"request"`
}

type requestSpec struct {
	ObjectType    string   `json:"objectType"`
	ObjectIDs     []string `json:"objectIds"`
	OperationFor  string   `json:"operationFor"`
	OperationType string   `json:"operationType,omitempty"`
}

// Body returns the JSON body Sync sends for these ids.
func (c *Client) Body(objectType string, ids []string) ([]byte, error) {
	b := requestBody{Request: requestSpec{ObjectType: objectType, ObjectIDs: ids, OperationFor: "es"}}
	if b.Request.ObjectIDs == nil {
		b.Request.ObjectIDs = []string{}
	}
	if !c.background {
		b.Request.OperationType = "sync"
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // ids as they are, like the old job
	if err := enc.Encode(b); err != nil {
		return nil, fmt.Errorf("encode the Sync API request: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// reply is the part of the envelope the client reads.
type reply struct {
	Params struct {
		Status string  `json:"status"`
		Err    *string `json:"err"`
		ErrMsg *string `json:"errmsg"`
	} `json:"params"`
	ResponseCode string                     `json:"responseCode"`
	Result       map[string]json.RawMessage `json:"result"`
}

// parseReply decodes an envelope; nil when body is not one (HTML from a
// proxy, truncated JSON, some other JSON).
func parseReply(body []byte) *reply {
	var r reply
	if err := json.Unmarshal(body, &r); err != nil {
		return nil
	}
	if r.Params.Status == "" && r.ResponseCode == "" {
		return nil
	}
	return &r
}

func (r *reply) failed() bool { return strings.EqualFold(r.Params.Status, "FAILED") }

// perID says for every id sent whether the server indexed it, from both
// shapes of answer: esSyncResponse ("<id>": true, and false in ours), and
// Sunbird's "<id>": false at the top level of result for a user that failed.
// An id named in neither is false. Nil when the answer reports no ids at all
// (background mode, or Sunbird without operationType).
func (r *reply) perID(ids []string) map[string]bool {
	if r == nil || r.Result == nil {
		return nil
	}
	var es map[string]any
	if raw, ok := r.Result["esSyncResponse"]; ok {
		_ = json.Unmarshal(raw, &es)
	}
	lookup := func(id string) (any, bool) {
		if raw, ok := r.Result[id]; ok && id != "response" && id != "esSyncResponse" {
			var top any
			if json.Unmarshal(raw, &top) == nil {
				if b, ok := top.(bool); ok && !b {
					return false, true // Sunbird's failed user
				}
			}
		}
		v, ok := es[id]
		return v, ok
	}
	m := make(map[string]bool, len(ids))
	reported := es != nil
	for _, id := range ids {
		v, ok := lookup(id)
		if !ok {
			v, ok = lookup(strings.TrimSpace(id)) // the server trims ids
		}
		reported = reported || ok
		switch v := v.(type) {
		case bool:
			m[id] = v
		case string:
			m[id] = strings.EqualFold(v, "true")
		default:
			m[id] = false
		}
	}
	if !reported {
		return nil
	}
	return m
}

// verdict is what to do after an attempt.
type verdict int

const (
	done         verdict = iota // success: return the result
	retry                       // may succeed when sent again
	unauthorized                // 401/403: stop the job
	rejected                    // permanent answer: return it as an HTTPStatusError
	unreachable                 // no answer, and sending again will not help (TLS trust)
	canceled                    // the caller's context ended
)

// classify is the retry policy in one place. status is 0 when there was no
// answer, in which case err is the transport error; env is the parsed
// envelope (nil when the body is not one); ctx is the caller's context, not
// the attempt's, so an attempt timeout is retried but a cancellation is not.
func classify(ctx context.Context, status int, env *reply, err error) verdict {
	v := classifyAnswer(status, env, err)
	if v == retry && ctx.Err() != nil {
		return canceled // an answer that came back anyway still counts
	}
	return v
}

func classifyAnswer(status int, env *reply, err error) verdict {
	if err != nil {
		if httpretry.TLSTrustError(err) {
			return unreachable
		}
		return retry // refused, reset, EOF, attempt timeout, DNS, broken body
	}
	switch {
	case status == http.StatusOK:
		switch {
		case env == nil:
			return retry // a proxy's HTML page or a truncated body
		case env.failed():
			return rejected
		}
		return done
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return unauthorized
	case httpretry.RetryableStatus(status):
		return retry
	}
	return rejected
}

// attempt is one request and its answer.
type attempt struct {
	status     int
	body       []byte
	header     http.Header
	err        error // transport error, or reading the body failed
	retryAfter time.Duration
}

// Sync asks the API to index ids of objectType, retrying what may succeed
// when sent again. requestID goes out as X-Request-ID (the envelope's msgid).
//
// The result is never nil. The error is nil only when res.OK; otherwise it
// is one of: ErrUnauthorized (401/403, after one attempt), an
// *HTTPStatusError (a permanent answer, body kept), ErrRetriesExhausted
// (also ErrUnreachable when the last attempt had no answer), ErrUnreachable
// alone (TLS trust failure), or the context's error.
func (c *Client) Sync(ctx context.Context, objectType string, ids []string, requestID string) (*CallResult, error) {
	body, err := c.Body(objectType, ids)
	if err != nil {
		return &CallResult{}, err
	}
	res := &CallResult{Request: body}
	for {
		a := c.send(ctx, body, requestID)
		res.Attempts++
		res.Retries = res.Attempts - 1
		res.Status = a.status
		res.Response = keep(a.body)
		if a.status == http.StatusTooManyRequests || a.status == http.StatusServiceUnavailable {
			res.Throttled++
		}
		var env *reply
		if a.err == nil {
			env = parseReply(a.body)
		}
		res.PerID = env.perID(ids)

		switch classify(ctx, a.status, env, a.err) {
		case done:
			res.OK = true
			return res, nil
		case canceled:
			return res, fmt.Errorf("call the Sync API at %s: %w", c.display, ctx.Err())
		case unauthorized:
			return res, &unauthorizedError{url: c.display, status: a.status, keySet: c.key.IsSet(), body: res.Response}
		case rejected:
			return res, c.statusError(a)
		case unreachable:
			return res, &callError{url: c.display, attempts: res.Attempts, err: a.err}
		case retry:
			if res.Attempts > c.retry.Retries {
				return res, &callError{url: c.display, attempts: res.Attempts, exhausted: true,
					status: a.status, body: res.Response, err: a.err}
			}
		}
		if err := backoff.Sleep(ctx, c.retry.Wait(res.Attempts, a.retryAfter)); err != nil {
			return res, fmt.Errorf("call the Sync API at %s: %w", c.display, err)
		}
	}
}

// send makes one attempt, bounded by the client's timeout; the body is read
// in full (up to maxReadResponse) before the attempt's context ends.
func (c *Client) send(ctx context.Context, body []byte, requestID string) attempt {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return attempt{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if requestID != "" {
		req.Header.Set("X-Request-ID", requestID)
	}
	if c.key.IsSet() {
		req.Header.Set("Authorization", "Bearer "+c.key.Reveal())
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the message names the URL itself
		}
		return attempt{err: err}
	}
	defer func() { _ = resp.Body.Close() }()
	a := attempt{status: resp.StatusCode, header: resp.Header, retryAfter: backoff.RetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	a.body, err = io.ReadAll(io.LimitReader(resp.Body, maxReadResponse))
	if err != nil {
		a.err = fmt.Errorf("read the answer (HTTP %d): %w", resp.StatusCode, err)
	}
	return a
}

func keep(body []byte) []byte {
	if len(body) > maxKeptResponse {
		body = body[:maxKeptResponse]
	}
	return bytes.Clone(body)
}

func (c *Client) statusError(a attempt) *HTTPStatusError {
	e := &HTTPStatusError{URL: c.display, Status: a.status, Body: keep(a.body)}
	if a.status >= 300 && a.status <= 399 {
		e.Location = a.header.Get("Location")
	}
	return e
}

// unauthorizedError is a 401/403. It never carries the key.
type unauthorizedError struct {
	url    string
	status int
	keySet bool
	body   []byte
}

func (e *unauthorizedError) Error() string {
	if !e.keySet {
		return fmt.Sprintf("the Sync API at %s requires an API key (HTTP %d): set --api-key / INDEXSYNC_API_KEY", e.url, e.status)
	}
	return fmt.Sprintf("the Sync API at %s rejected the API key (HTTP %d): check --api-key / INDEXSYNC_API_KEY", e.url, e.status)
}

func (e *unauthorizedError) Unwrap() []error {
	return []error{ErrUnauthorized, &HTTPStatusError{URL: e.url, Status: e.status, Body: e.body}}
}

// callError is a call that got no usable answer: retries used up, or no
// connection that could ever succeed.
type callError struct {
	url       string
	attempts  int
	exhausted bool
	status    int // the last answer's; 0: none
	body      []byte
	err       error // the last transport error
}

func (e *callError) Error() string {
	tries := "1 attempt"
	if e.attempts != 1 {
		tries = strconv.Itoa(e.attempts) + " attempts"
	}
	if e.status == 0 {
		return fmt.Sprintf("cannot reach the Sync API at %s (%s): %v", e.url, tries, e.err)
	}
	last := fmt.Sprintf("HTTP %d", e.status)
	switch {
	case e.err != nil:
		last += ", " + e.err.Error()
	case e.status == http.StatusOK:
		last += " with a body that is not a Sync API envelope: " + describeBody(e.body)
	default:
		if d := describeBody(e.body); d != "" {
			last += ": " + d
		}
	}
	return fmt.Sprintf("the Sync API at %s still failing after %s; last answer %s", e.url, tries, last)
}

func (e *callError) Unwrap() []error {
	var errs []error
	if e.exhausted {
		errs = append(errs, ErrRetriesExhausted)
	}
	if e.status == 0 {
		errs = append(errs, ErrUnreachable)
	}
	if e.err != nil {
		errs = append(errs, e.err)
	}
	return errs
}

// describeBody is a short, one-line account of a response body for an error
// message: the envelope's err and errmsg, or the start of the text.
func describeBody(body []byte) string {
	if env := parseReply(body); env != nil {
		var parts []string
		if env.ResponseCode != "" {
			parts = append(parts, env.ResponseCode)
		}
		if env.Params.Err != nil && *env.Params.Err != "" {
			parts = append(parts, *env.Params.Err)
		}
		if env.Params.ErrMsg != nil && *env.Params.ErrMsg != "" {
			parts = append(parts, *env.Params.ErrMsg)
		}
		return strings.Join(parts, ": ")
	}
	if len(body) == 0 {
		return "(empty body)"
	}
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(body[:min(len(body), 800)]), "")), " ")
	const n = 200
	if r := []rune(s); len(r) > n || len(body) > 800 {
		s = string(r[:min(len(r), n)]) + "…"
	}
	return strconv.Quote(s)
}

// CheckReachable checks that something listens at the endpoint's host and
// port and, for https, that it completes a TLS handshake with a certificate
// the client trusts, so that a wrong --api-endpoint or --api-tls-ca fails at
// start (exit 3) rather than after the first block's retries. The error says
// what to check.
func (c *Client) CheckReachable(ctx context.Context) error {
	u, err := url.Parse(c.endpoint)
	if err != nil {
		return err
	}
	host := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return fmt.Errorf("cannot reach the Sync API at %s: %w (check --api-endpoint and that the service runs)", c.display, err)
	}
	tr, ours := c.http.Transport.(*http.Transport)
	if u.Scheme != "https" || !ours {
		return conn.Close() // a caller's own client does its own TLS
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if tr.TLSClientConfig != nil {
		cfg = tr.TLSClientConfig.Clone()
	}
	cfg.ServerName = u.Hostname()
	tc := tls.Client(conn, cfg)
	defer func() { _ = tc.Close() }()
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		if p := tlstrust.Problem(err); p != "" {
			return fmt.Errorf("cannot connect to the Sync API at %s over TLS: %s (check --api-tls-ca: it must hold the CA certificate that signed the service's certificate; and http versus https in --api-endpoint)", c.display, p)
		}
		return fmt.Errorf("cannot connect to the Sync API at %s over TLS: %w (check --api-endpoint and that the service runs)", c.display, err)
	}
	return nil
}
