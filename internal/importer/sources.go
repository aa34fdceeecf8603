package importer

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/lvsctl/lvsctl/internal/ipvsadm"
	"github.com/lvsctl/lvsctl/internal/keepalived"
	"github.com/lvsctl/lvsctl/internal/state"
)

// BootNote goes in the header of every import: the hosts get boot: "none".
const BootNote = `Every host has boot: "none": lvsctl keeps nothing for boot there, so whatever restores its LVS state at boot today (ipvsadm's rules, keepalived, the network configuration) keeps doing it. To hand that to lvsctl, remove the line and turn the other off.`

func expireNodestDefault(who string) Sysctl {
	return Sysctl{Key: "net.ipv4.vs.expire_nodest_conn", Value: "0", Comment: []string{
		"expire_nodest_conn: the kernel's default, which " + who + ": check the director's `sysctl net.ipv4.vs.expire_nodest_conn`. lvsctl's own default for a director is 1: a removed real server's connection entries then expire at once, instead of dropping new connections that reuse their client ports."}}
}

func plural(n int, what string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, what)
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func markComment(k state.ServiceKey) []string {
	return []string{fmt.Sprintf("Mark %d is set by rules outside lvsctl (iptables, nftables): lvsctl leaves them alone.", k.FWMark)}
}

// FromIPVSRules writes the definition of one director, host, with the
// table of rules; source names where the rules came from.
func FromIPVSRules(rules *ipvsadm.IPVSRules, host *Host, source string) *Definition {
	def := &Definition{Hosts: []*Host{host}}
	dir := def.Director(host.Name)
	dir.Sysctls = []Sysctl{expireNodestDefault("saved rules do not record")}
	dests := 0
	for _, s := range rules.Services {
		svc, _ := dir.AddService(s)
		dests += len(s.Dests)
		if s.Key.FWMark != 0 {
			svc.Comment = append(svc.Comment, markComment(s.Key)...)
		}
	}
	def.Header = []string{
		fmt.Sprintf("Imported by lvsctl import ipvsadm from %s: %s, %s.", source, plural(len(rules.Services), "service"), plural(dests, "real server")),
		"",
		"The VIPs are not under vips: saved rules do not say which interface carries them, so lvsctl leaves them to whatever sets them now.",
		"",
		BootNote,
	}
	if rules.Clears {
		def.Header = append(def.Header, "", `The rules cleared the table first (-C): to have lvsctl remove IPVS services it does not know, set ownership: "exclusive" on the director.`)
	}
	return def
}

// FromKeepalived writes the definition of one director, host, with the
// virtual servers of a keepalived configuration, and what lvsctl does not
// model of it as comments; source names the file. Notes say what was
// dropped.
func FromKeepalived(res *keepalived.Result, host *Host, source string) (*Definition, []string) {
	var notes []string
	def := &Definition{Hosts: []*Host{host}}
	dir := def.Director(host.Name)
	dir.Sysctls = []Sysctl{expireNodestDefault("keepalived leaves alone")}
	dir.Timeouts = res.Timeouts
	dests := 0
	for _, s := range res.Services {
		svc, added := dir.AddService(s)
		if !added {
			notes = append(notes, fmt.Sprintf("service %s is declared more than once: the first is kept, as keepalived keeps it", s.Key))
			continue
		}
		dests += len(s.Dests)
		k := s.Key
		svc.Comment = append(svc.Comment, res.ServiceNotes[k]...)
		switch {
		case k.FWMark != 0:
			svc.Comment = append(svc.Comment, markComment(k)...)
		case slices.ContainsFunc(res.VRRPAddresses, func(p netip.Prefix) bool { return p.Addr() == k.Addr }):
			svc.Comment = append(svc.Comment, fmt.Sprintf("%s moves between directors with VRRP (a vrrp_instance's virtual_ipaddress).", k.Addr))
		}
		for _, r := range svc.Reals {
			r.Comment = append(r.Comment, res.DestNotes[k][r.Dest.Addr]...)
		}
	}
	def.Header = []string{fmt.Sprintf("Imported by lvsctl import keepalived from %s: %s, %s.", source, plural(len(dir.Services), "service"), plural(dests, "real server")), ""}
	if len(res.Notes) > 0 {
		def.Header = append(def.Header, res.Notes...)
		def.Header = append(def.Header, "")
	}
	def.Header = append(def.Header,
		"The VIPs are not under vips: VRRP moves them between directors, or the host's configuration sets them, so lvsctl leaves them alone.",
		"",
		BootNote)
	return def, notes
}
