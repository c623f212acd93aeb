package testenv

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/indexsync/indexsync/internal/cassandra"
	"github.com/indexsync/indexsync/internal/schema"
	"github.com/indexsync/indexsync/internal/search"
	"github.com/indexsync/indexsync/internal/seed"
	"github.com/indexsync/indexsync/internal/sunbird"
)

// Fixture is a private Sunbird data set on the test servers: its own
// keyspace, seeded, and its own indexes behind their own aliases. Everything
// is dropped when the test ends.
type Fixture struct {
	Cass      CassandraAddr
	SearchURL string
	Keyspace  string
	Aliases   map[string]string // object type → alias
	Indices   map[string]string // object type → concrete index
	Session   *cassandra.Session
	Search    *search.Client
	Opts      seed.Options
	OrgTypes  sunbird.OrgTypes // the organisation types the seed wrote

	locs []seed.Row
	orgs []seed.Row
}

// NewFixture seeds users and orgs (seed s) into a new keyspace and creates
// the three indexes (1 shard, 0 replicas) behind fresh aliases on the engine
// of SearchURL.
func NewFixture(t testing.TB, users, orgs int, s uint64) *Fixture {
	t.Helper()
	url := SearchURL(t) // skip before seeding when there is no engine
	return NewKeyspace(t, users, orgs, s).OnEngine(t, url)
}

// NewKeyspace seeds users and orgs (seed s) into a new keyspace, without
// indexes: OnEngine gives it indexes on an engine.
func NewKeyspace(t testing.TB, users, orgs int, s uint64) *Fixture {
	t.Helper()
	ctx := context.Background()
	f := &Fixture{
		Cass: Cassandra(t), Keyspace: Name("it"),
		Opts: seed.Options{Users: users, Orgs: orgs, Seed: s},
	}
	sess, err := cassandra.Connect(ctx, cassandra.Config{
		Hosts: []string{f.Cass.Host}, Port: f.Cass.Port, Username: f.Cass.Username, Password: f.Cass.Password,
		Timeout: 30 * time.Second, Consistency: "LOCAL_ONE",
	})
	if err != nil {
		t.Fatal(err)
	}
	f.Session = sess
	t.Cleanup(func() {
		_ = sess.Query("DROP KEYSPACE IF EXISTS " + f.Keyspace).ExecContext(context.Background())
		sess.Close()
	})
	if err := schema.ApplyCassandra(ctx, sess, f.Keyspace, "{'class': 'SimpleStrategy', 'replication_factor': 1}"); err != nil {
		t.Fatal(err)
	}
	if _, err := (seed.Writer{Session: sess, Keyspace: f.Keyspace, Concurrency: 64}).Write(ctx, f.Opts); err != nil {
		t.Fatal(err)
	}
	if f.OrgTypes, err = sunbird.ParseOrgTypes(seed.OrgTypeConfig); err != nil {
		t.Fatal(err)
	}
	f.locs = seed.Locations(f.Opts)
	f.orgs = seed.Organisations(f.Opts, f.locs)
	return f
}

