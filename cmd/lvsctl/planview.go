package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/lvsctl/lvsctl/planner"
)

// formatVersion is the version of every JSON document lvsctl prints with
// -o json (validate, validate --show, plan, show, apply, drift): "MAJOR.MINOR".
// Within a major version fields are only ever added, never renamed, removed or
// given another meaning; a minor version says fields were added. The JSON
// Schemas in schema/json describe each document.
const formatVersion = "1.5"

// planJSON is the machine view of a plan: the same changes the text view
// prints, with their steps; stable, and only ever grows.
type planJSON struct {
	FormatVersion string                              `json:"format_version,omitempty"` // absent only inside apply's report
	Changes       []changeJSON                        `json:"changes"`
	Notes         []planner.Note                      `json:"notes"`
	Inventories   map[string]*planner.InventoryUpdate `json:"inventories,omitempty"`
	Retired       []string                            `json:"retired,omitempty"`
	Summary       summary                             `json:"summary"`
}

// changeJSON is a change as JSON prints it: every field of planner.Change,
// and its action in words as Terraform writes them.
type changeJSON struct {
	*planner.Change
	Actions []string `json:"actions"`
}

// actionWords are Terraform's words for each action: a replacement is a
// delete, then a create.
func actionWords(a planner.Action) []string {
	switch a {
	case planner.Create:
		return []string{"create"}
	case planner.Update:
		return []string{"update"}
	case planner.Delete:
		return []string{"delete"}
	case planner.Replace:
		return []string{"delete", "create"}
	}
	return []string{string(a)} // a new action fails the JSON Schema's test
}

type summary struct {
	Add     int `json:"add"`
	Change  int `json:"change"`
	Destroy int `json:"destroy"`
	// What the inventory updates record: objects adopted and released, on
	// how many hosts.
	Adopt          int `json:"adopt"`
	Release        int `json:"release"`
	InventoryHosts int `json:"inventoryHosts"`
	// Files kept for boot (sysctl file, boot state, systemd unit) written
	// anew, rewritten and removed; not counted in add, change and destroy.
	BootAdd     int `json:"bootAdd"`
	BootChange  int `json:"bootChange"`
	BootDestroy int `json:"bootDestroy"`
}

func writePlanJSON(w io.Writer, p *planner.Plan) error {
	return writeJSON(w, planView(p))
}

// planView is the plan as JSON prints it, also inside apply's report.
func planView(p *planner.Plan) planJSON {
	a, c, d := p.Counts()
	adopt, release, hosts := p.InventoryCounts()
	ba, bc, bd := p.BootCounts()
	v := planJSON{FormatVersion: formatVersion, Changes: make([]changeJSON, len(p.Changes)), Notes: p.Notes,
		Inventories: p.Inventories, Retired: p.Retired,
		Summary: summary{a, c, d, adopt, release, hosts, ba, bc, bd}}
	for i, ch := range p.Changes {
		v.Changes[i] = changeJSON{Change: ch, Actions: actionWords(ch.Action)}
	}
	if v.Notes == nil {
		v.Notes = []planner.Note{}
	}
	return v
}

// writeJSON prints one JSON document, indented, as every -o json does.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// colors are used only on a terminal, and never with --no-color, with
// NO_COLOR set (https://no-color.org) or with TERM=dumb.
type colors struct{ on bool }

// colorGate is the standard output of lvsctl's root command: it carries
// --no-color to the views, which are handed only a writer.
type colorGate struct {
	io.Writer
	off bool
}

// addColorFlag gives root the global --no-color flag. Call it after
// root.SetOut: it wraps the writer set there.
func addColorFlag(root *cobra.Command) {
	g := &colorGate{Writer: root.OutOrStdout()}
	root.PersistentFlags().BoolVar(&g.off, "no-color", false, "print no colour (neither does lvsctl with NO_COLOR set, TERM=dumb, or off a terminal)")
	root.SetOut(g)
}

func colorsFor(w io.Writer) colors {
	if g, ok := w.(*colorGate); ok {
		if g.off {
			return colors{}
		}
		w = g.Writer
	}
	if os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return colors{}
	}
	f, ok := w.(*os.File)
	return colors{on: ok && term.IsTerminal(int(f.Fd()))}
}

func (c colors) warn(s string) string {
	if !c.on {
		return s
	}
	return "\x1b[1;33m" + s + "\x1b[0m"
}

