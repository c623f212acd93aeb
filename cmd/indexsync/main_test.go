package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/indexsync/indexsync/internal/cassandra"
	"github.com/indexsync/indexsync/internal/search"
	"github.com/indexsync/indexsync/internal/testenv"
)

// runCmd runs one indexsync command line in-process.
func runCmd(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), code
}

// stack is a private corner of the test servers: its own keyspace and aliases.
type stack struct {
	cass     testenv.CassandraAddr
	search   string
	keyspace string
	prefix   string // of the aliases
}

func newStack(t *testing.T) *stack {
	t.Helper()
	s := &stack{cass: testenv.Cassandra(t), search: testenv.SearchURL(t), keyspace: testenv.Name("it"), prefix: testenv.Name("it")}
	t.Setenv("INDEXSYNC_CASSANDRA_PASSWORD", s.cass.Password.Reveal())
	t.Cleanup(func() { s.drop(t) })
	return s
}

func (s *stack) cassArgs() []string {
	return []string{
		"--cassandra-hosts", s.cass.Host, "--cassandra-port", strconv.Itoa(s.cass.Port),
		"--cassandra-username", s.cass.Username, "--keyspace", s.keyspace,
	}
}

func (s *stack) searchArgs() []string {
	return []string{
		"--search-url", s.search,
		"--user-index", s.prefix + "_user", "--org-index", s.prefix + "_org", "--location-index", s.prefix + "_location",
	}
}

func (s *stack) session(t *testing.T) *cassandra.Session {
	t.Helper()
	sess, err := cassandra.Connect(context.Background(), cassandra.Config{
		Hosts: []string{s.cass.Host}, Port: s.cass.Port, Username: s.cass.Username, Password: s.cass.Password,
		Timeout: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sess.Close)
	return sess
}

func (s *stack) client(t *testing.T) *search.Client {
	t.Helper()
	c, err := search.NewClient(search.Config{URLs: []string{s.search}, Retries: 2})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (s *stack) drop(t *testing.T) {
	ctx := context.Background()
	if sess, err := cassandra.Connect(ctx, cassandra.Config{
		Hosts: []string{s.cass.Host}, Port: s.cass.Port, Username: s.cass.Username, Password: s.cass.Password, Timeout: 30 * time.Second,
	}); err == nil {
		_ = sess.Query("DROP KEYSPACE IF EXISTS " + s.keyspace).ExecContext(ctx)
		sess.Close()
	}
	c, err := search.NewClient(search.Config{URLs: []string{s.search}})
	if err != nil {
		return
	}
	for _, a := range []string{"_user", "_org", "_location"} {
		indices, _ := c.GetAlias(ctx, s.prefix+a)
		for _, ix := range indices {
			_ = c.DeleteIndex(ctx, ix)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"non-numeric port", []string{"seed", "--cassandra-port", "abc"}, `invalid argument "abc" for "--cassandra-port"`},
		{"port out of range", []string{"seed", "--cassandra-port", "70000"}, "--cassandra-port 70000 is not a TCP port"},
		{"negative users", []string{"seed", "--users", "-5"}, "--users -5: give 0 or more users"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"unknown flag", []string{"schema", "--no-such-flag"}, "unknown flag: --no-such-flag"},
		{"bad replication", []string{"schema", "--replication", "dc1:x"}, "--replication"},
		{"bad search url", []string{"schema", "--search-url", "localhost:9200"}, "is not an http(s) URL"},
		{"bad consistency", []string{"seed", "--cassandra-consistency", "SOME"}, "is not a consistency level"},
		{"missing config file", []string{"seed", "--config", "/nonexistent/indexsync.yaml"}, "read config file"},
		{"unknown auth", []string{"serve", "--auth", "basic"}, `--auth "basic": use keys, none or jwt`},
		{"jwt without credentials", []string{"serve", "--auth", "jwt"}, "--auth jwt needs --jwt-credentials-file"},
		{"keys without keys", []string{"serve"}, "no API key configured"},
		{"old flag with jwt", []string{"serve", "--insecure-no-auth", "--auth", "jwt"}, "--insecure-no-auth is the old name of --auth none"},
		{"mapping without rebuild", []string{"run", "--target", "search", "--mapping", "builtin"}, "only go with --rebuild"},
		{"bad resume value", []string{"run", "--resume=sometimes"}, `--resume "sometimes"`},
		{"a stray argument", []string{"run", "auto"}, `unknown command "auto"`},
		{"missing mapping file", []string{"run", "--target", "search", "--rebuild", "--mapping", "/nonexistent/m.json"}, "--mapping: stat /nonexistent/m.json"},
		// every size has an upper bound, and an explicit 0 is not "the default"
		{"a million workers", []string{"serve", "--auth", "none", "--workers", "1000000"}, "--workers 1000000: give 1 to 512"},
		{"a huge body limit", []string{"serve", "--auth", "none", "--max-body", "100GiB"}, "--max-body 107374182400: give 1024 to 1073741824"},
		{"no sync timeout", []string{"serve", "--auth", "none", "--sync-timeout", "0s"}, "--sync-timeout 0s: give 1s to 1h0m0s"},
		{"a huge queue", []string{"serve", "--auth", "none", "--queue-size", "2000000000"}, "--queue-size 2000000000: give 1 to 10000000"},
		{"verify concurrency", []string{"verify", "--concurrency", "100000"}, "--concurrency 100000: give 1 to 512"},
		{"verify ranges", []string{"verify", "--ranges", "5000000"}, "--ranges 5000000: give 1 to 1048576"},
		{"run concurrency", []string{"run", "--concurrency", "100000"}, "--concurrency 100000: give 1 to 512"},
		{"block size 0", []string{"run", "--block-size", "0"}, `"--block-size" flag: 0: give 1 or more, or auto for the default`},
		{"catch-up 3", []string{"run", "--target", "search", "--rebuild", "--catch-up", "3"}, "--catch-up 3: give 0, 1 or 2"},
		{"rebuild a shard", []string{"run", "--target", "search", "--rebuild", "--shard", "0/2"}, "--rebuild loads one new index and moves the alias once: it cannot take --shard"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := runCmd(t, tt.args...)
			if code != exitUsage {
				t.Errorf("exit code = %d, want %d (stderr %q)", code, exitUsage, stderr)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tt.want)
			}
			if n := strings.Count(strings.TrimSpace(stderr), "\n"); n > 0 {
				t.Errorf("stderr has %d lines, want one: %q", n+1, stderr)
			}
		})
	}
}

