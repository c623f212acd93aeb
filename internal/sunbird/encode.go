package sunbird

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Encode returns the document's canonical JSON: keys sorted, no whitespace,
// strings escaped as encoding/json does by default (see the package doc).
func (d Document) Encode() ([]byte, error) {
	return d.AppendJSON(make([]byte, 0, 2048))
}

// AppendJSON appends the document's canonical JSON to dst, so a bulk writer
// can build its request body without a copy per document.
func (d Document) AppendJSON(dst []byte) ([]byte, error) {
	e := encoders.Get().(*encoder)
	defer encoders.Put(e)
	return e.value(dst, map[string]any(d))
}

// MarshalJSON makes json.Marshal(d) give the same bytes as d.Encode().
func (d Document) MarshalJSON() ([]byte, error) {
	return d.Encode()
}

// Canonical re-encodes one JSON value (for instance a document's _source as
// the search engine returns it) with the same rule as Encode, so documents
// from either side can be compared as bytes. Numbers keep their digits.
func Canonical(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decode document: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("decode document: data after the JSON value")
	}
	var e encoder
	return e.value(make([]byte, 0, len(raw)), v)
}

// encoder holds stacks of object keys (and fields) shared by all nesting
// levels, so sorting keys allocates nothing once the stacks have grown.
type encoder struct {
	keys   []string
	fields []field
	// orders remembers the sorted keys of large objects by their number of
	// keys: documents of one type mostly have the same keys, so the next one
	// is checked against that order (a lookup per key) instead of sorted.
	orders map[int][]string
	// members and scratch are appendCanonical's: the members of the
	// objects being written, and a copy of one object's while reordering.
	members []member
	scratch []byte
}

// Objects with at least orderMin keys use the remembered orders; at most
// ordersMax sizes are remembered.
const (
	orderMin  = 16
	ordersMax = 16
)

// field is one member of a map[string]any; sorting these saves a map lookup
// per member.
type field struct {
	k string
	v any
}

var encoders = sync.Pool{New: func() any { return new(encoder) }}

// sortedKeys pushes m's keys onto the stack, sorted, and returns them with
// the stack length to restore with e.keys = e.keys[:mark] when done.
func sortedKeys[V any](e *encoder, m map[string]V) (keys []string, mark int) {
	mark = len(e.keys)
	for k := range m {
		e.keys = append(e.keys, k)
	}
	keys = e.keys[mark:]
	slices.Sort(keys)
	return keys, mark
}

// value writes v as encoding/json would, without reflection for the types
// documents are made of.
func (e *encoder) value(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return AppendString(b, x), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int8:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int16:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int32:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case uint:
		return strconv.AppendUint(b, uint64(x), 10), nil
	case uint8:
		return strconv.AppendUint(b, uint64(x), 10), nil
	case uint16:
		return strconv.AppendUint(b, uint64(x), 10), nil
	case uint32:
		return strconv.AppendUint(b, uint64(x), 10), nil
	case uint64:
		return strconv.AppendUint(b, x, 10), nil
	case float64:
		return appendFloat(b, x, 64)
	case float32:
		return appendFloat(b, float64(x), 32)
	case json.Number:
		return appendNumber(b, x)
	case map[string]any:
		return e.object(b, x)
	case Document:
		return e.object(b, x)
	case []any:
		if x == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i, el := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = e.value(b, el); err != nil {
				return b, fmt.Errorf("[%d]: %w", i, err)
			}
		}
		return append(b, ']'), nil
	case []string:
		return appendStrings(b, x), nil
	case map[string]string:
		if x == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '{')
		keys, mark := sortedKeys(e, x)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendString(b, k)
			b = append(b, ':')
			b = AppendString(b, x[k])
		}
		clear(e.keys[mark:])
		e.keys = e.keys[:mark]
		return append(b, '}'), nil
	case map[string][]string:
		if x == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '{')
		keys, mark := sortedKeys(e, x)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendString(b, k)
			b = append(b, ':')
			b = appendStrings(b, x[k])
		}
		clear(e.keys[mark:])
		e.keys = e.keys[:mark]
		return append(b, '}'), nil
	}
	// Anything else (other driver types): encoding/json itself, which also
	// sorts map keys and escapes HTML, so the rule still holds.
	j, err := json.Marshal(v)
	if err != nil {
		return b, err
	}
	return append(b, j...), nil
}

