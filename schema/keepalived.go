package schema

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/lvsctl/lvsctl/internal/keepalived"
	"github.com/lvsctl/lvsctl/internal/state"
)

// keepalived's configuration for a pair (pairs.NAME.keepalived) and its
// services' checkers (realServers.NAME.check, checkInterval, sorryServer,
// inhibitOnFailure): lvsctl renders the file on every director of the pair
// (internal/keepalived.Render), and leaves what the checkers change to them.

// checkTypeHint explains why a check type is refused; CUE's own message
// lists the types there are.
func checkTypeHint(value string) string {
	if strings.Contains(strings.ToLower(value), "misc") {
		return " (there is no misc check: keepalived's MISC_CHECK runs a program as root on the director, and a cluster definition may change LVS state and nothing else)"
	}
	return ""
}

// keepalived checks the checkers and the pairs' keepalived blocks.
func (k *checker) keepalived() {
	for _, dn := range sortedKeys(k.c.Directors) {
		d := k.c.Directors[dn]
		for _, sn := range sortedKeys(d.Services) {
			k.serviceChecks(path("directors", dn, "services", sn), d.Services[sn], nil)
		}
	}
	for _, pn := range sortedKeys(k.c.Pairs) {
		pr := k.c.Pairs[pn]
		p := path("pairs", pn)
		if ka := pr.Keepalived; ka != nil {
			kp := p.to("keepalived")
			k.err(kp.to("config"), keepalived.CheckConfigPath(ka.Config))
			k.err(kp.to("pidFile"), keepalived.CheckPidPath(ka.PidFile))
			k.err(kp.to("program"), keepalived.CheckProgramPath(ka.Program))
			if len(pr.VIPs) == 0 {
				k.errf(kp, "keepalived's VRRP instance needs the VIPs it moves: add them to pairs.%s.vips", quote(pn))
			}
			fams := map[bool]bool{}
			for a := range pr.VIPs {
				if x, err := parseAddr(a); err == nil {
					fams[x.Is4()] = true
				}
			}
			if len(fams) > 1 {
				k.errf(p.to("vips"), "lvsctl writes one vrrp_instance for the pair, and keepalived's VRRP instance moves addresses of one family: keep the pair's vips IPv4 or IPv6 (or leave keepalived out and write two instances yourself)")
			}
			for _, name := range append([]string{pn}, pr.Directors...) {
				if err := keepalivedWord(name); err != nil {
					k.errf(kp, "%s", err)
				}
			}
		}
		for _, sn := range sortedKeys(pr.Services) {
			k.serviceChecks(p.to("services", sn), pr.Services[sn], pr)
		}
	}
}

// keepalivedWord: names lvsctl writes into keepalived's configuration
// (router_id, the VRRP instance) are held to the renderer's pattern.
func keepalivedWord(name string) error {
	if strings.Contains(name, "@") {
		return fmt.Errorf("name %q is written into keepalived's configuration, where it may hold letters, digits and _.:+- only (no @)", name)
	}
	return nil
}

// serviceChecks checks one service's checkers; pr is its pair, or nil for a
// director's own service.
func (k *checker) serviceChecks(sp at, s *Service, pr *Pair) {
	checked := false
	for _, rn := range sortedKeys(s.RealServers) {
		r := s.RealServers[rn]
		if r.Check == nil {
			continue
		}
		checked = true
		cp := sp.to("realServers", rn, "check")
		switch {
		case pr == nil:
			k.errf(cp, "keepalived checks only a pair's real servers: lvsctl writes keepalived's configuration for pairs.NAME.keepalived; move the service into a pair, or leave check out")
			continue
		case pr.Keepalived == nil:
			k.errf(cp, "pair %q has no keepalived block, so nothing would run this check: add pairs.%s.keepalived: {} (lvsctl then writes keepalived's configuration), or leave check out", pr.Name, quote(pr.Name))
			continue
		}
		c := r.Check
		if c.Type == "tcp" {
			if c.Path != nil {
				k.errf(cp.to("path"), "a tcp check connects only; path is for http and https checks")
			}
		} else if c.Path != nil {
			if e := keepalived.CheckChecker(keepalivedCheck(c)); e != nil {
				k.errf(cp.to("path"), "%s", e)
			}
		}
	}
	switch {
	case s.Quorum != nil && !checked:
		k.errf(sp.to("quorum"), "quorum is keepalived's, counted over the real servers its checkers find alive: give a real server a check, or leave quorum out")
	case s.Hysteresis != nil && s.Quorum == nil:
		k.errf(sp.to("hysteresis"), "hysteresis is around a quorum: give quorum too, or leave hysteresis out")
	case s.Hysteresis != nil && *s.Hysteresis >= *s.Quorum:
		k.errf(sp.to("hysteresis"), "hysteresis %d is not below quorum %d (keepalived would never count the service up)", *s.Hysteresis, *s.Quorum)
	}
	if s.Quorum != nil && checked {
		total := uint64(0)
		for _, r := range s.RealServers {
			total += uint64(r.Weight)
		}
		if uint64(*s.Quorum) > total {
			k.errf(sp.to("quorum"), "quorum %d is more than the real servers' weights add up to (%d): keepalived -t refuses it", *s.Quorum, total)
		}
	}
	if s.SorryServer != nil {
		sp := sp.to("sorryServer")
		a, err := parseAddr(s.SorryServer.Address)
		switch {
		case err != nil:
			k.errf(sp.to("address"), "%s", err)
		case !checked:
			k.errf(sp, "a sorry server is keepalived's, added when every checked real server has failed: give a real server a check, or leave sorryServer out")
		case a.IsUnspecified() || a.IsMulticast():
			k.errf(sp.to("address"), "sorry server %s is not a unicast address", a)
		case s.addr.IsValid() && a.Is4() != s.addr.Is4():
			k.errf(sp.to("address"), "sorry server %s is not of the service's family (%s)", a, familyOf(s.addr))
		default:
			s.SorryServer.addr = a
		}
	}
}

