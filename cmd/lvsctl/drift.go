package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/lvsctl/lvsctl/planner"
)

// driftReport is drift's JSON: one entry per object that differs from the
// configuration, with how it differs.
type driftReport struct {
	Drift   bool           `json:"drift"`
	Checked time.Time      `json:"checked"`
	Objects []driftObject  `json:"objects"`
	Notes   []planner.Note `json:"notes"`
}

type driftObject struct {
	Host   string          `json:"host"`
	Kind   string          `json:"kind"`
	Object string          `json:"object"`
	Action planner.Action  `json:"action"` // what apply would do about it
	Fields []planner.Field `json:"fields,omitempty"`
	Detail string          `json:"detail,omitempty"`
	Why    []string        `json:"why,omitempty"`
}

func newDrift() *cobra.Command {
	var f hostFlags
	var output string
	cmd := &cobra.Command{
		Use:   "drift [DIR]",
		Short: "Report objects whose live state differs from the configuration (exit 2 on drift)",
		Long: `drift reads every host and reports each object that differs from the
configuration and how: someone ran ipvsadm by hand, a real server lost its
loopback VIP after a reboot. It only reads (its agents refuse every change).
Exit status: 0 no drift, 1 error, 2 drift. -o json is for cron and monitoring.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := readOnlyPlan(cmd, args, f, output)
			if err != nil {
				return err
			}
			r := driftReport{Drift: !p.Empty(), Checked: time.Now().UTC(), Objects: []driftObject{}, Notes: p.Notes}
			if r.Notes == nil {
				r.Notes = []planner.Note{}
			}
			for _, c := range p.Changes {
				r.Objects = append(r.Objects, driftObject{Host: c.Host, Kind: c.Kind, Object: c.Object, Action: c.Action, Fields: c.Fields, Detail: c.Detail, Why: c.Why})
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(r); err != nil {
					return err
				}
			} else if !r.Drift {
				fmt.Fprintln(out, "No drift: every host matches the configuration.")
			} else {
				fmt.Fprintf(out, "Drift: %d object%s differ from the configuration:\n", len(r.Objects), plural(len(r.Objects)))
				for _, o := range r.Objects {
					fmt.Fprintf(out, "  %s: %s %s%s%s\n", o.Host, o.Kind, o.Object, describeChange(&planner.Change{Fields: o.Fields, Detail: o.Detail}), reasons(o.Why))
				}
				fmt.Fprintln(out, "lvsctl apply would put them back.")
			}
			if r.Drift {
				return exitError{2}
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}
