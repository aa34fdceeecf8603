package schema

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/lvsctl/lvsctl/internal/state"
)

// derive works out, host by host, every object the cluster implies: what the
// directors declare, and what their services need on the real servers lvsctl
// manages. Each derived object says why it exists. Where a host's declared
// sysctl contradicts what a service needs, that is a problem at the
// declaration.
func derive(c *Cluster, pos locator) (map[string]*state.Host, Problems) {
	d := &deriver{c: c, pos: pos, hosts: map[string]*hostBuilder{}}
	for _, name := range sortedKeys(c.Hosts) {
		b := d.host(name)
		b.h.Retired = c.Hosts[name].Retired
		b.h.Boot = c.Hosts[name].Boot
		for _, key := range sortedKeys(c.Hosts[name].Sysctls) {
			b.declareSysctl(key, string(c.Hosts[name].Sysctls[key]), path("hosts", name, "sysctls", key))
		}
	}
	for _, name := range sortedKeys(c.Directors) {
		b := d.host(name)
		for _, key := range sortedKeys(c.Directors[name].Sysctls) {
			b.declareSysctl(key, string(c.Directors[name].Sysctls[key]), path("directors", name, "sysctls", key))
		}
	}
	for _, name := range sortedKeys(c.Directors) {
		d.director(c.Directors[name])
	}
	for _, name := range sortedKeys(c.Pairs) {
		d.pair(c.Pairs[name])
	}
	out := make(map[string]*state.Host, len(d.hosts))
	for name, b := range d.hosts {
		out[name] = b.h
	}
	return out, d.probs
}

type deriver struct {
	c     *Cluster
	pos   locator
	hosts map[string]*hostBuilder
	probs Problems
}

func (d *deriver) host(name string) *hostBuilder {
	b, ok := d.hosts[name]
	if !ok {
		b = &hostBuilder{d: d, h: &state.Host{Name: name}, sysctls: map[string]*sysctlEntry{}}
		d.hosts[name] = b
	}
	return b
}

func (d *deriver) director(dir *Director) {
	b := d.host(dir.Name)
	b.h.Exclusive = dir.Ownership == "exclusive"
	users := map[netip.Addr][]string{} // VIP -> services using it
	for _, name := range sortedKeys(dir.Services) {
		for _, a := range serviceVIPs(dir, dir.Services[name]) {
			users[a] = append(users[a], name)
		}
	}
	for _, a := range sortedKeys(dir.VIPs) {
		v := dir.VIPs[a]
		bitsLen := v.addr.BitLen()
		if v.Prefix != nil {
			bitsLen = *v.Prefix
		}
		why := "VIP declared in directors." + quote(dir.Name) + ".vips"
		if len(users[v.addr]) == 0 {
			why += " (no service uses it)"
		}
		b.address(v.Interface, netip.PrefixFrom(v.addr, bitsLen), why)
	}
	for _, a := range sortedAddrs(users) {
		if _, declared := dir.VIPs[a.String()]; !declared {
			b.note("VIP %s (service %s) is not in vips: lvsctl expects it on the director already, from keepalived or the host's own configuration", a, users[a][0])
		}
	}
	if dir.Timeouts != nil {
		b.h.Timeouts = &state.Timeouts{TCP: dir.Timeouts.TCP, TCPFin: dir.Timeouts.TCPFin, UDP: dir.Timeouts.UDP,
			Why: []string{"declared in directors." + quote(dir.Name) + ".timeouts"}}
	}
	if dir.Sync != nil {
		for _, x := range []struct {
			state string
			d     *SyncDaemon
		}{{state.SyncMaster, dir.Sync.Master}, {state.SyncBackup, dir.Sync.Backup}} {
			if x.d == nil {
				continue
			}
			// Group, port and TTL are always set (to the kernel's defaults
			// when left out), so a daemon started by hand with other values
			// shows as a change; the maximum length is left to the kernel.
			sd := state.SyncDaemon{State: x.state, Interface: x.d.Interface, SyncID: x.d.SyncID, Group: x.d.group,
				Port: state.DefaultSyncPort, TTL: state.DefaultSyncTTL,
				Why: []string{"declared in directors." + quote(dir.Name) + ".sync." + x.state}}
			if !sd.Group.IsValid() {
				sd.Group = state.DefaultSyncGroup
			}
			if x.d.MaxLength != nil {
				sd.MaxLength = *x.d.MaxLength
			}
			if x.d.Port != nil {
				sd.Port = *x.d.Port
			}
			if x.d.TTL != nil {
				sd.TTL = *x.d.TTL
			}
			b.h.Daemons = append(b.h.Daemons, sd)
		}
	}
	for _, name := range sortedKeys(dir.Marks) {
		g := dir.Marks[name]
		proto, _ := state.ParseProtocol(g.Protocol)
		why := fmt.Sprintf("mark group %s", name)
		if svc := serviceWithMark(dir, g.Mark); svc != "" {
			why += ", for service " + svc
		} else {
			b.note("mark group %s sets mark %d, which no service on this director uses", name, g.Mark)
		}
		b.h.MarkRules = append(b.h.MarkRules, state.MarkRule{Family: state.FamilyOf(g.addr), Addr: g.addr,
			Protocol: proto, Ports: slices.Clone(g.Ports), Mark: g.Mark, Why: []string{why}})
	}
	for _, name := range sortedKeys(dir.Services) {
		d.service(b, dir, dir.Services[name], ownScope(dir))
	}
	if len(dir.Services) > 0 {
		b.expireNodestConn()
	}
}

