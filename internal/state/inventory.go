package state

import (
	"maps"
	"slices"
)

// This file holds the inventory's set operations. The agent uses them to
// write the inventory ahead of a change: before it runs an apply request it
// merges what the request is about to create (and each sysctl's value from
// before the change) into the inventory on disk, so a crash in the middle of
// an apply leaves lvsctl's objects owned and the original sysctl values
// known.
//
// Members have the form the planner gives them: addresses without Why,
// routes as {destination, gateway, manage}, mark rules without Why. Each kind
// has an identity, the one the planner diffs by:
//   - service: its ServiceKey
//   - address: (interface, prefix)
//   - link: its name
//   - sysctl: its key (the value is the original, recorded once)
//   - route: its destination (a default route per family)
//   - mark rule: (family, address, protocol, ports); the mark is what changes
//   - sync daemon: its state (master, backup)

// Clone returns a deep copy of inv; nil for nil.
func (inv *Inventory) Clone() *Inventory {
	if inv == nil {
		return nil
	}
	c := &Inventory{
		Services:  slices.Clone(inv.Services),
		Addresses: slices.Clone(inv.Addresses),
		Links:     slices.Clone(inv.Links),
		Sysctls:   maps.Clone(inv.Sysctls),
		Routes:    slices.Clone(inv.Routes),
		Marks:     slices.Clone(inv.Marks),
		Daemons:   slices.Clone(inv.Daemons),

		Keepalived: slices.Clone(inv.Keepalived),
	}
	for i := range c.Addresses {
		c.Addresses[i].Why = slices.Clone(c.Addresses[i].Why)
	}
	for i := range c.Routes {
		c.Routes[i].Why = slices.Clone(c.Routes[i].Why)
	}
	for i := range c.Marks {
		c.Marks[i].Ports = slices.Clone(c.Marks[i].Ports)
		c.Marks[i].Why = slices.Clone(c.Marks[i].Why)
	}
	return c
}

// HasService reports whether inv owns the service k.
func (inv *Inventory) HasService(k ServiceKey) bool {
	return inv != nil && slices.Contains(inv.Services, k)
}

// HasAddress reports whether inv owns a's (interface, prefix).
func (inv *Inventory) HasAddress(a Address) bool {
	return inv != nil && slices.ContainsFunc(inv.Addresses, func(b Address) bool { return sameAddress(a, b) })
}

// HasLink reports whether inv owns the link name.
func (inv *Inventory) HasLink(name string) bool {
	return inv != nil && slices.Contains(inv.Links, name)
}

// HasSysctl reports whether inv records key's original value.
func (inv *Inventory) HasSysctl(key string) bool {
	if inv == nil {
		return false
	}
	_, ok := inv.Sysctls[key]
	return ok
}

// HasRoute reports whether inv owns a route to r's destination.
func (inv *Inventory) HasRoute(r Route) bool {
	return inv != nil && slices.ContainsFunc(inv.Routes, func(o Route) bool { return sameRoute(r, o) })
}

// HasMark reports whether inv owns a mark rule with m's identity (whatever
// its mark).
func (inv *Inventory) HasMark(m MarkRule) bool {
	return inv != nil && slices.ContainsFunc(inv.Marks, func(o MarkRule) bool { return sameMark(m, o) })
}

// HasKeepalived reports whether inv owns the keepalived configuration at path.
func (inv *Inventory) HasKeepalived(path string) bool {
	return inv != nil && slices.Contains(inv.Keepalived, path)
}

// HasDaemon reports whether inv owns the sync daemon of that state.
func (inv *Inventory) HasDaemon(state string) bool {
	return inv != nil && slices.Contains(inv.Daemons, state)
}

func sameAddress(a, b Address) bool { return a.Interface == b.Interface && a.Prefix == b.Prefix }

func sameRoute(a, b Route) bool { return a.Dst == b.Dst }

func sameMark(a, b MarkRule) bool {
	return a.Family == b.Family && a.Addr == b.Addr && a.Protocol == b.Protocol && slices.Equal(a.Ports, b.Ports)
}

