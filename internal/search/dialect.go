package search

// Every difference between the engine versions lives in this file. Elsewhere
// the client asks the dialect; nothing else looks at version numbers.
//
//	                        ES 6.8            ES 7.x / 8.x, OpenSearch 1.x / 2.x
//	bulk action lines       "_type":"_doc"    no _type (8.x rejects it)
//	_mget path              /{i}/_doc/_mget   /{i}/_mget (the typed path is gone in 8.x)
//	create-index mappings   under "_doc"      typeless
//	"standard" token filter exists            removed in 7.0: dropped from analyzers
//	track_total_hits        not sent          true on the scan's search
//	include_type_name=true  on create-index   not sent (7.x warns, 8.x refuses it)
//	                        and get-index
//	hits.total              number            {"value":n,"relation":"eq"}
//	document URL            /{i}/_doc/{id} on every version: in 6.x "_doc" is the
//	                        type name Sunbird's indices use, in 7+ it is the typeless
//	                        endpoint.
//
// What a wrong guess costs, as the real engines answer (each row is provoked
// on the real server by a test of engines_test.go; README "Engines"):
//
//	bulk action without _type     6.8: the whole request refused, 400 "type is missing"
//	bulk action with _type        8.x, OpenSearch: the whole request refused, 400;
//	                              7.17: accepted with a deprecation Warning
//	typeless create-index         6.8: refused, 400 mapper_parsing_exception
//	POST /{i}/_doc/_mget|_search  8.x, OpenSearch: not an error but an index
//	                              request: a document "_mget" is created (201)
//	malformed JSON body           6.8: HTTP 500 json_parse_exception (7+: 400)
//	error type names              8.x: x_content_parse_exception,
//	                              document_parsing_exception (others:
//	                              json_parse_exception, mapper_parsing_exception)
//	X-Elastic-Product header      sent by 7.14+ and 8.x only: never relied on
//	create/get index without      6.8: a deprecation Warning on every call
//	include_type_name
//
// So the typed forms are used only after GET / said 6.x (ensureDialect), a
// read answered like a write is an error (readWrote), and a request the
// engine could not parse is not retried whatever its status (requestFault).
//
// OpenSearch speaks the Elasticsearch 7.10 API. With
// compatibility.override_main_response_version it reports 7.10.2 as its
// number; distribution still says "opensearch", so it is treated like 1.x/2.x.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Engine is the search engine's product.
type Engine string

// The engines we speak.
const (
	Elasticsearch Engine = "Elasticsearch"
	OpenSearch    Engine = "OpenSearch"
)

// Info is what GET / says about the engine.
type Info struct {
	Engine      Engine
	Number      string // as reported, e.g. "6.8.22", "2.19.1"
	Major       int
	Minor       int
	ClusterName string
}

func (i Info) String() string { return string(i.Engine) + " " + i.Number }

// rootResponse is the part of GET / we read.
type rootResponse struct {
	ClusterName string `json:"cluster_name"`
	Version     struct {
		Number       string `json:"number"`
		Distribution string `json:"distribution"`
	} `json:"version"`
}

// parseInfo reads a GET / body. A body without version.number is not from a
// search engine. The product is read from the body only: OpenSearch says
// version.distribution "opensearch", Elasticsearch has no distribution. The
// X-Elastic-Product header is not consulted: 6.8 and OpenSearch never send
// it, and a proxy can add or drop headers (go-elasticsearch refuses servers
// without it, which is why this client exists).
func parseInfo(body []byte) (Info, error) {
	var r rootResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return Info{}, err
	}
	if r.Version.Number == "" {
		return Info{}, fmt.Errorf("no version.number in the answer to GET /")
	}
	info := Info{Engine: Elasticsearch, Number: r.Version.Number, ClusterName: r.ClusterName}
	if strings.EqualFold(r.Version.Distribution, "opensearch") {
		info.Engine = OpenSearch
	}
	// "8.0.0-SNAPSHOT", "7.10.2": major and minor are enough for every decision.
	parts := strings.SplitN(r.Version.Number, ".", 3)
	var err error
	if info.Major, err = strconv.Atoi(parts[0]); err != nil {
		return Info{}, fmt.Errorf("version.number %q is not a version", r.Version.Number)
	}
	if len(parts) > 1 {
		minor, _, _ := strings.Cut(parts[1], "-")
		info.Minor, _ = strconv.Atoi(minor)
	}
	return info, nil
}

