package planner

import (
	"fmt"
	"strings"

	"github.com/lvsctl/lvsctl/internal/state"
)

// LiveDiff names, one line each, what differs between two reports of one
// host's agent: objects (as plans name them) with their settings before and
// after, inventory members, and the files kept for boot. A saved plan uses
// it to say which object moved since the plan was made.
func LiveDiff(before, after *Live) []string {
	var out []string
	for _, f := range keyedFields(liveLines(before), liveLines(after)) {
		out = append(out, fmt.Sprintf("%s: %s → %s", f.Name, paren(f.Before), paren(f.After)))
	}
	return out
}

func liveLines(l *Live) map[string]string {
	m := map[string]string{}
	if l == nil {
		return m
	}
	if l.Host != nil {
		m = stateLines(l.Host)
		for _, r := range l.Host.Routes {
			m["route "+r.Dst.String()] = "via " + r.Gateway.String()
		}
	}
	m["ipvs"] = fmt.Sprintf("available %v", l.IPVSAvailable)
	for _, k := range l.MissingSysctls {
		m["sysctl "+k] = "missing"
	}
	if l.Inventory != nil {
		ms := inventoryMembers(l.Inventory)
		for _, id := range ms.order {
			x := ms.byID[id]
			m["inventory: "+x.Kind+" "+x.Object] = orDash(x.Detail)
		}
	}
	if b := l.Boot; b != nil {
		for _, f := range []state.BootFile{b.SysctlFile, b.StateFile, b.Unit} {
			if f.Exists {
				m["file "+f.Path] = "sha256 " + sha(f.Content)[:12]
			}
		}
		m["unit enabled"] = fmt.Sprint(b.UnitEnabled)
	}
	if k := l.Keepalived; k != nil {
		if k.Exists {
			m[KindKeepalived+" "+k.Path] = "sha256 " + sha(k.Content)[:12]
		}
		m["keepalived running"] = fmt.Sprint(k.Running)
	}
	return m
}

// paren wraps settings that hold spaces, so "a, b → c" reads as two sides.
func paren(v string) string {
	if strings.ContainsAny(v, " ,") {
		return "(" + v + ")"
	}
	return v
}
