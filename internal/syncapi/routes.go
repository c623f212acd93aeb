package syncapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/indexsync/indexsync/internal/idsfile"
	"github.com/indexsync/indexsync/internal/sunbird"
)

// Routes of the service.
const (
	RouteSync        = "/v1/data/sync"
	RouteGatewaySync = "/api/data/v1/index/sync"
)

// Handler returns the routes of the service's main address: the Sync API
// and a /health that answers only healthy or not (200 or 503), for load
// balancers and probes. What the checks found, /metrics and the status
// page are on AdminHandler, which serve binds to --admin-listen (loopback
// by default): they tell anyone who can reach them how the backends fail.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	sync := s.wrap(RouteSync, s.handleSync)
	mux.Handle("POST "+RouteSync, sync)
	mux.Handle("POST "+RouteGatewaySync, s.wrap(RouteGatewaySync, s.handleSync))
	mux.Handle(RouteSync, s.wrap(RouteSync, methodNotAllowed))
	mux.Handle(RouteGatewaySync, s.wrap(RouteGatewaySync, methodNotAllowed))
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) { s.handleHealth(w, r, false) })
	return mux
}

// AdminHandler returns the operator's routes: /health with each check's
// finding, /metrics and the status page.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) { s.handleHealth(w, r, true) })
	if g := s.cfg.Gatherer; g != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	}
	mux.HandleFunc("GET /{$}", s.handleStatus)
	return mux
}

// wrap turns a handler returning a result or an apiError into one that
// writes the Sunbird envelope, with the right status, and counts the call.
func (s *Server) wrap(route string, h func(w http.ResponseWriter, r *http.Request) (map[string]any, *apiError)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		msgID := requestID(r)
		result, aerr := h(w, r)
		status := http.StatusOK
		if aerr != nil {
			status = aerr.status
		}
		body, err := json.Marshal(newEnvelope(msgID, s.now(), result, aerr))
		if err != nil {
			status = http.StatusInternalServerError
			body = []byte(`{"id":"api.data.sync","ver":"v1","responseCode":"SERVER_ERROR","result":{}}`)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-ID", msgID)
		w.WriteHeader(status)
		_, _ = w.Write(body)
		s.metrics.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
		s.metrics.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request) (map[string]any, *apiError) {
	w.Header().Set("Allow", "POST")
	return nil, &apiError{status: http.StatusMethodNotAllowed, code: "CLIENT_ERROR", err: "METHOD_NOT_ALLOWED",
		msg: fmt.Sprintf("method %s is not allowed on %s: use POST", r.Method, r.URL.Path)}
}

// syncRequest is the body of a Sync API call. Fields are kept raw so each
// can be checked with its own clear error.
type syncRequest struct {
	Params  json.RawMessage `json:"params"`
	Request json.RawMessage `json:"request"`
}

type requestFields struct {
	ObjectType    json.RawMessage `json:"objectType"`
	ObjectIDs     json.RawMessage `json:"objectIds"`
	OperationType json.RawMessage `json:"operationType"`
	OperationFor  json.RawMessage `json:"operationFor"`
}

// parsed is a validated call.
type parsed struct {
	kind sunbird.Kind
	ids  []string // checked, de-duplicated
	sync bool
}

// Sunbird's own answers to a malformed call (docs/sunbird.md, the Sync API).
var (
	errNotJSON = clientError("UOS_0061", "Mandatory header parameter Content-Type with value application/json is missing.")
	// errRequestNotObject: Sunbird's code; the message is its
	// INVALID_REQUESTED_DATA text.
	errRequestNotObject = clientError("UOS_0028", "Requested data for this operation is not valid.")
	errNoObjectType     = clientError("UOS_0003", "Data type of {0} should be {1}.")
	errBadObjectType    = clientError("UOS_0072", "Invalid Object Type.")
)

func (s *Server) parse(w http.ResponseWriter, r *http.Request) (parsed, *apiError) {
	var p parsed
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return p, errNotJSON
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return p, &apiError{status: http.StatusRequestEntityTooLarge, code: "CLIENT_ERROR", err: "REQUEST_TOO_LARGE",
				msg: fmt.Sprintf("request body is larger than %d bytes: send fewer ids per call", s.cfg.MaxBody)}
		}
		return p, clientError("INVALID_REQUEST", "could not read the request body: "+err.Error())
	}
	var req syncRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return p, errNotJSON
	}
	if isNull(req.Request) {
		return p, errNoObjectType
	}
	var f requestFields
	if t := bytes.TrimSpace(req.Request); t[0] != '{' || json.Unmarshal(t, &f) != nil {
		return p, errRequestNotObject
	}
	if isNull(f.ObjectType) {
		return p, errNoObjectType
	}
	var objectType string
	if err := json.Unmarshal(f.ObjectType, &objectType); err != nil {
		return p, errBadObjectType
	}
	var ok bool
	if p.kind, ok = sunbird.KindNamed(objectType); !ok {
		return p, errBadObjectType
	}
	if !isNull(f.ObjectIDs) {
		var raw []json.RawMessage
		if err := json.Unmarshal(f.ObjectIDs, &raw); err != nil {
			return p, clientError("INVALID_OBJECT_IDS", "objectIds must be a list of strings")
		}
		if s.cfg.MaxIDs > 0 && len(raw) > s.cfg.MaxIDs {
			return p, clientError("TOO_MANY_IDS", fmt.Sprintf("%d objectIds in one call; the limit is %d: split them into smaller blocks", len(raw), s.cfg.MaxIDs))
		}
		ids := make([]string, len(raw))
		for i, v := range raw {
			if err := json.Unmarshal(v, &ids[i]); err != nil || isNull(v) {
				return p, clientError("INVALID_OBJECT_IDS", fmt.Sprintf("objectIds[%d] is %s, not a string: objectIds must be a list of strings", i, truncate(string(v), 40)))
			}
			if err := idsfile.Check(ids[i]); err != nil {
				// the id is not echoed: it may be megabytes
				return p, clientError("INVALID_OBJECT_IDS", fmt.Sprintf("objectIds[%d]: %v", i, err))
			}
		}
		p.ids = dedupe(ids)
	}
	if !isNull(f.OperationType) {
		var op string
		if err := json.Unmarshal(f.OperationType, &op); err != nil {
			return p, clientError("INVALID_OPERATION_TYPE", `operationType must be the string "sync" or absent`)
		}
		p.sync = strings.EqualFold(op, "sync") // Sunbird compares ignoring case
	}
	return p, nil
}

