package cassandra_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/indexsync/indexsync/internal/cassandra"
	"github.com/indexsync/indexsync/internal/testenv"
)

// TestCellsDecodeAsTheDriver writes every column type Sunbird's tables use,
// with nulls, empty values, empty collections, negative and far timestamps
// and non-ASCII text, into a real table, and reads the rows back with the
// row decoder's own cells and with the driver's decoding they replace: the
// rows must be equal, value for value and type for type. It also reads the
// seeded Sunbird tables both ways.
func TestCellsDecodeAsTheDriver(t *testing.T) {
	f := testenv.NewFixture(t, 300, 10, 12)
	ctx := context.Background()
	ddl := `CREATE TABLE ` + f.Keyspace + `.cells (id text PRIMARY KEY, t text, a ascii, v varchar, i int, b bigint,
		o boolean, d double, ts timestamp, l list<text>, s set<text>, m map<text,text>, fl map<text, frozen<list<text>>>)`
	if err := f.Session.Exec(ctx, ddl); err != nil {
		t.Fatal(err)
	}
	inserts := []string{
		`INSERT INTO %s.cells (id, t, a, v, i, b, o, d, ts, l, s, m, fl) VALUES ('full', 'é ü 漢字 "q" \n', 'ascii', 'v', -7, 9007199254740993, true, -0.125,
			'2024-02-29 23:59:59.999+0000', ['x', '', 'ÿ'], {'b', 'a'}, {'k': 'v', 'é': ''}, {'fw': ['1', '2'], 'none': []})`,
		`INSERT INTO %s.cells (id) VALUES ('nulls')`,
		`INSERT INTO %s.cells (id, t, a, v, l, s, m, fl) VALUES ('empty', '', '', '', [], {}, {}, {})`,
		`INSERT INTO %s.cells (id, i, b, o, d, ts) VALUES ('edges', 2147483647, -9223372036854775808, false, 1e300, '1901-12-13 20:45:52.001+0000')`,
		`INSERT INTO %s.cells (id, ts) VALUES ('epoch', 0)`,
		`INSERT INTO %s.cells (id, ts) VALUES ('before', -1)`,
	}
	for _, ins := range inserts {
		if err := f.Session.Exec(ctx, strings.ReplaceAll(ins, "%s", f.Keyspace)); err != nil {
			t.Fatalf("%s: %v", ins, err)
		}
	}
	for _, stmt := range []string{
		"SELECT * FROM " + f.Keyspace + ".cells",
		"SELECT * FROM " + f.Keyspace + ".user",
		"SELECT * FROM " + f.Keyspace + ".user_organisation",
		"SELECT * FROM " + f.Keyspace + ".user_roles",
		"SELECT * FROM " + f.Keyspace + ".organisation",
		"SELECT * FROM " + f.Keyspace + ".location",
	} {
		cells, driver, err := cassandra.RowsBothWays(ctx, f.Session, stmt)
		if err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
		if len(cells) == 0 {
			t.Fatalf("%s: no rows", stmt)
		}
		if d := cmp.Diff(driver, cells); d != "" {
			t.Errorf("%s: the cells decode differently from the driver (-driver +cells):\n%s", stmt, d)
		}
	}
	// The types themselves, not only equality: a typo in a decoder that the
	// driver's path shares would hide there.
	cells, _, err := cassandra.RowsBothWays(ctx, f.Session, "SELECT * FROM "+f.Keyspace+".cells WHERE id = 'full'")
	if err != nil || len(cells) != 1 {
		t.Fatalf("read the full row: %v (%d rows)", err, len(cells))
	}
	full := cells[0]
	want := cassandra.Row{"t": `é ü 漢字 "q" \n`, "i": -7, "b": int64(9007199254740993), "o": true, "d": -0.125,
		"l": []string{"x", "", "ÿ"}, "s": []string{"a", "b"}, "m": map[string]string{"k": "v", "é": ""}}
	for k, v := range want {
		if d := cmp.Diff(v, full[k]); d != "" {
			t.Errorf("column %s (-want +got):\n%s", k, d)
		}
	}
	if ts := full["ts"]; ts == nil || ts.(interface{ UnixMilli() int64 }).UnixMilli() != 1709251199999 {
		t.Errorf("column ts = %v, want 2024-02-29T23:59:59.999Z", ts)
	}
}
