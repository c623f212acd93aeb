package main

import (
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"runtime/pprof"
	"slices"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/indexsync/indexsync/internal/buildinfo"
	"github.com/indexsync/indexsync/internal/config"
	"github.com/indexsync/indexsync/internal/logging"
)

// globalOptions are the settings every command has.
type globalOptions struct {
	ConfigFile string
	LogFormat  string
	LogLevel   string
	Progress   string
	CPUProfile string

	stdout, stderr io.Writer
	logger         *slog.Logger
	prepared       bool // settings layered: errors after this come from the command itself
	stopProfile    func()
}

func (o *globalOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.ConfigFile, "config", "", "YAML file of settings, keyed by flag name")
	fs.StringVar(&o.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&o.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&o.Progress, "progress", "auto", "progress display: auto, always or never")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a Go CPU profile of the command to this file (for performance work)")
	_ = fs.MarkHidden("cpuprofile")
}

func newRootCommand(stdout, stderr io.Writer) (*cobra.Command, *globalOptions) {
	g := &globalOptions{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "indexsync",
		Short: "Keep a Sunbird search index in step with Cassandra",
		Long: `indexsync copies Sunbird users, organisations and locations from Cassandra
into Elasticsearch/OpenSearch, serves the Sync API, and verifies that the two agree.`,
		Version:       buildinfo.Get().Version,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	g.AddFlags(root.PersistentFlags())
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &config.UsageError{Err: fmt.Errorf("%w (see '%s --help')", err, cmd.CommandPath())}
	})
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		return g.prepare(cmd, root)
	}
	root.AddCommand(
		newVersionCommand(g),
		newSchemaCommand(g),
		newSeedCommand(g),
		newRunCommand(g),
		newServeCommand(g),
		newVerifyCommand(g),
	)
	return root, g
}

// prepare layers env and the config file under the flags, then builds the logger.
func (g *globalOptions) prepare(cmd *cobra.Command, root *cobra.Command) error {
	fs := cmd.Flags()
	if !fs.Changed("config") {
		if v, ok := os.LookupEnv(config.EnvName("config")); ok {
			g.ConfigFile = v
		}
	}
	flags := allFlags(root)
	if err := config.UnknownEnv(os.Environ(), flags); err != nil {
		return err
	}
	file := config.File{}
	if g.ConfigFile != "" {
		f, err := config.LoadFile(g.ConfigFile)
		if err != nil {
			return err
		}
		if unknown := f.UnknownKeys(func(n string) bool { return slices.Contains(flags, n) }); len(unknown) > 0 {
			return config.Usagef("config file %s: unknown keys %v (keys are flag names, e.g. cassandra-hosts)", g.ConfigFile, unknown)
		}
		file = f
	}
	if err := config.Layer(fs, os.LookupEnv, file); err != nil {
		return err
	}
	logger, err := logging.New(g.stderr, g.LogFormat, g.LogLevel)
	if err != nil {
		return &config.UsageError{Err: err}
	}
	switch g.Progress {
	case "auto", "always", "never":
	default:
		return config.Usagef("--progress %q: use auto, always or never", g.Progress)
	}
	g.logger = logger
	if g.CPUProfile != "" {
		f, err := os.Create(g.CPUProfile)
		if err != nil {
			return config.Usagef("--cpuprofile: %v", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			_ = f.Close()
			return config.Usagef("--cpuprofile: %v", err)
		}
		g.stopProfile = func() { pprof.StopCPUProfile(); _ = f.Close() }
	}
	g.prepared = true
	return nil
}

// allFlags lists the flags of every command of the tree.
func allFlags(root *cobra.Command) []string {
	names := map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) { names[f.Name] = true })
		c.PersistentFlags().VisitAll(func(f *pflag.Flag) { names[f.Name] = true })
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return slices.Sorted(maps.Keys(names))
}

func newVersionCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print version, commit and Go version",
		RunE: func(cmd *cobra.Command, _ []string) error {
			i := buildinfo.Get()
			_, err := fmt.Fprintf(g.stdout, "indexsync %s (commit %s, %s)\n", i.Version, i.Commit, i.GoVersion)
			return err
		},
	}
}