// dedupe drops repeats, keeping the first order: a call's ids are indexed
// once each. Ids are not trimmed: they are data, and " u1" is not the
// Cassandra key "u1" (the same rule as run and verify, idsfile.Check).
func dedupe(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, id)
	}
	return out
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func (s *Server) handleSync(w http.ResponseWriter, r *http.Request) (map[string]any, *apiError) {
	if err := s.auth(r); err != nil {
		return nil, &apiError{status: http.StatusUnauthorized, code: "UNAUTHORIZED", err: "UNAUTHORIZED", msg: err.Error()}
	}
	p, aerr := s.parse(w, r)
	if aerr != nil {
		return nil, aerr
	}
	if !p.sync {
		if len(p.ids) > 0 {
			full, err := s.enqueue(p.kind.Name, p.ids)
			if full {
				s.count(p.kind.Name, "background", "refused", len(p.ids))
				// the queue drains hundreds to thousands of ids a second:
				// a call of a block fits again within a second or so
				w.Header().Set("Retry-After", "1")
				return nil, &apiError{status: http.StatusServiceUnavailable, code: "SERVICE_UNAVAILABLE", err: "QUEUE_FULL",
					msg: fmt.Sprintf("the indexing queue is full (%d of %d ids waiting): retry this call later", s.queue.Len(), s.cfg.QueueSize)}
			}
			if err != nil {
				s.count(p.kind.Name, "background", "refused", len(p.ids))
				s.log.Error("could not save ids to the queue's journal; the call is refused", "objectType", p.kind.Name, "ids", len(p.ids), "err", err)
				w.Header().Set("Retry-After", "10") // a disk problem is not over in a second
				return nil, &apiError{status: http.StatusServiceUnavailable, code: "SERVICE_UNAVAILABLE", err: "QUEUE_UNAVAILABLE",
					msg: "the ids could not be saved to disk (is the state directory full?): retry this call later"}
			}
		}
		s.count(p.kind.Name, "background", "queued", len(p.ids))
		return map[string]any{"response": "SUCCESS"}, nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.SyncTimeout)
	defer cancel()
	es := map[string]bool{}
	for start := 0; start < len(p.ids); start += s.cfg.BatchSize {
		part := p.ids[start:min(start+s.cfg.BatchSize, len(p.ids))]
		got, _, err := s.indexBatch(ctx, "sync", p.kind, part)
		if err != nil {
			if ctx.Err() != nil && r.Context().Err() == nil {
				return nil, &apiError{status: http.StatusInternalServerError, code: "SERVER_ERROR", err: "SYNC_TIMEOUT",
					msg: fmt.Sprintf("indexing did not finish within %s; some ids may be indexed: send the block again", s.cfg.SyncTimeout)}
			}
			return nil, &apiError{status: http.StatusServiceUnavailable, code: "SERVICE_UNAVAILABLE", err: "BACKEND_UNAVAILABLE",
				msg: "could not index: " + err.Error() + "; retry later"}
		}
		for id, ok := range got {
			es[id] = ok
		}
	}
	return syncResult(p.kind, p.ids, es), nil
}

