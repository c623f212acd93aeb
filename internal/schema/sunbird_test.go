package schema_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/indexsync/indexsync/internal/schema"
	"github.com/indexsync/indexsync/internal/search"
	"github.com/indexsync/indexsync/internal/testenv"
)

// TestBuiltinMatchesSunbird creates our three indexes on the real engine the
// way `indexsync schema` does and checks what the engine made against the
// field tables of docs/sunbird-indexes.md: every field with its type,
// analyzers and raw sub-field, no field the table lacks, and the analysis
// settings. Sunbird's services filter and sort only on <field>.raw, so a
// missing raw sub-field breaks its searches without any error at write time.
func TestBuiltinMatchesSunbird(t *testing.T) {
	url := testenv.SearchURL(t)
	ctx := context.Background()
	c, err := search.NewClient(search.Config{URLs: []string{url}, Retries: 2})
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tables := testenv.SunbirdIndexes(t)
	for _, ix := range []schema.Index{schema.UserIndex, schema.OrganisationIndex, schema.LocationIndex} {
		t.Run(ix.ObjectType, func(t *testing.T) {
			want := tables[ix.ObjectType]
			if !strings.HasPrefix(ix.NewName(time.Now()), want.Name+"_") {
				t.Errorf("new %s indexes are named %s, want %s_<ts> after Sunbird's %s", ix.ObjectType, ix.NewName(time.Now()), want.Name, want.Name)
			}
			alias := testenv.Name("it_schema_" + ix.ObjectType)
			body, err := ix.Body(1, 0)
			if err != nil {
				t.Fatal(err)
			}
			got, err := schema.EnsureIndex(ctx, c, ix, alias, body, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.DeleteIndex(context.Background(), got.Index) })
			def, err := c.GetIndexDefinition(ctx, got.Index)
			if err != nil {
				t.Fatal(err)
			}
			var mapping mappingNode
			if err := json.Unmarshal(def.Mappings, &mapping); err != nil {
				t.Fatal(err)
			}
			if string(mapping.Dynamic) != "false" && string(mapping.Dynamic) != `"false"` {
				t.Errorf("dynamic = %s, want false", mapping.Dynamic)
			}
			fields := map[string]mappingNode{}
			flatten("", mapping.Properties, fields)
			raws, checked := 0, 0
			for _, f := range want.Fields {
				m, ok := fields[f.Path]
				if !ok {
					t.Errorf("%s: missing", f.Path)
					continue
				}
				delete(fields, f.Path)
				checked++
				if d := m.differs(f.Def); d != "" {
					t.Errorf("%s: %s", f.Path, d)
				}
				rawGot, hasRaw := m.Fields["raw"]
				switch {
				case f.Raw == nil && hasRaw:
					t.Errorf("%s: has a raw sub-field that Sunbird's does not", f.Path)
				case f.Raw != nil && !hasRaw:
					t.Errorf("%s: no raw sub-field: Sunbird filters and sorts on %s.raw", f.Path, f.Path)
				case f.Raw != nil:
					raws++
					if d := rawGot.differs(*f.Raw); d != "" {
						t.Errorf("%s.raw: %s", f.Path, d)
					}
				}
			}
			for path := range fields {
				t.Errorf("%s: not in Sunbird's %s", path, want.Name)
			}
			checkAnalysis(t, def, want, info)
			t.Logf("%s on %s: %d fields and %d raw sub-fields of Sunbird's %s checked, index %s",
				ix.ObjectType, info, checked, raws, want.Name, got.Index)
		})
	}
}

// mappingNode is a field of a mapping as the engine reports it.
type mappingNode struct {
	Type           string                 `json:"type"`
	Analyzer       string                 `json:"analyzer"`
	SearchAnalyzer string                 `json:"search_analyzer"`
	Fielddata      bool                   `json:"fielddata"`
	CopyTo         json.RawMessage        `json:"copy_to"`
	Dynamic        json.RawMessage        `json:"dynamic"`
	Fields         map[string]mappingNode `json:"fields"`
	Properties     map[string]mappingNode `json:"properties"`
}

func flatten(prefix string, props map[string]mappingNode, out map[string]mappingNode) {
	for name, n := range props {
		out[prefix+name] = n
		flatten(prefix+name+".", n.Properties, out)
	}
}

