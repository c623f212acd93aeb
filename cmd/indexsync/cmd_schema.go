package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/indexsync/indexsync/internal/config"
	"github.com/indexsync/indexsync/internal/schema"
	"github.com/indexsync/indexsync/internal/sunbird"
)

type schemaOptions struct {
	Cassandra     config.Cassandra
	Search        config.Search
	Replication   string
	Shards        int
	Replicas      int
	SkipCassandra bool
	SkipSearch    bool
}

func newSchemaCommand(g *globalOptions) *cobra.Command {
	var o schemaOptions
	cmd := &cobra.Command{
		Use:   "schema",
		Args:  cobra.NoArgs,
		Short: "Create the Sunbird keyspace and tables, and the search indexes behind their aliases",
		Long: `schema creates keyspace sunbird with the tables user, user_organisation,
user_roles, organisation and location (docs/sunbird.md, tables), and the user,
organisation and location indexes under versioned names behind the aliases
user_alias, org_alias and location. Everything that exists is left alone, so
running it twice is safe. It is meant for demos, tests and benchmarks.`,
		Example: "  indexsync schema --replication 1 --index-replicas 0",
		RunE: func(cmd *cobra.Command, _ []string) error {
			errs := []error{o.Cassandra.Finalize(), o.Search.Finalize()}
			repl, err := schema.Replication(o.Replication)
			if err != nil {
				errs = append(errs, err)
			}
			if !schema.ValidKeyspace(o.Cassandra.Keyspace) {
				errs = append(errs, fmt.Errorf("--keyspace %q is not a valid CQL name (letters, digits, _)", o.Cassandra.Keyspace))
			}
			if o.Shards == 0 || o.Shards < -1 {
				errs = append(errs, fmt.Errorf("--index-shards %d: give at least 1", o.Shards))
			}
			if o.Replicas < -1 {
				errs = append(errs, fmt.Errorf("--index-replicas %d: give 0 or more", o.Replicas))
			}
			if err := config.Join(errs...); err != nil {
				return err
			}
			return runSchema(cmd.Context(), g, o, repl)
		},
	}
	fs := cmd.Flags()
	o.Cassandra.AddFlags(fs)
	o.Search.AddFlags(fs)
	fs.StringVar(&o.Replication, "replication", "1", "keyspace replication: a factor (SimpleStrategy), or dc:factor pairs (NetworkTopologyStrategy)")
	fs.IntVar(&o.Shards, "index-shards", -1, "primary shards of new indexes (-1: Sunbird's, 5 for users)")
	fs.IntVar(&o.Replicas, "index-replicas", -1, "replicas of new indexes (-1: Sunbird's 1; 0 on a one-node cluster)")
	fs.BoolVar(&o.SkipCassandra, "skip-cassandra", false, "only create the search indexes")
	fs.BoolVar(&o.SkipSearch, "skip-search", false, "only create the keyspace and tables")
	return cmd
}

func runSchema(ctx context.Context, g *globalOptions, o schemaOptions, replication string) error {
	if !o.SkipCassandra {
		sess, err := connectCassandra(ctx, o.Cassandra, false)
		if err != nil {
			return err
		}
		defer sess.Close()
		if err := schema.ApplyCassandra(ctx, sess, o.Cassandra.Keyspace, replication); err != nil {
			return err
		}
		fmt.Fprintf(g.stdout, "Cassandra: keyspace %s (replication %s) with tables", o.Cassandra.Keyspace, replication)
		for _, t := range schema.Tables {
			fmt.Fprintf(g.stdout, " %s", t.Name)
		}
		fmt.Fprintln(g.stdout)
	}
	if o.SkipSearch {
		return nil
	}
	client, info, err := connectSearch(ctx, o.Search, 3, g.logger)
	if err != nil {
		return err
	}
	for _, kind := range sunbird.Kinds() {
		def := schema.IndexOf(kind)
		alias, _ := o.Search.Index(kind)
		body, err := def.Body(o.Shards, o.Replicas)
		if err != nil {
			return err
		}
		got, err := schema.EnsureIndex(ctx, client, def, alias, body, time.Now())
		if err != nil {
			return err
		}
		verb := "exists"
		if got.Created {
			verb = "created"
		}
		fmt.Fprintf(g.stdout, "%s: %s → %s (%s)\n", info, got.Alias, got.Index, verb)
	}
	return nil
}