// syncResult is a sync-mode answer as Sunbird gives it, and as its callers
// read it: "response", esSyncResponse (absent when no ids were sent), and
// each failed user id as "<id>": false at the top level of result. We also
// keep the failed ids in esSyncResponse (as false) for every object type,
// where Sunbird leaves them out: a caller reading only esSyncResponse still
// sees each id's outcome. An id named "response" or "esSyncResponse" is
// kept out of the top level, which it would overwrite.
func syncResult(kind sunbird.Kind, ids []string, es map[string]bool) map[string]any {
	result := map[string]any{"response": "SUCCESS"}
	if len(ids) == 0 {
		return result
	}
	result["esSyncResponse"] = es
	if kind.Name != sunbird.UserKind.Name {
		return result
	}
	for id, ok := range es {
		if !ok && id != "response" && id != "esSyncResponse" {
			result[id] = false
		}
	}
	return result
}

// HealthTimeout bounds each health check; the checks run at once, so one
// backend that hangs is reported as such and does not starve the others.
const HealthTimeout = 3 * time.Second

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request, detail bool) {
	type finding struct{ name, result string }
	found := make(chan finding, len(s.cfg.Health))
	for name, check := range s.cfg.Health {
		go func() {
			ctx, cancel := context.WithTimeout(r.Context(), HealthTimeout)
			defer cancel()
			err := check(ctx)
			switch {
			case err == nil:
				found <- finding{name, "ok"}
			case ctx.Err() == context.DeadlineExceeded:
				found <- finding{name, fmt.Sprintf("no answer within %s", HealthTimeout)}
			default:
				found <- finding{name, err.Error()}
			}
		}()
	}
	checks := map[string]string{}
	for name := range s.cfg.Health {
		checks[name] = fmt.Sprintf("no answer within %s", HealthTimeout) // until it answers
	}
	late := time.NewTimer(HealthTimeout + time.Second) // a check that ignores its deadline
	defer late.Stop()
collect:
	for range s.cfg.Health {
		select {
		case f := <-found:
			checks[f.name] = f.result
		case <-late.C:
			break collect
		}
	}
	healthy := true
	for _, result := range checks {
		if result != "ok" {
			healthy = false
		}
	}
	status := http.StatusOK
	if !healthy {
		status = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	answer := map[string]any{"healthy": healthy}
	if detail {
		answer["checks"], answer["queueDepth"], answer["journalIds"] = checks, s.queue.Len(), s.journal.Pending()
	}
	_ = json.NewEncoder(w).Encode(answer)
}

var statusPage = template.Must(template.New("status").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>indexsync serve</title>
<style>body{font-family:sans-serif;margin:2em}td{padding:2px 12px}</style></head>
<body><h1>indexsync Sync API</h1>
<table>
<tr><td>version</td><td>{{.Version}}</td></tr>
<tr><td>up since</td><td>{{.Started}}</td></tr>
<tr><td>queue</td><td>{{.Queue}} of {{.Capacity}} ids waiting</td></tr>
<tr><td>workers</td><td>{{.Workers}}</td></tr>
</table>
<p>The Sync API takes POST <code>/v1/data/sync</code> or <code>/api/data/v1/index/sync</code> on its main address; here: <a href="/health">/health</a>, <a href="/metrics">/metrics</a>.</p>
</body></html>
`))

func (s *Server) handleStatus(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = statusPage.Execute(w, map[string]any{
		"Version": s.cfg.Version, "Started": s.started.UTC().Format(time.RFC3339),
		"Queue": s.queue.Len(), "Capacity": s.cfg.QueueSize, "Workers": s.cfg.Workers,
	})
}
