package cassandra

import (
	"reflect"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// Row is one row read by a Scanner: lower-case column name → value, nil for
// null. Values are string, int, int64, bool, time.Time, float64, []string,
// map[string]string, map[string][]string, or what the driver gives for other
// CQL types.
type Row map[string]any

// rowDecoder scans rows of one result set into Rows, telling null from empty
// for scalars (which the driver's MapScan cannot).
type rowDecoder struct {
	names []string
	dests []any
	read  []func() any // returns the value just scanned and resets the holder
	arena *textArena   // the text cells' chunks; counts the bytes they take
}

func newRowDecoder(cols []gocql.ColumnInfo) *rowDecoder {
	return newRowDecoderWith(cols, fastCell)
}

// newRowDecoderWith decodes with the cells fast returns, and the driver's
// reflection for the columns it returns nil for.
func newRowDecoderWith(cols []gocql.ColumnInfo, fast func(gocql.TypeInfo, *textArena) cell) *rowDecoder {
	d := &rowDecoder{}
	arena := new(textArena)
	d.arena = arena
	for _, c := range cols {
		if fc := fast(c.TypeInfo, arena); fc != nil {
			d.names = append(d.names, c.Name)
			d.dests = append(d.dests, fc)
			d.read = append(d.read, fc.take)
			continue
		}
		dest, read := holder(c.TypeInfo)
		d.names = append(d.names, c.Name)
		d.dests = append(d.dests, dest)
		d.read = append(d.read, read)
	}
	return d
}

// values returns the row just scanned as a new slice, in the order of names.
func (d *rowDecoder) values() []any {
	vals := make([]any, len(d.names))
	for i := range vals {
		vals[i] = d.read[i]()
	}
	return vals
}

// scan reads the next row into a new Row; false at the end or on error.
func (d *rowDecoder) scan(sc gocql.Scanner) (Row, error) {
	if err := sc.Scan(d.dests...); err != nil {
		return nil, err
	}
	r := make(Row, len(d.names))
	for i, n := range d.names {
		r[n] = d.read[i]()
	}
	return r, nil
}

// holder returns a scan destination for a column type and a function that
// takes the scanned value out of it.
func holder(ti gocql.TypeInfo) (any, func() any) {
	switch ti.Zero().(type) {
	case string:
		var p *string
		return &p, func() any { return takePtr(&p) }
	case int:
		var p *int
		return &p, func() any { return takePtr(&p) }
	case int64:
		var p *int64
		return &p, func() any { return takePtr(&p) }
	case bool:
		var p *bool
		return &p, func() any { return takePtr(&p) }
	case float64:
		var p *float64
		return &p, func() any { return takePtr(&p) }
	case time.Time:
		var p *time.Time
		return &p, func() any { return takePtr(&p) }
	case []string:
		var v []string
		return &v, func() any {
			out := v
			v = nil
			if len(out) == 0 {
				return nil
			}
			return out
		}
	case map[string]string:
		var v map[string]string
		return &v, func() any {
			out := v
			v = nil
			if len(out) == 0 {
				return nil
			}
			return out
		}
	case map[string][]string:
		var v map[string][]string
		return &v, func() any {
			out := v
			v = nil
			if len(out) == 0 {
				return nil
			}
			return out
		}
	}
	t := reflect.TypeOf(ti.Zero())
	if t == nil {
		var v any
		return &v, func() any { out := v; v = nil; return out }
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Map:
		p := reflect.New(t)
		return p.Interface(), func() any {
			out := p.Elem()
			if out.Len() == 0 {
				p.Elem().SetZero()
				return nil
			}
			v := out.Interface()
			p.Elem().SetZero()
			return v
		}
	}
	p := reflect.New(reflect.PointerTo(t)) // **T: nil after a null
	return p.Interface(), func() any {
		inner := p.Elem()
		if inner.IsNil() {
			return nil
		}
		v := inner.Elem().Interface()
		inner.SetZero()
		return v
	}
}

func takePtr[T any](p **T) any {
	if *p == nil {
		return nil
	}
	v := **p
	*p = nil
	return v
}
