package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/lvsctl/lvsctl/schema"
)

func newValidate() *cobra.Command {
	var show bool
	var output, host string
	cmd := &cobra.Command{
		Use:   "validate [DIR]",
		Short: "Check a cluster definition against the schema and the LVS rules",
		Long: `validate reads the CUE package in DIR (default: the current directory),
checks it against lvsctl's schema and the rules LVS imposes, and prints one
line per problem as file:line:col: field: message. It touches no host.

With --show it also prints, host by host, every object the definition implies,
each with the reason it exists.

-o json always prints one JSON document on stdout, valid or not: an invalid
definition gives "valid": false and a diagnostic per problem (file, line,
column, field path, message), and the exit status is 1.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("-o takes text or json, not %q", output)
			}
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			if host != "" && !show {
				return fmt.Errorf("--host goes with --show")
			}
			if output == "json" {
				return validateJSON(cmd, dir, show, host)
			}
			loaded, err := load(cmd, dir)
			if err != nil {
				return err
			}
			if !show {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: valid (%d host%s, %d director%s, %d service%s)\n", dir,
					len(loaded.Cluster.Hosts), plural(len(loaded.Cluster.Hosts)),
					len(loaded.Cluster.Directors), plural(len(loaded.Cluster.Directors)),
					countServices(loaded.Cluster), plural(countServices(loaded.Cluster)))
				for _, h := range hostList(loaded) {
					for _, n := range h.Notes {
						fmt.Fprintf(cmd.OutOrStdout(), "  warning: %s: %s\n", h.Name, n)
					}
				}
				return nil
			}
			if _, ok := loaded.Hosts[host]; host != "" && !ok {
				return fmt.Errorf("--host %s: no such host in %s", host, dir)
			}
			return renderShow(cmd.OutOrStdout(), loaded, host)
		},
	}
	cmd.Flags().BoolVar(&show, "show", false, "print every object the definition implies, host by host, with its reason")
	cmd.Flags().StringVar(&host, "host", "", "with --show: this host only")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

// load reads a configuration; its problems go to stderr, one per line, and
// end the command with exit status 1.
func load(cmd *cobra.Command, dir string) (*schema.Loaded, error) {
	loaded, err := schema.LoadWith(dir, limitsOf(cmd))
	var probs schema.Problems
	if errors.As(err, &probs) {
		for _, p := range probs {
			fmt.Fprintln(cmd.ErrOrStderr(), p)
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "%s: %d problem%s; nothing was changed on any host.\n", dir, len(probs), plural(len(probs)))
		return nil, exitError{1}
	}
	return loaded, err
}

func countServices(c *schema.Cluster) int {
	n := 0
	for _, d := range c.Directors {
		n += len(d.Services)
	}
	return n
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
