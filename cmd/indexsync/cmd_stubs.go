package main

import "github.com/spf13/cobra"

func newVerifyCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "verify",
		Short: "Compare Cassandra with the index; --repair fixes the differences",
		RunE:  func(*cobra.Command, []string) error { return notImplemented("verify") },
	}
}
