package search

import (
	"log/slog"
	"strings"
	"sync"
)

// maxWarningKinds bounds how many different warning texts are remembered
// (and logged); past it one line says that more are not logged.
const maxWarningKinds = 32

// warnings logs the engine's deprecation warnings once per text.
// Elasticsearch 7.x and 8.x put a Warning header (RFC 7234, code 299) on
// every answer to a deprecated request, and a bulk load sends thousands of
// them: logged per request they would bury everything else.
type warnings struct {
	log  *slog.Logger
	mu   sync.Mutex
	seen map[string]bool
	full bool
}

// note logs the texts of the Warning header values not seen before.
func (w *warnings) note(r *request, node string, values []string) {
	if w.log == nil || len(values) == 0 {
		return
	}
	for _, v := range values {
		text := warningText(v)
		w.mu.Lock()
		if w.seen == nil {
			w.seen = map[string]bool{}
		}
		first, overflow := false, false
		switch {
		case w.seen[text]:
		case len(w.seen) < maxWarningKinds:
			w.seen[text], first = true, true
		case !w.full:
			w.full, overflow = true, true
		}
		w.mu.Unlock()
		switch {
		case first:
			w.log.Warn("the search engine sent a deprecation warning (each kind is logged once)",
				"warning", text, "request", r.method+" "+r.path, "node", node)
		case overflow:
			w.log.Warn("the search engine sent more kinds of deprecation warnings; they are not logged", "kinds", maxWarningKinds)
		}
	}
}

// warningText is the warn-text of one Warning header value,
// `299 Elasticsearch-7.17.29-580aff1 "[types removal] Specifying types in bulk requests is deprecated."`
// (a quoted-string with \" and \\ escapes, maybe followed by a date), or the
// whole value when it is not in that form.
func warningText(v string) string {
	start := strings.IndexByte(v, '"')
	if start < 0 {
		return strings.TrimSpace(v)
	}
	var b strings.Builder
	for i := start + 1; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			if i+1 < len(v) {
				i++
				b.WriteByte(v[i])
			}
		case '"':
			return b.String()
		default:
			b.WriteByte(c)
		}
	}
	return strings.TrimSpace(v)
}
