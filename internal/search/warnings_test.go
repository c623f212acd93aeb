package search

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestWarningText(t *testing.T) {
	for in, want := range map[string]string{
		`299 Elasticsearch-7.17.29-580aff1 "[types removal] Specifying types in bulk requests is deprecated."`:    "[types removal] Specifying types in bulk requests is deprecated.",
		`299 Elasticsearch-6.8.23-4f67856 "a \"quoted\" word and a \\ backslash" "Mon, 01 Jan 2024 00:00:00 GMT"`: `a "quoted" word and a \ backslash`,
		`299 opensearch "unterminated`: `299 opensearch "unterminated`,
		`  no quotes at all `:          "no quotes at all",
	} {
		if got := warningText(in); got != want {
			t.Errorf("warningText(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestWarningKindsAreBounded: an engine (or proxy) that sends a new text
// with every answer fills at most maxWarningKinds lines, then says once that
// it stops. No real engine does this on demand (engines_test.go has the real
// warnings), hence the fake.
func TestWarningKindsAreBounded(t *testing.T) {
	e := newFakeEngine(t, "elasticsearch-7.17.29.json")
	for i := range maxWarningKinds + 10 {
		e.on("GET /i/_count", reply{status: 200, header: map[string]string{"Warning": fmt.Sprintf(`299 Elasticsearch-7.17.29 "warning number %d"`, i)},
			body: []byte(`{"count":1,"_shards":{"total":1,"failed":0}}`)})
	}
	var logs bytes.Buffer
	c := newTestClient(t, e, Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for range maxWarningKinds + 10 {
		if _, err := c.Count(context.Background(), "i"); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != maxWarningKinds+1 || !strings.Contains(lines[len(lines)-1], "they are not logged") {
		t.Errorf("%d log lines, want %d and a last one saying the rest are not logged:\n%s", len(lines), maxWarningKinds+1, logs.String())
	}
}
