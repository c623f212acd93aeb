package seed

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/indexsync/indexsync/internal/cassandra"
	"github.com/indexsync/indexsync/internal/schema"
)

// Writer writes a data set through an open session.
type Writer struct {
	Session     *cassandra.Session
	Keyspace    string
	Concurrency int               // parallel batches in flight; 0 = 32
	Progress    func(users int64) // called now and then with users written so far
}

type insert struct {
	cols []string
	stmt string
}

func newInsert(keyspace, table string) insert {
	cols := schema.Columns(table)
	return insert{cols: cols, stmt: cassandra.InsertStmt(keyspace, table, cols)}
}

// args binds a row; a null is left unset rather than written, so seeding
// leaves no tombstones for later scans to trip over.
func (in insert) args(r Row) ([]any, error) {
	out := make([]any, len(in.cols))
	for i, c := range in.cols {
		v, ok := r[c]
		if !ok || v == nil {
			out[i] = cassandra.Unset
			continue
		}
		out[i] = v
	}
	if len(r) > len(in.cols) {
		return nil, fmt.Errorf("row has columns the table lacks: %v", r)
	}
	return out, nil
}

// Write writes the whole data set: locations, organisations, then users with
// their memberships and roles, one unlogged single-partition batch per user.
func (w Writer) Write(ctx context.Context, opts Options) (Counts, error) {
	if opts.Users < 0 || opts.Orgs < 0 {
		return Counts{}, errors.New("negative counts")
	}
	conc := w.Concurrency
	if conc <= 0 {
		conc = 32
	}
	locs := Locations(opts)
	orgs := Organisations(opts, locs)
	counts := Counts{Locations: len(locs), Orgs: len(orgs)}

	locIns := newInsert(w.Keyspace, "location")
	orgIns := newInsert(w.Keyspace, "organisation")
	userIns := newInsert(w.Keyspace, "user")
	memIns := newInsert(w.Keyspace, "user_organisation")
	roleIns := newInsert(w.Keyspace, "user_roles")

	settingsIns := newInsert(w.Keyspace, "system_settings")
	small := make([]func() error, 0, len(locs)+len(orgs)+1)
	small = append(small, func() error { return w.exec(ctx, settingsIns, OrgTypeSetting()) })
	for _, l := range locs {
		small = append(small, func() error { return w.exec(ctx, locIns, l) })
	}
	for _, o := range orgs {
		small = append(small, func() error { return w.exec(ctx, orgIns, o) })
	}
	if err := parallel(ctx, conc, len(small), func(i int) error { return small[i]() }); err != nil {
		return counts, err
	}

	var users, mems, roles atomic.Int64
	err := parallel(ctx, conc, opts.Users, func(i int) error {
		u := User(opts, locs, i)
		var batch []cassandra.Write
		for _, item := range []struct {
			in   insert
			rows []Row
		}{{userIns, []Row{u.User}}, {memIns, u.Orgs}, {roleIns, u.Roles}} {
			for _, r := range item.rows {
				a, err := item.in.args(r)
				if err != nil {
					return err
				}
				batch = append(batch, cassandra.Write{Stmt: item.in.stmt, Args: a})
			}
		}
		if err := w.Session.ExecUnloggedBatch(ctx, batch); err != nil {
			return fmt.Errorf("write user %s: %w", u.User["id"], err)
		}
		mems.Add(int64(len(u.Orgs)))
		roles.Add(int64(len(u.Roles)))
		if n := users.Add(1); w.Progress != nil && n%10000 == 0 {
			w.Progress(n)
		}
		return nil
	})
	counts.Users, counts.Memberships, counts.Roles = int(users.Load()), int(mems.Load()), int(roles.Load())
	return counts, err
}

func (w Writer) exec(ctx context.Context, in insert, r Row) error {
	a, err := in.args(r)
	if err != nil {
		return err
	}
	if err := w.Session.Exec(ctx, in.stmt, a...); err != nil {
		return fmt.Errorf("insert into %s: %w", in.stmt[:strings.Index(in.stmt, " (")], err)
	}
	return nil
}

// parallel runs f(0..n-1) on conc goroutines and stops at the first error.
func parallel(ctx context.Context, conc, n int, f func(i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	for range min(conc, max(n, 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { firstErr = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}
