package schema

import (
	"cmp"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strings"

	"cuelang.org/go/cue"

	"github.com/lvsctl/lvsctl/internal/names"
	"github.com/lvsctl/lvsctl/internal/state"
)

// check applies the rules the CUE schema cannot express: name patterns,
// addresses, and the relations between fields that the kernel (or ipvsadm,
// where it is stricter for good reason) enforces. It also fills the parsed
// fields of c. Every problem is placed at the field the user wrote.
func check(c *Cluster, pos locator) Problems {
	k := &checker{c: c, pos: pos}
	for _, name := range sortedKeys(c.Hosts) {
		h := c.Hosts[name]
		h.Name = name
		k.name(path("hosts", name), "host", name)
		k.host(path("hosts", name), h)
	}
	for _, name := range sortedKeys(c.Directors) {
		d := c.Directors[name]
		d.Name = name
		k.director(path("directors", name), d)
	}
	k.pairs()
	k.keepalived()
	return k.probs
}

type checker struct {
	c     *Cluster
	pos   locator
	probs Problems
}

// at is a field path being checked.
type at []cue.Selector

func path(labels ...string) at {
	p := make(at, len(labels))
	for i, l := range labels {
		p[i] = cue.Str(l)
	}
	return p
}

func (p at) to(labels ...string) at {
	return append(slices.Clip(p), path(labels...)...)
}

func (p at) index(i int) at { return append(slices.Clip(p), cue.Index(i)) }

func (p at) String() string { return cue.MakePath(p...).String() }

func (k *checker) errf(p at, format string, args ...any) {
	k.probs = append(k.probs, problemAt(k.pos.at(p), p.String(), format, args...))
}

// name checks the name of an object the configuration names itself: it is
// printed in plans and kept in inventories on the hosts.
func (k *checker) name(p at, kind, name string) {
	if !objectName.MatchString(name) {
		k.errf(p, "%s name %q is not allowed: use 1 to 128 letters, digits, \"_\", \".\", \":\", \"@\", \"+\" or \"-\", starting with a letter, digit or \"_\"", kind, name)
	}
}

