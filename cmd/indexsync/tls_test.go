package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/indexsync/indexsync/internal/cassandra"
	"github.com/indexsync/indexsync/internal/search"
	"github.com/indexsync/indexsync/internal/syncapi"
	"github.com/indexsync/indexsync/internal/testca"
	"github.com/indexsync/indexsync/internal/testenv"
)

// tlsStack is TLS on every side: the three-node cluster with client
// encryption (its CA from the stack), the https search engine (its CA from
// the stack), and `indexsync serve` over https with a certificate made here.
type tlsStack struct {
	c         testenv.ClusterAddr
	searchURL string
	searchCA  string
	keyspace  string
	prefix    string
	serveCA   string // the CA that signed serve's certificate
	serveCert string
	serveKey  string
	wrongCA   string // a CA that signed none of them
}

func newTLSStack(t *testing.T) *tlsStack {
	t.Helper()
	s := &tlsStack{c: testenv.Cluster(t), keyspace: testenv.Name("tls"), prefix: testenv.Name("tls")}
	s.searchURL, s.searchCA = testenv.SearchTLS(t)
	t.Setenv("INDEXSYNC_CASSANDRA_PASSWORD", s.c.Password.Reveal())
	dir := t.TempDir()
	ca, err := testca.New("indexsync serve test CA")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.Issue("127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	files, err := testca.Write(filepath.Join(dir, "serve"), ca, pair)
	if err != nil {
		t.Fatal(err)
	}
	s.serveCA, s.serveCert, s.serveKey = files["ca.pem"], files["server.crt"], files["server.key"]
	wrong, err := testca.New("a CA nobody uses")
	if err != nil {
		t.Fatal(err)
	}
	s.wrongCA = filepath.Join(dir, "wrong-ca.pem")
	if err := os.WriteFile(s.wrongCA, wrong.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.drop() })
	return s
}

// cassArgs reach the cluster over TLS, trusting ca.
func (s *tlsStack) cassArgs(ca string) []string {
	return append(s.c.Args(s.keyspace), "--cassandra-tls-ca", ca)
}

// searchArgs reach the https engine, trusting ca.
func (s *tlsStack) searchArgs(ca string) []string {
	return []string{
		"--search-url", s.searchURL, "--search-tls-ca", ca,
		"--user-index", s.prefix + "_user", "--org-index", s.prefix + "_org", "--location-index", s.prefix + "_location",
	}
}

