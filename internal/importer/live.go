package importer

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/lvsctl/lvsctl/internal/state"
)

// LiveHost is what lvsctl import live read on one host.
type LiveHost struct {
	// Host is the host as the definition being imported into reaches it:
	// name, ssh, local, netns, agentPath, and any interface and sysctls it
	// already declares. FromLive adds to it.
	Host *Host
	// State holds what the host has: IPVS services and timeouts (when IPVS
	// is loaded), every address, the links, the sysctls read, the default
	// routes and lvsctl's mark rules.
	State *state.Host
}

// TunnelDevices are the devices that decapsulate IPVS tunnels on a real
// server: import reads them, and their addresses are no real server's own.
var TunnelDevices = []string{"tunl0", "ip6tnl0", "sit0", "gre0", "ip6gre0"}

// Kernel defaults of the global IPVS timeouts (tcp, tcpfin, udp).
var defaultTimeouts = state.Timeouts{TCP: 900, TCPFin: 120, UDP: 300}

// ConfKey is the key of a per-interface IPv4 sysctl in sysctl(8)'s form: an
// interface name's dots become slashes (net.ipv4.conf.eth0/100.arp_ignore).
func ConfKey(iface, name string) string {
	return "net.ipv4.conf." + strings.ReplaceAll(iface, ".", "/") + "." + name
}

// SysctlsToRead are the keys import live reads on a host whose addresses
// are addrs: forwarding, the director's expire_nodest_conn, and the ARP and
// reverse-path settings of every interface that matters to a real server.
func SysctlsToRead(addrs []state.Address, links []state.Link) []string {
	keys := []string{"net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding", "net.ipv4.vs.expire_nodest_conn"}
	ifaces := []string{"all", "default", "lo"}
	for _, a := range addrs {
		if !slices.Contains(ifaces, a.Interface) {
			ifaces = append(ifaces, a.Interface)
		}
	}
	for _, l := range links {
		if slices.Contains(TunnelDevices, l.Name) && !slices.Contains(ifaces, l.Name) {
			ifaces = append(ifaces, l.Name)
		}
	}
	for _, i := range ifaces {
		keys = append(keys, ConfKey(i, "arp_ignore"), ConfKey(i, "arp_announce"), ConfKey(i, "rp_filter"))
	}
	return keys
}