var objectName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.:@+-]{0,127}$`)

func (k *checker) err(p at, err error) {
	if err != nil {
		k.errf(p, "%s", err)
	}
}

func (k *checker) host(p at, h *Host) {
	switch {
	case h.Local && h.SSH != nil:
		k.errf(p.to("local"), "local: true and ssh say two different machines: keep ssh to reach another machine, or local to mean the one lvsctl runs on")
	case h.Local && h.Netns != "":
		k.errf(p.to("local"), "local: true and netns: a namespace of this machine is said by netns alone; remove local")
	case !h.Local && h.SSH == nil && h.Netns == "":
		k.errf(p, "lvsctl cannot tell which machine host %q is: give it ssh: address (another machine), netns (a network namespace on this machine), or local: true (this machine, where lvsctl runs, as root)", h.Name)
	}
	if h.SSH != nil {
		k.err(p.to("ssh", "address"), names.CheckSSHAddress(h.SSH.Address))
		if h.SSH.User != "" {
			k.err(p.to("ssh", "user"), names.CheckSSHUser(h.SSH.User))
		}
	}
	if h.Netns != "" {
		k.err(p.to("netns"), names.CheckNetnsName(h.Netns))
	}
	if h.AgentPath != "" {
		k.err(p.to("agentPath"), names.CheckAgentBinary(h.AgentPath))
	}
	if h.Interface != "" {
		// lvsctl sets per-interface ARP sysctls on it, so it must be
		// nameable in a sysctl key (a VLAN's eth0.100 is, as eth0/100).
		k.err(p.to("interface"), names.CheckSysctlInterface(h.Interface))
	}
	k.sysctls(p.to("sysctls"), h.Sysctls)
	if h.Retired {
		k.retired(p, h)
	}
}

// retired checks a host that is leaving the cluster. lvsctl must still reach
// it, or it would remove objects from this machine instead; and settings that
// make it hold something mean nothing there.
func (k *checker) retired(p at, h *Host) {
	if h.written["interface"] {
		k.errf(p.to("interface"), "interface means nothing on a retired host: lvsctl sets no ARP sysctls there any more; remove it")
	}
	if h.written["sysctls"] && len(h.Sysctls) > 0 {
		k.errf(p.to("sysctls"), "sysctls mean nothing on a retired host: lvsctl puts each sysctl it changed there back to its value from before lvsctl; remove them")
	}
	if h.written["defaultRoute"] {
		k.errf(p.to("defaultRoute"), "defaultRoute means nothing on a retired host: lvsctl leaves the default route as it is (deleting it could cut the SSH session); remove it")
	}
}

// hostFieldsWritten records, for each host, the fields its configuration
// sets. The validator then fills in defaults, after which a default and the
// same value written out look alike.
func hostFieldsWritten(data *value) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	if data == nil || data.kind != kStruct {
		return out
	}
	hosts := data.lookup("hosts")
	if hosts == nil || hosts.v.kind != kStruct {
		return out
	}
	for _, h := range hosts.v.fields {
		if h.v.kind != kStruct {
			continue
		}
		set := map[string]bool{}
		for _, f := range h.v.fields {
			set[f.name] = true
		}
		out[h.name] = set
	}
	return out
}

func (k *checker) sysctls(p at, m map[string]SysctlValue) {
	for _, key := range sortedKeys(m) {
		k.err(p.to(key), names.CheckSysctlKey(key))
		k.err(p.to(key), names.CheckSysctlValue(string(m[key])))
	}
}

func (k *checker) director(p at, d *Director) {
	h, ok := k.c.Hosts[d.Name]
	if !ok {
		k.errf(p, "director %q is not a host: add hosts.%s to say how to reach it", d.Name, quote(d.Name))
	}
	if ok && h.Retired {
		k.errf(p, "host %q is retired, so it cannot be a director: remove directors.%s (lvsctl then drains and removes its services), or take retired off the host", d.Name, quote(d.Name))
	}
	k.sysctls(p.to("sysctls"), d.Sysctls)
	if ok {
		for _, key := range sortedKeys(d.Sysctls) {
			if hv, dup := h.Sysctls[key]; dup && hv != d.Sysctls[key] {
				k.errf(p.to("sysctls", key), "%s is %q here but %q in hosts.%s.sysctls", key, d.Sysctls[key], hv, quote(d.Name))
			}
		}
	}
	for _, a := range sortedKeys(d.VIPs) {
		k.vip(p.to("vips", a), a, d.VIPs[a])
	}
	seenFamily := map[string]bool{}
	for i, g := range d.NATGateway {
		addr, err := parseAddr(g)
		if err != nil {
			k.err(p.to("natGateway").index(i), err)
			continue
		}
		if f := familyOf(addr); seenFamily[f] {
			k.errf(p.to("natGateway").index(i), "a second %s gateway; give at most one per family", f)
		} else {
			seenFamily[f] = true
			d.natGateways = append(d.natGateways, addr)
		}
	}
	k.marks(p.to("marks"), d)
	k.services(p, d, "on this director")
	if d.Sync != nil {
		k.syncDaemon(p.to("sync", "master"), d, state.SyncMaster, d.Sync.Master)
		k.syncDaemon(p.to("sync", "backup"), d, state.SyncBackup, d.Sync.Backup)
	}
}

// services checks d's services (a director's, or a pair's as a director),
// two of which must not have one identity; where says whose they are.
func (k *checker) services(p at, d *Director, where string) {
	seen := map[string]string{} // service identity -> service name
	for _, name := range sortedKeys(d.Services) {
		s := d.Services[name]
		s.Name = name
		sp := p.to("services", name)
		k.name(sp, "service", name)
		id, ok := k.service(sp, d, s)
		if !ok {
			continue
		}
		if other, dup := seen[id]; dup {
			k.errf(sp, "service %q has the same identity (%s) as service %q %s", name, id, other, where)
			continue
		}
		seen[id] = name
	}
}

func (k *checker) vip(p at, a string, v *VIP) {
	addr, err := parseAddr(a)
	if err != nil {
		k.errf(p, "VIP key: %s", err)
		return
	}
	v.addr = addr
	k.err(p.to("interface"), names.CheckInterfaceName(v.Interface))
	if v.Prefix != nil && addr.Is4() && *v.Prefix > 32 {
		k.errf(p.to("prefix"), "prefix /%d is too long for IPv4 address %s (at most 32)", *v.Prefix, addr)
	}
	if !addr.IsGlobalUnicast() {
		k.errf(p, "VIP %s is not a unicast address", addr)
	}
}

func (k *checker) marks(p at, d *Director) {
	type ruleKey struct {
		addr  netip.Addr
		proto string
		port  uint16
	}
	owner := map[ruleKey]string{}
	for _, name := range sortedKeys(d.Marks) {
		g := d.Marks[name]
		g.Name = name
		gp := p.to(name)
		k.name(gp, "mark group", name)
		addr, err := parseAddr(g.Address)
		if err != nil {
			k.err(gp.to("address"), err)
			continue
		}
		g.addr = addr
		for i, port := range g.Ports {
			rk := ruleKey{addr, g.Protocol, port}
			if other, dup := owner[rk]; dup {
				k.errf(gp.to("ports").index(i), "%s %s port %d is already in mark group %q", g.Protocol, addr, port, other)
				continue
			}
			owner[rk] = name
		}
	}
}

// service checks one virtual service and returns its identity as text.
func (k *checker) service(p at, d *Director, s *Service) (string, bool) {
	var id string
	ok := true
	switch {
	case s.FWMark != 0:
		if s.Address != "" || s.Port != 0 || s.Protocol != "" {
			k.errf(p.to("fwmark"), "a firewall-mark service has no protocol, address or port of its own: its mark group says which packets it takes")
			ok = false
		}
		fam, grouped := k.markFamily(p, d, s)
		if s.Family != "" && fam != "" && s.Family != fam {
			k.errf(p.to("family"), "family is %s but mark %d's groups are %s", s.Family, s.FWMark, fam)
			ok = false
		}
		switch {
		case !grouped && s.Family == "":
			// The rules that set the mark are someone else's (iptables,
			// another nftables table); derive notes it.
			s.Family = "ipv4"
		case s.Family == "":
			s.Family = fam
		}
		if s.Family == "" {
			ok = false
		}
		id = fmt.Sprintf("fwmark %d %s", s.FWMark, s.Family)
	case s.Address == "" || s.Port == 0:
		k.errf(p, "a service needs address and port, or fwmark")
		return "", false
	default:
		addr, err := parseAddr(s.Address)
		if err != nil {
			k.err(p.to("address"), err)
			return "", false
		}
		s.addr = addr
		if s.Protocol == "" {
			s.Protocol = "tcp"
		}
		if s.Family != "" && s.Family != familyOf(addr) {
			k.errf(p.to("family"), "family is %s but address %s is %s", s.Family, addr, familyOf(addr))
		}
		s.Family = familyOf(addr)
		if !addr.IsGlobalUnicast() {
			k.errf(p.to("address"), "%s is not a unicast address", addr)
		}
		id = fmt.Sprintf("%s %s", s.Protocol, netip.AddrPortFrom(addr, s.Port))
	}

	for i, f := range s.Flags {
		if sched, _, _ := strings.Cut(f, "-"); sched != s.Scheduler {
			k.errf(p.to("flags").index(i), "scheduler flag %s only applies to the %s scheduler; this service uses %s", f, sched, s.Scheduler)
		}
		if slices.Index(s.Flags, f) != i {
			k.errf(p.to("flags").index(i), "scheduler flag %s is listed twice", f)
		}
	}
	for i, e := range s.ExternallyManaged {
		if slices.Index(s.ExternallyManaged, e) != i {
			k.errf(p.to("externallyManaged").index(i), "%q is listed twice", e)
		}
	}
	if s.OnePacket && s.FWMark == 0 && s.Protocol != "udp" {
		k.errf(p.to("onePacket"), "one-packet scheduling is for UDP services (or firewall-mark services carrying UDP); this service is %s", s.Protocol)
	}
	if s.Persistence != nil {
		k.persistence(p.to("persistence"), s)
	}
	k.realServers(p.to("realServers"), s)
	return id, ok
}

// markFamily returns the family of the mark groups carrying s's mark, and
// reports groups of mixed families. grouped is false when no group on the
// director sets the mark: rules lvsctl does not own set it, and the service's
// family is its own family field (IPv4 when that is left out).
func (k *checker) markFamily(p at, d *Director, s *Service) (fam string, grouped bool) {
	fams := map[string]bool{}
	groups := 0
	for _, name := range sortedKeys(d.Marks) {
		if g := d.Marks[name]; g.Mark == s.FWMark {
			groups++
			if g.addr.IsValid() {
				fams[familyOf(g.addr)] = true
			}
		}
	}
	switch {
	case groups == 0:
		return "", false
	case len(fams) == 0:
		return "", true // the group's own address is wrong, and reported there
	case len(fams) == 1:
		for f := range fams {
			return f, true
		}
	}
	k.errf(p.to("fwmark"), "mark %d is set for both IPv4 and IPv6 addresses; a firewall-mark service has one family, use two marks", s.FWMark)
	return "", true
}

func (k *checker) persistence(p at, s *Service) {
	ps := s.Persistence
	switch {
	case ps.Netmask != "" && ps.Prefix != nil:
		k.errf(p.to("netmask"), "give netmask or prefix, not both")
	case ps.Netmask != "":
		if s.Family != "ipv4" {
			k.errf(p.to("netmask"), "a netmask is for IPv4 services; an IPv6 service groups clients by prefix (1 to 128)")
			break
		}
		m, err := netip.ParseAddr(ps.Netmask)
		if err != nil || !m.Is4() {
			k.errf(p.to("netmask"), "%q is not an IPv4 netmask such as 255.255.255.0", ps.Netmask)
			break
		}
		// Any mask, contiguous or not (255.255.0.255): the kernel ANDs
		// the client's address with it, and ipvsadm -M takes it too.
		v := m.As4()
		ps.mask = uint32(v[0])<<24 | uint32(v[1])<<16 | uint32(v[2])<<8 | uint32(v[3])
	case ps.Prefix != nil:
		if s.Family == "ipv4" && *ps.Prefix > 32 {
			k.errf(p.to("prefix"), "prefix /%d is too long for an IPv4 service (0 to 32)", *ps.Prefix)
		}
		if s.Family == "ipv6" && *ps.Prefix < 1 {
			k.errf(p.to("prefix"), "an IPv6 service's persistence prefix is 1 to 128 (the kernel refuses 0)")
		}
	}
	if ps.Engine == "sip" && s.FWMark == 0 && s.Protocol != "udp" {
		k.errf(p.to("engine"), "the sip persistence engine reads UDP SIP messages; this service is %s", s.Protocol)
	}
}

func (k *checker) realServers(p at, s *Service) {
	seen := map[netip.AddrPort]string{}
	for _, name := range sortedKeys(s.RealServers) {
		r := s.RealServers[name]
		r.Name = name
		rp := p.to(name)
		k.name(rp, "real server", name)
		addr, err := parseAddr(r.Address)
		if err != nil {
			k.err(rp.to("address"), err)
			continue
		}
		r.addr = addr
		if why := realServerAddrProblem(addr); why != "" {
			k.errf(rp.to("address"), "%s is %s, which the kernel refuses for a real server", addr, why)
		}
		if s.Family != "" && familyOf(addr) != s.Family && r.Forward != "tun" {
			k.errf(rp.to("address"), "real server %s is %s but the service is %s; only tunnel forwarding may mix families", addr, familyOf(addr), s.Family)
		}
		k.realServerPort(rp, s, r)
		k.tunnel(rp, r)
		if r.LowerThreshold > r.UpperThreshold {
			if r.UpperThreshold == 0 {
				k.errf(rp.to("lowerThreshold"), "lowerThreshold %d needs an upperThreshold at least as large (0 means no upper limit, and the kernel refuses lower > upper)", r.LowerThreshold)
			} else {
				k.errf(rp.to("lowerThreshold"), "lowerThreshold %d is above upperThreshold %d", r.LowerThreshold, r.UpperThreshold)
			}
		}
		if r.Host != "" {
			if h, ok := k.c.Hosts[r.Host]; !ok {
				k.errf(rp.to("host"), "no host named %q: declare it under hosts, or leave host out for a real server lvsctl does not manage", r.Host)
			} else if h.Retired {
				k.errf(rp.to("host"), "host %q is retired, so it cannot be a real server's host: remove this real server (lvsctl drains it on the director first), or take retired off the host", r.Host)
			}
		}
		id := netip.AddrPortFrom(addr, *r.Port)
		if other, dup := seen[id]; dup {
			k.errf(rp, "real servers %q and %q are both %s", other, name, id)
			continue
		}
		seen[id] = name
	}
}

// realServerPort fills in the port. Direct routing and tunnelling deliver
// the packet unchanged, so a port other than the service's means nothing to
// them; the kernel keeps it all the same, and derive notes it.
func (k *checker) realServerPort(rp at, s *Service, r *RealServer) {
	svcPort := s.Port // 0 for a firewall-mark service
	if r.Port == nil {
		r.Port = &svcPort
		return
	}
	if r.Forward == "nat" && *r.Port == 0 && s.FWMark == 0 {
		k.errf(rp.to("port"), "port 0 is only meaningful for a firewall-mark service")
	}
}

// realServerAddrProblem says why the kernel refuses addr as a real server
// ("" when it accepts it). IPVS takes a destination whose IPv4 address is
// unicast or the director's own (RTN_LOCAL: 127.0.0.11, its own interface
// address), and an IPv6 unicast address that is not link-local (unless the
// director's own, which lvsctl cannot tell here). A subnet's broadcast address
// is refused too, but only the director's routes say which that is.
func realServerAddrProblem(a netip.Addr) string {
	switch {
	case a.IsUnspecified():
		return "unspecified"
	case a.IsMulticast():
		return "a multicast address"
	case a.Is4() && a.As4()[0] == 0:
		return "in 0.0.0.0/8 (\"this network\")"
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "the broadcast address"
	case a.Is6() && a.IsLinkLocalUnicast():
		return "an IPv6 link-local address"
	}
	return ""
}

func (k *checker) tunnel(rp at, r *RealServer) {
	t := r.Tunnel
	if r.Forward != "tun" {
		if t != nil {
			k.errf(rp.to("tunnel"), "tunnel settings need forward: \"tun\" (this real server uses %s)", forwardName(r.Forward))
		}
		return
	}
	if t == nil {
		r.Tunnel = &Tunnel{Type: "ipip", Checksum: "none"}
		return
	}
	tp := rp.to("tunnel")
	switch {
	case t.Type == "gue" && t.Port == 0:
		k.errf(tp.to("port"), "a gue tunnel needs the real server's GUE port")
	case t.Type != "gue" && t.Port != 0:
		k.errf(tp.to("port"), "port is for gue tunnels; %s has no port", t.Type)
	}
	switch {
	case t.Type == "ipip" && t.Checksum != "none":
		k.errf(tp.to("checksum"), "ipip tunnels have no checksum option")
	case t.Type == "gre" && t.Checksum == "remcsum":
		k.errf(tp.to("checksum"), "remote checksum offload (remcsum) is for gue tunnels; gre takes none or csum")
	}
}

func forwardName(f string) string {
	switch f {
	case "dr":
		return "direct-routing"
	case "tun":
		return "tunnel"
	}
	return strings.ToUpper(f)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for key := range m {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	return keys
}

// syncDaemon checks one sync daemon: the kernel's rules (a multicast
// group, a maximum length it keeps as asked rather than clamps, no real
// server of another family than its service while a daemon runs) and the
// interface name pattern.
func (k *checker) syncDaemon(p at, d *Director, st string, sd *SyncDaemon) {
	if sd == nil {
		return
	}
	k.err(p.to("interface"), names.CheckInterfaceName(sd.Interface))
	if sd.Interface == "lo" {
		k.errf(p.to("interface"), "the sync daemon needs a multicast interface toward the other directors; lo carries nothing to them")
	}
	sd.group = state.DefaultSyncGroup
	if sd.Group != "" {
		g, err := parseAddr(sd.Group)
		switch {
		case err != nil:
			k.err(p.to("group"), err)
		case !g.IsMulticast():
			k.errf(p.to("group"), "sync group %s is not a multicast address (IPv4 224.0.0.0/4, IPv6 ff00::/8)", g)
		default:
			sd.group = g
		}
	}
	if sd.MaxLength != nil {
		lo, hi := state.SyncMaxLengthRange(st, sd.group)
		if n := int(*sd.MaxLength); n < lo || n > hi {
			k.errf(p.to("maxLength"), "maxLength %d is outside %d-%d, what the kernel keeps for a %s daemon with an %s group (it would silently use %d)",
				n, lo, hi, st, familyOf(sd.group), min(max(n, lo), hi))
		}
	}
	k.syncFamilies(p, d)
}

// syncFamilies: the kernel runs no sync daemon beside a real server of
// another family than its service.
func (k *checker) syncFamilies(p at, d *Director) {
	for _, name := range sortedKeys(d.Services) {
		s := d.Services[name]
		for _, rn := range sortedKeys(s.RealServers) {
			r := s.RealServers[rn]
			fam := s.Family
			if s.addr.IsValid() {
				fam = familyOf(s.addr)
			}
			if !r.addr.IsValid() || familyOf(r.addr) == cmp.Or(fam, "ipv4") {
				continue
			}
			k.errf(p, "the kernel runs no sync daemon beside a real server of another family than its service (real server %s of service %s): the sync protocol cannot carry such connections", rn, name)
			return
		}
	}
}
