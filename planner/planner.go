package planner

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/lvsctl/lvsctl/internal/op"
	"github.com/lvsctl/lvsctl/internal/state"
)

// Live is what a host's agent reported.
type Live struct {
	Host           *state.Host
	Inventory      *state.Inventory
	IPVSAvailable  bool
	MissingSysctls []string
}

// Phases, in execution order.
const (
	phasePrepare = iota
	phaseIPVS
	phaseIPVSRemove
	phaseCleanup
)

// Within a phase: sysctls before links before addresses, services before
// their destinations, and so on.
const (
	rankSysctl = iota
	rankLink
	rankAddress
	rankRoute
	rankMark
	rankTimeouts
	rankService
	rankDest
)

type sortKey struct {
	phase, rank int
	host        string
	seq         int
}

// Make plans the changes that take every host from live to desired. It fails
// when a host cannot carry what is desired: a director without IPVS, a
// sysctl this kernel does not have.
func Make(desired map[string]*state.Host, live map[string]*Live) (*Plan, error) {
	p := &Plan{Inventories: map[string]*InventoryUpdate{}}
	var errs []error
	for _, name := range sortedNames(desired) {
		d, l := desired[name], live[name]
		if l == nil || l.Host == nil {
			errs = append(errs, fmt.Errorf("host %s: no live state", name))
			continue
		}
		h := &hostPlan{p: p, name: name, d: d, l: l, inv: l.Inventory}
		if h.inv == nil {
			h.inv = &state.Inventory{}
		}
		if err := h.check(); err != nil {
			errs = append(errs, err)
			continue
		}
		h.sysctls()
		h.links()
		h.addresses()
		h.routes()
		h.marks()
		h.ipvs()
		for _, n := range d.Notes {
			p.Notes = append(p.Notes, Note{Host: name, Text: n})
		}
		h.inventory()
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	slices.SortStableFunc(p.Changes, func(a, b *Change) int {
		return cmp.Or(cmp.Compare(a.order.phase, b.order.phase), cmp.Compare(a.order.rank, b.order.rank),
			cmp.Compare(a.order.host, b.order.host), cmp.Compare(a.order.seq, b.order.seq))
	})
	return p, nil
}

type hostPlan struct {
	p    *Plan
	name string
	d    *state.Host
	l    *Live
	inv  *state.Inventory
	seq  int
}

func (h *hostPlan) add(phase, rank int, c *Change) {
	if phase == phaseCleanup {
		// Undo in the reverse of the prepare order: a real server drops the
		// VIP before it may answer ARP for it again.
		rank = -rank
	}
	h.seq++
	c.Host = h.name
	c.order = sortKey{phase, rank, h.name, h.seq}
	h.p.Changes = append(h.p.Changes, c)
}

func (h *hostPlan) note(format string, args ...any) {
	h.p.Notes = append(h.p.Notes, Note{Host: h.name, Text: fmt.Sprintf(format, args...)})
}

func (h *hostPlan) check() error {
	if (len(h.d.Services) > 0 || h.d.Timeouts != nil) && !h.l.IPVSAvailable {
		return fmt.Errorf("host %s: IPVS is not available in this kernel, and the configuration makes it a director (load the ip_vs module)", h.name)
	}
	var missing []string
	for _, s := range h.d.Sysctls {
		if slices.Contains(h.l.MissingSysctls, s.Key) {
			missing = append(missing, fmt.Sprintf("%s (%s)", s.Key, strings.Join(s.Why, "; ")))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("host %s: this kernel has no sysctl %s", h.name, strings.Join(missing, ", "))
	}
	return nil
}

func one(o op.Op, undo ...op.Op) []Step { return []Step{{Op: &o, Undo: undo}} }

// sysctls sets what is desired and restores, to the value it had before
// lvsctl, what is no longer desired.
func (h *hostPlan) sysctls() {
	live := map[string]string{}
	for _, s := range h.l.Host.Sysctls {
		live[s.Key] = s.Value
	}
	desired := map[string]bool{}
	for _, s := range h.d.Sysctls {
		desired[s.Key] = true
		cur, ok := live[s.Key]
		if ok && cur == s.Value {
			continue
		}
		set := op.Op{Kind: op.SetSysctl, Sysctl: &state.Sysctl{Key: s.Key, Value: s.Value}}
		undo := op.Op{Kind: op.SetSysctl, Sysctl: &state.Sysctl{Key: s.Key, Value: cur}}
		h.add(phasePrepare, rankSysctl, &Change{Action: Update, Kind: "sysctl", Object: s.Key,
			Fields: []Field{{Name: "value", Before: cur, After: s.Value}}, Why: s.Why, Steps: one(set, undo)})
	}
	for _, key := range sortedNames(h.inv.Sysctls) {
		orig := h.inv.Sysctls[key]
		if desired[key] {
			continue
		}
		if cur, ok := live[key]; ok && cur != orig {
			set := op.Op{Kind: op.SetSysctl, Sysctl: &state.Sysctl{Key: key, Value: orig}}
			undo := op.Op{Kind: op.SetSysctl, Sysctl: &state.Sysctl{Key: key, Value: cur}}
			h.add(phaseCleanup, rankSysctl, &Change{Action: Update, Kind: "sysctl", Object: key,
				Fields: []Field{{Name: "value", Before: cur, After: orig}},
				Why:    []string{"no longer needed: back to its value before lvsctl"}, Steps: one(set, undo)})
		}
	}
}

func (h *hostPlan) links() {
	live := map[string]state.Link{}
	for _, l := range h.l.Host.Links {
		live[l.Name] = l
	}
	desired := map[string]bool{}
	for _, l := range h.d.Links {
		desired[l.Name] = true
		cur, ok := live[l.Name]
		if ok && cur.Up {
			continue
		}
		want := l
		want.Why = nil
		ensure := op.Op{Kind: op.EnsureLink, Link: &want}
		if !ok {
			h.add(phasePrepare, rankLink, &Change{Action: Create, Kind: "link", Object: l.Name, Detail: l.Kind + ", up",
				Why: l.Why, Steps: one(ensure, op.Op{Kind: op.LinkDown, Link: &state.Link{Name: l.Name}})})
			continue
		}
		h.add(phasePrepare, rankLink, &Change{Action: Update, Kind: "link", Object: l.Name,
			Fields: []Field{{Name: "state", Before: "down", After: "up"}},
			Why:    l.Why, Steps: one(ensure, op.Op{Kind: op.LinkDown, Link: &state.Link{Name: l.Name}})})
	}
	for _, name := range h.inv.Links {
		if cur, ok := live[name]; ok && cur.Up && !desired[name] {
			down := op.Op{Kind: op.LinkDown, Link: &state.Link{Name: name}}
			up := op.Op{Kind: op.EnsureLink, Link: &state.Link{Name: name, Up: true}}
			h.add(phaseCleanup, rankLink, &Change{Action: Update, Kind: "link", Object: name,
				Fields: []Field{{Name: "state", Before: "up", After: "down"}},
				Why:    []string{"no longer needed (tunnel fallback devices cannot be deleted, so it is set down)"}, Steps: one(down, up)})
		}
	}
}

func addrObject(a state.Address) string { return a.Prefix.String() + " dev " + a.Interface }

func (h *hostPlan) addresses() {
	live := map[string][]state.Address{} // by interface
	for _, a := range h.l.Host.Addresses {
		live[a.Interface] = append(live[a.Interface], a)
	}
	desired := map[addrKey]bool{}
	for _, a := range h.d.Addresses {
		desired[addrKey{a.Interface, a.Prefix}] = true
		want := state.Address{Interface: a.Interface, Prefix: a.Prefix}
		var same *state.Address
		for i, l := range live[a.Interface] {
			if l.Prefix.Addr() == a.Prefix.Addr() {
				same = &live[a.Interface][i]
			}
		}
		switch {
		case same != nil && same.Prefix == a.Prefix:
		case same != nil:
			old := state.Address{Interface: same.Interface, Prefix: same.Prefix}
			h.add(phasePrepare, rankAddress, &Change{Action: Replace, Kind: "address", Object: addrObject(want),
				Fields: []Field{{Name: "prefix", Before: old.Prefix.String(), After: want.Prefix.String()}}, Why: a.Why,
				Steps: []Step{
					{Op: &op.Op{Kind: op.DeleteAddress, Address: &old}, Undo: []op.Op{{Kind: op.AddAddress, Address: &old}}},
					{Op: &op.Op{Kind: op.AddAddress, Address: &want}, Undo: []op.Op{{Kind: op.DeleteAddress, Address: &want}}},
				}})
		default:
			h.add(phasePrepare, rankAddress, &Change{Action: Create, Kind: "address", Object: addrObject(want), Why: a.Why,
				Steps: one(op.Op{Kind: op.AddAddress, Address: &want}, op.Op{Kind: op.DeleteAddress, Address: &want})})
		}
	}
	for _, a := range h.inv.Addresses {
		if desired[addrKey{a.Interface, a.Prefix}] {
			continue
		}
		for _, l := range live[a.Interface] {
			if l.Prefix == a.Prefix {
				gone := state.Address{Interface: a.Interface, Prefix: a.Prefix}
				h.add(phaseCleanup, rankAddress, &Change{Action: Delete, Kind: "address", Object: addrObject(gone),
					Why:   []string{"no longer in the configuration"},
					Steps: one(op.Op{Kind: op.DeleteAddress, Address: &gone}, op.Op{Kind: op.AddAddress, Address: &gone})})
			}
		}
	}
}

type addrKey struct {
	iface  string
	prefix netip.Prefix
}

// routes checks NAT real servers' default routes, and changes them only where
// the configuration manages them.
func (h *hostPlan) routes() {
	for _, r := range h.d.Routes {
		var cur *state.Route
		for i, l := range h.l.Host.Routes {
			if l.Dst == r.Dst {
				cur = &h.l.Host.Routes[i]
				break
			}
		}
		if cur != nil && cur.Gateway == r.Gateway {
			continue
		}
		before := "none"
		if cur != nil {
			before = "via " + cur.Gateway.String()
		}
		if !r.Manage {
			h.note("default route is %s, but it must be via %s (%s); lvsctl only checks it: set defaultRoute: \"manage\" on the host to change it",
				before, r.Gateway, strings.Join(r.Why, "; "))
			continue
		}
		want := state.Route{Dst: r.Dst, Gateway: r.Gateway, Manage: true}
		undo := op.Op{Kind: op.DeleteRoute, Route: &want}
		if cur != nil {
			old := state.Route{Dst: cur.Dst, Gateway: cur.Gateway}
			undo = op.Op{Kind: op.ReplaceRoute, Route: &old}
		}
		h.add(phasePrepare, rankRoute, &Change{Action: Update, Kind: "route", Object: r.Dst.String(),
			Fields: []Field{{Name: "gateway", Before: before, After: "via " + r.Gateway.String()}}, Why: r.Why,
			Steps: one(op.Op{Kind: op.ReplaceRoute, Route: &want}, undo)})
	}
}

func markID(m state.MarkRule) string {
	ports := make([]string, len(m.Ports))
	for i, p := range m.Ports {
		ports[i] = fmt.Sprint(p)
	}
	return fmt.Sprintf("%s daddr %s %s dport {%s}", m.Family, m.Addr, m.Protocol, strings.Join(ports, ","))
}

// marks: lvsctl's nftables table is its own, so any rule in it that is not
// desired goes.
func (h *hostPlan) marks() {
	live := map[string]state.MarkRule{}
	for _, m := range h.l.Host.MarkRules {
		live[markID(m)] = m
	}
	desired := map[string]bool{}
	for _, m := range h.d.MarkRules {
		id := markID(m)
		desired[id] = true
		want := m
		want.Why = nil
		cur, ok := live[id]
		switch {
		case !ok:
			h.add(phasePrepare, rankMark, &Change{Action: Create, Kind: "mark rule", Object: id, Detail: fmt.Sprintf("mark %d", m.Mark), Why: m.Why,
				Steps: one(op.Op{Kind: op.AddMark, Mark: &want}, op.Op{Kind: op.DeleteMark, Mark: &want})})
		case cur.Mark != m.Mark:
			old := cur
			h.add(phasePrepare, rankMark, &Change{Action: Update, Kind: "mark rule", Object: id,
				Fields: []Field{{Name: "mark", Before: fmt.Sprint(cur.Mark), After: fmt.Sprint(m.Mark)}}, Why: m.Why,
				Steps: one(op.Op{Kind: op.ReplaceMark, Mark: &want}, op.Op{Kind: op.ReplaceMark, Mark: &old})})
		}
	}
	for _, id := range sortedNames(live) {
		if !desired[id] {
			m := live[id]
			h.add(phaseCleanup, rankMark, &Change{Action: Delete, Kind: "mark rule", Object: id, Detail: fmt.Sprintf("mark %d", m.Mark),
				Why:   []string{"not in the configuration (lvsctl's own nftables table)"},
				Steps: one(op.Op{Kind: op.DeleteMark, Mark: &m}, op.Op{Kind: op.AddMark, Mark: &m})})
		}
	}
}

// inventory: after the plan, a host's inventory holds every object lvsctl
// manages there, and each sysctl's value from before lvsctl first set it.
func (h *hostPlan) inventory() {
	next := &state.Inventory{}
	for _, s := range h.d.Services {
		next.Services = append(next.Services, s.Key)
	}
	for _, a := range h.d.Addresses {
		next.Addresses = append(next.Addresses, state.Address{Interface: a.Interface, Prefix: a.Prefix})
	}
	for _, l := range h.d.Links {
		next.Links = append(next.Links, l.Name)
	}
	live := map[string]string{}
	for _, s := range h.l.Host.Sysctls {
		live[s.Key] = s.Value
	}
	for _, s := range h.d.Sysctls {
		if next.Sysctls == nil {
			next.Sysctls = map[string]string{}
		}
		if orig, ok := h.inv.Sysctls[s.Key]; ok {
			next.Sysctls[s.Key] = orig
		} else {
			next.Sysctls[s.Key] = live[s.Key]
		}
	}
	for _, r := range h.d.Routes {
		if r.Manage {
			next.Routes = append(next.Routes, state.Route{Dst: r.Dst, Gateway: r.Gateway, Manage: true})
		}
	}
	for _, m := range h.d.MarkRules {
		m.Why = nil
		next.Marks = append(next.Marks, m)
	}
	if !inventoryEqual(next, h.inv) {
		h.p.Inventories[h.name] = &InventoryUpdate{After: next, Before: h.inv}
	}
}

// inventoryEqual compares inventories as they are written: JSON, with map
// keys sorted and empty lists left out.
func inventoryEqual(a, b *state.Inventory) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
