package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/indexsync/indexsync/internal/config"
	"github.com/indexsync/indexsync/internal/seed"
)

type seedOptions struct {
	Cassandra   config.Cassandra
	Users       int
	Orgs        int
	Seed        uint64
	Concurrency int
}

func newSeedCommand(g *globalOptions) *cobra.Command {
	var o seedOptions
	cmd := &cobra.Command{
		Use:   "seed",
		Args:  cobra.NoArgs,
		Short: "Write a deterministic synthetic Sunbird data set into Cassandra",
		Long: `seed writes organisations, locations and N users with their organisation
memberships and roles into the keyspace made by 'indexsync schema'. The same
--seed always gives the same rows.`,
		Example: "  indexsync seed --users 100000",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.finalize(); err != nil {
				return err
			}
			return runSeed(cmd, g, o)
		},
	}
	fs := cmd.Flags()
	o.Cassandra.AddFlags(fs)
	fs.IntVar(&o.Users, "users", 1000, "number of users")
	fs.IntVar(&o.Orgs, "orgs", 0, "number of organisations (0 = users/1000, at least 20)")
	fs.Uint64Var(&o.Seed, "seed", 1, "random seed: the same seed gives the same data set")
	fs.IntVar(&o.Concurrency, "concurrency", 64, "writes in flight")
	return cmd
}

func (o *seedOptions) finalize() error {
	errs := []error{o.Cassandra.Finalize()}
	if o.Users < 0 {
		errs = append(errs, config.Usagef("--users %d: give 0 or more users", o.Users))
	}
	if o.Orgs < 0 {
		errs = append(errs, config.Usagef("--orgs %d: give 0 or more organisations", o.Orgs))
	}
	if o.Orgs == 0 {
		o.Orgs = max(20, o.Users/1000)
	}
	if o.Concurrency < 1 {
		errs = append(errs, config.Usagef("--concurrency %d: give at least 1", o.Concurrency))
	}
	return config.Join(errs...)
}

func runSeed(cmd *cobra.Command, g *globalOptions, o seedOptions) error {
	ctx := cmd.Context()
	sess, err := connectCassandra(ctx, o.Cassandra, true)
	if err != nil {
		return err
	}
	defer sess.Close()
	start := time.Now()
	w := seed.Writer{
		Session:     sess,
		Keyspace:    o.Cassandra.Keyspace,
		Concurrency: o.Concurrency,
		Progress: func(n int64) {
			g.logger.Info("seeding", "users", n, "of", o.Users)
		},
	}
	counts, err := w.Write(ctx, seed.Options{Users: o.Users, Orgs: o.Orgs, Seed: o.Seed})
	if err != nil {
		return fmt.Errorf("seed keyspace %s: %w", o.Cassandra.Keyspace, err)
	}
	took := time.Since(start)
	fmt.Fprintf(g.stdout, "Seeded keyspace %s (seed %d) in %s:\n", o.Cassandra.Keyspace, o.Seed, took.Round(time.Millisecond))
	fmt.Fprintf(g.stdout, "  users              %d (%.0f users/s)\n", counts.Users, float64(counts.Users)/took.Seconds())
	fmt.Fprintf(g.stdout, "  user_organisation  %d\n", counts.Memberships)
	fmt.Fprintf(g.stdout, "  user_roles         %d\n", counts.Roles)
	fmt.Fprintf(g.stdout, "  organisation       %d\n", counts.Orgs)
	fmt.Fprintf(g.stdout, "  location           %d\n", counts.Locations)
	return nil
}
