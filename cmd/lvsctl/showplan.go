package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newShowPlan() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "show FILE",
		Short: "Print a saved plan (from plan --out) as plan does",
		Long: `show prints a plan saved by lvsctl plan --out, as plan printed it (or as
plan -o json), with what it was made from: when, by which lvsctl, from which
definition (its directory and content hash). It reaches no host.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return errorf("-o takes text or json, not %q", output)
			}
			sp, err := readSavedPlan(args[0])
			if err != nil {
				return err
			}
			if output == "json" {
				return writePlanJSON(cmd.OutOrStdout(), sp.Plan)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Saved plan %s: made %s by lvsctl %s from %s (definition sha256 %s).\n\n",
				args[0], sp.Created.Format("2006-01-02 15:04:05 UTC"), sp.Lvsctl, sp.Definition.Dir, sp.Definition.SHA256[:12])
			writePlanText(cmd.OutOrStdout(), sp.Plan, "would")
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}
