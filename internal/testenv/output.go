package testenv

import (
	"bytes"
	"sync"
)

// Output collects what a child process writes (its Stdout or Stderr) and
// may be read while the process still runs: exec copies the child's output
// from a goroutine of its own, so a bare bytes.Buffer read by the test at
// the same time is a data race.
type Output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

// String returns everything written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}
