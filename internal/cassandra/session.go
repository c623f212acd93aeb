// Package cassandra opens sessions to Apache Cassandra with indexsync's
// settings and turns the driver's failures into errors that say what to do.
package cassandra

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/indexsync/indexsync/internal/secret"
	"github.com/indexsync/indexsync/internal/tlstrust"
)

// Config says how to reach Cassandra.
type Config struct {
	Hosts       []string // host or host:port
	Port        int
	Username    string
	Password    secret.String
	Keyspace    string // empty: no keyspace bound to the session
	Consistency string // e.g. LOCAL_ONE
	TLSCA       string
	Timeout     time.Duration
	NumConns    int // connections per host; 0 = driver default

	frames gocql.FrameHeaderObserver // sees every frame's header (tests)
}

// Problem says why a connection failed.
type Problem int

// The kinds of connection failure.
const (
	Unreachable Problem = iota + 1
	BadCredentials
	NoKeyspace
	TLSUntrusted // the TLS handshake failed: certificate not trusted, or no TLS on the port
	Other
)

// ConnectError is returned when a session cannot be opened.
type ConnectError struct {
	Addrs    []string
	Username string
	Problem  Problem
	Err      error
	// TLS says why the handshake failed (tlstrust.Problem), for TLSUntrusted.
	TLS string
}

func (e *ConnectError) Error() string {
	where := strings.Join(e.Addrs, ",")
	switch e.Problem {
	case Unreachable:
		return fmt.Sprintf("cannot reach Cassandra at %s: %v (check --cassandra-hosts/--cassandra-port and that Cassandra is running)", where, e.Err)
	case BadCredentials:
		if e.Username == "" {
			return fmt.Sprintf("cannot log in to Cassandra at %s: it requires a login (set --cassandra-username and INDEXSYNC_CASSANDRA_PASSWORD or --cassandra-password-file)", where)
		}
		return fmt.Sprintf("cannot log in to Cassandra at %s as %q: bad credentials (check --cassandra-username and INDEXSYNC_CASSANDRA_PASSWORD or --cassandra-password-file)", where, e.Username)
	case NoKeyspace:
		return fmt.Sprintf("Cassandra at %s has no keyspace: %v (check --keyspace, or create it with `indexsync schema`)", where, e.Err)
	case TLSUntrusted:
		return fmt.Sprintf("cannot connect to Cassandra at %s over TLS: %s (check --cassandra-tls-ca: it must hold the CA certificate that signed the nodes' certificates, and the nodes must have client_encryption_options enabled)", where, e.TLS)
	default:
		return fmt.Sprintf("cannot open a Cassandra session at %s: %v", where, e.Err)
	}
}

func (e *ConnectError) Unwrap() error { return e.Err }

// Session is an open Cassandra session.
type Session struct {
	*gocql.Session
	cfg    Config
	routes routes // routing keys of range scans (route.go)
}

// Addrs returns host:port for each configured host.
func (c Config) Addrs() []string {
	out := make([]string, len(c.Hosts))
	for i, h := range c.Hosts {
		if _, _, err := net.SplitHostPort(h); err == nil {
			out[i] = h
		} else {
			out[i] = net.JoinHostPort(h, strconv.Itoa(c.Port))
		}
	}
	return out
}

// Connect opens a session. It first dials the hosts itself so an unreachable
// cluster and a rejected login give different, clear errors.
func Connect(ctx context.Context, cfg Config) (*Session, error) {
	addrs := cfg.Addrs()
	if err := dialAny(ctx, addrs, cfg.Timeout); err != nil {
		return nil, &ConnectError{Addrs: addrs, Problem: Unreachable, Err: err}
	}
	cluster := gocql.NewCluster(addrs...)
	cluster.Port = cfg.Port
	cluster.Keyspace = cfg.Keyspace
	cluster.Timeout = cfg.Timeout
	cluster.ConnectTimeout = cfg.Timeout
	cluster.WriteTimeout = cfg.Timeout
	if cfg.NumConns > 0 {
		cluster.NumConns = cfg.NumConns
	}
	cons, err := ParseConsistency(cfg.Consistency)
	if err != nil {
		return nil, fmt.Errorf("--cassandra-consistency: %w", err)
	}
	cluster.Consistency = cons
	// Queries with a routing key go to a replica of their data (the first
	// live one in ring order), the others round robin: range scans get a
	// routing key of their own (route.go).
	cluster.PoolConfig.HostSelectionPolicy = gocql.TokenAwareHostPolicy(gocql.RoundRobinHostPolicy())
	cluster.Logger = quietLogger{}
	if cfg.Username != "" || cfg.Password.IsSet() {
		cluster.Authenticator = gocql.PasswordAuthenticator{Username: cfg.Username, Password: cfg.Password.Reveal()}
	}
	if cfg.TLSCA != "" {
		// only the given CA: a cluster's nodes are signed by the
		// deployment's own, and each node's certificate must name its address
		pool, err := tlstrust.Pool(cfg.TLSCA, "--cassandra-tls-ca", false)
		if err != nil {
			return nil, err
		}
		cluster.SslOpts = &gocql.SslOptions{Config: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, EnableHostVerification: true}
	}
	cluster.FrameHeaderObserver = cfg.frames
	s, err := cluster.CreateSession()
	if err != nil && cfg.Keyspace != "" {
		// With a keyspace bound, the driver hides why it could not connect
		// (a missing keyspace, bad credentials) behind "no connections";
		// connect without it to tell which.
		return nil, diagnose(ctx, cluster, err, addrs, cfg)
	}
	if err != nil {
		return nil, classify(err, addrs, cfg)
	}
	return &Session{Session: s, cfg: cfg}, nil
}

