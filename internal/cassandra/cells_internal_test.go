package cassandra

import (
	"encoding/binary"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// collection encodes a list (pairs=false) or map of text the way the
// protocol does: a 4-byte count, then each value with a 4-byte length.
func collection(count int32, values ...string) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(count))
	for _, v := range values {
		b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
		b = append(b, v...)
	}
	return b
}

// TestCollectionCellsRefuseMalformedBytes: bytes that do not parse as a
// list<text>, map<text,text> or map<text,list<text>> are an error, never a panic or a huge
// allocation (a count of 2^31-1 in a few bytes), and never a partial value.
func TestCollectionCellsRefuseMalformedBytes(t *testing.T) {
	arena := new(textArena)
	list, m, lm := &textListCell{arena: arena}, &textMapCell{arena: arena}, &textListMapCell{arena: arena}
	if err := lm.UnmarshalCQL(nil, collection(1, "k", string(collection(2, "a", "b")))); err != nil || !cmp.Equal(lm.take(), any(map[string][]string{"k": {"a", "b"}})) {
		t.Errorf("a well-formed map of lists: err %v", err)
	}
	if err := list.UnmarshalCQL(nil, collection(2, "a", "é")); err != nil || !cmp.Equal(list.take(), any([]string{"a", "é"})) {
		t.Errorf("a well-formed list: err %v", err)
	}
	if err := m.UnmarshalCQL(nil, collection(1, "k", "v")); err != nil || !cmp.Equal(m.take(), any(map[string]string{"k": "v"})) {
		t.Errorf("a well-formed map: err %v", err)
	}
	for name, data := range map[string][]byte{
		"short count":       {0, 0, 1},
		"negative count":    collection(-1),
		"huge count":        collection(1<<31-1, "a"),
		"truncated element": collection(2, "a", "bc")[:14],
		"element too long":  append(collection(1), 0, 0, 0, 9, 'x'),
	} {
		if err := list.UnmarshalCQL(nil, data); err == nil {
			t.Errorf("list, %s: no error", name)
		}
		if v := list.take(); v != nil {
			t.Errorf("list, %s: value %v kept", name, v)
		}
		if err := m.UnmarshalCQL(nil, data); err == nil {
			t.Errorf("map, %s: no error", name)
		}
		if v := m.take(); v != nil {
			t.Errorf("map, %s: value %v kept", name, v)
		}
		if err := lm.UnmarshalCQL(nil, data); err == nil {
			t.Errorf("map of lists, %s: no error", name)
		}
		if err := lm.UnmarshalCQL(nil, collection(1, "k", string(data))); err == nil {
			t.Errorf("map of lists, %s in a value: no error", name)
		}
		if v := lm.take(); v != nil {
			t.Errorf("map of lists, %s: value %v kept", name, v)
		}
	}
}

// TestTextArenaCopies: strings from the arena keep their bytes when the
// buffer they were read from is reused, across chunks, and long values are
// their own allocation.
func TestTextArenaCopies(t *testing.T) {
	a := new(textArena)
	frame := make([]byte, 2*arenaMax)
	var got, want []string
	for i := range 3 * arenaChunk / 10 {
		n := i % 20
		if i%500 == 0 {
			n = arenaMax + 1
		}
		for j := range n {
			frame[j] = byte('a' + (i+j)%26)
		}
		want = append(want, string(frame[:n]))
		got = append(got, a.str(frame[:n]))
		clear(frame) // the driver reuses its buffer for the next row
	}
	if !cmp.Equal(got, want) {
		t.Error("arena strings changed after their source was reused")
	}
}
