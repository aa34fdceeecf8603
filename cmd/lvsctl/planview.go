package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
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
	Summary     summary                             `json:"summary"`
}

type summary struct {
	Add     int `json:"add"`
	Change  int `json:"change"`
	Destroy int `json:"destroy"`
}

func writePlanJSON(w io.Writer, p *planner.Plan) error {
	a, c, d := p.Counts()
	v := planJSON{Changes: p.Changes, Notes: p.Notes, Inventories: p.Inventories, Summary: summary{a, c, d}}
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

func (c colors) action(a planner.Action) string {
	if !c.on {
		return string(a)
	}
	code := map[planner.Action]string{planner.Create: "32", planner.Update: "33", planner.Delete: "31", planner.Replace: "35"}[a]
	return "\x1b[" + code + "m" + string(a) + "\x1b[0m"
}

// writePlanText prints the plan grouped by host in execution order: a host's
// header repeats when the order comes back to it.
func writePlanText(w io.Writer, p *planner.Plan, verb string) {
	c := colorsFor(w)
	if p.Empty() {
		fmt.Fprintln(w, "No changes. The live state matches the configuration.")
	} else {
		fmt.Fprintf(w, "lvsctl %s make these changes, in this order:\n", verb)
		host := ""
		for _, ch := range p.Changes {
			if ch.Host != host {
				host = ch.Host
				fmt.Fprintf(w, "\n  # %s\n", host)
			}
			fmt.Fprintf(w, "  %s %s %s%s%s\n", c.action(ch.Action), ch.Kind, ch.Object, describeChange(ch), reasons(ch.Why))
		}
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
	}
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