// OnEngine returns a copy of f (the same keyspace and session) with the
// three indexes (1 shard, 0 replicas) behind fresh aliases on the engine at
// url, dropped when the test ends.
func (f *Fixture) OnEngine(t testing.TB, url string) *Fixture {
	t.Helper()
	ctx := context.Background()
	g := *f
	g.SearchURL = url
	var err error
	g.Search, err = search.NewClient(search.Config{URLs: []string{url}, Retries: 3})
	if err != nil {
		t.Fatal(err)
	}
	prefix := Name("it")
	g.Aliases = map[string]string{}
	g.Indices = map[string]string{}
	for _, ix := range []schema.Index{schema.UserIndex, schema.OrganisationIndex, schema.LocationIndex} {
		alias := prefix + "_" + ix.ObjectType
		body, err := ix.Body(1, 0)
		if err != nil {
			t.Fatal(err)
		}
		got, err := schema.EnsureIndex(ctx, g.Search, ix, alias, body, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		g.Aliases[ix.ObjectType] = alias
		g.Indices[ix.ObjectType] = got.Index
		t.Cleanup(func() { g.dropAlias(alias) })
	}
	return &g
}

// CheckEngine fails the test unless info (what GET / said) is the engine
// the stack names name: a URL that points at another engine than the
// environment says would test that engine twice and this one never.
func CheckEngine(t testing.TB, name string, info search.Info) {
	t.Helper()
	want := map[string]struct {
		product search.Engine
		prefix  string
	}{
		"opensearch-2.19":    {search.OpenSearch, "2.19."},
		"elasticsearch-6.8":  {search.Elasticsearch, "6.8."},
		"elasticsearch-7.17": {search.Elasticsearch, "7.17."},
		"elasticsearch-8":    {search.Elasticsearch, "8."},
	}[name]
	if want.product == "" {
		t.Fatalf("engine %q is none of %v", name, AllEngines)
	}
	if info.Engine != want.product || !strings.HasPrefix(info.Number, want.prefix) {
		t.Fatalf("the engine answering is %s, but the environment says %s (want %s %s*)", info, name, want.product, want.prefix)
	}
}

// dropAlias deletes every index behind alias (a rebuild may have added more).
func (f *Fixture) dropAlias(alias string) {
	ctx := context.Background()
	indices, _ := f.Search.GetAlias(ctx, alias)
	for _, ix := range indices {
		_ = f.Search.DeleteIndex(ctx, ix)
	}
}

// CassandraArgs are the command-line flags that reach the fixture's keyspace
// (the password goes through INDEXSYNC_CASSANDRA_PASSWORD, see SetEnv).
func (f *Fixture) CassandraArgs() []string {
	return []string{
		"--cassandra-hosts", f.Cass.Host, "--cassandra-port", strconv.Itoa(f.Cass.Port),
		"--cassandra-username", f.Cass.Username, "--keyspace", f.Keyspace,
	}
}

// SearchArgs are the flags that reach the fixture's indexes.
func (f *Fixture) SearchArgs() []string {
	return []string{
		"--search-url", f.SearchURL,
		"--user-index", f.Aliases["user"], "--org-index", f.Aliases["organisation"], "--location-index", f.Aliases["location"],
	}
}

// Env returns the environment a child indexsync process needs.
func (f *Fixture) Env() []string {
	return []string{"INDEXSYNC_CASSANDRA_PASSWORD=" + f.Cass.Password.Reveal()}
}

// full pads a generated row with nil for every column of the table it lacks,
// as a SELECT of every column returns it.
func full(table string, r seed.Row) sunbird.Row {
	out := sunbird.Row{}
	for _, c := range schema.Columns(table) {
		out[c] = r[c]
	}
	return out
}

func (f *Fixture) orgName(id string) (any, bool) {
	for _, o := range f.orgs {
		if o["id"] == id {
			return o["orgname"], true
		}
	}
	return nil, false
}

// UserIDs returns the seeded user ids in generation order.
func (f *Fixture) UserIDs() []string {
	ids := make([]string, f.Opts.Users)
	for i := range ids {
		ids[i] = seed.User(f.Opts, f.locs, i).User["id"].(string)
	}
	return ids
}

// ExpectedDocs returns, per id, the encoded document a sync must write for
// every object of the type — built from the generator's rows, not read back
// from Cassandra, so it checks the read path too.
func (f *Fixture) ExpectedDocs(t testing.TB, objectType string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	add := func(id string, d sunbird.Document) {
		b, err := d.Encode()
		if err != nil {
			t.Fatal(err)
		}
		out[id] = b
	}
	switch objectType {
	case "user":
		for i := 0; i < f.Opts.Users; i++ {
			u := seed.User(f.Opts, f.locs, i)
			su := sunbird.User{Row: full("user", u.User)}
			for _, m := range u.Orgs {
				su.Orgs = append(su.Orgs, full("user_organisation", m))
			}
			for _, r := range u.Roles {
				su.Roles = append(su.Roles, full("user_roles", r))
			}
			add(u.User["id"].(string), sunbird.BuildUser(su, f.orgName))
		}
	case "organisation":
		for _, o := range f.orgs {
			add(o["id"].(string), sunbird.BuildOrganisation(full("organisation", o), f.OrgTypes))
		}
	case "location":
		for _, l := range f.locs {
			add(l["id"].(string), sunbird.BuildLocation(full("location", l)))
		}
	default:
		t.Fatalf("unknown object type %s", objectType)
	}
	return out
}

// IndexedDocs reads documents back from the fixture's alias, re-encoded with
// the shared canonical encoding; missing ids are absent from the map.
func (f *Fixture) IndexedDocs(t testing.TB, objectType string, ids []string) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	out := map[string][]byte{}
	for start := 0; start < len(ids); start += 1000 {
		got, err := f.Search.MGet(ctx, f.Aliases[objectType], ids[start:min(start+1000, len(ids))])
		if err != nil {
			t.Fatal(err)
		}
		for id, raw := range got {
			c, err := sunbird.Canonical(raw)
			if err != nil {
				t.Fatal(err)
			}
			out[id] = c
		}
	}
	return out
}

// Count refreshes the alias and counts its documents.
func (f *Fixture) Count(t testing.TB, objectType string) int64 {
	t.Helper()
	ctx := context.Background()
	if err := f.Search.Refresh(ctx, f.Aliases[objectType]); err != nil {
		t.Fatal(err)
	}
	n, err := f.Search.Count(ctx, f.Aliases[objectType])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// CompareDocs reports every id whose indexed document differs from want.
func CompareDocs(t testing.TB, want, got map[string][]byte) {
	t.Helper()
	bad := 0
	for id, w := range want {
		g, ok := got[id]
		switch {
		case !ok:
			t.Errorf("document %s missing from the index", id)
		case string(g) != string(w):
			t.Errorf("document %s differs:\n got %s\nwant %s", id, g, w)
		default:
			continue
		}
		if bad++; bad >= 5 {
			t.Fatalf("stopping after %d differences", bad)
		}
	}
}