func (c colors) action(a planner.Action) string {
	if !c.on {
		return string(a)
	}
	code := map[planner.Action]string{planner.Create: "32", planner.Update: "33", planner.Delete: "31", planner.Replace: "35"}[a]
	return "\x1b[" + code + "m" + string(a) + "\x1b[0m"
}

// writePlanText prints the plan grouped by host in execution order: a host's
// header repeats when the order comes back to it. Each host's inventory
// update comes last, in its host's group.
func writePlanText(w io.Writer, p *planner.Plan, verb string) {
	c := colorsFor(w)
	switch {
	case p.Empty():
		fmt.Fprintln(w, "No changes. The live state matches the configuration.")
	case len(p.Changes) == 0:
		fmt.Fprintf(w, "No changes to any object. lvsctl %s only record, in its inventory, what it owns:\n", verb)
	default:
		fmt.Fprintf(w, "lvsctl %s make these changes, in this order:\n", verb)
	}
	host := ""
	header := func(h string) {
		if h == host {
			return
		}
		host = h
		if slices.Contains(p.Retired, h) {
			fmt.Fprintf(w, "\n  # %s (retired: removing what lvsctl set here)\n", h)
			return
		}
		fmt.Fprintf(w, "\n  # %s\n", h)
	}
	for _, ch := range p.Changes {
		header(ch.Host)
		fmt.Fprintf(w, "  %s %s %s%s%s\n", c.action(ch.Action), ch.Kind, ch.Object, describeChange(ch), reasons(ch.Why))
		if ch.Warning != "" {
			fmt.Fprintf(w, "      %s %s\n", c.warn("!"), ch.Warning)
		}
	}
	for _, h := range slices.Sorted(maps.Keys(p.Inventories)) {
		header(h)
		fmt.Fprintf(w, "  %s lvsctl inventory: %s\n", c.action(planner.Update), describeInventory(p.Inventories[h]))
	}
	if len(p.Notes) > 0 {
		fmt.Fprintln(w, "\nNotes (nothing will be done about these):")
		for _, n := range p.Notes {
			fmt.Fprintf(w, "  %s: %s\n", n.Host, n.Text)
		}
	}
	if !p.Empty() {
		a, ch, d := p.Counts()
		fmt.Fprintf(w, "\nPlan: %d to add, %d to change, %d to destroy.\n", a, ch, d)
		if adopt, release, hosts := p.InventoryCounts(); hosts > 0 {
			fmt.Fprintf(w, "Inventory: lvsctl will record %d adopted and %d released object%s on %d host%s.\n",
				adopt, release, plural(adopt+release), hosts, plural(hosts))
		}
		if ba, bc, bd := p.BootCounts(); ba+bc+bd > 0 {
			fmt.Fprintf(w, "Kept for boot: %d file%s to add, %d to change, %d to remove.\n", ba, plural(ba), bc, bd)
		}
	}
}

// inventoryItems is how many members of each list the text view names.
const inventoryItems = 8

// describeInventory says what an inventory update adopts, releases and
// records anew: "adopt ipvs service TCP 192.168.0.10:80, ...; release ...".
func describeInventory(u *planner.InventoryUpdate) string {
	list := func(ms []planner.Member) string {
		parts := make([]string, 0, inventoryItems)
		for i, m := range ms {
			if i == inventoryItems {
				return strings.Join(parts, ", ") + fmt.Sprintf(" and %d more", len(ms)-i)
			}
			parts = append(parts, m.String())
		}
		return strings.Join(parts, ", ")
	}
	var parts []string
	if len(u.Adopt) > 0 {
		parts = append(parts, "adopt "+list(u.Adopt))
	}
	if len(u.Release) > 0 {
		parts = append(parts, "release "+list(u.Release))
	}
	for _, f := range u.Originals {
		parts = append(parts, fmt.Sprintf("record sysctl %s's original as %s (was %s)", f.Name, f.After, f.Before))
	}
	return strings.Join(parts, "; ")
}

func describeChange(ch *planner.Change) string {
	if len(ch.Fields) > 0 {
		parts := make([]string, len(ch.Fields))
		for i, f := range ch.Fields {
			parts[i] = fmt.Sprintf("%s %s → %s", f.Name, f.Before, f.After)
		}
		return ": " + strings.Join(parts, ", ")
	}
	if ch.Detail != "" {
		return " (" + ch.Detail + ")"
	}
	return ""
}

func reasons(why []string) string {
	switch {
	case len(why) == 0:
		return ""
	case len(why) > 3:
		return fmt.Sprintf("   # %s and %d more", strings.Join(why[:3], "; "), len(why)-3)
	}
	return "   # " + strings.Join(why, "; ")
}