// MergeInventory returns base with every member of add that base lacks, and
// whether it added any. It is pure: neither argument changes, and nil is an
// empty inventory.
//
// The result keeps base's members in base's order and appends the new ones in
// add's order, each once, in the planner's form (no Why). A sysctl base
// already records keeps base's original value: an original is recorded once,
// before lvsctl first changes the key, and never replaced by a later value.
// A member base has under the same identity is not replaced either (a route
// to the same destination via another gateway, a mark rule with another
// mark): it is already owned. The same inputs give the same output, so an
// inventory written ahead is deterministic.
func MergeInventory(base, add *Inventory) (*Inventory, bool) {
	out := base.Clone()
	if out == nil {
		out = &Inventory{}
	}
	if add == nil {
		return out, false
	}
	added := false
	for _, k := range add.Services {
		if !out.HasService(k) {
			out.Services = append(out.Services, k)
			added = true
		}
	}
	for _, a := range add.Addresses {
		if !out.HasAddress(a) {
			out.Addresses = append(out.Addresses, Address{Interface: a.Interface, Prefix: a.Prefix})
			added = true
		}
	}
	for _, l := range add.Links {
		if !out.HasLink(l) {
			out.Links = append(out.Links, l)
			added = true
		}
	}
	for _, key := range slices.Sorted(maps.Keys(add.Sysctls)) {
		if !out.HasSysctl(key) {
			if out.Sysctls == nil {
				out.Sysctls = map[string]string{}
			}
			out.Sysctls[key] = add.Sysctls[key]
			added = true
		}
	}
	for _, r := range add.Routes {
		if !out.HasRoute(r) {
			out.Routes = append(out.Routes, Route{Dst: r.Dst, Gateway: r.Gateway, Manage: r.Manage})
			added = true
		}
	}
	for _, m := range add.Marks {
		if !out.HasMark(m) {
			m.Ports = slices.Clone(m.Ports)
			m.Why = nil
			out.Marks = append(out.Marks, m)
			added = true
		}
	}
	for _, d := range add.Daemons {
		if !out.HasDaemon(d) {
			out.Daemons = append(out.Daemons, d)
			added = true
		}
	}
	for _, k := range add.Keepalived {
		if !out.HasKeepalived(k) {
			out.Keepalived = append(out.Keepalived, k)
			added = true
		}
	}
	return out, added
}

// SameInventory reports whether a and b own the same members with the same
// recorded values, in any order (nil is empty). Two inventories that differ
// only in the order of their lists are the same set: one the planner derived
// and one the agent merged ahead of a change, say.
func SameInventory(a, b *Inventory) bool {
	if a == nil {
		a = &Inventory{}
	}
	if b == nil {
		b = &Inventory{}
	}
	if !maps.Equal(a.Sysctls, b.Sysctls) { // nil and empty are equal
		return false
	}
	return sameSet(a.Services, b.Services, func(x, y ServiceKey) bool { return x == y }) &&
		sameSet(a.Addresses, b.Addresses, sameAddress) &&
		sameSet(a.Links, b.Links, func(x, y string) bool { return x == y }) &&
		sameSet(a.Routes, b.Routes, func(x, y Route) bool { return sameRoute(x, y) && x.Gateway == y.Gateway && x.Manage == y.Manage }) &&
		sameSet(a.Marks, b.Marks, func(x, y MarkRule) bool { return sameMark(x, y) && x.Mark == y.Mark }) &&
		sameSet(a.Daemons, b.Daemons, func(x, y string) bool { return x == y }) &&
		sameSet(a.Keepalived, b.Keepalived, func(x, y string) bool { return x == y })
}

// sameSet reports whether every member of a is in b and every member of b in
// a (duplicates do not count).
func sameSet[T any](a, b []T, eq func(T, T) bool) bool {
	in := func(x T, s []T) bool { return slices.ContainsFunc(s, func(y T) bool { return eq(x, y) }) }
	for _, x := range a {
		if !in(x, b) {
			return false
		}
	}
	for _, y := range b {
		if !in(y, a) {
			return false
		}
	}
	return true
}
