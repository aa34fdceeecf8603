package schema

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/lvsctl/lvsctl/internal/names"
	"github.com/lvsctl/lvsctl/internal/state"
)

// A pair is two or more directors that stand in for each other: VRRP
// (keepalived) moves the pair's VIPs, and lvsctl keeps the pair's services
// and mark groups on every one of them, with the sync daemons between them.
// The checks below place every problem at the field written under pairs;
// derive then gives each director of the pair what the pair declares.

// asDirector is the pair's services and mark groups seen as one director's:
// the checks and derivations of a director's services read the marks beside
// them.
func (p *Pair) asDirector() *Director {
	return &Director{Name: p.Name, Marks: p.Marks, Services: p.Services}
}

// PairOf returns the pair a director belongs to, or nil.
func (c *Cluster) PairOf(director string) *Pair {
	for _, name := range sortedKeys(c.Pairs) {
		if slices.Contains(c.Pairs[name].Directors, director) {
			return c.Pairs[name]
		}
	}
	return nil
}

// DirectorNames returns every director: those under directors and the
// directors of every pair, sorted.
func (c *Cluster) DirectorNames() []string {
	out := sortedKeys(c.Directors)
	for _, p := range c.Pairs {
		for _, d := range p.Directors {
			if !slices.Contains(out, d) {
				out = append(out, d)
			}
		}
	}
	slices.Sort(out)
	return out
}

func (k *checker) pairs() {
	member := map[string]string{} // director -> its pair
	for _, name := range sortedKeys(k.c.Pairs) {
		pr := k.c.Pairs[name]
		pr.Name = name
		p := path("pairs", name)
		k.name(p, "pair", name)
		for i, d := range pr.Directors {
			dp := p.to("directors").index(i)
			if slices.Index(pr.Directors, d) != i {
				k.errf(dp, "director %q is listed twice in this pair", d)
				continue
			}
			h, ok := k.c.Hosts[d]
			switch {
			case !ok:
				k.errf(dp, "director %q is not a host: add hosts.%s to say how to reach it", d, quote(d))
			case h.Retired:
				k.errf(dp, "host %q is retired, so it cannot be a director of a pair: take it out of pairs.%s.directors (lvsctl then drains and removes the pair's services there), or take retired off the host", d, quote(name))
			}
			if other, dup := member[d]; dup {
				k.errf(dp, "director %q is already in pair %q: a director stands in for the directors of one pair only", d, other)
				continue
			}
			member[d] = name
		}
		k.err(p.to("interface"), names.CheckInterfaceName(pr.Interface))
		if pr.Interface == "lo" {
			k.errf(p.to("interface"), "VRRP adverts and sync messages need an interface toward the other directors; lo carries nothing to them")
		}
		k.pairVIPs(p, pr)
		pd := pr.asDirector()
		k.marks(p.to("marks"), pd)
		k.services(p, pd, "of this pair")
		for _, d := range pr.Directors {
			if own := k.c.Directors[d]; own != nil && member[d] == name {
				k.pairDirector(pr, own)
			}
		}
		if pr.Sync {
			k.syncFamilies(p.to("sync"), pd)
		}
	}
}

