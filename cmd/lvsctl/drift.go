package main

import (
	"cmp"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/lvsctl/lvsctl/planner"
)

// driftReport is drift's JSON: one entry per object that differs from the
// configuration, with how it differs.
type driftReport struct {
	FormatVersion string         `json:"format_version"`
	Drift         bool           `json:"drift"`
	Checked       time.Time      `json:"checked"`
	Objects       []driftObject  `json:"objects"`
	Notes         []planner.Note `json:"notes"`
	// Unknown are the hosts that could not be checked: unreachable, or their
	// agent failed. drift exits 1 when there are any.
	Unknown []unknownHost `json:"unknown"`
	// Hosts are every host drift set out to check, sorted: whether it was
	// checked and how many of its objects differ (what --textfile exports).
	Hosts []driftHost `json:"hosts"`
}

type unknownHost struct {
	Host  string `json:"host"`
	Error string `json:"error"`
}

type driftHost struct {
	Host    string `json:"host"`
	Checked bool   `json:"checked"`
	Objects int    `json:"objects"` // 0 when not checked
}

type driftObject struct {
	Host    string          `json:"host"`
	Kind    string          `json:"kind"`
	Object  string          `json:"object"`
	Action  planner.Action  `json:"action"`  // what apply would do about it
	Actions []string        `json:"actions"` // the same, in words
	Fields  []planner.Field `json:"fields,omitempty"`
	Detail  string          `json:"detail,omitempty"`
	Why     []string        `json:"why,omitempty"`
}

func newDrift() *cobra.Command {
	var f hostFlags
	var output, textfile string
	cmd := &cobra.Command{
		Use:   "drift [DIR]",
		Short: "Report objects whose live state differs from the configuration (exit 2 on drift)",
		Long: `drift reads every host and reports each object that differs from the
configuration and how: someone ran ipvsadm by hand, a real server lost its
loopback VIP after a reboot. It only reads (its agents refuse every change).
Every host that can be reached is checked; a host that cannot is reported as
unknown (in text and in JSON's "unknown"), and then the exit status is 1.
Exit status: 0 no drift, 1 error or a host not checked, 2 drift. -o json is
for cron and monitoring.

With --textfile PATH drift also writes, atomically and whatever it finds,
metrics in Prometheus's text format for node_exporter's textfile collector:
per host whether it was checked and how many objects differ, when drift last
ran and when it last checked every host. If PATH cannot be written, the exit
status is 1.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return errorf("-o takes text or json, not %q", output)
			}
			r, err := checkDrift(cmd, args, f)
			if textfile != "" {
				dir := "."
				if len(args) == 1 {
					dir = args[0]
				}
				m := driftMetrics{Cluster: clusterLabel(dir), Run: time.Now()}
				if r != nil {
					m.Run, m.Hosts, m.Success = r.Checked, r.Hosts, len(r.Unknown) == 0
				}
				if werr := writeDriftTextfile(textfile, m); werr != nil {
					if err != nil {
						fmt.Fprintln(cmd.ErrOrStderr(), "lvsctl:", werr)
						return err
					}
					return werr
				}
			}
			if err != nil {
				return err
			}
			printDrift(cmd, r, output)
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
	cmd.Flags().StringVar(&textfile, "textfile", "", "also write Prometheus metrics to this file (node_exporter's textfile collector), atomically")
	return cmd
}

// checkDrift reads every host it can and compares it with the definition.
// The report is nil when drift could not get that far.
func checkDrift(cmd *cobra.Command, args []string, f hostFlags) (*driftReport, error) {
	in := catchSignals(cmd.Context(), cmd.ErrOrStderr())
	defer in.stop()
	s, err := open(in.Hard, cmd, args, f, true)
	if err != nil {
		return nil, err
	}
	defer s.close(cmd.ErrOrStderr())
	live := s.cluster.Gather(s.loaded.Hosts)
	if in.Hard.Err() != nil {
		return nil, interrupted(in.Hard, nil)
	}
	// Every host that answered is checked; the others are unknown.
	checked := slices.Sorted(maps.Keys(live))
	p, err := planner.MakeWith(s.loaded.Hosts, live, planner.Options{Targets: checked})
	if err != nil {
		return nil, err
	}
	r := &driftReport{FormatVersion: formatVersion, Drift: len(p.Changes) > 0, Checked: time.Now().UTC(),
		Objects: []driftObject{}, Notes: p.Notes, Unknown: []unknownHost{}, Hosts: []driftHost{}}
	if r.Notes == nil {
		r.Notes = []planner.Note{}
	}
	for _, name := range slices.Sorted(maps.Keys(s.cluster.Failed)) {
		r.Unknown = append(r.Unknown, unknownHost{Host: name, Error: s.cluster.Failed[name].Error()})
	}
	count := map[string]int{}
	for _, c := range p.Changes {
		count[c.Host]++
		r.Objects = append(r.Objects, driftObject{Host: c.Host, Kind: c.Kind, Object: c.Object, Action: c.Action,
			Actions: actionWords(c.Action), Fields: c.Fields, Detail: c.Detail, Why: c.Why})
	}
	for _, h := range checked {
		r.Hosts = append(r.Hosts, driftHost{Host: h, Checked: true, Objects: count[h]})
	}
	for _, u := range r.Unknown {
		if _, ok := live[u.Host]; !ok {
			r.Hosts = append(r.Hosts, driftHost{Host: u.Host})
		}
	}
	slices.SortFunc(r.Hosts, func(a, b driftHost) int { return cmp.Compare(a.Host, b.Host) })
	return r, nil
}

func printDrift(cmd *cobra.Command, r *driftReport, output string) {
	out := cmd.OutOrStdout()
	if output == "json" {
		if err := writeJSON(out, r); err != nil {
			fmt.Fprintln(cmd.ErrOrStderr(), "lvsctl:", err)
		}
		return
	}
	checked := 0
	for _, h := range r.Hosts {
		if h.Checked {
			checked++
		}
	}
	switch {
	case !r.Drift && len(r.Unknown) == 0:
		fmt.Fprintln(out, "No drift: every host matches the configuration.")
	case !r.Drift:
		fmt.Fprintf(out, "No drift on the %d host%s checked.\n", checked, plural(checked))
	default:
		verb := "differs"
		if len(r.Objects) != 1 {
			verb = "differ"
		}
		fmt.Fprintf(out, "Drift: %d object%s %s from the configuration:\n", len(r.Objects), plural(len(r.Objects)), verb)
		for _, o := range r.Objects {
			fmt.Fprintf(out, "  %s: %s %s%s%s\n", o.Host, o.Kind, o.Object, describeChange(&planner.Change{Fields: o.Fields, Detail: o.Detail}), reasons(o.Why))
		}
		fmt.Fprintf(out, "lvsctl apply would put %s back.\n", map[bool]string{true: "it", false: "them"}[len(r.Objects) == 1])
	}
	if len(r.Unknown) > 0 {
		fmt.Fprintf(out, "Unknown: %d host%s could not be checked:\n", len(r.Unknown), plural(len(r.Unknown)))
		for _, u := range r.Unknown {
			fmt.Fprintf(out, "  %s\n", u.Error) // it names the host
		}
	}
}

// clusterLabel names the cluster in the metrics: its directory's name.
func clusterLabel(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return filepath.Base(dir)
}