// differs compares with a table definition. The engine leaves out what is a
// default: "type":"object" on an object with properties, a search_analyzer
// equal to the analyzer.
func (n mappingNode) differs(want testenv.FieldDef) string {
	typ := n.Type
	if typ == "" && n.Properties != nil {
		typ = "object"
	}
	search := n.SearchAnalyzer
	if search == "" {
		search = n.Analyzer
	}
	wantSearch := want.SearchAnalyzer
	if wantSearch == "" {
		wantSearch = want.Analyzer
	}
	var copyTo []string
	if len(n.CopyTo) > 0 {
		if err := json.Unmarshal(n.CopyTo, &copyTo); err != nil {
			var one string
			_ = json.Unmarshal(n.CopyTo, &one)
			copyTo = []string{one}
		}
	}
	var wantCopy []string
	if want.CopyTo != "" {
		wantCopy = []string{want.CopyTo}
	}
	var d []string
	if typ != want.Type {
		d = append(d, fmt.Sprintf("type %q, want %q", typ, want.Type))
	}
	if n.Analyzer != want.Analyzer {
		d = append(d, fmt.Sprintf("analyzer %q, want %q", n.Analyzer, want.Analyzer))
	}
	if search != wantSearch {
		d = append(d, fmt.Sprintf("search_analyzer %q, want %q", search, wantSearch))
	}
	if n.Fielddata != want.Fielddata {
		d = append(d, fmt.Sprintf("fielddata %v, want %v", n.Fielddata, want.Fielddata))
	}
	if !slices.Equal(copyTo, wantCopy) {
		d = append(d, fmt.Sprintf("copy_to %v, want %v", copyTo, wantCopy))
	}
	return strings.Join(d, "; ")
}

// checkAnalysis compares the analysis settings with the table's: the mynGram
// filter and the three analyzers (cs_search_analyzer's "standard" filter only
// where the engine still has it).
func checkAnalysis(t *testing.T, def search.IndexDefinition, want testenv.SunbirdIndex, info search.Info) {
	t.Helper()
	raw, _ := json.Marshal(def.Settings["analysis"])
	var a struct {
		Filter   map[string]map[string]any `json:"filter"`
		Analyzer map[string]struct {
			Type      string `json:"type"`
			Tokenizer string `json:"tokenizer"`
			Filter    any    `json:"filter"`
		} `json:"analyzer"`
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatal(err)
	}
	ng := a.Filter["mynGram"]
	if fmt.Sprint(ng["type"]) != "ngram" || fmt.Sprint(ng["min_gram"]) != fmt.Sprint(want.MinGram) || fmt.Sprint(ng["max_gram"]) != fmt.Sprint(want.MaxGram) {
		t.Errorf("mynGram filter %v, want ngram %d–%d", ng, want.MinGram, want.MaxGram)
	}
	standard := info.Engine == search.Elasticsearch && info.Major == 6
	wantSearchFilters := []string{"lowercase"}
	if standard {
		wantSearchFilters = append(wantSearchFilters, "standard")
	}
	for name, w := range map[string]struct {
		tokenizer string
		filters   []string
	}{
		"cs_index_analyzer":  {"standard", []string{"lowercase", "mynGram"}},
		"cs_search_analyzer": {"standard", wantSearchFilters},
		"keylower":           {"keyword", []string{"lowercase"}},
	} {
		got, ok := a.Analyzer[name]
		if !ok {
			t.Errorf("analyzer %s missing", name)
			continue
		}
		var filters []string
		switch f := got.Filter.(type) {
		case string:
			filters = []string{f}
		case []any:
			for _, x := range f {
				filters = append(filters, fmt.Sprint(x))
			}
		}
		if got.Type != "custom" || got.Tokenizer != w.tokenizer || !slices.Equal(filters, w.filters) {
			t.Errorf("analyzer %s = %+v, want custom, tokenizer %s, filters %v", name, got, w.tokenizer, w.filters)
		}
	}
	var names []string
	for n := range a.Analyzer {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) != 3 {
		t.Errorf("analyzers %v, want exactly Sunbird's three", names)
	}
}
