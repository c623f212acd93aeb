// Package testenv gives integration tests the addresses of the real Cassandra
// and OpenSearch started by testinfra/stack.sh (`make test` exports them).
// Without them a test is skipped locally, and fails when CI is set, so a
// green CI run always means the real servers were exercised.
package testenv

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
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
)

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

// Name returns a fresh lower-case name with the given prefix, for a keyspace
// or index private to one test.
func Name(prefix string) string {
	return fmt.Sprintf("%s_%08x", prefix, rand.Uint32())
}
