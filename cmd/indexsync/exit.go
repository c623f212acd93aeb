package main

import (
	"context"
	"errors"

	"github.com/indexsync/indexsync/internal/cassandra"
	"github.com/indexsync/indexsync/internal/config"
)

// The exit codes of PRODUCT.md, decided here and nowhere else.
const (
	exitOK          = 0   // everything done
	exitSomeFailed  = 1   // finished, but some ids failed / differences remain
	exitUsage       = 2   // bad flags, env or config file
	exitUnreachable = 3   // cannot reach or log in to Cassandra, the search engine or the API
	exitFatal       = 4   // stopped by a fatal error mid-run (checkpoint saved)
	exitInterrupted = 130 // SIGINT/SIGTERM (checkpoint saved)
)

// errSomeFailed is returned by a command that finished its work but has
// failures to report; the command has already said which.
var errSomeFailed = errors.New("finished with failures")

// unreachableError marks a start-up failure to reach a backend whose package
// has no error type of its own.
type unreachableError struct{ err error }

func (e *unreachableError) Error() string { return e.err.Error() }
func (e *unreachableError) Unwrap() error { return e.err }

func exitCode(ctx context.Context, err error) int {
	var (
		usage *config.UsageError
		cass  *cassandra.ConnectError
		unr   *unreachableError
		fatal *fatalError
	)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errSomeFailed):
		return exitSomeFailed
	case errors.As(err, &usage):
		return exitUsage
	case errors.As(err, &fatal):
		// a stop mid-run, whatever it wraps: a connection lost after the
		// start is not "cannot connect"
		return exitFatal
	case errors.As(err, &cass), errors.As(err, &unr), isSearchConnectError(err):
		return exitUnreachable
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		return exitInterrupted
	}
	return exitFatal
}
