package main

import (
	"github.com/spf13/cobra"
)

func newPlan() *cobra.Command {
	var f hostFlags
	var output string
	var detailed bool
	cmd := &cobra.Command{
		Use:   "plan [DIR]",
		Short: "Show what apply would change on each host, in order, and why",
		Long: `plan reads the live state of every host and prints, host by host in the order
apply would use, each change: + create, ~ update in place, - destroy, -/+
replace, with the before and after of every changed field and the reason.
It changes nothing (its agents refuse every change).

With --detailed-exitcode the exit status is 0 for no changes, 1 for an error,
2 when there are changes.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := readOnlyPlan(cmd, args, f, output)
			if err != nil {
				return err
			}
			if output == "json" {
				if err := writePlanJSON(cmd.OutOrStdout(), p); err != nil {
					return err
				}
			} else {
				writePlanText(cmd.OutOrStdout(), p, "would")
			}
			if detailed && !p.Empty() {
				return exitError{2}
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	cmd.Flags().BoolVar(&detailed, "detailed-exitcode", false, "exit 2 when there are changes, 0 when none")
	return cmd
}
