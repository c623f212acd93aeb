package search

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// decisions are the observable dialect choices for one engine.
type decisions struct {
	BulkAction     string // the action line for index op of id "x" into "i"
	MGetPath       string
	TrackTotalHits bool
	WrapsMappings  bool
	IndexQuery     string // of create-index and get-index
}

func decisionsOf(d *dialect) decisions {
	enc := d.bulkEncoder("i")
	body, _ := d.createIndexBody([]byte(`{"mappings":{"properties":{}}}`))
	return decisions{
		BulkAction:     lines(string(enc.appendItem(nil, &BulkItem{ID: "x", Doc: json.RawMessage(`{}`)})))[0],
		MGetPath:       d.mgetPath("i"),
		TrackTotalHits: d.trackTotalHits,
		WrapsMappings:  strings.Contains(string(body), `"_doc"`),
		IndexQuery:     d.indexQuery(),
	}
}

// TestDialectDecisions: what each detected version is sent. The real engines
// take exactly these (engines_test.go); this pins the choice per version,
// including versions the test stack does not run.
func TestDialectDecisions(t *testing.T) {
	typed := decisions{
		BulkAction:    `{"index":{"_index":"i","_type":"_doc","_id":"x"}}`,
		MGetPath:      "/i/_doc/_mget",
		WrapsMappings: true,
		IndexQuery:    "include_type_name=true",
	}
	typeless := decisions{
		BulkAction:     `{"index":{"_index":"i","_id":"x"}}`,
		MGetPath:       "/i/_mget",
		TrackTotalHits: true,
	}
	for _, tt := range []struct {
		engine Engine
		number string
		want   decisions
	}{
		{Elasticsearch, "6.8.23", typed},
		{Elasticsearch, "7.0.0", typeless},
		{Elasticsearch, "7.17.29", typeless},
		{Elasticsearch, "8.19.7", typeless},
		{OpenSearch, "1.3.20", typeless},
		{OpenSearch, "2.19.6", typeless},
	} {
		t.Run(string(tt.engine)+" "+tt.number, func(t *testing.T) {
			d, ok := newDialect(Info{Engine: tt.engine, Number: tt.number, Major: int(tt.number[0] - '0'), Minor: minorOf(tt.number)})
			if !ok {
				t.Fatal("unsupported")
			}
			if diff := cmp.Diff(tt.want, decisionsOf(&d)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func minorOf(number string) int {
	var major, minor int
	fmt.Sscanf(number, "%d.%d", &major, &minor)
	return minor
}

// TestInfoDetectsWhatTheStackDoesNotRun: GET / answers of engines the test
// stack does not run (written from the engines' documentation, see
// testdata/README.md); the four it runs are detected in engines_test.go.
func TestInfoDetectsWhatTheStackDoesNotRun(t *testing.T) {
	tests := []struct {
		fixture string
		want    Info
	}{
		{"opensearch-1.3.20.json", Info{Engine: OpenSearch, Number: "1.3.20", Major: 1, Minor: 3, ClusterName: "opensearch-cluster"}},
		// compatibility.override_main_response_version: true — a cluster
		// setting, not one to flip on a shared test engine
		{"opensearch-2.19.1-compat.json", Info{Engine: OpenSearch, Number: "7.10.2", Major: 7, Minor: 10, ClusterName: "indexsync"}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			c := newTestClient(t, newFakeEngine(t, tt.fixture), Config{})
			got, err := c.Info(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Info (-want +got):\n%s", diff)
			}
			if c.dialect.Load().docType != "" {
				t.Error("typed dialect for OpenSearch")
			}
		})
	}
}

func TestInfoRejectsUnsupportedVersions(t *testing.T) {
	tests := []struct {
		name string
		body []byte
		want string
	}{
		{"elasticsearch 5.6", fixture(t, "info/elasticsearch-5.6.16.json"), "is Elasticsearch 5.6.16, which indexsync does not support"},
		{"elasticsearch 6.5", fixture(t, "info/elasticsearch-6.5.4.json"), "is Elasticsearch 6.5.4"},
		{"elasticsearch 9", []byte(`{"version":{"number":"9.0.0"}}`), "is Elasticsearch 9.0.0"},
		{"opensearch 3", []byte(`{"version":{"distribution":"opensearch","number":"3.0.0"}}`), "is OpenSearch 3.0.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newFakeEngine(t, "").on("GET /", reply{status: 200, body: tt.body})
			c := newTestClient(t, e, Config{})
			_, err := c.Info(context.Background())
			if !errors.Is(err, ErrUnsupportedVersion) {
				t.Fatalf("got %v, want ErrUnsupportedVersion", err)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "http://engine.test:9200") {
				t.Errorf("got %q, want it to contain %q and the URL", err, tt.want)
			}
			if c.dialect.Load() != nil {
				t.Error("dialect set for an unsupported version")
			}
		})
	}
}

func TestInfoRejectsWhatIsNotASearchEngine(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"other JSON", `{"status":"UP"}`},
		{"version not a number", `{"version":{"number":"banana"}}`},
		{"HTML", "<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Corporate proxy</body></html>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newFakeEngine(t, "").on("GET /", jsonReply(200, tt.body))
			_, err := newTestClient(t, e, Config{}).Info(context.Background())
			var re *ResponseError
			if !errors.As(err, &re) {
				t.Fatalf("got %T %v, want *ResponseError", err, err)
			}
			if !strings.Contains(err.Error(), "not a search engine's JSON") {
				t.Errorf("message %q does not say what is wrong", err)
			}
		})
	}
}

