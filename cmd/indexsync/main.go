// Command indexsync keeps a Sunbird search index (Elasticsearch/OpenSearch)
// in step with the Cassandra database it mirrors. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/indexsync/indexsync/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // restore default handling: a second signal ends the process
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command line and returns the process exit code. A
// cancelled ctx (SIGINT/SIGTERM) lets commands save their state and stop.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root, g := newRootCommand(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if g.stopProfile != nil {
		g.stopProfile()
	}
	if err != nil && !g.prepared {
		// cobra's own errors (unknown command, wrong arguments) and bad
		// settings all come before the command starts: usage errors.
		if _, ok := errors.AsType[*config.UsageError](err); !ok {
			err = &config.UsageError{Err: fmt.Errorf("%w (see 'indexsync --help')", err)}
		}
	}
	if err != nil && !errors.Is(err, errSomeFailed) {
		fmt.Fprintln(stderr, "indexsync:", err)
	}
	return exitCode(ctx, err)
}
