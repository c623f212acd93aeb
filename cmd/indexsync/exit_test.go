package main

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/indexsync/indexsync/internal/config"
	"github.com/indexsync/indexsync/internal/search"
)

func TestExitCode(t *testing.T) {
	lost := fmt.Errorf("bulk into user_alias: %w", search.ErrUnreachable)
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, exitOK},
		{"some failed", errSomeFailed, exitSomeFailed},
		{"usage", config.Usagef("--block-size 0"), exitUsage},
		{"cannot reach the engine at start", lost, exitUnreachable},
		{"connection lost mid-run", &fatalError{err: lost}, exitFatal},
		{"interrupted", fmt.Errorf("interrupted: %w", context.Canceled), exitInterrupted},
		{"anything else", errors.New("boom"), exitFatal},
	}
	for _, tt := range tests {
		if got := exitCode(context.Background(), tt.err); got != tt.want {
			t.Errorf("%s: exit %d, want %d", tt.name, got, tt.want)
		}
	}
}
