package main

import (
	"github.com/spf13/cobra"
)

// addCompletions teaches shell completion what lvsctl's arguments are: a
// cluster definition's directory (apply also takes a saved plan's file,
// show only a file), and the values of -o.
func addCompletions(root *cobra.Command) {
	dirs := func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return nil, cobra.ShellCompDirectiveFilterDirs
	}
	files := func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return nil, cobra.ShellCompDirectiveDefault
	}
	for _, c := range root.Commands() {
		switch c.Name() {
		case "validate", "plan", "drift":
			c.ValidArgsFunction = dirs
		case "apply", "show":
			c.ValidArgsFunction = files
		}
		if c.Flags().Lookup("output") != nil {
			c.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]cobra.Completion{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
		}
	}
}