// keepalivedCheck is a real server's check as keepalived.Render takes it.
func keepalivedCheck(c *Check) state.Check {
	out := state.Check{Type: c.Type, Timeout: c.Timeout, Retry: c.Retry}
	if c.Port != nil {
		out.Port = *c.Port
	}
	if c.Type != "tcp" {
		out.Path, out.Status = "/", c.Status
		if c.Path != nil {
			out.Path = *c.Path
		}
	}
	return out
}

// hasChecks reports whether any real server of s has a check.
func hasChecks(s *Service) bool {
	for _, r := range s.RealServers {
		if r.Check != nil {
			return true
		}
	}
	return false
}

// checkedManaged is what a service with checks leaves to keepalived:
// weights, and presence unless a failed real server is only quiesced.
func checkedManaged(s *Service, declared []string) []string {
	out := slices.Clone(declared)
	for _, e := range []string{"weight", "presence"} {
		if e == "presence" && s.InhibitOnFailure {
			continue
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	slices.Sort(out)
	return out
}

// keepalivedFor is the configuration lvsctl renders on the i-th director of
// a pair with keepalived: its VRRP instance and the pair's checked
// services as derived for that director.
func keepalivedFor(pr *Pair, i int, services map[string]*state.Service) *state.Keepalived {
	n := len(pr.Directors)
	step := 50
	if n > 3 {
		step = max(1, 149/(n-1))
	}
	k := &state.Keepalived{Config: pr.Keepalived.Config, PidFile: pr.Keepalived.PidFile, Program: pr.Keepalived.Program,
		RouterName: pr.Directors[i], Pair: pr.Name,
		VRRP: state.VRRPInstance{Name: pr.Name, Master: i == 0, Interface: pr.Interface, RouterID: pr.RouterID,
			Priority: 150 - i*step, VIPs: slices.Clone(pr.vips)}}
	for _, sn := range sortedKeys(pr.Services) {
		s := pr.Services[sn]
		svc := services[sn]
		if !hasChecks(s) || svc == nil {
			continue
		}
		cs := state.CheckedService{Service: *svc, DelayLoop: s.CheckInterval, Inhibit: s.InhibitOnFailure}
		if s.Quorum != nil {
			cs.Quorum = *s.Quorum
		}
		if s.Hysteresis != nil {
			cs.Hysteresis = *s.Hysteresis
		}
		cs.Service.Why, cs.Service.ExternallyManaged = nil, nil
		cs.Service.Dests = nil
		for _, rn := range sortedKeys(s.RealServers) {
			r := s.RealServers[rn]
			for _, d := range svc.Dests {
				if d.Addr.Addr() != r.addr || len(d.Why) == 0 || d.Why[0] != "real server "+rn+" of service "+sn+" of pair "+pr.Name {
					continue
				}
				dd := *d
				dd.Why, dd.Host = nil, ""
				cs.Service.Dests = append(cs.Service.Dests, &dd)
				var c state.Check
				if r.Check != nil {
					c = keepalivedCheck(r.Check)
				}
				cs.Checks = append(cs.Checks, c)
			}
		}
		if s.SorryServer != nil && s.SorryServer.addr.IsValid() {
			port := svc.Key.Port
			if s.SorryServer.Port != nil {
				port = *s.SorryServer.Port
			}
			cs.Sorry = netip.AddrPortFrom(s.SorryServer.addr, port)
		}
		k.Services = append(k.Services, cs)
	}
	return k
}

// pairKeepalived gives the i-th director of a pair its keepalived
// configuration, from the pair's services as derived there.
func (d *deriver) pairKeepalived(b *hostBuilder, pr *Pair, i int) {
	services := map[string]*state.Service{}
	for _, svc := range b.h.Services {
		for _, sn := range sortedKeys(pr.Services) {
			if len(svc.Why) > 0 && svc.Why[0] == "service "+sn+" of pair "+pr.Name {
				services[sn] = svc
			}
		}
	}
	k := keepalivedFor(pr, i, services)
	if err := keepalived.Check(k); err != nil {
		p := path("pairs", pr.Name, "keepalived")
		d.probs = append(d.probs, problemAt(d.pos.at(p), p.String(), "keepalived's configuration for %s: %v", pr.Directors[i], err))
		return
	}
	b.h.Keepalived = k
}