// expireNodestConn is what every director with services needs. Without it,
// IPVS keeps a removed real server's connection entries (FIN_WAIT, up to two
// minutes in direct routing) and drops every new SYN that reuses one of their
// client ports. A value the operator declares is theirs to keep.
func (b *hostBuilder) expireNodestConn() {
	b.need("net.ipv4.vs.expire_nodest_conn", "1",
		"removing a real server: IPVS expires its leftover connection entries instead of dropping new connections that reuse their ports",
		[]string{"0", "1"})
}

// svcScope is where a service is declared: a director's own, or a pair's
// (then on each of its directors).
type svcScope struct {
	path  at     // directors.NAME or pairs.NAME
	label string // after "service NAME": "" or " of pair NAME"
	// where names the declaration for a real server's side: "on d1" or "of
	// pair lvs".
	where string
	// rsSide: derive the real servers' side (a pair's once, not once per
	// director).
	rsSide bool
}

func ownScope(dir *Director) svcScope {
	return svcScope{path: path("directors", dir.Name), where: "on " + dir.Name, rsSide: true}
}

func (d *deriver) service(b *hostBuilder, dir *Director, s *Service, sc svcScope) {
	sp := sc.path.to("services", s.Name)
	svc := &state.Service{
		Key:       serviceKey(s),
		Scheduler: s.Scheduler,
		OnePacket: s.OnePacket,
		Why:       []string{"service " + s.Name + sc.label},
	}
	if len(s.Flags) > 0 {
		svc.SchedFlags = slices.Sorted(slices.Values(s.Flags))
	}
	if len(s.ExternallyManaged) > 0 {
		svc.ExternallyManaged = slices.Sorted(slices.Values(s.ExternallyManaged))
	}
	if hasChecks(s) {
		// keepalived's checkers own what they change.
		svc.ExternallyManaged = checkedManaged(s, svc.ExternallyManaged)
	}
	if p := s.Persistence; p != nil {
		svc.Persistent, svc.Timeout, svc.PE = true, p.Timeout, p.Engine
		svc.NetmaskBits = s.addr.BitLen()
		if s.FWMark != 0 {
			svc.NetmaskBits = map[string]int{"ipv4": 32, "ipv6": 128}[s.Family]
		}
		switch {
		case p.Prefix != nil:
			svc.NetmaskBits = *p.Prefix
		case p.Netmask != "":
			svc.SetIPv4Mask(p.mask) // NetmaskBits, or Netmask when not contiguous
		}
	}
	if s.FWMark != 0 && !markGrouped(dir, s.FWMark) {
		b.note("service %s (%s): no mark group on this director sets mark %d, so lvsctl neither sets nor checks the rules that mark its packets (iptables, another nftables table)",
			s.Name, svc.Key, s.FWMark)
	}
	vips := serviceVIPs(dir, s)
	for _, rname := range sortedKeys(s.RealServers) {
		r := s.RealServers[rname]
		dest := &state.Destination{
			Addr:           netip.AddrPortFrom(r.addr, *r.Port),
			Weight:         r.Weight,
			Forward:        state.Forward(r.Forward),
			UpperThreshold: r.UpperThreshold,
			LowerThreshold: r.LowerThreshold,
			Host:           r.Host,
			Why:            []string{"real server " + rname + " of service " + s.Name + sc.label},
		}
		if r.Tunnel != nil {
			dest.TunnelType, dest.TunnelPort, dest.TunnelChecksum = r.Tunnel.Type, r.Tunnel.Port, r.Tunnel.Checksum
		}
		svc.Dests = append(svc.Dests, dest)
		if r.Forward != "nat" && *r.Port != s.Port {
			to := fmt.Sprintf("the service's port %d", s.Port)
			if s.FWMark != 0 {
				to = "the port the client connected to"
			}
			b.note("service %s (%s): real server %s is %s, but %s does not rewrite the destination port: the kernel keeps %d and ignores it, and packets reach the real server on %s",
				s.Name, svc.Key, rname, dest.Addr, state.Forward(r.Forward).Describe(), *r.Port, to)
		}
		if r.Host != "" && s.FWMark != 0 && r.Forward != "nat" && len(vips) == 0 {
			b.note("service %s (%s): real server %s is host %s, but no mark group here says which addresses mark %d covers, so lvsctl adds no VIP there for it (nor the ARP sysctls that go with one): set them up on %s yourself",
				s.Name, svc.Key, rname, r.Host, s.FWMark, r.Host)
		}
		if r.Host != "" && sc.rsSide {
			d.realServerSide(dir, s, r, vips, sp.to("realServers", rname), sc)
		}
		if r.Forward == "nat" {
			key, why := "net.ipv4.ip_forward", "service "+s.Name+sc.label+" uses NAT: the director forwards requests and replies"
			if r.addr.Is6() {
				key = "net.ipv6.conf.all.forwarding"
			}
			b.need(key, "1", why, []string{"1"})
		}
	}
	b.h.Services = append(b.h.Services, svc)
}

