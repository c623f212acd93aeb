package main

import (
	"github.com/indexsync/indexsync/internal/outcome"
)

// The exit codes of the README, each the number of an outcome class. This
// is the one place that turns a class into a number; outcome.Of is the one
// place that classifies.
const (
	exitOK          = 0   // everything done
	exitSomeFailed  = 1   // finished, but some ids failed / differences remain
	exitUsage       = 2   // bad flags, env, config file or state files
	exitUnreachable = 3   // cannot reach or log in to Cassandra, the search engine or the API
	exitFatal       = 4   // stopped by a fatal error mid-run (checkpoint saved)
	exitInterrupted = 130 // SIGINT/SIGTERM (checkpoint saved)
)

// exitCodeOf is the exit code of a class.
func exitCodeOf(c outcome.Class) int {
	switch c {
	case outcome.OK:
		return exitOK
	case outcome.SomeFailed:
		return exitSomeFailed
	case outcome.Usage:
		return exitUsage
	case outcome.Unreachable:
		return exitUnreachable
	case outcome.Interrupted:
		return exitInterrupted
	}
	return exitFatal
}
