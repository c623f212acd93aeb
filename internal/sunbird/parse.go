package sunbird

import (
	"encoding/json"
	"slices"
	"strings"
	"unicode/utf8"
)

// parseJSON decodes s as exactly one JSON value (surrounding whitespace
// allowed) into map[string]any, []any, json.Number, string, bool or nil, with
// the same result as an encoding/json Decoder with UseNumber. It exists
// because the JSON text columns are parsed for every user and the Decoder's
// setup costs more than the parsing; FuzzParseJSON holds the two equal.
func parseJSON(s string) (any, bool) {
	p := parser{s: s}
	p.space()
	v, ok := p.value(0)
	if !ok {
		return nil, false
	}
	p.space()
	if p.i != len(s) {
		return nil, false
	}
	return v, true
}

type parser struct {
	s string
	i int
}

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

func (p *parser) space() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) value(depth int) (any, bool) {
	if p.i >= len(p.s) {
		return nil, false
	}
	switch c := p.s[p.i]; {
	case c == '{':
		return p.object(depth + 1)
	case c == '[':
		return p.array(depth + 1)
	case c == '"':
		return p.str()
	case c == '-' || isDigit(c):
		return p.number()
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	}
	return nil, false
}

func (p *parser) literal(lit string) bool {
	if len(p.s)-p.i >= len(lit) && p.s[p.i:p.i+len(lit)] == lit {
		p.i += len(lit)
		return true
	}
	return false
}

func (p *parser) object(depth int) (any, bool) {
	if depth > maxDepth {
		return nil, false
	}
	p.i++ // {
	m := make(map[string]any)
	p.space()
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		return m, true
	}
	for {
		if p.i >= len(p.s) || p.s[p.i] != '"' {
			return nil, false
		}
		k, ok := p.str()
		if !ok {
			return nil, false
		}
		p.space()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return nil, false
		}
		p.i++
		p.space()
		v, ok := p.value(depth)
		if !ok {
			return nil, false
		}
		m[k.(string)] = v
		p.space()
		if p.i >= len(p.s) {
			return nil, false
		}
		switch p.s[p.i] {
		case ',':
			p.i++
			p.space()
		case '}':
			p.i++
			return m, true
		default:
			return nil, false
		}
	}
}

func (p *parser) array(depth int) (any, bool) {
	if depth > maxDepth {
		return nil, false
	}
	p.i++ // [
	a := []any{}
	p.space()
	if p.i < len(p.s) && p.s[p.i] == ']' {
		p.i++
		return a, true
	}
	for {
		v, ok := p.value(depth)
		if !ok {
			return nil, false
		}
		a = append(a, v)
		p.space()
		if p.i >= len(p.s) {
			return nil, false
		}
		switch p.s[p.i] {
		case ',':
			p.i++
			p.space()
		case ']':
			p.i++
			return a, true
		default:
			return nil, false
		}
	}
}

// str reads a string. Plain strings (no escapes, valid UTF-8) are sliced out
// directly; the rest go through encoding/json so escapes, surrogates and bad
// UTF-8 are handled exactly as the standard decoder does.
func (p *parser) str() (any, bool) {
	s, ok := p.text()
	if !ok {
		return nil, false
	}
	return s, true
}

// text is str without boxing the string.
func (p *parser) text() (string, bool) {
	start := p.i
	p.i++ // "
	plain := true
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			if plain {
				return p.s[start+1 : p.i-1], true
			}
			var out string
			if err := json.Unmarshal([]byte(p.s[start:p.i]), &out); err != nil {
				return "", false
			}
			return out, true
		case c == '\\':
			plain = false
			p.i += 2 // the escaped byte cannot end the string
		case c < 0x20:
			return "", false
		case c < utf8.RuneSelf:
			p.i++
		default:
			r, size := utf8.DecodeRuneInString(p.s[p.i:])
			if r == utf8.RuneError && size == 1 {
				plain = false
			}
			p.i += size
		}
	}
	return "", false
}

func (p *parser) number() (any, bool) {
	start := p.i
	if p.s[p.i] == '-' {
		p.i++
	}
	switch {
	case p.i < len(p.s) && p.s[p.i] == '0':
		p.i++
	case p.i < len(p.s) && '1' <= p.s[p.i] && p.s[p.i] <= '9':
		p.digits()
	default:
		return nil, false
	}
	if p.i < len(p.s) && p.s[p.i] == '.' {
		p.i++
		if !p.digits() {
			return nil, false
		}
	}
	if p.i < len(p.s) && (p.s[p.i] == 'e' || p.s[p.i] == 'E') {
		p.i++
		if p.i < len(p.s) && (p.s[p.i] == '+' || p.s[p.i] == '-') {
			p.i++
		}
		if !p.digits() {
			return nil, false
		}
	}
	return json.Number(p.s[start:p.i]), true
}