// realServerSide adds what a managed real server needs for its service.
func (d *deriver) realServerSide(dir *Director, s *Service, r *RealServer, vips []netip.Addr, rp at, sc svcScope) {
	rs := d.host(r.Host)
	host := d.c.Hosts[r.Host]
	why := fmt.Sprintf("needed by service %s %s, %s", s.Name, sc.where, state.Forward(r.Forward).Describe())
	switch r.Forward {
	case "dr":
		for _, vip := range vips {
			if vip.Is4() {
				rs.arpSysctls(host, why, "lo")
			}
			rs.address("lo", netip.PrefixFrom(vip, vip.BitLen()), why)
		}
	case "tun":
		dev, kind, missing := tunnelDevice(r.Tunnel.Type, r.addr.Is6(), serviceIs6(s))
		if dev == "" {
			d.probs = append(d.probs, problemAt(d.pos.at(rp.to("host")), rp.to("host").String(),
				"lvsctl does not set up %s on a managed real server yet: leave host out and configure the receiver yourself", missing))
			return
		}
		rs.link(dev, kind, why)
		for _, vip := range vips {
			// What the inner packet needs, by the VIP's family. IPv4: the
			// ARP sysctls (the VIP must not be announced), and rp_filter
			// off, since the client's address is not routed back through
			// the tunnel. IPv6 needs neither: the kernel answers neighbour
			// solicitations only for addresses on the receiving interface,
			// so a VIP on the tunnel device is never announced on eth0, and
			// rp_filter is IPv4's alone (the outer IPv4 packet of IPv6 in
			// IPv4 comes from the director's address, which routes back
			// the way it came).
			if vip.Is4() {
				rs.arpSysctls(host, why, dev)
				rs.need("net.ipv4.conf.all.rp_filter", "0", why, []string{"0", "2"})
				rs.need("net.ipv4.conf."+dev+".rp_filter", "0", why, []string{"0", "2"})
			}
			rs.address(dev, netip.PrefixFrom(vip, vip.BitLen()), why)
		}
	case "nat":
		gw := netip.Addr{}
		for _, g := range dir.natGateways {
			if g.Is4() == r.addr.Is4() {
				gw = g
			}
		}
		if !gw.IsValid() && sc.label != "" {
			rs.note("NAT real server of service %s %s: a pair has no natGateway yet, so lvsctl cannot check that replies go back through the director that holds the pair's VIPs (VRRP moves the gateway address too)",
				s.Name, sc.where)
			return
		}
		if !gw.IsValid() {
			rs.note("NAT real server of service %s on %s: directors.%s.natGateway names no %s address, so lvsctl cannot check that replies go back through the director",
				s.Name, dir.Name, quote(dir.Name), familyOf(r.addr))
			return
		}
		dst := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		if gw.Is6() {
			dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
		}
		rs.route(state.Route{Dst: dst, Gateway: gw, Manage: host.DefaultRoute == "manage", Why: []string{why + ": replies must go back through the director"}}, rp.to("host"))
	}
}

