package search

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/indexsync/indexsync/internal/httpretry"
	"github.com/indexsync/indexsync/internal/tlstrust"
)

// Sentinels for errors.Is, so callers can map failures to exit codes without
// knowing the concrete types.
var (
	// ErrUnreachable: no HTTP answer at all (refused, DNS, TLS, timeout, reset).
	// Returned as a *ConnectError.
	ErrUnreachable = errors.New("search engine unreachable")
	// ErrUnauthorized: HTTP 401 or 403. Returned as an *HTTPError.
	ErrUnauthorized = errors.New("search engine rejected the credentials")
	// ErrPayloadTooLarge: HTTP 413. Returned as an *HTTPError.
	ErrPayloadTooLarge = errors.New("request too large for the search engine")
	// ErrNotFound: HTTP 404. Returned as an *HTTPError.
	ErrNotFound = errors.New("not found in the search engine")
	// ErrUnsupportedVersion: GET / named an engine or version we do not speak.
	// Returned as a *VersionError.
	ErrUnsupportedVersion = errors.New("unsupported search engine version")
)

// maxErrorBody caps how much of a response body an error message carries.
const maxErrorBody = 512

// ConnectError means the request got no HTTP answer. URL is the node's base
// URL, never with credentials.
type ConnectError struct {
	URL string
	Err error
	// dial is true when the connection was never established, so the request
	// cannot have reached the engine and is safe to send again whatever it is.
	dial bool
}

func (e *ConnectError) Error() string {
	hint := "check --search-url"
	if httpretry.TLSTrustError(e.Err) {
		hint = "check --search-tls-ca, and http versus https in --search-url"
	}
	return fmt.Sprintf("cannot reach the search engine at %s: %s (%s)", e.URL, describeNetError(e.Err), hint)
}

func (e *ConnectError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrUnreachable) true.
func (e *ConnectError) Is(target error) bool { return target == ErrUnreachable }

// describeNetError turns a transport error into the short cause a user can act
// on; the full error stays reachable through Unwrap.
func describeNetError(err error) string {
	var dnsErr *net.DNSError
	var errno syscall.Errno
	if p := tlstrust.Problem(err); p != "" {
		return "TLS: " + p
	}
	switch {
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("cannot resolve host %q: %s", dnsErr.Name, dnsErr.Err)
	case errors.As(err, &errno):
		return errno.Error()
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the connection closed before an answer arrived"
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return "no answer in time (timed out)"
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		return urlErr.Err.Error()
	}
	return err.Error()
}

func isDialError(err error) bool {
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == "dial"
}

// HTTPError is an HTTP answer with an error status. URL is the node's base URL
// without credentials; Type and Reason come from the engine's JSON error when
// the body is one; Body is the start of the raw body.
type HTTPError struct {
	URL    string
	Method string
	Path   string
	Status int
	Type   string
	Reason string
	Body   string
	// requestFault: the engine could not parse the request or map the
	// document (requestFault in dialect.go), so sending it again cannot help
	// even when the status is a 5xx, as Elasticsearch 6.8 sends for bad JSON.
	requestFault bool
}

func (e *HTTPError) Error() string {
	detail := e.detail()
	switch e.Status {
	case 401:
		return fmt.Sprintf("the search engine at %s rejected the credentials (HTTP 401 on %s %s%s) (check --search-username / INDEXSYNC_SEARCH_PASSWORD)",
			e.URL, e.Method, e.Path, prefixed(": ", detail))
	case 403:
		return fmt.Sprintf("the search engine at %s rejected the credentials for %s %s (HTTP 403%s) (check --search-username / INDEXSYNC_SEARCH_PASSWORD and that user's privileges)",
			e.URL, e.Method, e.Path, prefixed(": ", detail))
	case 413:
		return fmt.Sprintf("%s %s%s: HTTP 413: the request is too large for the search engine (lower --bulk-bytes or --block-size)",
			e.Method, e.URL, e.Path)
	}
	return fmt.Sprintf("%s %s%s: HTTP %d%s", e.Method, e.URL, e.Path, e.Status, prefixed(": ", detail))
}

func (e *HTTPError) detail() string {
	switch {
	case e.Type != "":
		return e.Type + ": " + e.Reason
	case e.Reason != "":
		return e.Reason
	}
	return e.Body
}

func prefixed(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}

// Is maps statuses to the package sentinels.
func (e *HTTPError) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.Status == 401 || e.Status == 403
	case ErrPayloadTooLarge:
		return e.Status == 413
	case ErrNotFound:
		return e.Status == 404
	}
	return false
}

