package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
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
	// Unknown are the hosts that could not be checked: unreachable, or their
	// agent failed. drift exits 1 when there are any.
	Unknown []unknownHost `json:"unknown"`
}

type unknownHost struct {
	Host  string `json:"host"`
	Error string `json:"error"`
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
Every host that can be reached is checked; a host that cannot is reported as
unknown (in text and in JSON's "unknown"), and then the exit status is 1.
Exit status: 0 no drift, 1 error or a host not checked, 2 drift. -o json is
for cron and monitoring.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return errorf("-o takes text or json, not %q", output)
			}
			in := catchSignals(cmd.Context(), cmd.ErrOrStderr())
			defer in.stop()
			s, err := open(in.Hard, cmd, args, f, true)
			if err != nil {
				return err
			}
			defer s.close(cmd.ErrOrStderr())
			live := s.cluster.Gather(s.loaded.Hosts)
			if in.Hard.Err() != nil {
				return interrupted(in.Hard, nil)
			}
			// Every host that answered is checked; the others are unknown.
			checked := slices.Sorted(maps.Keys(live))
			p, err := planner.MakeWith(s.loaded.Hosts, live, planner.Options{Targets: checked})
			if err != nil {
				return err
			}
			r := driftReport{Drift: len(p.Changes) > 0, Checked: time.Now().UTC(), Objects: []driftObject{}, Notes: p.Notes, Unknown: []unknownHost{}}
			if r.Notes == nil {
				r.Notes = []planner.Note{}
			}
			for _, name := range slices.Sorted(maps.Keys(s.cluster.Failed)) {
				r.Unknown = append(r.Unknown, unknownHost{Host: name, Error: s.cluster.Failed[name].Error()})
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
			} else {
				switch {
				case !r.Drift && len(r.Unknown) == 0:
					fmt.Fprintln(out, "No drift: every host matches the configuration.")
				case !r.Drift:
					fmt.Fprintf(out, "No drift on the %d host%s checked.\n", len(checked), plural(len(checked)))
				default:
					verb := "differs"
					if len(r.Objects) != 1 {
						verb = "differ"
					}
					fmt.Fprintf(out, "Drift: %d object%s %s from the configuration:\n", len(r.Objects), plural(len(r.Objects)), verb)
					for _, o := range r.Objects {
						fmt.Fprintf(out, "  %s: %s %s%s%s\n", o.Host, o.Kind, o.Object, describeChange(&planner.Change{Fields: o.Fields, Detail: o.Detail}), reasons(o.Why))
					}
					fmt.Fprintln(out, "lvsctl apply would put them back.")
				}
				if len(r.Unknown) > 0 {
					fmt.Fprintf(out, "Unknown: %d host%s could not be checked:\n", len(r.Unknown), plural(len(r.Unknown)))
					for _, u := range r.Unknown {
						fmt.Fprintf(out, "  %s\n", u.Error) // it names the host
					}
				}
			}
			switch {
			case len(r.Unknown) > 0:
				return exitError{1}
			case r.Drift:
				return exitError{2}
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}