// tunnelDevice names the device that decapsulates a tunnel on the real
// server: the fallback device of the kernel module that takes the outer
// family (the real server's address) with the inner one (the service's VIP)
// inside, which receives from any director. IPVS's "ipip" type is IP in IP
// of either family (since Linux 3.18; the outer header's protocol says the
// inner family): IPv4 in IPv4 is ipip's tunl0, IPv6 in IPv4 (protocol 41)
// sit's sit0, IPv6 in IPv6 ip6_tunnel's ip6tnl0. GRE says the inner family
// in its own header, so gre0 and ip6gre0 take both. When lvsctl cannot set
// the receiver up, name is "" and missing says what is lacking: GUE needs a
// fou port, and IPv4 in IPv6 an ip6tnl device of mode ipip6 or any, where
// the kernel's ip6tnl0 is ip6ip6 and drops it.
func tunnelDevice(typ string, outer6, inner6 bool) (name, kind, missing string) {
	switch {
	case typ == "ipip" && !outer6 && !inner6:
		return "tunl0", "ipip", ""
	case typ == "ipip" && !outer6:
		return "sit0", "sit", ""
	case typ == "ipip" && inner6:
		return "ip6tnl0", "ip6tnl", ""
	case typ == "ipip":
		return "", "", "an IPv4-in-IPv6 receiver (an ip6tnl device of mode ipip6 or any; the kernel's ip6tnl0 takes only IPv6 in IPv6)"
	case typ == "gre" && !outer6:
		return "gre0", "gre", ""
	case typ == "gre":
		return "ip6gre0", "ip6gre", ""
	}
	return "", "", "a GUE receiver (fou)"
}

// serviceIs6 reports whether s is an IPv6 service: by its VIP, or by its
// family for a firewall-mark service.
func serviceIs6(s *Service) bool {
	if s.FWMark != 0 {
		return s.Family == "ipv6"
	}
	return s.addr.Is6()
}

// serviceVIPs are the addresses a service answers on: its own, or those of
// the mark groups that carry its mark.
func serviceVIPs(dir *Director, s *Service) []netip.Addr {
	if s.FWMark == 0 {
		return []netip.Addr{s.addr}
	}
	var out []netip.Addr
	for _, name := range sortedKeys(dir.Marks) {
		if g := dir.Marks[name]; g.Mark == s.FWMark && !slices.Contains(out, g.addr) {
			out = append(out, g.addr)
		}
	}
	return out
}

// markGrouped reports whether a mark group on dir sets mark.
func markGrouped(dir *Director, mark uint32) bool {
	for _, g := range dir.Marks {
		if g.Mark == mark {
			return true
		}
	}
	return false
}

func serviceWithMark(dir *Director, mark uint32) string {
	for _, name := range sortedKeys(dir.Services) {
		if dir.Services[name].FWMark == mark {
			return name
		}
	}
	return ""
}

func serviceKey(s *Service) state.ServiceKey {
	if s.FWMark != 0 {
		return state.ServiceKey{Family: state.Family(s.Family), FWMark: s.FWMark}
	}
	proto, _ := state.ParseProtocol(s.Protocol)
	return state.ServiceKey{Family: state.FamilyOf(s.addr), Protocol: proto, Addr: s.addr, Port: s.Port}
}

func sortedAddrs[V any](m map[netip.Addr]V) []netip.Addr {
	out := make([]netip.Addr, 0, len(m))
	for a := range m {
		out = append(out, a)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}