func (s *tlsStack) drop() {
	ctx := context.Background()
	if sess, err := cassandra.Connect(ctx, cassandra.Config{
		Hosts: s.c.Hosts, Port: s.c.Port, Username: s.c.Username, Password: s.c.Password, Timeout: 30 * time.Second,
	}); err == nil {
		_ = sess.Query("DROP KEYSPACE IF EXISTS " + s.keyspace).ExecContext(ctx)
		sess.Close()
	}
	c, err := search.NewClient(search.Config{URLs: []string{s.searchURL}, TLSCA: s.searchCA})
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

// startServe runs `indexsync serve --tls-cert --tls-key` over TLS to the
// cluster and the engine, and returns its https sync URL once /health
// answers a client that trusts the serve CA.
func (s *tlsStack) startServe(t *testing.T) string {
	t.Helper()
	args := append([]string{"--state-dir", t.TempDir(), "--tls-cert", s.serveCert, "--tls-key", s.serveKey}, s.cassArgs(s.c.TLSCA)...)
	p := startServeProc(t, append(args, s.searchArgs(s.searchCA)...), s.c.Env(), "https", s.serveClient(t).Get)
	return "https://" + p.addr + syncapi.RouteSync
}

// serveClient trusts the CA of serve's certificate, and only it.
func (s *tlsStack) serveClient(t *testing.T) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(s.serveCA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
}

// TestTLSEverySide: Cassandra's client encryption (--cassandra-tls-ca), the
// search engine's own https (--search-tls-ca) and `serve --tls-cert` with
// `run --target api --api-tls-ca` against it — a whole sync and a verify
// with TLS on every connection; then each client with a CA that did not sign
// its server's certificate: exit 3 and a message that names the flag.
func TestTLSEverySide(t *testing.T) {
	const users = 300
	s := newTLSStack(t)
	cass, srch := s.cassArgs(s.c.TLSCA), s.searchArgs(s.searchCA)
	steps := [][]string{
		append([]string{"schema", "--replication", "3", "--skip-search"}, cass...),
		append(append([]string{"schema", "--skip-cassandra", "--index-shards", "1", "--index-replicas", "0"}, cass...), srch...),
		append([]string{"seed", "--users", strconv.Itoa(users), "--seed", "5", "--cassandra-consistency", "QUORUM"}, cass...),
	}
	for _, args := range steps {
		if out, stderr, code := runCmd(t, args...); code != 0 {
			t.Fatalf("%s over TLS: exit %d\n%s%s", args[0], code, out, stderr)
		}
	}

	endpoint := s.startServe(t)
	tlsConns := s.tlsConnections(t)
	t.Logf("TLS connections on each node while serve runs: %v", tlsConns)
	for _, h := range s.c.Hosts {
		if tlsConns[h] == 0 {
			t.Errorf("node %s has no TLS client connection while serve runs: serve does not use TLS to it", h)
		}
	}
	// plain http to the https port
	resp, err := http.Get(strings.Replace(strings.TrimSuffix(endpoint, syncapi.RouteSync), "https://", "http://", 1) + "/health")
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Logf("plain http to serve's https port: HTTP %d %s", resp.StatusCode, strings.TrimSpace(string(body)))
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain http to serve's https port: HTTP %d, want 400", resp.StatusCode)
		}
	}

	dir := t.TempDir()
	args := append([]string{"run", "--target", "api", "--api-endpoint", endpoint, "--api-tls-ca", s.serveCA, "--state-dir", dir, "--concurrency", "2"}, cass...)
	out, stderr, code := runCmdEnv(t, []string{"INDEXSYNC_API_KEY=" + apiKey}, args...)
	t.Logf("run --target api over https: exit %d\n%s%s", code, lastLines(out, 6), lastLines(stderr, 4))
	if code != 0 {
		t.Fatalf("run --target api over https: exit %d", code)
	}
	if sum := readSummary(t, dir); sum.Succeeded != users || sum.Failed != 0 {
		t.Errorf("summary: %d succeeded, %d failed; want %d, 0", sum.Succeeded, sum.Failed, users)
	}
	vdir := t.TempDir()
	vout, verr, code := runCmd(t, append(append([]string{"verify", "--state-dir", vdir}, cass...), srch...)...)
	t.Logf("verify over TLS: exit %d\n%s%s", code, vout, lastLines(verr, 3))
	if rep := readVerifyFile(t, vdir); code != 0 || rep.CassandraDocs != users || rep.IndexDocs != users {
		t.Errorf("verify over TLS: exit %d, %d users in Cassandra, %d documents; want 0, %d, %d", code, rep.CassandraDocs, rep.IndexDocs, users, users)
	}

	plainCassandra := testenv.Cassandra(t) // the single node: no client encryption
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want []string // in the one line on stderr
	}{
		{"Cassandra, wrong CA",
			append(append([]string{"verify"}, s.cassArgs(s.wrongCA)...), srch...),
			nil, []string{"cannot connect to Cassandra at 127.0.0.1:", "over TLS", "signed by an authority the given CA file does not hold", "check --cassandra-tls-ca"}},
		{"Cassandra, TLS to a port without it",
			append([]string{"verify", "--cassandra-hosts", plainCassandra.Host, "--cassandra-port", strconv.Itoa(plainCassandra.Port),
				"--cassandra-username", plainCassandra.Username, "--keyspace", s.keyspace, "--cassandra-tls-ca", s.c.TLSCA}, srch...),
			[]string{"INDEXSYNC_CASSANDRA_PASSWORD=" + plainCassandra.Password.Reveal()}, []string{"over TLS", "does not speak TLS there", "client_encryption_options"}},
		{"search engine, wrong CA",
			append(append([]string{"run", "--target", "search", "--state-dir", t.TempDir()}, cass...), s.searchArgs(s.wrongCA)...),
			nil, []string{"cannot reach the search engine at " + s.searchURL, "signed by an authority", "check --search-tls-ca"}},
		{"Sync API, wrong CA",
			append([]string{"run", "--target", "api", "--api-endpoint", endpoint, "--api-tls-ca", s.wrongCA, "--state-dir", t.TempDir()}, cass...),
			[]string{"INDEXSYNC_API_KEY=" + apiKey}, []string{"cannot connect to the Sync API at " + endpoint + " over TLS", "signed by an authority", "check --api-tls-ca"}},
		{"Sync API, no CA (the system's do not sign it)",
			append([]string{"run", "--target", "api", "--api-endpoint", endpoint, "--state-dir", t.TempDir()}, cass...),
			[]string{"INDEXSYNC_API_KEY=" + apiKey}, []string{"over TLS", "signed by an authority", "check --api-tls-ca"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := runCmdEnv(t, tc.env, tc.args...)
			t.Logf("exit %d: %s", code, strings.TrimSpace(stderr))
			if code != exitUnreachable {
				t.Errorf("exit %d, want %d", code, exitUnreachable)
			}
			last := lastLines(stderr, 1)
			for _, w := range tc.want {
				if !strings.Contains(last, w) {
					t.Errorf("the error %q does not say %q", last, w)
				}
			}
		})
	}
}

// runCmdEnv is runCmd with extra environment variables for the command.
func runCmdEnv(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	return runCmd(t, args...)
}

// tlsConnections counts, on each node, the client connections that use TLS
// (system_views.clients), asked over a plain connection.
func (s *tlsStack) tlsConnections(t *testing.T) map[string]int {
	t.Helper()
	sess := s.c.Connect(t, "", "LOCAL_ONE")
	out := map[string]int{}
	for _, h := range sess.GetHosts() {
		iter := sess.Query("SELECT ssl_enabled FROM system_views.clients").SetHostID(h.HostID()).Iter()
		var on bool
		for iter.Scan(&on) {
			if on {
				out[h.ConnectAddress().String()]++
			}
		}
		if err := iter.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestTLSFlags: --tls-cert and --tls-key go together and must load; a CA
// file that is missing or holds no certificate is a usage error at start.
func TestTLSFlags(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--auth", "none", "--tls-cert", bad}, "--tls-cert and --tls-key go together"},
		{[]string{"serve", "--auth", "none", "--tls-cert", bad, "--tls-key", bad}, "want a PEM certificate"},
		{[]string{"run", "--target", "api", "--api-tls-ca", filepath.Join(dir, "none.pem")}, "read --api-tls-ca: open"},
		{[]string{"verify", "--cassandra-tls-ca", bad}, "--cassandra-tls-ca " + bad + " holds no PEM certificate"},
		{[]string{"verify", "--search-tls-ca", bad}, "--search-tls-ca " + bad + " holds no PEM certificate"},
	} {
		_, stderr, code := runCmd(t, tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, %q; want exit %d and %q", tc.args, code, stderr, exitUsage, tc.want)
		}
	}
}