func TestTotalHitsShapes(t *testing.T) {
	tests := []struct {
		name string
		json string
		want totalHits
	}{
		{"6.x number", `{"total":1234}`, totalHits{Value: 1234, Relation: "eq"}},
		{"7+ object", `{"total":{"value":1234,"relation":"eq"}}`, totalHits{Value: 1234, Relation: "eq"}},
		{"7+ lower bound", `{"total":{"value":10000,"relation":"gte"}}`, totalHits{Value: 10000, Relation: "gte"}},
		{"absent", `{}`, totalHits{}},
		{"null", `{"total":null}`, totalHits{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got struct {
				Total totalHits `json:"total"`
			}
			if err := json.Unmarshal([]byte(tt.json), &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got.Total); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	var bad struct {
		Total totalHits `json:"total"`
	}
	if err := json.Unmarshal([]byte(`{"total":"many"}`), &bad); err == nil {
		t.Error("a string total decoded without error")
	}
}

func mustDialect(t testing.TB, infoFixture string) *dialect {
	t.Helper()
	info, err := parseInfo(fixture(t, "info/"+infoFixture))
	if err != nil {
		t.Fatal(err)
	}
	d, ok := newDialect(info)
	if !ok {
		t.Fatalf("%s unsupported", info)
	}
	return &d
}

func TestCreateIndexBody(t *testing.T) {
	typeless := fixture(t, "index/user-index.json")
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(typeless, &doc); err != nil {
		t.Fatal(err)
	}
	typed, _ := json.Marshal(map[string]any{"settings": doc["settings"], "mappings": map[string]any{"_doc": doc["mappings"]}})
	// 7+ have no "standard" token filter: it is dropped from the analyzers
	typeless7 := bytes.Replace(typeless, []byte(`["lowercase", "standard"]`), []byte(`["lowercase"]`), 1)
	if bytes.Equal(typeless7, typeless) {
		t.Fatal("the fixture has no analyzer with the standard filter")
	}

	es6, es8 := mustDialect(t, "elasticsearch-6.8.23.json"), mustDialect(t, "elasticsearch-8.19.7.json")
	tests := []struct {
		name    string
		d       *dialect
		in      []byte
		want    []byte // compared as JSON values
		wantErr string
	}{
		{"6.8 wraps typeless mappings under _doc", es6, typeless, typed, ""},
		{"6.8 keeps typed mappings", es6, typed, typed, ""},
		{"8.x keeps typeless mappings, drops the standard filter", es8, typeless, typeless7, ""},
		{"8.x unwraps typed mappings, drops the standard filter", es8, typed, typeless7, ""},
		{"8.x: a filter named as a string", es8, []byte(`{"settings":{"analysis":{"analyzer":{"a":{"tokenizer":"standard","filter":"standard"}}}}}`), []byte(`{"settings":{"analysis":{"analyzer":{"a":{"tokenizer":"standard"}}}}}`), ""},
		{"no mappings", es6, []byte(`{"settings":{"number_of_shards":1}}`), []byte(`{"settings":{"number_of_shards":1}}`), ""},
		{"empty body", es6, nil, nil, ""},
		{"not JSON", es6, []byte(`{mappings`), nil, "index definition is not a JSON object"},
		{"mappings not an object", es6, []byte(`{"mappings":[1]}`), nil, "mappings is not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.d.createIndexBody(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(jsonValue(t, tt.want), jsonValue(t, got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func jsonValue(t *testing.T, b []byte) any {
	t.Helper()
	if b == nil {
		return nil
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
	return v
}

// TestReadWroteWithoutAnAck: a 201 to a read whose body is not the engine's
// acknowledgement (a proxy's) is still an error, and says what to look for.
// The engines' own 201s are in engines_test.go.
func TestReadWroteWithoutAnAck(t *testing.T) {
	e := newFakeEngine(t, "elasticsearch-8.19.7.json").on("GET /i/_count", jsonReply(201, `{"ok":true}`))
	_, err := newTestClient(t, e, Config{Retries: 3}).Count(context.Background(), "i")
	var rw *ReadWroteError
	if !errors.As(err, &rw) || rw.Deleted || !strings.Contains(err.Error(), "look for one named after the endpoint") {
		t.Errorf("got %v, want a ReadWroteError that says what to look for", err)
	}
	if n := len(e.requests("")); n != 1 { // no retry, no delete
		t.Errorf("%d requests, want 1", n)
	}
}
