// Package statedir prepares the directory a command keeps its files in
// (--state-dir): it must exist and take files, and one run at a time may
// use it.
package statedir

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/indexsync/indexsync/internal/config"
)

// Prepare makes sure dir exists (creating it) and takes files; a problem is
// a usage error naming --state-dir.
func Prepare(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--state-dir %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".indexsync-write-test-*")
	if err != nil {
		return fmt.Errorf("--state-dir %s is not writable: %w (choose another --state-dir)", dir, err)
	}
	name := f.Name()
	_ = f.Close()
	return os.Remove(name)
}

// Lock takes an exclusive lock on dir, so two runs cannot overwrite each
// other's checkpoint; the returned func releases it.
func Lock(dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, config.Usagef("--state-dir %s: %v", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, config.Usagef("--state-dir %s is in use by another indexsync run (give each run its own --state-dir)", dir)
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); _ = f.Close() }, nil
}