// FromLive writes the definition of what lvsctl found on hosts: every host
// with an IPVS table is a director with that table; a destination whose
// address is another host's is that host's real server, with the interface
// that has the address; the director's addresses that are service VIPs are
// its vips; lvsctl's own mark rules are mark groups. Sysctls are declared
// where the live value differs from what lvsctl would set but is one it
// accepts, so that the first plan keeps them. Notes say, for people, what
// the first plan will still change and why.
func FromLive(hosts []LiveHost) (*Definition, []string) {
	def := &Definition{}
	var notes []string
	owners := map[netip.Addr][]addrOwner{}
	byName := map[string]*LiveHost{}
	for i := range hosts {
		lh := &hosts[i]
		byName[lh.Host.Name] = lh
		def.Hosts = append(def.Hosts, lh.Host)
		if lh.Host.Boot == "" {
			lh.Host.Boot = "none"
		}
		for _, a := range lh.State.Addresses {
			if a.Interface == "lo" || slices.Contains(TunnelDevices, a.Interface) {
				continue
			}
			owners[a.Prefix.Addr()] = append(owners[a.Prefix.Addr()], addrOwner{lh.Host.Name, a.Interface})
		}
	}
	live := func(h, key string) (string, bool) {
		for _, s := range byName[h].State.Sysctls {
			if s.Key == key {
				return s.Value, true
			}
		}
		return "", false
	}
	// keep declares key on host h with its live value when that is in
	// accepted but is not what lvsctl would set (want).
	keep := func(h *Host, key, want string, accepted []string, why string) {
		v, ok := live(h.Name, key)
		if !ok || v == want || slices.ContainsFunc(h.Sysctls, func(s Sysctl) bool { return s.Key == key }) {
			return
		}
		if slices.Contains(accepted, v) {
			h.Sysctls = append(h.Sysctls, Sysctl{Key: key, Value: v, Comment: []string{why}})
			return
		}
		notes = append(notes, fmt.Sprintf("%s: %s is %s; the first plan sets it to %s (%s)", h.Name, key, v, want, why))
	}
	rsSeen := map[string]bool{}
	for i := range hosts {
		lh := &hosts[i]
		if len(lh.State.Services) == 0 {
			continue
		}
		dname := lh.Host.Name
		dir := def.Director(dname)
		vipSeen := map[netip.Prefix]bool{}
		addVIP := func(a netip.Addr) bool {
			for _, ad := range lh.State.Addresses {
				if ad.Prefix.Addr() == a && !vipSeen[ad.Prefix] {
					vipSeen[ad.Prefix] = true
					dir.VIPs = append(dir.VIPs, VIP{Prefix: ad.Prefix, Interface: ad.Interface})
				}
				if ad.Prefix.Addr() == a {
					return true
				}
			}
			return false
		}
		for _, r := range lh.State.MarkRules {
			dir.Marks = append(dir.Marks, Mark{Name: markName(r, dir.Marks), Rule: r})
			addVIP(r.Addr)
		}
		nat := map[state.Family]bool{}
		// The kernel lists services and destinations in hash order; the
		// definition lists them sorted.
		svcs := slices.Clone(lh.State.Services)
		slices.SortStableFunc(svcs, func(a, b *state.Service) int { return compareKeys(a.Key, b.Key) })
		for _, s := range svcs {
			s.Dests = slices.Clone(s.Dests)
			slices.SortStableFunc(s.Dests, func(a, b *state.Destination) int { return a.Addr.Compare(b.Addr) })
			svc, _ := dir.AddService(s)
			k := s.Key
			switch {
			case k.FWMark != 0 && !slices.ContainsFunc(lh.State.MarkRules, func(r state.MarkRule) bool { return r.Mark == k.FWMark }):
				svc.Comment = append(svc.Comment, fmt.Sprintf("Mark %d is set by rules outside lvsctl (iptables, another nftables table): lvsctl leaves them alone.", k.FWMark))
			case k.FWMark == 0 && !addVIP(k.Addr):
				svc.Comment = append(svc.Comment, fmt.Sprintf("%s is on no interface of %s (VRRP, a route to the director, or it is missing): not under vips, so lvsctl leaves it alone.", k.Addr, dname))
			}
			for _, r := range svc.Reals {
				d := r.Dest
				if d.Forward == state.NAT {
					nat[state.FamilyOf(d.Addr.Addr())] = true
				}
				os := owners[d.Addr.Addr()]
				if len(os) != 1 || os[0].host == dname {
					if len(os) > 1 {
						r.Comment = append(r.Comment, fmt.Sprintf("%s is on several hosts (%s): which one is this real server is unknown.", d.Addr.Addr(), ownerNames(os)))
					}
					continue
				}
				o := os[0]
				r.Host = o.host
				h := byName[o.host].Host
				switch d.Forward {
				case state.DR, state.TUN:
					if h.Interface == "" {
						h.Interface = o.iface
					}
					dev := "lo"
					if d.Forward == state.TUN {
						dev = TunnelDeviceFor(k, d)
					}
					// lvsctl derives ARP and rp_filter settings for an
					// IPv4 VIP: the service's own, or its mark group's.
					if k.Family == state.IPv4 && (k.FWMark == 0 || slices.ContainsFunc(lh.State.MarkRules, func(r state.MarkRule) bool { return r.Mark == k.FWMark })) {
						why := "As the host has it: lvsctl accepts it for a real server."
						for _, iface := range []string{"all", "default", "lo", dev, h.Interface} {
							keep(h, ConfKey(iface, "arp_ignore"), "1", []string{"1", "2"}, why)
							keep(h, ConfKey(iface, "arp_announce"), "2", []string{"2"}, why)
						}
						if d.Forward == state.TUN {
							keep(h, ConfKey("all", "rp_filter"), "0", []string{"0", "2"}, why)
							keep(h, ConfKey(dev, "rp_filter"), "0", []string{"0", "2"}, why)
						}
					}
				case state.NAT:
					for _, rt := range byName[o.host].State.Routes {
						if rt.Dst.Bits() != 0 || state.FamilyOf(rt.Gateway) != state.FamilyOf(d.Addr.Addr()) {
							continue
						}
						if hasAddr(lh.State, rt.Gateway) && !slices.Contains(dir.NATGateway, rt.Gateway) {
							dir.NATGateway = append(dir.NATGateway, rt.Gateway)
						}
					}
				}
				rsSeen[o.host] = true
			}
		}
		if v, ok := live(dname, "net.ipv4.vs.expire_nodest_conn"); ok && v != "1" {
			dir.Sysctls = append(dir.Sysctls, Sysctl{Key: "net.ipv4.vs.expire_nodest_conn", Value: v, Comment: expireNodest})
		}
		if nat[state.IPv4] {
			keepForward(dname, "net.ipv4.ip_forward", live, &notes)
		}
		if nat[state.IPv6] {
			keepForward(dname, "net.ipv6.conf.all.forwarding", live, &notes)
		}
		if t := lh.State.Timeouts; t != nil {
			var set state.Timeouts
			if t.TCP != defaultTimeouts.TCP {
				set.TCP = t.TCP
			}
			if t.TCPFin != defaultTimeouts.TCPFin {
				set.TCPFin = t.TCPFin
			}
			if t.UDP != defaultTimeouts.UDP {
				set.UDP = t.UDP
			}
			if set.TCP != 0 || set.TCPFin != 0 || set.UDP != 0 {
				dir.Timeouts = &set
			}
		}
	}
	for _, lh := range hosts {
		if len(lh.State.Services) == 0 && !rsSeen[lh.Host.Name] {
			lh.Host.Comment = append(lh.Host.Comment, "lvsctl found no IPVS table here, and no real server of one.")
		}
	}
	return def, notes
}

