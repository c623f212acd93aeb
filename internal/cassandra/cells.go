package cassandra

import (
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"time"
	"unsafe"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// cell is a scan destination that decodes one column's bytes itself
// (gocql calls UnmarshalCQL before any reflection) and hands the value over
// once. Decoding Sunbird's columns this way instead of through the driver's
// reflective Unmarshal took about a third off row decoding, which is a fifth
// of a sync's own CPU. Values and null handling are the driver's: the tests
// compare both on every type.
type cell interface {
	gocql.Unmarshaler
	take() any // the value just scanned (nil for null), and reset
}

// fastCell returns a cell for the column types Sunbird's tables use, or nil
// for the others (which go through the driver's reflection). Text is copied
// into arena, which the cells of one decoder share.
func fastCell(ti gocql.TypeInfo, arena *textArena) cell {
	switch ti.Type() {
	case gocql.TypeVarchar, gocql.TypeText, gocql.TypeAscii:
		return &textCell{arena: arena}
	case gocql.TypeInt:
		return &scalarCell{size: 4, decode: func(b []byte) any { return int(int32(binary.BigEndian.Uint32(b))) }}
	case gocql.TypeBigInt:
		return &scalarCell{size: 8, decode: func(b []byte) any { return int64(binary.BigEndian.Uint64(b)) }}
	case gocql.TypeBoolean:
		return &scalarCell{size: 1, decode: func(b []byte) any { return b[0] != 0 }}
	case gocql.TypeDouble:
		return &scalarCell{size: 8, decode: func(b []byte) any { return math.Float64frombits(binary.BigEndian.Uint64(b)) }}
	case gocql.TypeTimestamp:
		return &scalarCell{size: 8, decode: func(b []byte) any {
			ms := int64(binary.BigEndian.Uint64(b))
			sec := ms / 1000
			return time.Unix(sec, (ms-sec*1000)*int64(time.Millisecond)).In(time.UTC)
		}}
	case gocql.TypeList, gocql.TypeSet:
		if c, ok := ti.(gocql.CollectionType); ok && isText(c.Elem) {
			return &textListCell{arena: arena}
		}
	case gocql.TypeMap:
		if c, ok := ti.(gocql.CollectionType); ok && isText(c.Key) && isText(c.Elem) {
			return &textMapCell{arena: arena}
		}
		if c, ok := ti.(gocql.CollectionType); ok && isText(c.Key) && isTextList(c.Elem) {
			return &textListMapCell{arena: arena}
		}
	}
	return nil
}

func isText(ti gocql.TypeInfo) bool {
	if ti == nil {
		return false
	}
	switch ti.Type() {
	case gocql.TypeVarchar, gocql.TypeText, gocql.TypeAscii:
		return true
	}
	return false
}

// isTextList reports whether ti is list<text> (frozen or not: the type
// info does not tell, and the bytes are the same).
func isTextList(ti gocql.TypeInfo) bool {
	c, ok := ti.(gocql.CollectionType)
	return ok && ti.Type() == gocql.TypeList && isText(c.Elem)
}

// textArena copies the text of many values into shared chunks, one
// allocation for hundreds of strings instead of one each (a user row holds
// some forty). A chunk lives as long as any string in it; strings are never
// written to once made.
type textArena struct {
	buf []byte
	n   int64 // bytes of text taken, for page sizing
}

// Sizes: a chunk, and the longest value that goes into one (a longer one
// gets its own allocation, so no chunk is kept alive by a huge value's
// neighbour, nor the other way round).
const (
	arenaChunk = 16 << 10
	arenaMax   = 1 << 10
)

// str returns b's bytes as a string that does not share b's memory (the
// driver reuses its frame buffer for the next row).
func (a *textArena) str(b []byte) string {
	if a == nil {
		return string(b)
	}
	a.n += int64(len(b))
	if len(b) == 0 || len(b) > arenaMax {
		return string(b)
	}
	if len(a.buf)+len(b) > cap(a.buf) {
		a.buf = make([]byte, 0, arenaChunk)
	}
	start := len(a.buf)
	a.buf = append(a.buf, b...)
	return unsafe.String(&a.buf[start], len(b))
}

// textCell holds a text value.
type textCell struct {
	v     any
	arena *textArena
}

func (c *textCell) UnmarshalCQL(_ gocql.TypeInfo, data []byte) error {
	if data == nil {
		c.v = nil
	} else {
		c.v = c.arena.str(data)
	}
	return nil
}

func (c *textCell) take() any { v := c.v; c.v = nil; return v }

// scalarCell holds a fixed-size value; other sizes are left to the driver,
// which says what is wrong with them.
type scalarCell struct {
	size   int
	decode func([]byte) any
	v      any
}

func (c *scalarCell) UnmarshalCQL(info gocql.TypeInfo, data []byte) error {
	switch {
	case data == nil:
		c.v = nil
	case len(data) == c.size:
		c.v = c.decode(data)
	default:
		p := reflect.New(reflect.TypeOf(info.Zero())) // *T, as the driver fills it
		if err := gocql.Unmarshal(info, data, p.Interface()); err != nil {
			return err
		}
		c.v = p.Elem().Interface()
	}
	return nil
}

func (c *scalarCell) take() any { v := c.v; c.v = nil; return v }

// textListCell holds a list<text> or set<text>: nil when null or empty.
type textListCell struct {
	v     []string
	arena *textArena
}

func (c *textListCell) UnmarshalCQL(_ gocql.TypeInfo, data []byte) error {
	c.v = nil
	if len(data) == 0 {
		return nil
	}
	out, err := textList(data, c.arena)
	if err != nil {
		return err
	}
	if len(out) > 0 {
		c.v = out
	}
	return nil
}

// textList decodes the bytes of a list<text>: empty (not nil) for no
// elements, as the driver decodes a list inside a map.
func textList(data []byte, arena *textArena) ([]string, error) {
	n, rest, ok := readSize(data)
	if !ok || n < 0 || n > len(rest)/4 { // each element takes at least its 4-byte length
		return nil, malformed("list<text>", data)
	}
	out := make([]string, n)
	for i := range out {
		var s []byte
		if s, rest, ok = readValue(rest); !ok {
			return nil, malformed("list<text>", data)
		}
		out[i] = arena.str(s)
	}
	return out, nil
}

func (c *textListCell) take() any { return takeCollection(&c.v) }

// textMapCell holds a map<text,text>: nil when null or empty.
type textMapCell struct {
	v     map[string]string
	arena *textArena
}

func (c *textMapCell) UnmarshalCQL(_ gocql.TypeInfo, data []byte) error {
	m, err := textMap(data, "map<text,text>", c.arena, func(v []byte) (string, error) { return c.arena.str(v), nil })
	c.v = m
	return err
}

// textMap decodes the bytes of a map with text keys, each value by value:
// nil when null or empty, and on error.
func textMap[V any](data []byte, typ string, arena *textArena, value func([]byte) (V, error)) (map[string]V, error) {
	if len(data) == 0 {
		return nil, nil
	}
	n, rest, ok := readSize(data)
	if !ok || n < 0 || n > len(rest)/8 { // a key and a value, each at least a 4-byte length
		return nil, malformed(typ, data)
	}
	if n == 0 {
		return nil, nil
	}
	out := make(map[string]V, n)
	for range n {
		var k, v []byte
		if k, rest, ok = readValue(rest); !ok {
			return nil, malformed(typ, data)
		}
		if v, rest, ok = readValue(rest); !ok {
			return nil, malformed(typ, data)
		}
		val, err := value(v)
		if err != nil {
			return nil, err
		}
		out[arena.str(k)] = val
	}
	return out, nil
}

// textListMapCell holds a map<text, frozen<list<text>>> (Sunbird's
// framework and keys): nil when null or empty.
type textListMapCell struct {
	v     map[string][]string
	arena *textArena
}

func (c *textListMapCell) UnmarshalCQL(_ gocql.TypeInfo, data []byte) error {
	m, err := textMap(data, "map<text,list<text>>", c.arena, func(v []byte) ([]string, error) {
		if v == nil {
			return nil, nil
		}
		return textList(v, c.arena)
	})
	c.v = m
	return err
}

func (c *textListMapCell) take() any { return takeCollection(&c.v) }

// malformed is the error for collection bytes that do not parse (Cassandra
// never sends them; a proxy or a bug in between might).
func malformed(typ string, data []byte) error {
	return fmt.Errorf("unmarshal %s: malformed value of %d bytes", typ, len(data))
}

func (c *textMapCell) take() any { return takeCollection(&c.v) }

// takeCollection returns *p (nil when empty, as the driver's null) and
// resets it.
func takeCollection[T []string | map[string]string | map[string][]string](p *T) any {
	v := *p
	var zero T
	*p = zero
	if len(v) == 0 {
		return nil
	}
	return v
}

// readSize reads a collection's 4-byte count or element length.
func readSize(b []byte) (n int, rest []byte, ok bool) {
	if len(b) < 4 {
		return 0, b, false
	}
	return int(int32(binary.BigEndian.Uint32(b))), b[4:], true
}

// readValue reads one length-prefixed element; a null element (length -1)
// reads as empty, as the driver decodes it into a string.
func readValue(b []byte) (v, rest []byte, ok bool) {
	n, rest, ok := readSize(b)
	if !ok {
		return nil, b, false
	}
	if n < 0 {
		return nil, rest, true
	}
	if len(rest) < n {
		return nil, b, false
	}
	return rest[:n], rest[n:], true
}