// pairVIPs parses the pair's VIPs; VRRP moves them, so no director may
// declare one as its own (lvsctl would add it to every director at once).
func (k *checker) pairVIPs(p at, pr *Pair) {
	for _, a := range sortedKeys(pr.VIPs) {
		vp := p.to("vips", a)
		addr, err := parseAddr(a)
		if err != nil {
			k.errf(vp, "VIP key: %s", err)
			continue
		}
		if !addr.IsGlobalUnicast() {
			k.errf(vp, "VIP %s is not a unicast address", addr)
		}
		bits := addr.BitLen()
		if v := pr.VIPs[a]; v.Prefix != nil {
			if *v.Prefix > bits {
				k.errf(vp.to("prefix"), "prefix /%d is too long for IPv4 address %s (at most 32)", *v.Prefix, addr)
				continue
			}
			bits = *v.Prefix
		}
		pr.vips = append(pr.vips, netip.PrefixFrom(addr, bits))
		for _, dn := range sortedKeys(k.c.Directors) {
			for _, da := range sortedKeys(k.c.Directors[dn].VIPs) {
				if x, err := parseAddr(da); err == nil && x == addr {
					k.errf(vp, "VIP %s is also in directors.%s.vips: VRRP moves the pair's VIPs, and lvsctl adds a director's own VIPs, so it would be on every director at once; keep it in one place", addr, quote(dn))
				}
			}
		}
	}
	slices.SortFunc(pr.vips, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
}

// pairDirector checks a director's own entry beside its pair's: the same
// IPVS table cannot hold a service or a mark rule twice, and one host runs
// one master and one backup sync daemon.
func (k *checker) pairDirector(pr *Pair, own *Director) {
	dp := path("directors", own.Name)
	pairIDs := map[string]string{}
	for _, sn := range sortedKeys(pr.Services) {
		if s := pr.Services[sn]; s.addr.IsValid() || s.FWMark != 0 {
			pairIDs[serviceIdentity(s)] = sn
		}
	}
	for _, sn := range sortedKeys(own.Services) {
		s := own.Services[sn]
		if _, dup := pr.Services[sn]; dup {
			k.errf(dp.to("services", sn), "director %s's own service %q has the name of a service of its pair %q: rename one", own.Name, sn, pr.Name)
			continue
		}
		if other, dup := pairIDs[serviceIdentity(s)]; dup && (s.addr.IsValid() || s.FWMark != 0) {
			k.errf(dp.to("services", sn), "service %q has the same identity (%s) as service %q of pair %q, which lvsctl keeps on this director too", sn, serviceIdentity(s), other, pr.Name)
		}
	}
	type ruleKey struct {
		addr  netip.Addr
		proto string
		port  uint16
	}
	rules := map[ruleKey]string{}
	for _, gn := range sortedKeys(pr.Marks) {
		g := pr.Marks[gn]
		for _, port := range g.Ports {
			rules[ruleKey{g.addr, g.Protocol, port}] = gn
		}
	}
	for _, gn := range sortedKeys(own.Marks) {
		g := own.Marks[gn]
		if _, dup := pr.Marks[gn]; dup {
			k.errf(dp.to("marks", gn), "director %s's own mark group %q has the name of a mark group of its pair %q: rename one", own.Name, gn, pr.Name)
			continue
		}
		for i, port := range g.Ports {
			if other, dup := rules[ruleKey{g.addr, g.Protocol, port}]; dup && g.addr.IsValid() {
				k.errf(dp.to("marks", gn, "ports").index(i), "%s %s port %d is already in mark group %q of pair %q", g.Protocol, g.addr, port, other, pr.Name)
			}
		}
	}
	if pr.Sync && own.Sync != nil {
		k.errf(dp.to("sync"), "director %s is in pair %q, whose sync daemons lvsctl runs (pairs.%s.sync is true): remove this sync, or set the pair's sync to false", own.Name, pr.Name, quote(pr.Name))
	}
	if pr.Sync {
		// The kernel's rule for a daemon beside real servers of another
		// family covers the director's own services too.
		k.syncFamilies(dp.to("services"), own)
	}
}

// serviceIdentity is a checked service's identity as text, as check.service
// returns it.
func serviceIdentity(s *Service) string {
	if s.FWMark != 0 {
		return fmt.Sprintf("fwmark %d %s", s.FWMark, s.Family)
	}
	return fmt.Sprintf("%s %s", s.Protocol, netip.AddrPortFrom(s.addr, s.Port))
}

// syncID is the pair's sync daemons' ID: syncID, or routerID.
func (p *Pair) syncID() uint32 {
	if p.SyncID != nil {
		return uint32(*p.SyncID)
	}
	return uint32(p.RouterID)
}

// pair gives every director of the pair the pair's mark rules, services and
// sync daemons. The real servers' side is derived once, for the pair.
func (d *deriver) pair(pr *Pair) {
	pd := pr.asDirector()
	sc := svcScope{path: path("pairs", pr.Name), label: " of pair " + pr.Name, where: "of pair " + pr.Name}
	role := &state.Pair{Name: pr.Name, Directors: slices.Clone(pr.Directors), Interface: pr.Interface,
		VIPs: slices.Clone(pr.vips), RouterID: pr.RouterID}
	users := map[netip.Addr][]string{} // service VIP -> services using it
	for _, name := range sortedKeys(pr.Services) {
		for _, a := range serviceVIPs(pd, pr.Services[name]) {
			users[a] = append(users[a], name)
		}
	}
	for i, dn := range pr.Directors {
		b := d.host(dn)
		b.h.Pair = role
		for _, a := range sortedAddrs(users) {
			if !slices.ContainsFunc(pr.vips, func(p netip.Prefix) bool { return p.Addr() == a }) {
				b.note("VIP %s (service %s of pair %s) is not in pairs.%s.vips: VRRP does not move it with the pair, so lvsctl expects it on every director already, from the host's own configuration",
					a, users[a][0], pr.Name, quote(pr.Name))
			}
		}
		for _, name := range sortedKeys(pr.Marks) {
			g := pr.Marks[name]
			proto, _ := state.ParseProtocol(g.Protocol)
			why := fmt.Sprintf("mark group %s of pair %s", name, pr.Name)
			if svc := serviceWithMark(pd, g.Mark); svc != "" {
				why += ", for service " + svc
			} else {
				b.note("mark group %s of pair %s sets mark %d, which no service of the pair uses", name, pr.Name, g.Mark)
			}
			b.h.MarkRules = append(b.h.MarkRules, state.MarkRule{Family: state.FamilyOf(g.addr), Addr: g.addr,
				Protocol: proto, Ports: slices.Clone(g.Ports), Mark: g.Mark, Why: []string{why}})
		}
		sc.rsSide = i == 0
		for _, name := range sortedKeys(pr.Services) {
			d.service(b, pd, pr.Services[name], sc)
		}
		if pr.Sync {
			for _, st := range []string{state.SyncMaster, state.SyncBackup} {
				b.h.Daemons = append(b.h.Daemons, state.SyncDaemon{State: st, Interface: pr.Interface, SyncID: pr.syncID(),
					Group: state.DefaultSyncGroup, Port: state.DefaultSyncPort, TTL: state.DefaultSyncTTL,
					Why: []string{"pair " + pr.Name + ": every director sends its connections (master) and takes the others' (backup), so a takeover keeps them"}})
			}
		}
		if len(pr.Services) > 0 {
			b.expireNodestConn()
		}
		if pr.Keepalived != nil {
			d.pairKeepalived(b, pr, i)
		}
	}
}
