package main

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/indexsync/indexsync/internal/buildinfo"
	"github.com/indexsync/indexsync/internal/cassandra"
	"github.com/indexsync/indexsync/internal/config"
	"github.com/indexsync/indexsync/internal/search"
)

// connectCassandra opens a session; withKeyspace binds the configured keyspace.
func connectCassandra(ctx context.Context, c config.Cassandra, withKeyspace bool) (*cassandra.Session, error) {
	cfg := cassandra.Config{
		Hosts:       c.Hosts,
		Port:        c.Port,
		Username:    c.Username,
		Password:    c.Password,
		Consistency: c.Consistency,
		TLSCA:       c.TLSCA,
		Timeout:     c.Timeout,
	}
	if withKeyspace {
		cfg.Keyspace = c.Keyspace
	}
	return cassandra.Connect(ctx, cfg)
}

// connectSearch makes a search client and asks the engine who it is, so a
// wrong URL or password fails at start with exit code 3.
func connectSearch(ctx context.Context, s config.Search, retries int) (*search.Client, search.Info, error) {
	return openSearch(ctx, searchConfig(s, retries))
}

// searchConfig is the search client's configuration for the flags.
func searchConfig(s config.Search, retries int) search.Config {
	return search.Config{
		URLs:      s.URLs,
		Username:  s.Username,
		Password:  s.Password,
		TLSCA:     s.TLSCA,
		Timeout:   s.Timeout,
		UserAgent: "indexsync/" + buildinfo.Get().Version,
		Retries:   retries,
	}
}

// openSearch makes a client for cfg and asks the engine who it is; a
// configuration it refuses is a usage error.
func openSearch(ctx context.Context, cfg search.Config) (*search.Client, search.Info, error) {
	c, err := search.NewClient(cfg)
	if err != nil {
		return nil, search.Info{}, &config.UsageError{Err: err}
	}
	info, err := c.Info(ctx)
	if err != nil {
		return nil, search.Info{}, err
	}
	return c, info, nil
}

// isSearchConnectError reports whether err means the search engine could not
// be reached or refused our credentials.
func isSearchConnectError(err error) bool {
	return errors.Is(err, search.ErrUnreachable) || errors.Is(err, search.ErrUnauthorized) || errors.Is(err, search.ErrUnsupportedVersion)
}

// cqlExecer runs CQL statements on a driver session.
type cqlExecer struct{ s *gocql.Session }

func (e cqlExecer) Exec(ctx context.Context, stmt string) error {
	return e.s.Query(stmt).ExecContext(ctx)
}

func cores() int { return runtime.NumCPU() }

// parseShard reads --shard I/N (0 ≤ I < N); empty means the whole ring, 0/1.
func parseShard(s string) (i, n int, err error) {
	if s == "" {
		return 0, 1, nil
	}
	is, ns, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(is)
	n, err2 := strconv.Atoi(ns)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return 0, 1, fmt.Errorf("--shard %q: want I/N with 0 ≤ I < N, e.g. 0/4", s)
	}
	return i, n, nil
}

// requireIndex makes sure the index or alias of an object type's documents
// exists before anything is written to it: the engine would otherwise create
// an index of that name with guessed mappings, and the real alias could never
// be made. It returns the name and the flag that sets it.
func requireIndex(ctx context.Context, c *search.Client, s *config.Search, objectType string) (name, flag string, err error) {
	name, flag = s.Index(objectType)
	ok, err := c.IndexExists(ctx, name)
	if err != nil {
		return name, flag, err
	}
	if !ok {
		return name, flag, config.Usagef("the search engine has no index or alias %s (check %s, or create it with `indexsync schema`)", name, flag)
	}
	return name, flag, nil
}
