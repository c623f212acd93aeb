package main

import "github.com/spf13/cobra"

func newRunCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "run",
		Short: "Sync every user (or the ids in a file) from Cassandra to the index",
		RunE:  func(*cobra.Command, []string) error { return notImplemented("run") },
	}
}

func newVerifyCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "verify",
		Short: "Compare Cassandra with the index; --repair fixes the differences",
		RunE:  func(*cobra.Command, []string) error { return notImplemented("verify") },
	}
}
