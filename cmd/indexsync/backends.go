package main

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"time"

	"github.com/indexsync/indexsync/internal/buildinfo"
	"github.com/indexsync/indexsync/internal/cassandra"
	"github.com/indexsync/indexsync/internal/config"
	"github.com/indexsync/indexsync/internal/outcome"
	"github.com/indexsync/indexsync/internal/search"
	"github.com/indexsync/indexsync/internal/sunbird"
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
	sess, err := cassandra.Connect(ctx, cfg)
	if _, ok := errors.AsType[*cassandra.ConnectError](err); ok {
		return nil, outcome.As(outcome.Unreachable, err)
	}
	if err != nil {
		return nil, &config.UsageError{Err: err} // a setting it refused: the CA file
	}
	return sess, nil
}

// connectSearch makes a search client and asks the engine who it is, so a
// wrong URL or password fails at start with exit code 3. log receives the
// engine's deprecation warnings, once per kind.
func connectSearch(ctx context.Context, s config.Search, retries int, log *slog.Logger) (*search.Client, search.Info, error) {
	return openSearch(ctx, searchConfig(s, retries, log))
}

// searchConfig is the search client's configuration for the flags.
//
// Answers come uncompressed. The engine gzips answers for any client that
// accepts it, and that costs both sides more CPU than the network it saves
// between a sync job and its cluster: verify (and a rebuild's check) reads
// every document back, and on the local stack 20 _mget calls of 1,000 user
// documents took 5.5 s with gzip and 2.6 s without (3.1 MB against 0.5 MB
// per answer); a bulk answer, trimmed by filter_path, is small either way.
// Requests were never compressed.
func searchConfig(s config.Search, retries int, log *slog.Logger) search.Config {
	return search.Config{
		DisableCompression: true,
		Logger:             log.With("component", "search"),
		URLs:               s.URLs,
		Username:           s.Username,
		Password:           s.Password,
		TLSCA:              s.TLSCA,
		Timeout:            s.Timeout,
		UserAgent:          "indexsync/" + buildinfo.Get().Version,
		Retries:            retries,
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
	if errors.Is(err, search.ErrUnreachable) || errors.Is(err, search.ErrUnauthorized) || errors.Is(err, search.ErrUnsupportedVersion) {
		return nil, search.Info{}, outcome.As(outcome.Unreachable, err)
	}
	if err != nil {
		return nil, search.Info{}, err
	}
	return c, info, nil
}

func cores() int { return runtime.NumCPU() }

// requireIndex makes sure the index or alias of an object type's documents
// exists before anything is written to it: the engine would otherwise create
// an index of that name with guessed mappings, and the real alias could never
// be made. It returns the name and the flag that sets it.
func requireIndex(ctx context.Context, c *search.Client, s *config.Search, kind sunbird.Kind) (name, flag string, err error) {
	name, flag = s.Index(kind)
	ok, err := c.IndexExists(ctx, name)
	if err != nil {
		return name, flag, err
	}
	if !ok {
		return name, flag, config.Usagef("the search engine has no index or alias %s (check %s, or create it with `indexsync schema`)", name, flag)
	}
	return name, flag, nil
}

// closeWait bounds closing the Cassandra session at the end of a command: a
// node that stopped answering must not hold the process past its deadline.
const closeWait = 2 * time.Second
