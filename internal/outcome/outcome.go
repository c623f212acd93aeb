// Package outcome classifies how a command ended: one classification for
// the process exit code, the run's summary_<ms>.json and verify's
// verify_<ms>.json alike. It says what kind of ending it was; only
// cmd/indexsync/exit.go turns a class into a number.
//
// An error carries its class when its type has a Class method (Classed);
// the outermost classed error of a chain wins, so a run that stops mid-way
// (Fatal) stays Fatal even when the cause it wraps is a lost connection
// (Unreachable at start).
package outcome

import (
	"context"
	"errors"
)

// Class is how a command ended.
type Class int

// The classes, in the order of their exit codes.
const (
	OK          Class = iota // everything done
	SomeFailed               // finished, but some ids failed or differences remain
	Usage                    // bad flags, environment, config file or state files
	Unreachable              // cannot reach or log in to Cassandra, the engine or the API at start
	Fatal                    // stopped by an error mid-way (state saved)
	Interrupted              // stopped by SIGINT/SIGTERM (state saved)
)

var names = [...]string{"ok", "some-failed", "usage", "unreachable", "fatal", "interrupted"}

func (c Class) String() string {
	if c < 0 || int(c) >= len(names) {
		return "unknown"
	}
	return names[c]
}

// Classed is an error that knows its class.
type Classed interface {
	error
	Class() Class
}

// Of classifies the error a command returned: nil is OK; a Classed error
// (the outermost in its chain) says its class; a cancelled context is
// Interrupted; anything else stopped the command mid-way.
func Of(ctx context.Context, err error) Class {
	if err == nil {
		return OK
	}
	if c, ok := errors.AsType[Classed](err); ok {
		return c.Class()
	}
	if ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return Interrupted
	}
	return Fatal
}

// Error is an error with a class given by the code that saw it happen.
type Error struct {
	C   Class
	Err error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Class implements Classed.
func (e *Error) Class() Class { return e.C }

// As gives err the class c (nil stays nil).
func As(c Class, err error) error {
	if err == nil {
		return nil
	}
	return &Error{C: c, Err: err}
}

// ErrSomeFailed ends a command that finished its work with failures it has
// already reported.
var ErrSomeFailed error = &Error{C: SomeFailed, Err: errors.New("finished with failures")}