// dialect holds the decisions that differ between versions.
type dialect struct {
	info Info
	// docType is "_doc" where the engine still has mapping types (6.x) and ""
	// where it is typeless.
	docType string
	// trackTotalHits: the engine accepts track_total_hits and, without it,
	// may report a lower bound (7+ counts only up to 10,000 by default).
	trackTotalHits bool
	// standardFilter: the engine still has the "standard" token filter (a
	// no-op since 6.0) that Sunbird's cs_search_analyzer lists; 7.0 removed
	// it, and an analyzer naming it fails the whole create-index call.
	standardFilter bool
	// includeTypeName: 6.8 wants include_type_name said on create-index and
	// get-index calls (typed mappings either way) and otherwise puts a
	// deprecation warning on every answer.
	includeTypeName bool
}

// newDialect decides for a detected engine, or says it is unsupported.
func newDialect(info Info) (dialect, bool) {
	switch info.Engine {
	case OpenSearch:
		// 1.x, 2.x, and 7.10 when it pretends to be Elasticsearch.
		if info.Major == 1 || info.Major == 2 || (info.Major == 7 && info.Minor == 10) {
			return dialect{info: info, trackTotalHits: true}, true
		}
	case Elasticsearch:
		switch {
		case info.Major == 6 && info.Minor >= 8:
			return dialect{info: info, docType: "_doc", standardFilter: true, includeTypeName: true}, true
		case info.Major == 7 || info.Major == 8:
			return dialect{info: info, trackTotalHits: true}, true
		}
	}
	return dialect{}, false
}

// docPath is the URL of one document; the same on every supported version
// (see the table above), so it needs no dialect.
func docPath(index, id string) string {
	return "/" + url.PathEscape(index) + "/_doc/" + url.PathEscape(id)
}

// mgetPath: 6.x needs the type for the {"ids": […]} form; 8.x has no typed
// _mget endpoint and 7.x deprecates it.
func (d *dialect) mgetPath(index string) string {
	if d.docType != "" {
		return "/" + url.PathEscape(index) + "/" + d.docType + "/_mget"
	}
	return "/" + url.PathEscape(index) + "/_mget"
}

// indexQuery is the query of create-index and get-index calls.
func (d *dialect) indexQuery() string {
	if d.includeTypeName {
		return "include_type_name=true"
	}
	return ""
}

// createIndexBody adapts a create-index body to the engine: 6.x wants the
// mappings under the type name, 7+ wants them typeless, and 7+ has no
// "standard" token filter. Bodies written either way are accepted, so one
// definition serves every version. A top-level "mappings" with "_doc" as its
// only key is the typed form: typeless mappings have keys like "properties"
// and "dynamic", never "_doc".
func (d *dialect) createIndexBody(body []byte) ([]byte, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, fmt.Errorf("index definition is not a JSON object: %w", err)
	}
	changed := false
	if raw, ok := top["mappings"]; ok && string(raw) != "null" {
		var mappings map[string]json.RawMessage
		if err := json.Unmarshal(raw, &mappings); err != nil {
			return nil, fmt.Errorf("index definition: mappings is not a JSON object: %w", err)
		}
		typed, isTyped := mappings["_doc"]
		isTyped = isTyped && len(mappings) == 1
		switch {
		case d.docType != "" && !isTyped:
			top["mappings"], _ = json.Marshal(map[string]json.RawMessage{d.docType: raw})
			changed = true
		case d.docType == "" && isTyped:
			top["mappings"] = typed
			changed = true
		}
	}
	if raw, ok := top["settings"]; ok && !d.standardFilter {
		settings, dropped, err := dropStandardFilter(raw)
		if err != nil {
			return nil, fmt.Errorf("index definition: %w", err)
		}
		if dropped {
			top["settings"] = settings
			changed = true
		}
	}
	if !changed {
		return body, nil
	}
	return json.Marshal(top)
}

// dropStandardFilter removes "standard" from the token filters of every
// custom analyzer, under settings.analysis or settings.index.analysis.
func dropStandardFilter(raw json.RawMessage) (json.RawMessage, bool, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var settings map[string]any
	if err := dec.Decode(&settings); err != nil {
		return nil, false, fmt.Errorf("settings is not a JSON object: %w", err)
	}
	dropped := false
	for _, analysis := range []any{settings["analysis"], nested(settings["index"], "analysis")} {
		analyzers, _ := nested(analysis, "analyzer").(map[string]any)
		for _, a := range analyzers {
			a, ok := a.(map[string]any)
			if !ok {
				continue
			}
			switch f := a["filter"].(type) {
			case string:
				if f == "standard" {
					delete(a, "filter")
					dropped = true
				}
			case []any:
				kept := f[:0:0]
				for _, name := range f {
					if name != "standard" {
						kept = append(kept, name)
					}
				}
				if len(kept) != len(f) {
					a["filter"] = kept
					dropped = true
				}
			}
		}
	}
	if !dropped {
		return raw, false, nil
	}
	b, err := json.Marshal(settings)
	return b, true, err
}

