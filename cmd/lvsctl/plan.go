package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newPlan() *cobra.Command {
	var f hostFlags
	var output, out string
	var detailed bool
	cmd := &cobra.Command{
		Use:   "plan [DIR]",
		Short: "Show what apply would change on each host, in order, and why",
		Long: `plan reads the live state of every host and prints, host by host in the order
apply would use, each change: + create, ~ update in place, - destroy, -/+
replace, with the before and after of every changed field and the reason.
It changes nothing (its agents refuse every change).

With --detailed-exitcode the exit status is 0 for no changes, 1 for an error,
2 when there are changes.

With --out FILE, plan also saves the plan with what it was made against
(each host's live state and inventory, the definition's content hash and
lvsctl's version), for lvsctl show FILE and lvsctl apply FILE: apply then
makes exactly these changes, or refuses if any host changed since.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, s, err := readOnlyPlan(cmd, args, f, output)
			if err != nil {
				return err
			}
			if out != "" {
				dir := "."
				if len(args) == 1 {
					dir = args[0]
				}
				if err := writeSavedPlan(out, s, p, dir); err != nil {
					return fmt.Errorf("saving the plan: %w", err)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "Saved the plan to %s: lvsctl apply %s makes exactly these changes.\n", out, out)
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
	cmd.Flags().StringVar(&out, "out", "", "also save the plan to this file, for lvsctl show and lvsctl apply")
	return cmd
}
