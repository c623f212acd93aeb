package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/indexsync/indexsync/internal/cassandra"
	"github.com/indexsync/indexsync/internal/checkpoint"
	"github.com/indexsync/indexsync/internal/search"
	"github.com/indexsync/indexsync/internal/store"
	"github.com/indexsync/indexsync/internal/sunbird"
	"github.com/indexsync/indexsync/internal/syncjob"
)

// fakeDB is Cassandra: documents by id. Its Items put every id in the unit
// whose range holds its token, like a range scan.
type fakeDB struct {
	mu   sync.Mutex
	docs map[string]sunbird.Document
}

func (db *fakeDB) Items(ctx context.Context, u checkpoint.Unit, after int64, fn func(syncjob.Item) error) error {
	db.mu.Lock()
	var ids []string
	for id := range db.docs {
		if t := cassandra.Token(id); t > after && t <= u.End {
			ids = append(ids, id)
		}
	}
	db.mu.Unlock()
	sort.Slice(ids, func(i, j int) bool { return cassandra.Token(ids[i]) < cassandra.Token(ids[j]) })
	for _, id := range ids {
		b, err := db.docs[id].Encode()
		if err != nil {
			return err
		}
		if err := fn(syncjob.Item{ID: id, Seq: cassandra.Token(id), Doc: b}); err != nil {
			return err
		}
	}
	return nil
}

func (db *fakeDB) Existing(_ context.Context, ids []string) (map[string]bool, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	out := map[string]bool{}
	for _, id := range ids {
		if _, ok := db.docs[id]; ok {
			out[id] = true
		}
	}
	return out, nil
}

func (db *fakeDB) Documents(_ context.Context, _ sunbird.Kind, ids []string) (store.Result, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	res := store.Result{Docs: map[string][]byte{}}
	for _, id := range ids {
		if d, ok := db.docs[id]; ok {
			b, err := d.Encode()
			if err != nil {
				return store.Result{}, err
			}
			res.Docs[id] = b
		} else {
			res.NotFound = append(res.NotFound, id)
		}
	}
	return res, nil
}

// fakeIndex is the search engine: raw _source by id.
type fakeIndex struct {
	mu        sync.Mutex
	docs      map[string]string
	refreshed bool
	mgets     int
	failMGet  error
}

func (ix *fakeIndex) MGet(_ context.Context, _ string, ids []string) (map[string]json.RawMessage, error) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.failMGet != nil {
		return nil, ix.failMGet
	}
	ix.mgets++
	out := map[string]json.RawMessage{}
	for _, id := range ids {
		if d, ok := ix.docs[id]; ok {
			out[id] = json.RawMessage(d)
		}
	}
	return out, nil
}

func (ix *fakeIndex) ScanIDs(_ context.Context, _ string, opts search.ScanOptions, fn func(search.ScanPage) error) error {
	ix.mu.Lock()
	if !ix.refreshed {
		ix.mu.Unlock()
		return errors.New("scan before refresh")
	}
	var ids []string
	for id := range ix.docs {
		ids = append(ids, id)
	}
	ix.mu.Unlock()
	for lo := 0; lo < len(ids); lo += opts.PageSize {
		if err := fn(search.ScanPage{IDs: ids[lo:min(lo+opts.PageSize, len(ids))], Total: int64(len(ids))}); err != nil {
			return err
		}
	}
	return nil
}

func (ix *fakeIndex) Refresh(context.Context, string) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.refreshed = true
	return nil
}

func (ix *fakeIndex) Write(_ context.Context, _ sunbird.Kind, docs map[string][]byte) (map[string]string, error) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for id, d := range docs {
		ix.docs[id] = string(d)
	}
	return map[string]string{}, nil
}

func (ix *fakeIndex) Bulk(_ context.Context, _ string, items []search.BulkItem) ([]search.ItemResult, error) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	var out []search.ItemResult
	for _, it := range items {
		if it.Op != search.OpDelete {
			return nil, fmt.Errorf("unexpected op %s", it.Op)
		}
		delete(ix.docs, it.ID)
		out = append(out, search.ItemResult{ID: it.ID, OK: true})
	}
	return out, nil
}

func user(id, first string) sunbird.Document {
	return sunbird.Document{"id": id, "identifier": id, "firstName": first, "status": 1}
}

// world is n users in sync: Cassandra and the index agree.
func world(t *testing.T, n int) (*fakeDB, *fakeIndex) {
	t.Helper()
	db := &fakeDB{docs: map[string]sunbird.Document{}}
	ix := &fakeIndex{docs: map[string]string{}}
	for i := range n {
		id := fmt.Sprintf("user-%04d", i)
		db.docs[id] = user(id, fmt.Sprintf("First %d", i))
		b, err := db.docs[id].Encode()
		if err != nil {
			t.Fatal(err)
		}
		ix.docs[id] = string(b)
	}
	return db, ix
}

