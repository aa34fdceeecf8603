package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"golang.org/x/term"

	"github.com/lvsctl/lvsctl/planner"
)

// planJSON is the machine view of a plan: the same changes the text view
// prints, with their steps; stable, and only ever grows.
type planJSON struct {
	Changes     []*planner.Change                   `json:"changes"`
	Notes       []planner.Note                      `json:"notes"`
	Inventories map[string]*planner.InventoryUpdate `json:"inventories,omitempty"`
	Retired     []string                            `json:"retired,omitempty"`
	Summary     summary                             `json:"summary"`
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
	a, c, d := p.Counts()
	adopt, release, hosts := p.InventoryCounts()
	ba, bc, bd := p.BootCounts()
	v := planJSON{Changes: p.Changes, Notes: p.Notes, Inventories: p.Inventories, Retired: p.Retired,
		Summary: summary{a, c, d, adopt, release, hosts, ba, bc, bd}}
	if v.Changes == nil {
		v.Changes = []*planner.Change{}
	}
	if v.Notes == nil {
		v.Notes = []planner.Note{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// colors are used only on a terminal and without NO_COLOR.
type colors struct{ on bool }

func colorsFor(w io.Writer) colors {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" {
		return colors{}
	}
	return colors{on: term.IsTerminal(int(f.Fd()))}
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
		fmt.Fprintf(w, "lvsctl %s change no object, only its inventory of what it owns:\n", verb)
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