func nested(v any, key string) any {
	if m, ok := v.(map[string]any); ok {
		return m[key]
	}
	return nil
}

// scanBody is the first search of ScanIDs: every document in index order
// (_doc, the cheapest sort), ids only.
func (d *dialect) scanBody(size int) []byte {
	b := []byte(`{"size":`)
	b = strconv.AppendInt(b, int64(size), 10)
	b = append(b, `,"sort":["_doc"],"_source":false`...)
	if d.trackTotalHits {
		b = append(b, `,"track_total_hits":true`...)
	}
	return append(b, '}')
}

// totalHits decodes hits.total in both shapes: a number (6.x, or 7+ with
// rest_total_hits_as_int) and {"value":n,"relation":"eq"|"gte"} (7+). It
// accepts both whatever the dialect, so a proxy or setting that changes the
// shape cannot break a scan.
type totalHits struct {
	Value    int64
	Relation string // "eq", or "gte" when Value is a lower bound
}

func (t *totalHits) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		return nil
	case b[0] == '{':
		var o struct {
			Value    int64  `json:"value"`
			Relation string `json:"relation"`
		}
		if err := json.Unmarshal(b, &o); err != nil {
			return err
		}
		t.Value, t.Relation = o.Value, o.Relation
		return nil
	}
	if err := json.Unmarshal(b, &t.Value); err != nil {
		return fmt.Errorf("hits.total: %w", err)
	}
	t.Relation = "eq"
	return nil
}

// requestFaultTypes are the error types an engine gives a request it could
// not parse, or a document it cannot map: the same bytes sent again get the
// same answer. Elasticsearch 6.8 answers a body that is not JSON with HTTP
// 500 (json_parse_exception, json_e_o_f_exception) where 7+ and OpenSearch
// say 400, so the status alone would have a 6.8 retry a malformed request
// --retries times; 8.x wraps the same faults as x_content_parse_exception /
// x_content_e_o_f_exception and calls a document it cannot map
// document_parsing_exception (6.8, 7.x, OpenSearch: mapper_parsing_exception).
var requestFaultTypes = map[string]bool{
	"json_parse_exception":                true,
	"json_e_o_f_exception":                true,
	"x_content_parse_exception":           true,
	"x_content_e_o_f_exception":           true,
	"not_x_content_exception":             true,
	"parsing_exception":                   true,
	"mapper_parsing_exception":            true,
	"document_parsing_exception":          true,
	"strict_dynamic_mapping_exception":    true,
	"illegal_argument_exception":          true,
	"action_request_validation_exception": true,
}

// requestFault reports whether e, or one of its causes, says the request
// itself is wrong (requestFaultTypes): never worth sending again.
func requestFault(e *engineError) bool {
	for depth := 0; e != nil && depth < 8; e, depth = e.CausedBy, depth+1 {
		if requestFaultTypes[e.Type] {
			return true
		}
	}
	return false
}

// writeAck is the answer to an index request: what 8.x and OpenSearch send
// back for POST /{i}/_doc/_mget or /{i}/_doc/_search, paths that are a
// document's URL there and not the read they are in 6.x.
type writeAck struct {
	Index       string `json:"_index"`
	ID          string `json:"_id"`
	Result      string `json:"result"` // "created" or "updated"
	SeqNo       *int64 `json:"_seq_no"`
	PrimaryTerm *int64 `json:"_primary_term"`
}

// readWrote recognises the answer of a read request that the engine took as
// a write: HTTP 201 (no read answers 201 on any engine), or a 200 whose body
// is a write acknowledgement (result "updated": a document of that name
// existed and was replaced). A document read (GET /{i}/_doc/{id}) also
// starts with "_index" but has no "result".
func readWrote(status int, body []byte) (writeAck, bool) {
	var ack writeAck
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if status == 201 {
		_ = json.Unmarshal(trimmed, &ack)
		return ack, true
	}
	if status != 200 || !bytes.HasPrefix(trimmed, []byte(`{"_index"`)) {
		return ack, false
	}
	if json.Unmarshal(trimmed, &ack) != nil {
		return ack, false
	}
	return ack, ack.Result == "created" || ack.Result == "updated"
}
