package testenv

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/indexsync/indexsync/internal/cassandra"
	"github.com/indexsync/indexsync/internal/secret"
)

// Environment variables `testinfra/stack.sh env` prints when the three-node
// cluster runs (testinfra/stack.sh up cluster).
const (
	EnvCluster         = "INDEXSYNC_TEST_CLUSTER"          // host:port,host:port,host:port
	EnvClusterUsername = "INDEXSYNC_TEST_CLUSTER_USERNAME" // a superuser every node can check
	EnvClusterPassword = "INDEXSYNC_TEST_CLUSTER_PASSWORD"
	EnvClusterTLSCA    = "INDEXSYNC_TEST_CLUSTER_TLS_CA" // the CA of the nodes' client encryption
	EnvStack           = "INDEXSYNC_TEST_STACK"          // testinfra/stack.sh, to stop and start nodes
	EnvStackDir        = "INDEXSYNC_TEST_STACK_DIR"      // its STACK_DIR
)

// ClusterAddr is the three-node test cluster: node i (1-based) listens on
// Hosts[i-1]:Port.
type ClusterAddr struct {
	Hosts    []string // addresses without the port
	Port     int
	Username string
	Password secret.String
	TLSCA    string // PEM file: the CA that signed every node's certificate
	stack    string
	stackDir string
}

// Cluster returns the test cluster or skips (fails under CI).
func Cluster(t testing.TB) ClusterAddr {
	t.Helper()
	v := os.Getenv(EnvCluster)
	if v == "" {
		missing(t, "the three-node Cassandra cluster", EnvCluster)
	}
	c := ClusterAddr{
		Username: os.Getenv(EnvClusterUsername), Password: secret.New(os.Getenv(EnvClusterPassword)),
		TLSCA: os.Getenv(EnvClusterTLSCA), stack: os.Getenv(EnvStack), stackDir: os.Getenv(EnvStackDir),
	}
	for _, hp := range strings.Split(v, ",") {
		host, port, err := net.SplitHostPort(hp)
		if err != nil {
			t.Fatalf("%s=%q: want host:port,host:port,…", EnvCluster, v)
		}
		p, err := strconv.Atoi(port)
		if err != nil || (c.Port != 0 && p != c.Port) {
			t.Fatalf("%s=%q: want one port for every node", EnvCluster, v)
		}
		c.Hosts, c.Port = append(c.Hosts, host), p
	}
	if c.stack == "" || c.stackDir == "" {
		t.Fatalf("%s and %s are not set: eval \"$(testinfra/stack.sh env)\"", EnvStack, EnvStackDir)
	}
	c.hold(t)
	return c
}

// The cluster is one test's at a time, across the test binaries that go
// test runs at once (one per package): some tests stop and kill nodes, and
// a test of another package must not meet a node going down. The lock is a
// flock on a file in the stack's directory, taken once per process (a test
// and its subtests share it) and given back when the last holder ends.
var clusterLock struct {
	sync.Mutex
	holders int
	f       *os.File
}

func (c ClusterAddr) hold(t testing.TB) {
	t.Helper()
	clusterLock.Lock()
	defer clusterLock.Unlock()
	if clusterLock.holders == 0 {
		f, err := os.OpenFile(filepath.Join(c.stackDir, "cluster-tests.lock"), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			t.Fatalf("the cluster's test lock: %v", err)
		}
		start := time.Now()
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			_ = f.Close()
			t.Fatalf("the cluster's test lock: %v", err)
		}
		if waited := time.Since(start); waited > time.Second {
			t.Logf("waited %.0f s for another package's cluster test", waited.Seconds())
		}
		clusterLock.f = f
	}
	clusterLock.holders++
	t.Cleanup(func() {
		clusterLock.Lock()
		defer clusterLock.Unlock()
		if clusterLock.holders--; clusterLock.holders == 0 {
			_ = clusterLock.f.Close() // closing the last descriptor releases the flock
			clusterLock.f = nil
		}
	})
}

// Args are the flags that reach the cluster with keyspace ks (the password
// goes through INDEXSYNC_CASSANDRA_PASSWORD, see Env).
func (c ClusterAddr) Args(ks string) []string {
	return []string{
		"--cassandra-hosts", strings.Join(c.Hosts, ","), "--cassandra-port", strconv.Itoa(c.Port),
		"--cassandra-username", c.Username, "--keyspace", ks,
	}
}

// Env is the environment a child indexsync process needs.
func (c ClusterAddr) Env() []string {
	return []string{"INDEXSYNC_CASSANDRA_PASSWORD=" + c.Password.Reveal()}
}

// Connect opens a session to the cluster at consistency cons.
func (c ClusterAddr) Connect(t testing.TB, keyspace, cons string) *cassandra.Session {
	t.Helper()
	sess, err := cassandra.Connect(context.Background(), cassandra.Config{
		Hosts: c.Hosts, Port: c.Port, Username: c.Username, Password: c.Password,
		Keyspace: keyspace, Consistency: cons, Timeout: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sess.Close)
	return sess
}

// Node names node i (1-based) as testinfra/stack.sh does.
func Node(i int) string { return "cluster-" + strconv.Itoa(i) }

// Stack runs testinfra/stack.sh with the cluster's STACK_DIR: "down
// cluster-2" (SIGTERM), "kill cluster-2" (SIGKILL), "up cluster-2" (start
// it again, with its data, and wait until every node sees it up).
func (c ClusterAddr) Stack(t testing.TB, args ...string) {
	t.Helper()
	start := time.Now()
	cmd := exec.Command(c.stack, args...)
	cmd.Env = append(os.Environ(), "STACK_DIR="+c.stackDir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("stack.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("stack.sh %s (%.1f s): %s", strings.Join(args, " "), time.Since(start).Seconds(), strings.TrimSpace(string(out)))
}

// Environment variables `testinfra/stack.sh env` prints when the https
// search engine runs (testinfra/stack.sh up search-tls).
const (
	EnvSearchTLSURL = "INDEXSYNC_TEST_SEARCH_TLS_URL" // https://127.0.0.1:9214
	EnvSearchTLSCA  = "INDEXSYNC_TEST_SEARCH_TLS_CA"  // the CA of its certificate
)

// SearchTLS returns the https search engine's URL and CA file, or skips
// (fails under CI).
func SearchTLS(t testing.TB) (url, caFile string) {
	t.Helper()
	url, caFile = os.Getenv(EnvSearchTLSURL), os.Getenv(EnvSearchTLSCA)
	if url == "" {
		missing(t, "the https search engine", EnvSearchTLSURL)
	}
	if caFile == "" {
		t.Fatalf("%s is set but %s is not: eval \"$(testinfra/stack.sh env)\"", EnvSearchTLSURL, EnvSearchTLSCA)
	}
	return strings.TrimRight(url, "/"), caFile
}
