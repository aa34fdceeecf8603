package planner

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/lvsctl/lvsctl/internal/names"
	"github.com/lvsctl/lvsctl/internal/op"
	"github.com/lvsctl/lvsctl/internal/state"
)

// Live is what a host's agent reported.
type Live struct {
	Host           *state.Host
	Inventory      *state.Inventory
	IPVSAvailable  bool
	MissingSysctls []string
	// Boot is what the host keeps for boot; nil when it was not read (then
	// the plan leaves the files kept for boot alone).
	Boot *state.Boot
	// Keepalived is keepalived's configuration file on a director of a
	// pair that lvsctl renders it for; nil when it was not read.
	Keepalived *state.KeepalivedFile
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
	rankDaemon
)

type sortKey struct {
	phase, rank int
	host        string
	seq         int
}

// Options narrow a plan.
type Options struct {
	// Targets, when set, are the only hosts planned (by name): live state is
	// needed only for them, and only they get changes and inventory updates.
	// A change that would be unsafe while another host waits is withheld
	// with a note: a new destination whose real server is not targeted (its
	// side must be ready first), and the removal of a real server's side
	// while a director that is not targeted may still send it traffic.
	Targets []string
}

// Make plans the changes that take every host from live to desired: it is
// MakeWith with no options.
func Make(desired map[string]*state.Host, live map[string]*Live) (*Plan, error) {
	return MakeWith(desired, live, Options{})
}

// MakeWith plans the changes that take the planned hosts (every desired host,
// or the targets) from live to desired. It fails when a target is not a host
// of the configuration, when a planned host has no live state, and when a host
// cannot carry what is desired: a director without IPVS, a sysctl this kernel
// does not have.
func MakeWith(desired map[string]*state.Host, live map[string]*Live, o Options) (*Plan, error) {
	sc, err := newScope(desired, o.Targets)
	if err != nil {
		return nil, err
	}
	p := &Plan{Inventories: map[string]*InventoryUpdate{}, InventoriesBefore: map[string]*state.Inventory{}}
	var errs []error
	for _, name := range sortedNames(desired) {
		if !sc.planned(name) {
			continue
		}
		d, l := desired[name], live[name]
		if l == nil || l.Host == nil {
			errs = append(errs, fmt.Errorf("host %s: no live state", name))
			continue
		}
		h := &hostPlan{p: p, sc: sc, name: name, d: d, l: l, inv: l.Inventory}
		if h.inv == nil {
			h.inv = &state.Inventory{}
		}
		if err := h.check(); err != nil {
			errs = append(errs, err)
			continue
		}
		p.InventoriesBefore[name] = h.inv
		if d.Retired {
			p.Retired = append(p.Retired, name)
		}
		h.sysctls()
		h.links()
		h.addresses()
		h.routes()
		h.marks()
		h.ipvs()
		h.daemons()
		for _, n := range d.Notes {
			p.Notes = append(p.Notes, Note{Host: name, Text: n})
		}
		h.noteWithheldCleanup()
		h.keepalivedConfig()
		h.bootFiles()
		h.inventory()
		if d.Retired && h.changes == 0 && p.Inventories[name] == nil && h.inv.Empty() {
			h.note("retired, and lvsctl owns nothing here any more: this host's entry can be deleted from the configuration")
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	p.sortChanges(desired)
	p.notePairVIPs(desired, live)
	p.warnForwardChanges(desired)
	p.warnLeftDests(desired, live)
	return p, nil
}

// scope is which hosts a plan covers, and what it must know about the
// others.
type scope struct {
	all      bool            // no targets: every desired host
	targeted map[string]bool // with targets
	// rsHost maps a real server's address to the host that is it, from
	// every desired destination that names one.
	rsHost map[netip.Addr]string
	// senders are the hosts not planned that may send a planned real server
	// traffic: directors, and hosts with nothing desired (a director being
	// retired or removed from directors still has its services until
	// planned).
	senders []string
	// waiting are the hosts not planned.
	waiting []string
}

func newScope(desired map[string]*state.Host, targets []string) (*scope, error) {
	sc := &scope{all: len(targets) == 0, targeted: map[string]bool{}, rsHost: map[netip.Addr]string{}}
	var unknown []string
	for _, t := range targets {
		if _, ok := desired[t]; !ok {
			unknown = append(unknown, t)
		}
		sc.targeted[t] = true
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("target %s: no such host in the configuration", strings.Join(unknown, ", "))
	}
	if sc.all {
		return sc, nil
	}
	for _, name := range sortedNames(desired) {
		d := desired[name]
		for _, s := range d.Services {
			for _, x := range s.Dests {
				if x.Host != "" {
					sc.rsHost[x.Addr.Addr()] = x.Host
				}
			}
		}
		if sc.targeted[name] {
			continue
		}
		sc.waiting = append(sc.waiting, name)
		director := len(d.Services) > 0 || d.Timeouts != nil || len(d.MarkRules) > 0 || d.Exclusive || len(d.Daemons) > 0
		bare := len(d.Sysctls) == 0 && len(d.Addresses) == 0 && len(d.Links) == 0 && len(d.Routes) == 0
		if director || bare {
			sc.senders = append(sc.senders, name)
		}
	}
	return sc, nil
}

func (sc *scope) planned(host string) bool { return sc.all || sc.targeted[host] }

type hostPlan struct {
	p       *Plan
	sc      *scope
	name    string
	d       *state.Host
	l       *Live
	inv     *state.Inventory
	seq     int
	changes int       // changes planned on this host
	kept    []*Change // cleanup withheld while senders wait
}

func (h *hostPlan) add(phase, rank int, c *Change) {
	if phase == phaseCleanup && len(h.sc.senders) > 0 && (c.Kind == "address" || c.Kind == "link" || c.Kind == "sysctl") {
		h.kept = append(h.kept, c)
		return
	}
	if phase == phaseCleanup {
		// Undo in the reverse of the prepare order: a real server drops the
		// VIP before it may answer ARP for it again.
		rank = -rank
	}
	h.seq++
	h.changes++
	c.Host = h.name
	c.order = sortKey{phase, rank, h.name, h.seq}
	h.p.Changes = append(h.p.Changes, c)
}

func (h *hostPlan) note(format string, args ...any) {
	h.p.Notes = append(h.p.Notes, Note{Host: h.name, Text: fmt.Sprintf(format, args...)})
}

// gone is the reason an owned object is removed or put back: why, or, on a
// retired host, that.
func (h *hostPlan) gone(why, retired string) []string {
	if h.d.Retired {
		return []string{retired}
	}
	return []string{why}
}

// noteWithheldCleanup says what a targeted plan keeps on this host: a real
// server keeps its side until every director that may use it has been
// planned, as removal always goes director first.
func (h *hostPlan) noteWithheldCleanup() {
	if len(h.kept) == 0 {
		return
	}
	objs := make([]string, len(h.kept))
	for i, c := range h.kept {
		objs[i] = c.Kind + " " + c.Object
	}
	h.note("cleanup waits: %s %s here, and in lvsctl's inventory, because %s not targeted and may still send this host traffic that needs %s (removal goes director first); add --target %s",
		listSome(objs, 4), map[bool]string{true: "stays", false: "stay"}[len(objs) == 1], hostsAre(h.sc.senders),
		map[bool]string{true: "it", false: "them"}[len(objs) == 1], strings.Join(h.sc.senders, " --target "))
}

func hostsAre(names []string) string {
	if len(names) == 1 {
		return names[0] + " is"
	}
	return listSome(names, 6) + " are"
}

// listSome joins up to n items and counts the rest.
func listSome(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:n], ", "), len(items)-n)
}