// TestConfigZeroBlockSize: block-size: 0 in the config file is refused,
// not taken as the default.
func TestConfigZeroBlockSize(t *testing.T) {
	path := t.TempDir() + "/indexsync.yaml"
	if err := os.WriteFile(path, []byte("block-size: 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runCmd(t, "run", "--config", path)
	if code != exitUsage || !strings.Contains(stderr, `invalid value "0" from config file key block-size: 0: give 1 or more, or auto`) {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

func TestEnvValueIsUsageError(t *testing.T) {
	t.Setenv("INDEXSYNC_CASSANDRA_PORT", "xyz")
	_, stderr, code := runCmd(t, "seed")
	if code != exitUsage || !strings.Contains(stderr, "INDEXSYNC_CASSANDRA_PORT") {
		t.Errorf("code %d stderr %q, want exit 2 naming INDEXSYNC_CASSANDRA_PORT", code, stderr)
	}
}

// TestUnknownEnvIsUsageError: a misspelt variable is exit 2 with the name
// it was meant to be; a variable of another command and the reserved
// prefixes are fine.
func TestUnknownEnvIsUsageError(t *testing.T) {
	t.Setenv("INDEXSYNC_RAET", "100")
	t.Setenv("INDEXSYNC_CASANDRA_PASSWORD", "s3cret-value")
	_, stderr, code := runCmd(t, "run", "--dry-run")
	if code != exitUsage || !strings.Contains(stderr, "INDEXSYNC_RAET (did you mean INDEXSYNC_RATE?)") ||
		!strings.Contains(stderr, "INDEXSYNC_CASANDRA_PASSWORD (did you mean INDEXSYNC_CASSANDRA_PASSWORD?)") {
		t.Errorf("exit %d, stderr %q: want exit 2 naming both variables and their right names", code, stderr)
	}
	if strings.Contains(stderr, "s3cret-value") {
		t.Error("the value of an unknown variable was printed")
	}
	os.Unsetenv("INDEXSYNC_RAET")
	os.Unsetenv("INDEXSYNC_CASANDRA_PASSWORD")
	t.Setenv("INDEXSYNC_API_KEYS", "serve's") // serve's variable, in run's environment
	t.Setenv("INDEXSYNC_X_DEPLOY_ENV", "staging")
	if _, stderr, code := runCmd(t, "version"); code != 0 {
		t.Errorf("another command's variable and INDEXSYNC_X_: exit %d %s", code, stderr)
	}
}

func TestVersion(t *testing.T) {
	out, _, code := runCmd(t, "version")
	if code != 0 || !strings.HasPrefix(out, "indexsync ") || !strings.Contains(out, "go1.") {
		t.Errorf("version: code %d, out %q", code, out)
	}
}

func TestCassandraUnreachable(t *testing.T) {
	// Port 1 on loopback: nothing listens there.
	_, stderr, code := runCmd(t, "seed", "--cassandra-port", "1", "--cassandra-timeout", "2s")
	if code != exitUnreachable || !strings.Contains(stderr, "cannot reach Cassandra at 127.0.0.1:1") {
		t.Errorf("code %d stderr %q, want exit 3 and a clear message", code, stderr)
	}
}

func TestCassandraLogin(t *testing.T) {
	s := newStack(t)
	t.Run("wrong password", func(t *testing.T) {
		args := append([]string{"schema", "--skip-search", "--cassandra-password", "wrong-pw-123"}, s.cassArgs()...)
		_, stderr, code := runCmd(t, args...)
		if code != exitUnreachable {
			t.Errorf("exit code = %d, want 3", code)
		}
		if !strings.Contains(stderr, `cannot log in to Cassandra at `) || !strings.Contains(stderr, "bad credentials") {
			t.Errorf("stderr = %q, want the bad-credentials message", stderr)
		}
		if strings.Contains(stderr, "wrong-pw-123") {
			t.Errorf("stderr shows the password: %q", stderr)
		}
	})
	t.Run("right password", func(t *testing.T) {
		sess := s.session(t)
		var v string
		if err := sess.Query("SELECT release_version FROM system.local").Scan(&v); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(v, "5.0") {
			t.Errorf("release_version = %q, want 5.0.x", v)
		}
	})
}

func TestSchemaTwiceSeedAndCount(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	schemaArgs := append(append([]string{"schema", "--index-replicas", "0"}, s.cassArgs()...), s.searchArgs()...)
	out, stderr, code := runCmd(t, schemaArgs...)
	if code != 0 {
		t.Fatalf("schema: exit %d: %s", code, stderr)
	}
	if strings.Count(out, "(created)") != 3 {
		t.Errorf("first schema run should create 3 indexes:\n%s", out)
	}
	out, stderr, code = runCmd(t, schemaArgs...)
	if code != 0 {
		t.Fatalf("schema again: exit %d: %s", code, stderr)
	}
	if strings.Count(out, "(exists)") != 3 {
		t.Errorf("second schema run should find 3 indexes:\n%s", out)
	}

	sess := s.session(t)
	km, err := sess.KeyspaceMetadata(s.keyspace)
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"user", "user_organisation", "user_roles", "organisation", "location"} {
		if _, ok := km.Tables[table]; !ok {
			t.Errorf("table %s.%s missing", s.keyspace, table)
		}
	}

	const users = 5000
	out, stderr, code = runCmd(t, append([]string{"seed", "--users", strconv.Itoa(users), "--seed", "7"}, s.cassArgs()...)...)
	if code != 0 {
		t.Fatalf("seed: exit %d: %s", code, stderr)
	}
	want := expectedCounts(users, max(20, users/1000), 7)
	for table, n := range map[string]int{"user": want.Users, "user_organisation": want.Memberships, "user_roles": want.Roles, "organisation": want.Orgs, "location": want.Locations} {
		var got int
		if err := sess.Query(fmt.Sprintf("SELECT count(*) FROM %s.%s", s.keyspace, table)).ScanContext(ctx, &got); err != nil {
			t.Fatal(err)
		}
		if got != n {
			t.Errorf("%s: %d rows in Cassandra, want %d", table, got, n)
		}
		if !strings.Contains(out, fmt.Sprintf("%-18s %d", table, n)) && table != "user" {
			t.Errorf("seed output does not report %s %d:\n%s", table, n, out)
		}
	}

	// A document indexed through the alias is counted through the alias.
	c := s.client(t)
	alias := s.prefix + "_user"
	res, err := c.Bulk(ctx, alias, []search.BulkItem{{ID: "u1", Op: search.OpIndex, Doc: []byte(`{"id":"u1","identifier":"u1","firstName":"Ananya"}`)}})
	if err != nil || !res[0].OK {
		t.Fatalf("index through alias: %v %+v", err, res)
	}
	if err := c.Refresh(ctx, alias); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Count(ctx, alias); err != nil || n != 1 {
		t.Errorf("count through alias = %d, %v; want 1", n, err)
	}
}
