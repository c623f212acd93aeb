package testenv

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// SunbirdField is one row of a field table in docs/sunbird-indexes.md.
type SunbirdField struct {
	Path string   // dotted: "organisations.orgName"
	Def  FieldDef // the field itself
	Raw  *FieldDef
}

// FieldDef is a field definition as the table writes it: "text
// cs_index_analyzer/cs_search_analyzer fielddata copy_to all_fields",
// "keyword", "text keylower".
type FieldDef struct {
	Type           string
	Analyzer       string
	SearchAnalyzer string
	Fielddata      bool
	CopyTo         string
}

// SunbirdIndex is one index of docs/sunbird-indexes.md.
type SunbirdIndex struct {
	Name           string // userv3, orgv3, location
	MinGram        int
	MaxGram        int
	Fields         []SunbirdField
	fieldsByPath   map[string]SunbirdField
	nestedPrefixes []string
}

// Field returns the row of a path.
func (ix SunbirdIndex) Field(path string) (SunbirdField, bool) {
	f, ok := ix.fieldsByPath[path]
	return f, ok
}

// NestedPath returns the nested object a field lies in ("roles.scope"), or "".
func (ix SunbirdIndex) NestedPath(path string) string {
	for _, p := range ix.nestedPrefixes {
		if strings.HasPrefix(path, p+".") {
			return p
		}
	}
	return ""
}

// SunbirdIndexes reads the field tables of docs/sunbird-indexes.md, keyed by
// object type (user, organisation, location).
func SunbirdIndexes(t testing.TB) map[string]SunbirdIndex {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(file), "..", "..", "docs", "sunbird-indexes.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out, err := parseSunbirdIndexes(string(b))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return out
}

func parseSunbirdIndexes(doc string) (map[string]SunbirdIndex, error) {
	objectTypes := map[string]string{"userv3": "user", "orgv3": "organisation", "location": "location"}
	out := map[string]SunbirdIndex{}
	for _, sec := range strings.Split(doc, "\n## ")[1:] {
		name, body, _ := strings.Cut(sec, "\n")
		name = strings.TrimSpace(name)
		ot, ok := objectTypes[name]
		if !ok {
			continue
		}
		ix := SunbirdIndex{Name: name, fieldsByPath: map[string]SunbirdField{}}
		for _, line := range strings.Split(body, "\n") {
			if strings.HasPrefix(line, "- filter `mynGram`") {
				if _, err := fmt.Sscanf(line[strings.Index(line, "min_gram="):], "min_gram=%d", &ix.MinGram); err != nil {
					return nil, fmt.Errorf("%s: %q: %w", name, line, err)
				}
				if _, err := fmt.Sscanf(line[strings.Index(line, "max_gram="):], "max_gram=%d", &ix.MaxGram); err != nil {
					return nil, fmt.Errorf("%s: %q: %w", name, line, err)
				}
			}
			if !strings.HasPrefix(line, "| `") {
				continue
			}
			cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
			if len(cells) != 4 {
				return nil, fmt.Errorf("%s: %q: want 4 cells", name, line)
			}
			f := SunbirdField{Path: strings.Trim(strings.TrimSpace(cells[0]), "`")}
			var err error
			if f.Def, err = parseFieldDef(cells[1]); err != nil {
				return nil, fmt.Errorf("%s %s: %w", name, f.Path, err)
			}
			if raw := strings.TrimSpace(cells[2]); raw != "" {
				d, err := parseFieldDef(raw)
				if err != nil {
					return nil, fmt.Errorf("%s %s.raw: %w", name, f.Path, err)
				}
				f.Raw = &d
			}
			if strings.TrimSpace(cells[3]) != "" {
				return nil, fmt.Errorf("%s %s: other sub-fields are not supported", name, f.Path)
			}
			if f.Def.Type == "nested" {
				ix.nestedPrefixes = append(ix.nestedPrefixes, f.Path)
			}
			ix.Fields = append(ix.Fields, f)
			ix.fieldsByPath[f.Path] = f
		}
		if len(ix.Fields) == 0 || ix.MaxGram == 0 {
			return nil, fmt.Errorf("%s: no fields or no mynGram filter found", name)
		}
		out[ot] = ix
	}
	if len(out) != 3 {
		return nil, fmt.Errorf("found %d of the 3 index tables", len(out))
	}
	return out, nil
}