var expireNodest = []string{"As the director has it. lvsctl's own default for a director is 1: a removed real server's connection entries then expire at once, instead of dropping new connections that reuse their client ports."}

func keepForward(dname, key string, live func(h, key string) (string, bool), notes *[]string) {
	if v, ok := live(dname, key); ok && v != "1" {
		*notes = append(*notes, fmt.Sprintf("%s: %s is %s, and NAT needs it 1: the first plan sets it", dname, key, v))
	}
}

func hasAddr(h *state.Host, a netip.Addr) bool {
	return slices.ContainsFunc(h.Addresses, func(x state.Address) bool { return x.Prefix.Addr() == a })
}

// compareKeys orders services: addressed ones by address, port and
// protocol, then firewall marks.
func compareKeys(a, b state.ServiceKey) int {
	switch {
	case (a.FWMark == 0) != (b.FWMark == 0):
		if a.FWMark == 0 {
			return -1
		}
		return 1
	case a.FWMark != 0:
		return cmp.Or(cmp.Compare(a.FWMark, b.FWMark), cmp.Compare(a.Family, b.Family))
	}
	return cmp.Or(a.Addr.Compare(b.Addr), cmp.Compare(a.Port, b.Port), cmp.Compare(a.Protocol, b.Protocol))
}

// addrOwner is a host with an address, and the interface that has it.
type addrOwner struct{ host, iface string }

func ownerNames(os []addrOwner) string {
	var n []string
	for _, o := range os {
		n = append(n, o.host)
	}
	return strings.Join(n, ", ")
}

func markName(r state.MarkRule, have []Mark) string {
	base := fmt.Sprintf("mark-%d", r.Mark)
	name := base
	for i := 2; slices.ContainsFunc(have, func(m Mark) bool { return m.Name == name }); i++ {
		name = fmt.Sprintf("%s-%d", base, i)
	}
	return name
}

// TunnelDeviceFor names the device that decapsulates d's tunnel on the real
// server for service k, as lvsctl derives it: by the tunnel's outer family
// (the real server's address) and type.
func TunnelDeviceFor(k state.ServiceKey, d *state.Destination) string {
	v6 := d.Addr.Addr().Is6()
	switch {
	case d.TunnelType == "gre" && v6:
		return "ip6gre0"
	case d.TunnelType == "gre":
		return "gre0"
	case v6:
		return "ip6tnl0"
	case k.Family == state.IPv6 && k.FWMark == 0:
		return "sit0"
	}
	return "tunl0"
}
