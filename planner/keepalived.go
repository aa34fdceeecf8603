package planner

import (
	"fmt"
	"slices"
	"strings"

	"github.com/lvsctl/lvsctl/internal/keepalived"
	"github.com/lvsctl/lvsctl/internal/op"
	"github.com/lvsctl/lvsctl/internal/state"
)

// KindKeepalived is the change to keepalived's configuration on a director
// of a pair, which lvsctl renders from the definition (the pair's VRRP
// instance and the checkers of its services).
const KindKeepalived = "keepalived config"

// keepalivedHeader starts every file lvsctl renders (keepalived.Render).
const keepalivedHeader = "# Written by lvsctl for pair "

// keepalivedConfig plans keepalived's configuration: written when it is not
// what lvsctl renders. It runs with the boot files, after every IPVS change:
// keepalived, reloaded, then finds the services lvsctl added and no longer
// finds those lvsctl drained and removed (a reload removes from IPVS what
// its configuration no longer lists, without draining).
func (h *hostPlan) keepalivedConfig() {
	k := h.d.Keepalived
	if k == nil {
		h.keepalivedGone()
		return
	}
	want, err := keepalived.Render(k)
	if err != nil {
		h.note("keepalived's configuration for pair %s is not written: %v", k.Pair, err)
		return
	}
	cur := h.l.Keepalived
	if cur == nil {
		return // not read (an older agent, or a plan without it)
	}
	why := []string{fmt.Sprintf("rendered from pair %s (keepalived)", k.Pair)}
	if !cur.Running {
		h.note("keepalived is not running here (no keepalived in this network namespace has its pid in %s): lvsctl writes %s, and keepalived reads it when it starts", k.PidFile, k.Config)
	}
	if cur.Exists && cur.Content == string(want) {
		return
	}
	revert := op.Op{Kind: op.RevertKeepalived, Keepalived: &op.Keepalived{Path: k.Config, PidFile: k.PidFile,
		Existed: cur.Exists, SHA256: sha(cur.Content)}}
	write := op.Op{Kind: op.WriteKeepalived, Keepalived: &op.Keepalived{Spec: k, Path: k.Config, PidFile: k.PidFile, Program: k.Program}}
	c := &Change{Kind: KindKeepalived, Object: k.Config, Why: why, Steps: one(write, revert)}
	if !cur.Exists {
		c.Action, c.Detail = Create, keepalivedSummary(k)
	} else {
		c.Action, c.Fields = Update, keyedFields(keepalived.Flatten(cur.Content), keepalived.Flatten(string(want)))
		if !strings.HasPrefix(cur.Content, keepalivedHeader) {
			c.Fields = append([]Field{{Name: "written by", Before: "not lvsctl", After: "lvsctl"}}, c.Fields...)
			c.Warning = "this file was not written by lvsctl: what it has beyond the pair's VRRP instance and checked services is dropped (the agent keeps a copy for a rollback)"
		}
		if len(c.Fields) == 0 {
			c.Fields = []Field{{Name: "layout", Before: "another", After: "lvsctl's"}}
		}
	}
	if cur.Running {
		c.Why = append(c.Why, "checked with keepalived -t, then keepalived reloaded (SIGHUP)")
	}
	h.add(phaseBoot, 0, c)
}

func keepalivedSummary(k *state.Keepalived) string {
	role := "BACKUP"
	if k.VRRP.Master {
		role = "MASTER"
	}
	dests := 0
	for _, s := range k.Services {
		for _, c := range s.Checks {
			if c.Type != "" {
				dests++
			}
		}
	}
	return fmt.Sprintf("vrrp_instance %s %s priority %d on %s, %s, %s checked",
		k.VRRP.Name, role, k.VRRP.Priority, k.VRRP.Interface, count(len(k.Services), "virtual server"), count(dests, "real server"))
}

// keepalivedGone plans the removal of a configuration lvsctl wrote that no
// pair asks for here any more (keepalived left the pair, the director left
// it, or the host is retired). A file edited since (no longer starting with
// lvsctl's header) is someone else's now: it is left, and released.
func (h *hostPlan) keepalivedGone() {
	cur := h.l.Keepalived
	if cur == nil || !cur.Exists || !h.inv.HasKeepalived(cur.Path) {
		return
	}
	if !strings.HasPrefix(cur.Content, keepalivedHeader) {
		h.note("%s no longer starts with lvsctl's header, so lvsctl leaves it as it is and stops owning it", cur.Path)
		return
	}
	why := "no pair asks lvsctl for keepalived's configuration here any more"
	if h.d.Retired {
		why = "host retired"
	}
	rm := op.Op{Kind: op.RemoveKeepalived, Keepalived: &op.Keepalived{Path: cur.Path, PidFile: keepalived.DefaultPidFile}}
	revert := op.Op{Kind: op.RevertKeepalived, Keepalived: &op.Keepalived{Path: cur.Path, PidFile: keepalived.DefaultPidFile,
		Existed: true, SHA256: sha(cur.Content)}}
	h.add(phaseBoot, 0, &Change{Action: Delete, Kind: KindKeepalived, Object: cur.Path, Why: []string{why},
		Warning: "keepalived is not reloaded: it keeps running what it read, and finds no configuration when it next starts (give it one of your own, or stop it)",
		Steps:   one(rm, revert)})
}

// keepalivedOwned is what the inventory records after this plan: the file
// the definition asks for (once it was read, so lvsctl knows what it
// replaces), and any other file lvsctl wrote that this plan did not read.
func (h *hostPlan) keepalivedOwned() []string {
	var out []string
	cur := h.l.Keepalived
	if k := h.d.Keepalived; k != nil && cur != nil && cur.Path == k.Config {
		out = append(out, k.Config)
	}
	for _, p := range h.inv.Keepalived {
		if slices.Contains(out, p) || (cur != nil && cur.Path == p) {
			continue
		}
		out = append(out, p)
	}
	return out
}
