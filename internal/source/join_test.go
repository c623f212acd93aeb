package source

import (
	"fmt"
	"slices"
	"testing"

	"github.com/indexsync/indexsync/internal/sunbird"
)

func childStream(rows ...tokRow) *peeker {
	ch := make(chan tokRow, len(rows))
	for _, r := range rows {
		ch <- r
	}
	close(ch)
	return &peeker{ch: ch}
}

func child(tok int64, key, name string) tokRow {
	return tokRow{tok: tok, key: key, row: sunbird.Values{Cols: []string{"userid", "name"}, Vals: []any{key, name}}}
}

// TestPeekerJoinsChildRowsToTheirUser walks users in token order against a
// child stream with orphans (rows of no user) before, between and after the
// users, and two users that share a token (ordered by key, as Cassandra
// orders them): each user gets exactly its own rows, in order.
func TestPeekerJoinsChildRowsToTheirUser(t *testing.T) {
	p := childStream(
		child(-50, "orphan-a", "o1"),
		child(10, "u1", "u1-a"), child(10, "u1", "u1-b"),
		child(20, "orphan-b", "o2"),
		child(30, "k1", "k1-a"), // k1 and k2 share token 30
		child(30, "k15", "orphan"),
		child(30, "k2", "k2-a"), child(30, "k2", "k2-b"),
		child(40, "u4", "u4-a"),
		child(90, "orphan-c", "o3"),
	)
	users := []struct {
		tok  int64
		key  string
		want []string
	}{
		{5, "u0", nil},
		{10, "u1", []string{"u1-a", "u1-b"}},
		{30, "k1", []string{"k1-a"}},
		{30, "k2", []string{"k2-a", "k2-b"}},
		{35, "u3", nil},
		{40, "u4", []string{"u4-a"}},
		{50, "u5", nil},
	}
	for _, u := range users {
		var got []string
		for _, r := range p.take(nil, u.tok, u.key) {
			got = append(got, fmt.Sprint(r.Row()["name"]))
		}
		if !slices.Equal(got, u.want) {
			t.Errorf("user %s (token %d): rows %q, want %q", u.key, u.tok, got, u.want)
		}
	}
	p.drain()
	if p.peek() != nil {
		t.Error("drain left rows in the stream")
	}
}
