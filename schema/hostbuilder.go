package schema

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	"github.com/lvsctl/lvsctl/internal/names"
	"github.com/lvsctl/lvsctl/internal/state"
)

// hostBuilder collects one host's desired objects, merging the reasons of
// objects that several services need.
type hostBuilder struct {
	d       *deriver
	h       *state.Host
	sysctls map[string]*sysctlEntry
	addrs   map[addrKey]int // index in h.Addresses
}

type addrKey struct {
	iface  string
	prefix netip.Prefix
}

// addWhy appends why to an object's reasons unless it is the last one. A
// reason names a service and its director, and derivation handles one service
// at a time, so a repeated reason is always the last one: a sysctl that 5,000
// services need gets its 5,000 reasons in linear time.
func addWhy(list []string, why string) []string {
	if n := len(list); n > 0 && list[n-1] == why {
		return list
	}
	return append(list, why)
}

type sysctlEntry struct {
	index    int
	declared at // where the user set it; nil when only derived
}

// declareSysctl records a sysctl the configuration sets explicitly.
func (b *hostBuilder) declareSysctl(key, value string, src at) {
	if e, ok := b.sysctls[key]; ok {
		cur := &b.h.Sysctls[e.index]
		if cur.Value != value {
			b.d.probs = append(b.d.probs, problemAt(b.d.pos.at(src), src.String(),
				"%s is set to %q here and to %q at %s", key, value, cur.Value, e.declared))
		}
		cur.Why = addWhy(cur.Why, "declared in "+trimKey(src))
		return
	}
	b.sysctls[key] = &sysctlEntry{index: len(b.h.Sysctls), declared: src}
	b.h.Sysctls = append(b.h.Sysctls, state.Sysctl{Key: key, Value: value, Why: addWhy(nil, "declared in "+trimKey(src))})
}

// trimKey names the sysctls map a declaration sits in.
func trimKey(src at) string { return src[:len(src)-1].String() }

// need records a sysctl a service needs. A declared value among accepted
// (arp_ignore 2 is as good as 1 for direct routing) is kept; any other
// declared value is a problem at the declaration.
func (b *hostBuilder) need(key, value, why string, accepted []string) {
	if e, ok := b.sysctls[key]; ok {
		cur := &b.h.Sysctls[e.index]
		if !slices.Contains(accepted, cur.Value) && e.declared != nil {
			b.d.probs = append(b.d.probs, problemAt(b.d.pos.at(e.declared), e.declared.String(),
				"%s is %q here, but it must be %s: %s", key, cur.Value, quoteAll(accepted), why))
		}
		cur.Why = addWhy(cur.Why, why)
		return
	}
	b.sysctls[key] = &sysctlEntry{index: len(b.h.Sysctls)}
	b.h.Sysctls = append(b.h.Sysctls, state.Sysctl{Key: key, Value: value, Why: addWhy(nil, why)})
}

// arp_ignore 1 answers ARP only for addresses on the receiving interface (2
// also requires the sender on its subnet); arp_announce 2 never uses the VIP as
// an ARP source. Together they keep a real server from claiming the VIP.
var (
	arpIgnoreOK   = []string{"1", "2"}
	arpAnnounceOK = []string{"2"}
)

// arpSysctls are the guide's ARP settings for a real server that holds a VIP
// it must not announce: on lo, all, default, the tunnel device and the host's
// data interface.
func (b *hostBuilder) arpSysctls(host *Host, why string, dev string) {
	ifaces := []string{"all", "default", "lo"}
	if dev != "lo" {
		ifaces = append(ifaces, dev)
	}
	if host.Interface != "" {
		ifaces = append(ifaces, host.Interface)
	}
	for _, i := range ifaces {
		// A VLAN's key names eth0.100 as sysctl(8) does: eth0/100.
		i = names.SysctlInterface(i)
		b.need("net.ipv4.conf."+i+".arp_ignore", "1", why, arpIgnoreOK)
		b.need("net.ipv4.conf."+i+".arp_announce", "2", why, arpAnnounceOK)
	}
}

func (b *hostBuilder) address(iface string, p netip.Prefix, why string) {
	key := addrKey{iface, p}
	if i, ok := b.addrs[key]; ok {
		b.h.Addresses[i].Why = addWhy(b.h.Addresses[i].Why, why)
		return
	}
	if b.addrs == nil {
		b.addrs = map[addrKey]int{}
	}
	b.addrs[key] = len(b.h.Addresses)
	b.h.Addresses = append(b.h.Addresses, state.Address{Interface: iface, Prefix: p, Why: addWhy(nil, why)})
}

func (b *hostBuilder) link(name, kind, why string) {
	for i := range b.h.Links {
		if l := &b.h.Links[i]; l.Name == name {
			l.Why = addWhy(l.Why, why)
			return
		}
	}
	b.h.Links = append(b.h.Links, state.Link{Name: name, Kind: kind, Up: true, Why: []string{why}})
}

func (b *hostBuilder) route(r state.Route, src at) {
	for i := range b.h.Routes {
		cur := &b.h.Routes[i]
		if cur.Dst != r.Dst {
			continue
		}
		if cur.Gateway != r.Gateway {
			b.d.probs = append(b.d.probs, problemAt(b.d.pos.at(src), src.String(),
				"host %s would need its default route via %s and via %s: a NAT real server has one default route, so it can serve one director per family",
				b.h.Name, cur.Gateway, r.Gateway))
			return
		}
		cur.Why = appendNew(cur.Why, r.Why...)
		return
	}
	b.h.Routes = append(b.h.Routes, r)
}

func (b *hostBuilder) note(format string, args ...any) {
	b.h.Notes = appendNew(b.h.Notes, fmt.Sprintf(format, args...))
}

func appendNew(list []string, items ...string) []string {
	for _, s := range items {
		if !slices.Contains(list, s) {
			list = append(list, s)
		}
	}
	return list
}

func quoteAll(vals []string) string {
	out := ""
	for i, v := range vals {
		if i > 0 {
			out += " or "
		}
		out += strconv.Quote(v)
	}
	return out
}