func units(n int) []checkpoint.Unit {
	out := make([]checkpoint.Unit, n)
	step := ^uint64(0) / uint64(n)
	start := int64(-1 << 63)
	for i := range n {
		end := int64(uint64(start) + step)
		if i == n-1 {
			end = 1<<63 - 1
		}
		out[i] = checkpoint.Unit{Start: start, End: end, Next: start}
		start = end
	}
	return out
}

func config(db *fakeDB, ix *fakeIndex, dir string) Config {
	return Config{
		Index: "users", Units: units(16), Source: db, Search: ix,
		Concurrency: 3, BatchSize: 7, ScanPageSize: 13, Groups: 5, SpillDir: dir, MemIDs: 4,
	}
}

func all(t *testing.T, l *IDList) []string {
	t.Helper()
	ids, err := l.All()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	return ids
}

func TestCompare(t *testing.T) {
	db, ix := world(t, 200)
	// equal documents in another key order and spacing are not stale
	ix.docs["user-0001"] = `{ "status": 1, "identifier": "user-0001", "id": "user-0001", "firstName": "First 1" }`
	// stale: a changed name, an extra field
	db.docs["user-0002"]["firstName"] = "Changed"
	ix.docs["user-0003"] = `{"firstName":"First 3","id":"user-0003","identifier":"user-0003","status":1,"x":true}`
	// missing
	delete(ix.docs, "user-0004")
	delete(ix.docs, "user-0005")
	// orphans: deleted in Cassandra, unknown to it
	delete(db.docs, "user-0006")
	ix.docs["ghost"] = `{"id":"ghost"}`

	res, err := Compare(context.Background(), config(db, ix, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	if got, want := res.CassandraDocs, int64(199); got != want {
		t.Errorf("CassandraDocs = %d, want %d", got, want)
	}
	if got, want := res.IndexDocs, int64(199); got != want {
		t.Errorf("IndexDocs = %d, want %d", got, want)
	}
	for name, tc := range map[string]struct {
		l    *IDList
		want []string
	}{
		"missing": {res.Missing, []string{"user-0004", "user-0005"}},
		"stale":   {res.Stale, []string{"user-0002", "user-0003"}},
		"orphans": {res.Orphans, []string{"ghost", "user-0006"}},
	} {
		if diff := cmp.Diff(tc.want, all(t, tc.l)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	diffs := map[string][]string{}
	for _, d := range res.Diffs {
		diffs[d.ID] = d.Fields
	}
	want := map[string][]string{"user-0002": {"firstName"}, "user-0003": {"x"}}
	if diff := cmp.Diff(want, diffs); diff != "" {
		t.Errorf("diff hints (-want +got):\n%s", diff)
	}
}

func TestCompareShard(t *testing.T) {
	db, ix := world(t, 100)
	ix.docs["ghost-a"] = `{}`
	ix.docs["ghost-b"] = `{}`
	cfg := config(db, ix, t.TempDir())
	// only the upper half of the ring: ids with a positive token
	cfg.Units = units(16)[8:]
	res, err := Compare(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	var wantOrphans []string
	var inShard int64
	for id := range ix.docs {
		if cassandra.Token(id) > cfg.Units[0].Start {
			inShard++
			if strings.HasPrefix(id, "ghost") {
				wantOrphans = append(wantOrphans, id)
			}
		}
	}
	slices.Sort(wantOrphans)
	if got := all(t, res.Orphans); !slices.Equal(got, wantOrphans) {
		t.Errorf("orphans = %v, want %v", got, wantOrphans)
	}
	if res.IndexChecked != inShard {
		t.Errorf("IndexChecked = %d, want %d", res.IndexChecked, inShard)
	}
	if res.CassandraDocs != inShard-int64(len(wantOrphans)) {
		t.Errorf("CassandraDocs = %d, want %d", res.CassandraDocs, inShard-int64(len(wantOrphans)))
	}
}

// TestGroups: every unit belongs to exactly one group, the one group()
// gives for its tokens.
func TestGroups(t *testing.T) {
	for _, tc := range []struct{ units, groups int }{{16, 5}, {256, 256}, {300, 256}, {7, 3}, {1, 1}} {
		c := &comparer{cfg: Config{Units: units(tc.units), Groups: tc.groups}}
		c.cfg.defaults()
		seen := 0
		for g := range c.cfg.Groups {
			for _, u := range c.groupUnits(g) {
				seen++
				for _, tok := range []int64{u.Start + 1, u.End, u.Start/2 + u.End/2} {
					if got := c.group(tok); got != g {
						t.Errorf("%d units in %d groups: token %d of a unit of group %d is filed under %d", tc.units, tc.groups, tok, g, got)
					}
				}
			}
		}
		if seen != tc.units {
			t.Errorf("%d units in %d groups: the groups hold %d units", tc.units, tc.groups, seen)
		}
	}
	c := &comparer{cfg: Config{Units: units(16)[4:8], Groups: 2}}
	c.cfg.defaults()
	if got := c.group(units(16)[2].End); got != -1 {
		t.Errorf("a token outside every unit is filed under group %d, want -1", got)
	}
}

func TestCompareError(t *testing.T) {
	db, ix := world(t, 50)
	ix.failMGet = errors.New("mget from users: boom")
	_, err := Compare(context.Background(), config(db, ix, t.TempDir()))
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("err = %v, want the mget error", err)
	}
}

func TestRepair(t *testing.T) {
	for _, tc := range []struct {
		name              string
		resync, delete    bool
		wantRemaining     int
		wantRep, wantDels int
	}{
		{"repair and delete", true, true, 0, 4, 2},
		{"repair only", true, false, 2, 4, 0},
		{"delete only", false, true, 4, 0, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, ix := world(t, 120)
			db.docs["user-0002"]["firstName"] = "Changed"
			db.docs["user-0003"]["firstName"] = "Changed"
			delete(ix.docs, "user-0004")
			delete(ix.docs, "user-0005")
			delete(db.docs, "user-0006")
			ix.docs["ghost"] = `{"id":"ghost"}`
			dir := t.TempDir()
			found, err := Compare(context.Background(), config(db, ix, dir))
			if err != nil {
				t.Fatal(err)
			}
			defer found.Close()
			rep, err := Repair(context.Background(), RepairConfig{
				Kind: sunbird.UserKind, Index: "users", Docs: db, Writer: ix, Bulk: ix, Search: ix, Keys: db,
				Resync: tc.resync, DeleteOrphans: tc.delete, BatchSize: 3, SpillDir: dir, MemIDs: 2,
			}, found)
			if err != nil {
				t.Fatal(err)
			}
			defer rep.Close()
			if rep.Repaired != tc.wantRep || rep.Deleted != tc.wantDels || rep.Remaining.Len() != tc.wantRemaining {
				t.Errorf("repaired %d, deleted %d, remaining %d; want %d, %d, %d",
					rep.Repaired, rep.Deleted, rep.Remaining.Len(), tc.wantRep, tc.wantDels, tc.wantRemaining)
			}
			// a fresh comparison agrees with what the repair says remains
			again, err := Compare(context.Background(), config(db, ix, dir))
			if err != nil {
				t.Fatal(err)
			}
			defer again.Close()
			if again.Differences() != tc.wantRemaining {
				t.Errorf("a new comparison finds %d differences, want %d", again.Differences(), tc.wantRemaining)
			}
		})
	}
}

// TestRepairVanished: a stale id whose row goes away before the repair is
// deleted as an orphan, and a deleted orphan whose row came back is kept.
func TestRepairVanished(t *testing.T) {
	db, ix := world(t, 30)
	db.docs["user-0002"]["firstName"] = "Changed"
	delete(db.docs, "user-0007")
	dir := t.TempDir()
	found, err := Compare(context.Background(), config(db, ix, dir))
	if err != nil {
		t.Fatal(err)
	}
	defer found.Close()
	delete(db.docs, "user-0002")
	db.docs["user-0007"] = user("user-0007", "Back")
	rep, err := Repair(context.Background(), RepairConfig{
		Kind: sunbird.UserKind, Index: "users", Docs: db, Writer: ix, Bulk: ix, Search: ix, Keys: db,
		Resync: true, DeleteOrphans: true, SpillDir: dir,
	}, found)
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close()
	if rep.Vanished != 1 || rep.Deleted != 1 || rep.Kept != 1 {
		t.Errorf("vanished %d, deleted %d, kept %d; want 1, 1, 1", rep.Vanished, rep.Deleted, rep.Kept)
	}
	// user-0007's row came back with another name: its document is stale now
	if got := all(t, rep.Remaining); !slices.Equal(got, []string{"user-0007"}) {
		t.Errorf("remaining = %v, want [user-0007]", got)
	}
}

// quorumKeys is Keys at a quorum: it sees rows that the reads at the scan's
// consistency (fakeDB's Documents and Items) missed on a stale replica.
type quorumKeys struct {
	*fakeDB
	also map[string]bool // rows only a quorum sees
}

func (q quorumKeys) Existing(ctx context.Context, ids []string) (map[string]bool, error) {
	out, err := q.fakeDB.Existing(ctx, ids)
	for _, id := range ids {
		if q.also[id] {
			out[id] = true
		}
	}
	return out, err
}

// TestRepairDeletesOnlyWhatKeysConfirms: whether an orphan or a stale id
// whose row a read no longer finds, a document is deleted only when Keys
// (the check at --delete-consistency) finds no row either.
func TestRepairDeletesOnlyWhatKeysConfirms(t *testing.T) {
	db, ix := world(t, 30)
	db.docs["user-0002"]["firstName"] = "Changed" // stale
	delete(db.docs, "user-0007")                  // an orphan to the scan
	dir := t.TempDir()
	found, err := Compare(context.Background(), config(db, ix, dir))
	if err != nil {
		t.Fatal(err)
	}
	defer found.Close()
	delete(db.docs, "user-0002") // the repair's read misses it too
	keys := quorumKeys{db, map[string]bool{"user-0002": true, "user-0007": true}}
	rep, err := Repair(context.Background(), RepairConfig{
		Kind: sunbird.UserKind, Index: "users", Docs: db, Writer: ix, Bulk: ix, Search: ix, Keys: keys,
		Resync: true, DeleteOrphans: true, SpillDir: dir,
	}, found)
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close()
	if rep.Deleted != 0 || rep.Kept != 1 {
		t.Errorf("deleted %d, kept %d; want 0 deleted, 1 orphan kept", rep.Deleted, rep.Kept)
	}
	for _, id := range []string{"user-0002", "user-0007"} {
		if _, ok := ix.docs[id]; !ok {
			t.Errorf("the document of %s was deleted although Keys finds its row", id)
		}
	}
}

func TestIDListSpills(t *testing.T) {
	dir := t.TempDir()
	l := NewIDList(dir, 3, 2)
	var want []string
	for i := range 10 {
		id := fmt.Sprintf("id-%d\n\"odd\"", i)
		want = append(want, id)
		if err := l.Add(id); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, ".indexsync-verify-ids-*"))
	if len(files) != 1 {
		t.Fatalf("spill files: %v, want one", files)
	}
	var got []string
	if err := l.Batches(4, func(ids []string) error { got = append(got, ids...); return nil }); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
	if err := l.Add("late"); err != nil {
		t.Fatal(err)
	}
	if l.Len() != 11 || !slices.Equal(l.Head(), want[:2]) {
		t.Errorf("Len %d Head %q", l.Len(), l.Head())
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(files[0]); !os.IsNotExist(err) {
		t.Errorf("spill file left behind: %v", err)
	}
}

func TestReportFile(t *testing.T) {
	db, ix := world(t, 40)
	db.docs["user-0002"]["firstName"] = "Changed"
	delete(ix.docs, "user-0004")
	ix.docs["ghost"] = `{"id":"ghost"}`
	dir := t.TempDir()
	found, err := Compare(context.Background(), config(db, ix, dir))
	if err != nil {
		t.Fatal(err)
	}
	defer found.Close()
	rep := NewReport(found, nil, false, false)
	rep.ObjectType, rep.Index = "user", "users"
	path, err := rep.WriteFile(dir, 1700000000000)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(path) != "verify_1700000000000.json" {
		t.Errorf("path = %s", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Missing    int      `json:"missing"`
		Stale      int      `json:"stale"`
		Orphans    int      `json:"orphans"`
		MissingIDs []string `json:"missingIds"`
		StaleIDs   []string `json:"staleIds"`
		OrphanIDs  []string `json:"orphanIds"`
		StaleDiffs []Diff   `json:"staleDiffs"`
		Remaining  int      `json:"remaining"`
	}
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("%v:\n%s", err, data)
	}
	want := got
	want.Missing, want.Stale, want.Orphans, want.Remaining = 1, 1, 1, 3
	want.MissingIDs, want.StaleIDs, want.OrphanIDs = []string{"user-0004"}, []string{"user-0002"}, []string{"ghost"}
	want.StaleDiffs = []Diff{{ID: "user-0002", Fields: []string{"firstName"}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}

	var out strings.Builder
	rep.Print(&out, 10, path)
	for _, re := range []string{`(?m)^  missing +1$`, `(?m)^  cassandra +40$`, `Missing \(1\): user-0004`, `user-0002 differs in firstName`, `Report: ` + regexp.QuoteMeta(path)} {
		if !regexp.MustCompile(re).MatchString(out.String()) {
			t.Errorf("console output does not match %s:\n%s", re, out.String())
		}
	}
}

func TestDiffFields(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want []string
	}{
		{"same", `{"a":1}`, `{"a":1}`, nil},
		{"changed and added", `{"a":1,"b":2}`, `{"a":2,"c":3}`, []string{"a", "b", "c"}},
		{"nested", `{"o":{"x":1}}`, `{"o":{"x":2}}`, []string{"o"}},
		{"not an object", `[1]`, `{"a":1}`, []string{"(whole document)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, DiffFields([]byte(tt.a), []byte(tt.b))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