// digits skips one or more digits and reports whether there was one.
func (p *parser) digits() bool {
	start := p.i
	for p.i < len(p.s) && isDigit(p.s[p.i]) {
		p.i++
	}
	return p.i > start
}

// appendCanonical appends the canonical JSON (see the package doc) of the
// JSON text s when s is exactly one value whose first byte is open ('[' or
// '{'): the bytes encoding parseJSON(s) would give, without building the
// value. Otherwise it returns b unchanged and false. The user documents'
// JSON text columns are written this way by the Appender.
func appendCanonical(b []byte, s string, open byte, e *encoder) ([]byte, bool) {
	p := parser{s: s}
	p.space()
	if p.i >= len(s) || s[p.i] != open {
		return b, false
	}
	start := len(b)
	b, ok := p.write(b, 0, e)
	if p.space(); !ok || p.i != len(s) {
		return b[:start], false
	}
	return b, true
}

// member is one member of an object being written: its key and where it
// sits in the output, from the start of the object's first member.
type member struct {
	key        string
	start, end int
}

// write is value, writing the canonical form instead of building the value.
func (p *parser) write(b []byte, depth int, e *encoder) ([]byte, bool) {
	if p.i >= len(p.s) {
		return b, false
	}
	switch c := p.s[p.i]; {
	case c == '{':
		return p.writeObject(b, depth+1, e)
	case c == '[':
		return p.writeArray(b, depth+1, e)
	case c == '"':
		s, ok := p.text()
		return AppendString(b, s), ok
	case c == '-' || isDigit(c):
		start := p.i
		if _, ok := p.number(); !ok {
			return b, false
		}
		return append(b, p.s[start:p.i]...), true
	case c == 't':
		return append(b, "true"...), p.literal("true")
	case c == 'f':
		return append(b, "false"...), p.literal("false")
	case c == 'n':
		return append(b, "null"...), p.literal("null")
	}
	return b, false
}

func (p *parser) writeArray(b []byte, depth int, e *encoder) ([]byte, bool) {
	if depth > maxDepth {
		return b, false
	}
	p.i++ // [
	b = append(b, '[')
	p.space()
	if p.i < len(p.s) && p.s[p.i] == ']' {
		p.i++
		return append(b, ']'), true
	}
	for {
		var ok bool
		if b, ok = p.write(b, depth, e); !ok {
			return b, false
		}
		p.space()
		if p.i >= len(p.s) {
			return b, false
		}
		switch p.s[p.i] {
		case ',':
			p.i++
			p.space()
			b = append(b, ',')
		case ']':
			p.i++
			return append(b, ']'), true
		default:
			return b, false
		}
	}
}

// writeObject writes the members as they come, then puts them in key order
// (the last of equal keys wins, as in a map) when they were not.
func (p *parser) writeObject(b []byte, depth int, e *encoder) ([]byte, bool) {
	if depth > maxDepth {
		return b, false
	}
	p.i++ // {
	b = append(b, '{')
	p.space()
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		return append(b, '}'), true
	}
	base := len(b)
	mark := len(e.members)
	defer func() { clear(e.members[mark:]); e.members = e.members[:mark] }()
	inOrder := true
	for {
		if p.i >= len(p.s) || p.s[p.i] != '"' {
			return b, false
		}
		k, ok := p.text()
		if !ok {
			return b, false
		}
		p.space()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return b, false
		}
		p.i++
		p.space()
		if n := len(e.members); n > mark && k <= e.members[n-1].key {
			inOrder = false
		}
		m := member{key: k, start: len(b) - base}
		b = AppendString(b, k)
		b = append(b, ':')
		if b, ok = p.write(b, depth, e); !ok {
			return b, false
		}
		m.end = len(b) - base
		e.members = append(e.members, m)
		p.space()
		if p.i >= len(p.s) {
			return b, false
		}
		switch p.s[p.i] {
		case ',':
			p.i++
			p.space()
			b = append(b, ',')
		case '}':
			p.i++
			if !inOrder {
				b = e.reorder(b, base, e.members[mark:])
			}
			return append(b, '}'), true
		default:
			return b, false
		}
	}
}

// reorder rewrites the members written from b[base:] in key order, keeping
// the last of equal keys.
func (e *encoder) reorder(b []byte, base int, ms []member) []byte {
	e.scratch = append(e.scratch[:0], b[base:]...)
	b = b[:base]
	slices.SortStableFunc(ms, func(x, y member) int { return strings.Compare(x.key, y.key) })
	for i, m := range ms {
		if i+1 < len(ms) && ms[i+1].key == m.key {
			continue // a later member of the same key replaces it
		}
		if len(b) > base {
			b = append(b, ',')
		}
		b = append(b, e.scratch[m.start:m.end]...)
	}
	return b
}
