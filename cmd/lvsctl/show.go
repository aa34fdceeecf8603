package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/lvsctl/lvsctl/internal/state"
	"github.com/lvsctl/lvsctl/schema"
)

// hostList orders the derived hosts by name, for both renderings.
func hostList(l *schema.Loaded) []*state.Host {
	out := make([]*state.Host, 0, len(l.Hosts))
	for _, h := range l.Hosts {
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// renderShow prints what each host must have, one object a line, with the
// reasons it exists after "#".
func renderShow(w io.Writer, l *schema.Loaded, only string) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	first := true
	for _, h := range hostList(l) {
		if only != "" && h.Name != only {
			continue
		}
		if !first {
			fmt.Fprintln(tw)
		}
		first = false
		fmt.Fprintf(tw, "%s (%s)\n", h.Name, reach(l.Cluster.Hosts[h.Name]))
		if h.Retired {
			fmt.Fprintln(tw, "  retired: apply removes what lvsctl set here (as its inventory here says); then delete this entry")
		}
		if h.Exclusive {
			line(tw, "ipvs table", "owned whole", []string{"ownership: \"exclusive\" in directors." + h.Name})
		}
		showSysctls(tw, h.Sysctls)
		for _, k := range h.Links {
			line(tw, "link "+k.Name, k.Kind+" up", k.Why)
		}
		for _, a := range h.Addresses {
			line(tw, "address "+a.Prefix.String(), "dev "+a.Interface, a.Why)
		}
		for _, r := range h.Routes {
			verb := "checked"
			if r.Manage {
				verb = "managed"
			}
			line(tw, "route "+r.Dst.String(), "via "+r.Gateway.String()+" ("+verb+")", r.Why)
		}
		for _, m := range h.MarkRules {
			line(tw, fmt.Sprintf("mark %d", m.Mark), fmt.Sprintf("%s daddr %s %s dport {%s}", ipName(m.Family), m.Addr, m.Protocol, ports(m.Ports)), m.Why)
		}
		if t := h.Timeouts; t != nil {
			line(tw, "ipvs timeouts", fmt.Sprintf("tcp %s tcpfin %s udp %s", secs(t.TCP), secs(t.TCPFin), secs(t.UDP)), t.Why)
		}
		for _, s := range h.Services {
			line(tw, "ipvs service "+s.Key.String(), describeService(s), s.Why)
			for _, d := range s.Dests {
				line(tw, "  -> "+d.Addr.String(), describeDest(d), d.Why)
			}
		}
		for _, n := range h.Notes {
			fmt.Fprintf(tw, "  note: %s\n", n)
		}
	}
	return tw.Flush()
}

// showSysctls prints a host's sysctls. The per-interface keys that repeat
// the first interface's keys, values and reasons (the ARP sysctls a real
// server needs on all, default, lo and its interface) are folded into one
// "likewise" line after the first interface's.
func showSysctls(w io.Writer, sysctls []state.Sysctl) {
	const conf = "net.ipv4.conf."
	type leaf struct{ name, value, why string }
	var ifaces []string
	byIface := map[string][]leaf{}
	var rest []state.Sysctl
	for _, s := range sysctls {
		tail, ok := strings.CutPrefix(s.Key, conf)
		iface, name, ok2 := strings.Cut(tail, ".")
		if !ok || !ok2 {
			rest = append(rest, s)
			continue
		}
		if _, seen := byIface[iface]; !seen {
			ifaces = append(ifaces, iface)
		}
		byIface[iface] = append(byIface[iface], leaf{name, s.Value, strings.Join(s.Why, "; ")})
	}
	for _, s := range rest {
		line(w, "sysctl "+s.Key, "= "+s.Value, s.Why)
	}
	same := func(a, b []leaf) bool {
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			if a[i] != b[i] {
				return false
			}
		}
		return true
	}
	// Interfaces with the same keys, values and reasons as an earlier one
	// are folded into that one's "likewise" line.
	var leaders []string
	likewise := map[string][]string{}
	for _, iface := range ifaces {
		found := false
		for _, l := range leaders {
			if same(byIface[l], byIface[iface]) {
				likewise[l] = append(likewise[l], iface)
				found = true
				break
			}
		}
		if !found {
			leaders = append(leaders, iface)
		}
	}
	for _, l := range leaders {
		for _, x := range byIface[l] {
			fmt.Fprintf(w, "  sysctl %s%s.%s\t= %s\t# %s\n", conf, l, x.name, x.value, x.why)
		}
		if len(likewise[l]) > 0 {
			fmt.Fprintf(w, "  ...\t\t(%s likewise)\n", andList(likewise[l]))
		}
	}
}

// andList joins names as "a, b and c".
func andList(names []string) string {
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

func line(w io.Writer, what, detail string, why []string) {
	fmt.Fprintf(w, "  %s\t%s\t# %s\n", what, detail, strings.Join(why, "; "))
}

func reach(h *schema.Host) string {
	var parts []string
	switch {
	case h == nil:
		return "?"
	case h.SSH != nil:
		target := h.SSH.Address
		if h.SSH.User != "" {
			target = h.SSH.User + "@" + target
		}
		if h.SSH.Port != 22 {
			target += fmt.Sprintf(" port %d", h.SSH.Port)
		}
		parts = append(parts, "ssh "+target)
	default:
		parts = append(parts, "this machine")
	}
	if h.Netns != "" {
		parts = append(parts, "netns "+h.Netns)
	}
	if h.Retired {
		parts = append(parts, "retired")
	}
	return strings.Join(parts, ", ")
}

func describeService(s *state.Service) string {
	parts := []string{s.Scheduler}
	parts = append(parts, s.SchedFlags...)
	if s.Persistent {
		p := fmt.Sprintf("persistent %ds", s.Timeout)
		if s.Netmask.IsValid() || s.NetmaskBits != fullBits(s.Key) {
			p += " per " + s.MaskText()
		}
		parts = append(parts, p)
	}
	if s.PE != "" {
		parts = append(parts, "pe "+s.PE)
	}
	if s.OnePacket {
		parts = append(parts, "one-packet")
	}
	return strings.Join(parts, ", ")
}

func fullBits(k state.ServiceKey) int {
	if k.Family == state.IPv6 {
		return 128
	}
	return 32
}

func describeDest(d *state.Destination) string {
	parts := []string{string(d.Forward), fmt.Sprintf("weight %d", d.Weight)}
	if d.Weight == 0 {
		parts[1] += " (quiesced)"
	}
	if d.Forward == state.TUN {
		t := d.TunnelType
		if d.TunnelPort != 0 {
			t += fmt.Sprintf(" port %d", d.TunnelPort)
		}
		if d.TunnelChecksum != "" && d.TunnelChecksum != "none" {
			t += " " + d.TunnelChecksum
		}
		parts = append(parts, t)
	}
	if d.UpperThreshold != 0 || d.LowerThreshold != 0 {
		parts = append(parts, fmt.Sprintf("thresholds %d..%d", d.LowerThreshold, d.UpperThreshold))
	}
	return strings.Join(parts, ", ")
}

func ipName(f state.Family) string {
	if f == state.IPv6 {
		return "ip6"
	}
	return "ip"
}

func ports(ps []uint16) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = fmt.Sprint(p)
	}
	return strings.Join(s, ", ")
}

func secs(n uint32) string {
	if n == 0 {
		return "(kernel's)"
	}
	return fmt.Sprintf("%ds", n)
}