func (e *encoder) object(b []byte, m map[string]any) ([]byte, error) {
	if m == nil {
		return append(b, "null"...), nil
	}
	b = append(b, '{')
	mark := len(e.fields)
	fields := e.fieldsInOrder(m)
	for i, f := range fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendString(b, f.k)
		b = append(b, ':')
		var err error
		if b, err = e.value(b, f.v); err != nil {
			clear(e.fields[mark:])
			e.fields = e.fields[:mark]
			return b, fmt.Errorf("field %q: %w", f.k, err)
		}
	}
	clear(e.fields[mark:]) // keep no document values alive in the pool
	e.fields = e.fields[:mark]
	return append(b, '}'), nil
}

// fieldsInOrder pushes m's members onto e.fields sorted by key and returns
// them. A large object whose keys are those of the remembered order for its
// size is laid out by that order without sorting.
func (e *encoder) fieldsInOrder(m map[string]any) []field {
	mark := len(e.fields)
	if len(m) >= orderMin {
		if order, ok := e.orders[len(m)]; ok {
			for _, k := range order {
				v, ok := m[k]
				if !ok {
					break
				}
				e.fields = append(e.fields, field{k, v})
			}
			if len(e.fields)-mark == len(m) {
				return e.fields[mark:] // same size, every key present: the same keys
			}
			clear(e.fields[mark:])
			e.fields = e.fields[:mark]
		}
	}
	for k, v := range m {
		e.fields = append(e.fields, field{k, v})
	}
	fields := e.fields[mark:]
	slices.SortFunc(fields, func(a, b field) int { return strings.Compare(a.k, b.k) })
	if len(m) >= orderMin {
		if e.orders == nil || len(e.orders) >= ordersMax {
			e.orders = make(map[int][]string)
		}
		order := make([]string, len(fields))
		for i, f := range fields {
			order[i] = f.k
		}
		e.orders[len(m)] = order
	}
	return fields
}

func appendStrings(b []byte, l []string) []byte {
	if l == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendString(b, s)
	}
	return append(b, ']')
}

// appendFloat formats like encoding/json: ES6 number-to-string, with
// exponent form only below 1e-6 or from 1e21.
func appendFloat(b []byte, f float64, bits int) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, fmt.Errorf("unsupported number %v", f)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) ||
			bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	b = strconv.AppendFloat(b, f, format, -1, bits)
	if format == 'e' {
		// e-09 → e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}

func appendNumber(b []byte, n json.Number) ([]byte, error) {
	if n == "" {
		return append(b, '0'), nil // as encoding/json
	}
	if !validNumber(string(n)) {
		return b, fmt.Errorf("invalid number literal %q", string(n))
	}
	return append(b, n...), nil
}

// validNumber reports whether s is a JSON number (RFC 8259 §6).
func validNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i == len(s) || !isDigit(s[i]) {
			return false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i == len(s) || !isDigit(s[i]) {
			return false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	return i == len(s)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

const hexDigits = "0123456789abcdef"

// plain marks the ASCII bytes a JSON string carries as they are.
var plain = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// plain8 reports whether the 8 bytes of s are all plain (ASCII, printable,
// none of " \ < > &), testing them as one word.
func plain8(s string) bool {
	w := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	// a byte of x is zero (or x has a byte ≥ 0x80 borrowing): the classic
	// "has zero byte" test, exact when no byte of w is ≥ 0x80
	zero := func(x uint64) uint64 { return (x - ones) & ^x & highs }
	return w&highs == 0 && // ASCII only
		(w-0x20*ones)&highs == 0 && // no control character (< 0x20)
		zero(w^('"'*ones))|zero(w^('\\'*ones))|zero(w^('<'*ones))|zero(w^('>'*ones))|zero(w^('&'*ones)) == 0
}

// AppendString appends s as a JSON string with encoding/json's default
// escaping, without allocating — the one JSON string escaper of indexsync
// (documents, bulk action lines): control characters, '"', '\\', '<', '>', '&', U+2028 and U+2029
// escaped; invalid UTF-8 replaced by U+FFFD.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		// eight plain ASCII bytes at a time: most of a document's text
		for i+8 <= len(s) && plain8(s[i:i+8]) {
			i += 8
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if plain[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