func parseFieldDef(s string) (FieldDef, error) {
	toks := strings.Fields(s)
	if len(toks) == 0 {
		return FieldDef{}, fmt.Errorf("empty definition")
	}
	d := FieldDef{Type: toks[0]}
	for i := 1; i < len(toks); i++ {
		switch t := toks[i]; {
		case strings.Contains(t, "/"):
			d.Analyzer, d.SearchAnalyzer, _ = strings.Cut(t, "/")
		case t == "keylower":
			d.Analyzer = "keylower"
		case t == "fielddata":
			d.Fielddata = true
		case t == "copy_to" && i+1 < len(toks):
			d.CopyTo = toks[i+1]
			i++
		default:
			return FieldDef{}, fmt.Errorf("unknown word %q in %q", t, s)
		}
	}
	return d, nil
}

func (d FieldDef) mapping() map[string]any {
	m := map[string]any{"type": d.Type}
	if d.Analyzer != "" {
		m["analyzer"] = d.Analyzer
	}
	if d.SearchAnalyzer != "" {
		m["search_analyzer"] = d.SearchAnalyzer
	}
	if d.Fielddata {
		m["fielddata"] = true
	}
	if d.CopyTo != "" {
		m["copy_to"] = d.CopyTo
	}
	return m
}

// Body returns a create-index body as Sunbird's deployment would make the
// index (the table's fields, its analyzers), with the given shards and
// replicas and the mappings typed under "_doc" like Sunbird's 6.8 files (the
// search client adapts them to the engine). extra fields are merged into the
// top-level properties; extraAnalysis into settings.analysis.analyzer.
func (ix SunbirdIndex) Body(shards, replicas int, extra map[string]any, extraAnalyzers map[string]any) []byte {
	props := map[string]any{}
	for _, f := range ix.Fields {
		parts := strings.Split(f.Path, ".")
		node := props
		for _, p := range parts[:len(parts)-1] {
			parent := node[p].(map[string]any)
			sub, ok := parent["properties"].(map[string]any)
			if !ok {
				sub = map[string]any{}
				parent["properties"] = sub
			}
			node = sub
		}
		m := f.Def.mapping()
		if f.Raw != nil {
			m["fields"] = map[string]any{"raw": f.Raw.mapping()}
		}
		node[parts[len(parts)-1]] = m
	}
	for k, v := range extra {
		props[k] = v
	}
	analyzers := map[string]any{
		"cs_index_analyzer":  map[string]any{"type": "custom", "tokenizer": "standard", "filter": []string{"lowercase", "mynGram"}},
		"cs_search_analyzer": map[string]any{"type": "custom", "tokenizer": "standard", "filter": []string{"lowercase", "standard"}},
		"keylower":           map[string]any{"type": "custom", "tokenizer": "keyword", "filter": "lowercase"},
	}
	for k, v := range extraAnalyzers {
		analyzers[k] = v
	}
	body := map[string]any{
		"settings": map[string]any{
			"index": map[string]any{"number_of_shards": shards, "number_of_replicas": replicas, "max_ngram_diff": ix.MaxGram - ix.MinGram},
			"analysis": map[string]any{
				"filter": map[string]any{"mynGram": map[string]any{
					"type": "ngram", "min_gram": ix.MinGram, "max_gram": ix.MaxGram,
					"token_chars": []string{"letter", "digit", "whitespace", "punctuation", "symbol"},
				}},
				"analyzer": analyzers,
			},
		},
		"mappings": map[string]any{"_doc": map[string]any{"dynamic": false, "properties": props}},
	}
	b, err := json.Marshal(body)
	if err != nil {
		panic(err)
	}
	return b
}
