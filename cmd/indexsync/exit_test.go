package main

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/indexsync/indexsync/internal/config"
	"github.com/indexsync/indexsync/internal/outcome"
	"github.com/indexsync/indexsync/internal/search"
)

// TestExitCode: the one classification (outcome.Of) and the one mapping to
// numbers (exitCodeOf) give every exit code of the README.
func TestExitCode(t *testing.T) {
	lost := fmt.Errorf("bulk into user_alias: %w", search.ErrUnreachable)
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, exitOK},
		{"some failed", outcome.ErrSomeFailed, exitSomeFailed},
		{"usage", config.Usagef("--block-size 0"), exitUsage},
		{"a usage error wrapped", fmt.Errorf("run: %w", config.Usagef("--block-size 0")), exitUsage},
		{"cannot reach the engine at start", outcome.As(outcome.Unreachable, lost), exitUnreachable},
		{"connection lost mid-run", outcome.As(outcome.Fatal, fmt.Errorf("stopped: %w", outcome.As(outcome.Unreachable, lost))), exitFatal},
		{"interrupted", fmt.Errorf("interrupted: %w", context.Canceled), exitInterrupted},
		{"anything else", errors.New("boom"), exitFatal},
	}
	for _, tt := range tests {
		if got := exitCodeOf(outcome.Of(context.Background(), tt.err)); got != tt.want {
			t.Errorf("%s: exit %d, want %d", tt.name, got, tt.want)
		}
	}
}