func diagnose(ctx context.Context, cluster *gocql.ClusterConfig, orig error, addrs []string, cfg Config) error {
	bare := *cluster
	bare.Keyspace = ""
	// a session's token-aware policy cannot serve a second session
	bare.PoolConfig.HostSelectionPolicy = gocql.TokenAwareHostPolicy(gocql.RoundRobinHostPolicy())
	s, err := bare.CreateSession()
	if err != nil {
		return classify(err, addrs, cfg)
	}
	defer s.Close()
	var name string
	err = s.Query("SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?", cfg.Keyspace).ScanContext(ctx, &name)
	if errors.Is(err, gocql.ErrNotFound) {
		return &ConnectError{Addrs: addrs, Problem: NoKeyspace, Err: fmt.Errorf("keyspace %q does not exist", cfg.Keyspace)}
	}
	return classify(orig, addrs, cfg)
}

func classify(err error, addrs []string, cfg Config) error {
	if p := tlstrust.Problem(err); p != "" {
		return &ConnectError{Addrs: addrs, Problem: TLSUntrusted, Err: err, TLS: p}
	}
	msg := err.Error()
	var cred *gocql.RequestErrCredentials
	switch {
	case errors.As(err, &cred),
		strings.Contains(msg, "password are incorrect"),
		strings.Contains(msg, "Authentication"),
		strings.Contains(msg, "authentication") && strings.Contains(msg, "fail"),
		strings.Contains(msg, "requires authentication"), strings.Contains(msg, "authentication required"):
		return &ConnectError{Addrs: addrs, Username: cfg.Username, Problem: BadCredentials, Err: err}
	case strings.Contains(msg, "Keyspace") && strings.Contains(msg, "does not exist"):
		return &ConnectError{Addrs: addrs, Problem: NoKeyspace, Err: fmt.Errorf("keyspace %q does not exist", cfg.Keyspace)}
	case errors.Is(err, gocql.ErrNoConnectionsStarted):
		return &ConnectError{Addrs: addrs, Problem: Unreachable, Err: err}
	}
	return &ConnectError{Addrs: addrs, Problem: Other, Err: err}
}

func dialAny(ctx context.Context, addrs []string, timeout time.Duration) error {
	d := net.Dialer{Timeout: min(timeout, 10*time.Second)}
	var errs []error
	for _, a := range addrs {
		c, err := d.DialContext(ctx, "tcp", a)
		if err == nil {
			_ = c.Close()
			return nil
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Consistency is a consistency level (ParseConsistency makes one), for a
// query that must not use the session's (Session.ExistingKeys).
type Consistency = gocql.Consistency

// ParseConsistency turns a name such as LOCAL_ONE into the driver's value;
// empty is LOCAL_ONE.
func ParseConsistency(s string) (Consistency, error) {
	switch strings.ToUpper(s) {
	case "ANY":
		return gocql.Any, nil
	case "ONE":
		return gocql.One, nil
	case "TWO":
		return gocql.Two, nil
	case "THREE":
		return gocql.Three, nil
	case "QUORUM":
		return gocql.Quorum, nil
	case "ALL":
		return gocql.All, nil
	case "LOCAL_QUORUM":
		return gocql.LocalQuorum, nil
	case "EACH_QUORUM":
		return gocql.EachQuorum, nil
	case "LOCAL_ONE", "":
		return gocql.LocalOne, nil
	}
	return 0, fmt.Errorf("unknown consistency level %q (use LOCAL_ONE, ONE, LOCAL_QUORUM, QUORUM, …)", s)
}

// quietLogger drops the driver's own chatter; our errors carry what matters.
type quietLogger struct{}

func (quietLogger) Error(string, ...gocql.LogField)   {}
func (quietLogger) Warning(string, ...gocql.LogField) {}
func (quietLogger) Info(string, ...gocql.LogField)    {}
func (quietLogger) Debug(string, ...gocql.LogField)   {}
