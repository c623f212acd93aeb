// Package testenv gives integration tests the addresses of the real Cassandra
// and search engines started by testinfra/stack.sh (`make test` exports them).
// Without them a test is skipped locally, and fails when CI is set, so a
// green CI run always means the real servers were exercised.
//
// Most tests use the one engine of INDEXSYNC_TEST_SEARCH_URL (the suite runs
// once per engine, testinfra/run-tests.sh); the tests named TestEngines…
// compare the engines with each other and take every engine of
// INDEXSYNC_TEST_ENGINES.
package testenv

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/indexsync/indexsync/internal/secret"
)

// Environment variables set by `testinfra/stack.sh env`.
const (
	EnvCassandra         = "INDEXSYNC_TEST_CASSANDRA"
	EnvCassandraUsername = "INDEXSYNC_TEST_CASSANDRA_USERNAME"
	EnvCassandraPassword = "INDEXSYNC_TEST_CASSANDRA_PASSWORD"
	EnvSearchURL         = "INDEXSYNC_TEST_SEARCH_URL"
	// EnvEngine names the engine of EnvSearchURL, as testinfra/stack.sh
	// calls it (STACK_ENGINE): opensearch-2.19, elasticsearch-6.8, …
	EnvEngine = "INDEXSYNC_TEST_ENGINE"
	// EnvEngines lists every engine for the TestEngines… tests, as
	// space-separated name=url pairs (testinfra/run-tests.sh sets it).
	EnvEngines = "INDEXSYNC_TEST_ENGINES"
)

// AllEngines are the engines of testinfra/stack.sh (testinfra/README.md,
// "Engines"): under CI, the TestEngines… tests fail unless every one is in
// INDEXSYNC_TEST_ENGINES.
var AllEngines = []string{"opensearch-2.19", "elasticsearch-6.8", "elasticsearch-7.17", "elasticsearch-8"}

// Engine is one search engine of the test stack.
type Engine struct {
	Name string // as stack.sh names it: opensearch-2.19, elasticsearch-6.8, …
	URL  string
}

// CassandraAddr is where the test Cassandra listens, with its credentials.
type CassandraAddr struct {
	Host     string
	Port     int
	Username string
	Password secret.String
}

func missing(t testing.TB, what, env string) {
	t.Helper()
	msg := fmt.Sprintf("%s not available: %s is not set (run `make test`, or `make stack-up` and `eval $(testinfra/stack.sh env)`)", what, env)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// Cassandra returns the test Cassandra or skips (fails under CI).
func Cassandra(t testing.TB) CassandraAddr {
	t.Helper()
	v := os.Getenv(EnvCassandra)
	if v == "" {
		missing(t, "Cassandra", EnvCassandra)
	}
	host, portS, err := net.SplitHostPort(v)
	if err != nil {
		t.Fatalf("%s=%q: want host:port", EnvCassandra, v)
	}
	port, err := strconv.Atoi(portS)
	if err != nil {
		t.Fatalf("%s=%q: bad port", EnvCassandra, v)
	}
	user := os.Getenv(EnvCassandraUsername)
	if user == "" {
		user = "cassandra"
	}
	pw, ok := os.LookupEnv(EnvCassandraPassword)
	if !ok {
		pw = "cassandra"
	}
	return CassandraAddr{Host: host, Port: port, Username: user, Password: secret.New(pw)}
}

// SearchURL returns the test search engine's URL or skips (fails under CI).
func SearchURL(t testing.TB) string {
	t.Helper()
	v := os.Getenv(EnvSearchURL)
	if v == "" {
		missing(t, "the search engine", EnvSearchURL)
	}
	return strings.TrimRight(v, "/")
}

// EngineName returns the name of the engine behind SearchURL (""
// when the environment does not say).
func EngineName() string { return os.Getenv(EnvEngine) }

// Engines returns the engines of INDEXSYNC_TEST_ENGINES or, when that is not
// set, the one engine of INDEXSYNC_TEST_SEARCH_URL and INDEXSYNC_TEST_ENGINE.
// Without any it skips (fails under CI); under CI every engine of AllEngines
// must be there, so a green CI run compared them all.
func Engines(t testing.TB) []Engine {
	t.Helper()
	var out []Engine
	if v := os.Getenv(EnvEngines); v != "" {
		for pair := range strings.FieldsSeq(v) {
			name, url, ok := strings.Cut(pair, "=")
			if !ok || name == "" || url == "" {
				t.Fatalf("%s=%q: want space-separated name=url pairs", EnvEngines, v)
			}
			out = append(out, Engine{Name: name, URL: strings.TrimRight(url, "/")})
		}
	} else if url, name := os.Getenv(EnvSearchURL), os.Getenv(EnvEngine); url != "" && name != "" {
		out = append(out, Engine{Name: name, URL: strings.TrimRight(url, "/")})
	}
	if len(out) == 0 {
		missing(t, "the search engines", EnvEngines)
	}
	if os.Getenv("CI") != "" {
		for _, want := range AllEngines {
			if !slices.ContainsFunc(out, func(e Engine) bool { return e.Name == want }) {
				t.Fatalf("engine %s is not in %s=%q: under CI every engine is compared (testinfra/run-tests.sh starts them)", want, EnvEngines, os.Getenv(EnvEngines))
			}
		}
	}
	return out
}

// Name returns a fresh lower-case name with the given prefix, for a keyspace
// or index private to one test.
func Name(prefix string) string {
	return fmt.Sprintf("%s_%08x", prefix, rand.Uint32())
}