// ReadWroteError is a read request that the engine answered as a write: it
// created (or replaced) a document named after the endpoint, "_mget" or
// "_search". Elasticsearch 8.x and OpenSearch take POST /{i}/_doc/_mget, a
// 6.x read path, as "index a document with id _mget" (dialect.go). It means
// indexsync used a path the engine version does not have: a bug, never a
// success. A document this request created is deleted again (Deleted), see
// Client.readWroteError.
type ReadWroteError struct {
	URL    string // the node, without credentials
	Method string
	Path   string
	Status int
	Index  string // where the engine wrote
	ID     string
	Result string // "created" or "updated", as the engine said
	// Deleted: the created document was deleted again. CleanupErr: why
	// deleting it failed.
	Deleted    bool
	CleanupErr error
}

func (e *ReadWroteError) Error() string {
	doc := fmt.Sprintf("%s%s", e.URL, docPath(e.Index, e.ID))
	var after string
	switch {
	case e.ID == "" || e.Index == "":
		after = "the answer does not say which document: look for one named after the endpoint (_mget, _search) in the index"
	case e.Deleted:
		after = "indexsync deleted that document again"
	case e.Result == "updated":
		after = fmt.Sprintf("a document with that id existed and was overwritten; it was left in place (check it: curl '%s')", doc)
	case e.CleanupErr != nil:
		after = fmt.Sprintf("deleting it failed (%v): delete it with curl -X DELETE '%s'", e.CleanupErr, doc)
	default:
		after = fmt.Sprintf("delete it with curl -X DELETE '%s'", doc)
	}
	return fmt.Sprintf("%s %s%s: the search engine answered a read with a write (HTTP %d, %s document %q in index %s): "+
		"indexsync used a request path that this engine version takes as a document's address (a bug in indexsync: please report it with the engine's GET / answer); %s",
		e.Method, e.URL, e.Path, e.Status, orDefault(e.Result, "wrote"), e.ID, orDefault(e.Index, "?"), after)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// ResponseError is a successful HTTP status whose body is not the JSON a
// search engine sends: typically a proxy's HTML page or a different service.
type ResponseError struct {
	URL    string
	Method string
	Path   string
	Status int
	Body   string
	Err    error
}

func (e *ResponseError) Error() string {
	return fmt.Sprintf("%s %s%s: HTTP %d with an answer that is not a search engine's JSON (%v): %q (check that --search-url points at Elasticsearch or OpenSearch)",
		e.Method, e.URL, e.Path, e.Status, e.Err, e.Body)
}

func (e *ResponseError) Unwrap() error { return e.Err }

// VersionError reports an engine or version outside what we support.
type VersionError struct {
	URL  string
	Info Info
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("the search engine at %s is %s, which indexsync does not support (supported: Elasticsearch 6.8, 7.x, 8.x; OpenSearch 1.x, 2.x)",
		e.URL, e.Info)
}

// Is makes errors.Is(err, ErrUnsupportedVersion) true.
func (e *VersionError) Is(target error) bool { return target == ErrUnsupportedVersion }

// engineError is the "error" member of an engine's error body. Older versions
// and some proxies send a plain string there instead of an object.
type engineError struct {
	Type     string       `json:"type"`
	Reason   string       `json:"reason"`
	CausedBy *engineError `json:"caused_by"`
}

func (e *engineError) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &e.Reason)
	}
	type plain engineError
	return json.Unmarshal(b, (*plain)(e))
}

// describe is "reason (caused by type: reason …)", without the top type, on
// one line: the engines' parse errors carry a newline before their "at
// [Source: …]" part.
func (e *engineError) describe() string {
	var b strings.Builder
	b.WriteString(oneLine(e.Reason))
	for c, depth := e.CausedBy, 0; c != nil && depth < 3; c, depth = c.CausedBy, depth+1 {
		if c.Reason == e.Reason && c.Type == e.Type {
			continue
		}
		b.WriteString(" (caused by ")
		b.WriteString(c.Type)
		b.WriteString(": ")
		b.WriteString(oneLine(c.Reason))
		b.WriteString(")")
	}
	return b.String()
}

// oneLine turns line breaks and the indentation after them into one space.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' })
	for i, p := range parts {
		parts[i] = strings.TrimSpace(p)
	}
	return strings.Join(parts, " ")
}

// String is "type: reason (caused by …)".
func (e *engineError) String() string {
	if e.Type == "" {
		return e.describe()
	}
	return e.Type + ": " + e.describe()
}

// snippet makes the start of a body fit in a one-line message: whitespace runs
// collapse to one space, and it stops at maxErrorBody bytes on a rune boundary.
func snippet(body []byte) string {
	var b strings.Builder
	space := false
	for len(body) > 0 {
		r, size := utf8.DecodeRune(body)
		body = body[size:]
		if r == ' ' || r == '\n' || r == '\r' || r == '\t' {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		if b.Len()+size > maxErrorBody {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// statusOf is the HTTP status behind err, or 0.
func statusOf(err error) int {
	var he *HTTPError
	if errors.As(err, &he) {
		return he.Status
	}
	return 0
}