func (h *hostPlan) check() error {
	if (len(h.d.Services) > 0 || h.d.Timeouts != nil || len(h.d.Daemons) > 0) && !h.l.IPVSAvailable {
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
		if err := names.CheckSysctlKey(key); err != nil {
			// Recorded under an older, wider policy: lvsctl no longer writes
			// it, so it lets it go as it is.
			h.note("sysctl %s is outside lvsctl's sysctl policy now: lvsctl leaves it at %s and stops managing it (its value before lvsctl was %s)",
				key, orDash(live[key]), orDash(orig))
			continue
		}
		if cur, ok := live[key]; ok && cur != orig {
			set := op.Op{Kind: op.SetSysctl, Sysctl: &state.Sysctl{Key: key, Value: orig}}
			undo := op.Op{Kind: op.SetSysctl, Sysctl: &state.Sysctl{Key: key, Value: cur}}
			h.add(phaseCleanup, rankSysctl, &Change{Action: Update, Kind: "sysctl", Object: key,
				Fields: []Field{{Name: "value", Before: cur, After: orig}},
				Why:    h.gone("no longer needed: back to its value before lvsctl", "host retired: back to its value before lvsctl"), Steps: one(set, undo)})
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
				Why: h.gone("no longer needed (tunnel fallback devices cannot be deleted, so it is set down)",
					"host retired (tunnel fallback devices cannot be deleted, so it is set down)"), Steps: one(down, up)})
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
	replaced := map[addrKey]bool{} // live addresses a prefix change deletes
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
			replaced[addrKey{old.Interface, old.Prefix}] = true
			h.add(phasePrepare, rankAddress, &Change{Action: Replace, Kind: "address", Object: addrObject(want),
				Fields: []Field{{Name: "prefix", Before: old.Prefix.String(), After: want.Prefix.String()}}, Why: a.Why,
				Warning: fmt.Sprintf("a prefix change is a delete, then an add: in between, this host does not have %s and does not accept packets sent to it", want.Prefix.Addr()),
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
		if desired[addrKey{a.Interface, a.Prefix}] || replaced[addrKey{a.Interface, a.Prefix}] {
			continue
		}
		for _, l := range live[a.Interface] {
			if l.Prefix == a.Prefix {
				gone := state.Address{Interface: a.Interface, Prefix: a.Prefix}
				h.add(phaseCleanup, rankAddress, &Change{Action: Delete, Kind: "address", Object: addrObject(gone),
					Why:   h.gone("no longer in the configuration", "host retired"),
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
// the configuration manages them. A managed route that leaves the
// configuration stays: deleting a default route can cut the SSH session
// lvsctl reaches the host through.
func (h *hostPlan) routes() {
	for _, r := range h.inv.Routes {
		if slices.ContainsFunc(h.d.Routes, func(d state.Route) bool { return d.Dst == r.Dst }) {
			continue // still managed, or now only checked
		}
		if slices.ContainsFunc(h.l.Host.Routes, func(l state.Route) bool { return l.Dst == r.Dst && l.Gateway == r.Gateway }) {
			why := "it is no longer in the configuration"
			if h.d.Retired {
				why = "the host is retired"
			}
			h.note("route %s via %s, which lvsctl set, stays although %s: deleting a default route could cut the SSH session lvsctl reaches this host through. lvsctl no longer keeps it; change it by hand if it must go",
				r.Dst, r.Gateway, why)
		}
	}
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
				Why:   h.gone("not in the configuration (lvsctl's own nftables table)", "host retired (lvsctl's own nftables table)"),
				Steps: one(op.Op{Kind: op.DeleteMark, Mark: &m}, op.Op{Kind: op.AddMark, Mark: &m})})
		}
	}
}

// inventory: after the plan, a host's inventory holds every object lvsctl
// manages there, each sysctl's value from before lvsctl first set it, and
// whatever cleanup a targeted plan withheld.
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
	for _, d := range h.d.Daemons {
		next.Daemons = append(next.Daemons, d.State)
	}
	next.Keepalived = h.keepalivedOwned()
	for _, c := range h.kept {
		o := c.Steps[0].Op
		switch {
		case o.Address != nil:
			next.Addresses = append(next.Addresses, *o.Address)
		case o.Link != nil:
			next.Links = append(next.Links, o.Link.Name)
		case o.Sysctl != nil:
			if orig, ok := h.inv.Sysctls[o.Sysctl.Key]; ok {
				if next.Sysctls == nil {
					next.Sysctls = map[string]string{}
				}
				next.Sysctls[o.Sysctl.Key] = orig
			}
		}
	}
	u := &InventoryUpdate{After: next, Before: h.inv}
	u.Adopt, u.Release, u.Originals = diffInventory(h.inv, next)
	if len(u.Adopt) > 0 || len(u.Release) > 0 || len(u.Originals) > 0 {
		h.p.Inventories[h.name] = u
	}
}

// diffInventory lists the members after has and before lacks (adopt), those
// before has and after lacks (release), and the sysctls whose recorded
// original differs. Lists compare as sets: order does not matter.
func diffInventory(before, after *state.Inventory) (adopt, release []Member, originals []Field) {
	b, a := inventoryMembers(before), inventoryMembers(after)
	for _, id := range a.order {
		if _, ok := b.byID[id]; !ok {
			adopt = append(adopt, a.byID[id])
		}
	}
	for _, id := range b.order {
		if _, ok := a.byID[id]; !ok {
			release = append(release, b.byID[id])
		}
	}
	for _, key := range sortedNames(after.Sysctls) {
		if orig, ok := before.Sysctls[key]; ok && orig != after.Sysctls[key] {
			originals = append(originals, Field{Name: key, Before: orig, After: after.Sysctls[key]})
		}
	}
	return adopt, release, originals
}

// members are an inventory's members by identity, in the inventory's order.
type members struct {
	byID  map[string]Member
	order []string
}

func inventoryMembers(inv *state.Inventory) members {
	ms := members{byID: map[string]Member{}}
	add := func(kind, object, detail, id string) {
		id = kind + "|" + id
		if _, dup := ms.byID[id]; !dup {
			ms.byID[id] = Member{Kind: kind, Object: object, Detail: detail}
			ms.order = append(ms.order, id)
		}
	}
	for _, k := range inv.Services {
		add("ipvs service", k.String(), "", fmt.Sprintf("%+v", k))
	}
	for _, a := range inv.Addresses {
		add("address", addrObject(a), "", addrObject(a))
	}
	for _, l := range inv.Links {
		add("link", l, "", l)
	}
	for _, key := range sortedNames(inv.Sysctls) {
		v := inv.Sysctls[key]
		if v == "" {
			v = `""`
		}
		add("sysctl", key, "original "+v, key)
	}
	for _, r := range inv.Routes {
		obj := r.Dst.String() + " via " + r.Gateway.String()
		add("route", obj, "", obj)
	}
	for _, m := range inv.Marks {
		add("mark rule", markID(m), fmt.Sprintf("mark %d", m.Mark), fmt.Sprintf("%s mark %d", markID(m), m.Mark))
	}
	for _, d := range inv.Daemons {
		add(daemonKind, d, "", d)
	}
	for _, k := range inv.Keepalived {
		add(KindKeepalived, k, "", k)
	}
	return ms
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
