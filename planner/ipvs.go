package planner

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/lvsctl/lvsctl/internal/op"
	"github.com/lvsctl/lvsctl/internal/state"
)

// ipvs diffs the director's table by identity: services by (family,
// protocol, VIP, port) or (family, mark), destinations by address and port.
// Settings change in place; only identities are created and deleted.
func (h *hostPlan) ipvs() {
	if !h.l.IPVSAvailable {
		return
	}
	live := map[state.ServiceKey]*state.Service{}
	for _, s := range h.l.Host.Services {
		live[s.Key] = s
	}
	desired := map[state.ServiceKey]bool{}
	if t := h.d.Timeouts; t != nil && h.l.Host.Timeouts != nil {
		h.timeouts(t, h.l.Host.Timeouts)
	}
	for _, s := range h.d.Services {
		desired[s.Key] = true
		cur, ok := live[s.Key]
		if !ok {
			bare := bareService(s)
			h.add(phaseIPVS, rankService, &Change{Action: Create, Kind: "ipvs service", Object: s.Key.String(), Detail: serviceDetail(s), Why: s.Why,
				Warning: h.takeover(s, live),
				Steps:   one(op.Op{Kind: op.AddService, Service: bare}, op.Op{Kind: op.DeleteService, ServiceKey: &bare.Key})})
			for _, d := range s.Dests {
				h.addDest(s.Key, d)
			}
			continue
		}
		if f := serviceFields(cur, s); len(f) > 0 {
			var warning string
			if cur.Scheduler != s.Scheduler {
				warning = schedulerWarning
			}
			h.add(phaseIPVS, rankService, &Change{Action: Update, Kind: "ipvs service", Object: s.Key.String(), Fields: f, Why: s.Why,
				Warning: warning,
				Steps:   one(op.Op{Kind: op.UpdateService, Service: bareService(s)}, op.Op{Kind: op.UpdateService, Service: bareService(cur)})})
		}
		h.dests(s, cur)
	}
	exclusive := h.d.Exclusive
	owned := map[state.ServiceKey]bool{}
	for _, k := range h.inv.Services {
		owned[k] = true
	}
	for _, s := range h.l.Host.Services {
		if desired[s.Key] {
			continue
		}
		if !exclusive && !owned[s.Key] {
			h.note("unmanaged IPVS service %s (%s, %d destinations): not in the configuration and not created by lvsctl, left alone",
				s.Key, s.Scheduler, len(s.Dests))
			continue
		}
		why := "no longer in the configuration"
		switch {
		case h.d.Retired:
			why = "host retired"
		case !owned[s.Key]:
			why = "not in the configuration, and this director is exclusive"
		}
		h.deleteService(s, why)
	}
}

func (h *hostPlan) timeouts(want, cur *state.Timeouts) {
	var f []Field
	next := *cur
	for _, x := range []struct {
		name       string
		want, have uint32
		set        *uint32
	}{{"tcp", want.TCP, cur.TCP, &next.TCP}, {"tcpfin", want.TCPFin, cur.TCPFin, &next.TCPFin}, {"udp", want.UDP, cur.UDP, &next.UDP}} {
		if x.want != 0 && x.want != x.have {
			f = append(f, Field{Name: x.name, Before: fmt.Sprintf("%ds", x.have), After: fmt.Sprintf("%ds", x.want)})
			*x.set = x.want
		}
	}
	if len(f) == 0 {
		return
	}
	old := state.Timeouts{TCP: cur.TCP, TCPFin: cur.TCPFin, UDP: cur.UDP}
	next.Why = nil
	h.add(phaseIPVS, rankTimeouts, &Change{Action: Update, Kind: "ipvs timeouts", Object: "global", Fields: f, Why: want.Why,
		Steps: one(op.Op{Kind: op.SetTimeouts, Timeouts: &next}, op.Op{Kind: op.SetTimeouts, Timeouts: &old})})
}

func (h *hostPlan) dests(want, cur *state.Service) {
	live := map[string]*state.Destination{}
	for _, d := range cur.Dests {
		live[d.Addr.String()] = d
	}
	desired := map[string]bool{}
	var ext external // what a health checker owns and lvsctl leaves
	for _, d := range want.Dests {
		desired[d.Addr.String()] = true
		c, ok := live[d.Addr.String()]
		if !ok {
			if want.External(state.ExternalPresence) {
				ext.missing = append(ext.missing, d)
				continue
			}
			h.addDest(want.Key, d)
			continue
		}
		if want.External(state.ExternalWeight) && c.Weight != d.Weight {
			ext.weights = append(ext.weights, [2]*state.Destination{c, d})
			// Compare and send everything else, with the weight it has.
			w := *d
			w.Weight = c.Weight
			d = &w
		}
		if f := destFields(c, d); len(f) > 0 {
			k := want.Key
			if !sameMethod(c, d) && h.withhold(k, d, "its forwarding change is") {
				continue
			}
			ch := &Change{Action: Update, Kind: "destination", Object: destObject(k, d), Fields: f, Why: d.Why,
				Steps: one(op.Op{Kind: op.UpdateDest, ServiceKey: &k, Dest: bareDest(d)}, op.Op{Kind: op.UpdateDest, ServiceKey: &k, Dest: bareDest(c)})}
			if !sameMethod(c, d) && c.Forward != d.Forward {
				ch.fwd = &forwardChange{from: c.Forward, rsHost: d.Host, vips: h.vipsOf(k)}
			}
			h.add(phaseIPVS, rankDest, ch)
		}
	}
	for _, d := range cur.Dests {
		if !desired[d.Addr.String()] {
			if want.External(state.ExternalPresence) {
				ext.extra = append(ext.extra, d)
				continue
			}
			h.removeDest(cur.Key, d, "not in the configuration of "+strings.Join(want.Why, ", "))
		}
	}
	h.noteExternal(want, ext)
}

func (h *hostPlan) addDest(k state.ServiceKey, d *state.Destination) {
	if h.withhold(k, d, "") {
		return
	}
	bd := bareDest(d)
	h.add(phaseIPVS, rankDest, &Change{Action: Create, Kind: "destination", Object: destObject(k, d), Detail: destDetail(d), Why: d.Why,
		Steps: one(op.Op{Kind: op.AddDest, ServiceKey: &k, Dest: bd}, op.Op{Kind: op.DeleteDest, ServiceKey: &k, Dest: bd})})
}

// drainSteps quiesces a destination and waits for its connections to end.
func drainSteps(k state.ServiceKey, d *state.Destination) []Step {
	var steps []Step
	if d.Weight != 0 {
		zero := *bareDest(d)
		zero.Weight = 0
		steps = append(steps, Step{Op: &op.Op{Kind: op.UpdateDest, ServiceKey: &k, Dest: &zero},
			Undo: []op.Op{{Kind: op.UpdateDest, ServiceKey: &k, Dest: bareDest(d)}}})
	}
	return append(steps, Step{Drain: &Drain{Service: k, Dest: d.Addr}})
}

// removeDest drains a destination, then deletes it.
func (h *hostPlan) removeDest(k state.ServiceKey, d *state.Destination, why string) {
	steps := drainSteps(k, d)
	bd := bareDest(d)
	steps = append(steps, Step{Op: &op.Op{Kind: op.DeleteDest, ServiceKey: &k, Dest: bd},
		Undo: []op.Op{{Kind: op.AddDest, ServiceKey: &k, Dest: bd}}})
	h.add(phaseIPVSRemove, rankDest, &Change{Action: Delete, Kind: "destination", Object: destObject(k, d), Detail: destDetail(d) + ", drained first",
		Why: []string{why}, Steps: steps})
	h.noteSideStays(k, d)
}

// deleteService drains every destination, then deletes the service. Its
// undo brings back the service with its settings and every destination.
func (h *hostPlan) deleteService(s *state.Service, why string) {
	var steps []Step
	for _, d := range s.Dests {
		steps = append(steps, drainSteps(s.Key, d)...)
	}
	k := s.Key
	restore := []op.Op{{Kind: op.AddService, Service: bareService(s)}}
	for _, d := range s.Dests {
		restore = append(restore, op.Op{Kind: op.AddDest, ServiceKey: &k, Dest: bareDest(d)})
	}
	steps = append(steps, Step{Op: &op.Op{Kind: op.DeleteService, ServiceKey: &k}, Undo: restore})
	var warning string
	if len(s.Dests) > 0 {
		warning = "new connections are refused from the start of the drain, when every destination is at weight 0"
		if s.Persistent {
			warning += " (clients the service still remembers go on to their real server)"
		}
		warning += "; connections still open when the drain ends (no active connections left, or the drain timeout) are cut"
	}
	h.add(phaseIPVSRemove, rankService, &Change{Action: Delete, Kind: "ipvs service", Object: s.Key.String(),
		Detail: fmt.Sprintf("%s, %d destinations drained first", serviceDetail(s), len(s.Dests)), Why: []string{why}, Warning: warning, Steps: steps})
	for _, d := range s.Dests {
		h.noteSideStays(k, d)
	}
}

// schedulerWarning is what a scheduler change does under traffic: IPVS
// unbinds the old scheduler before it binds the new one, and a new connection
// that finds no scheduler is refused (ICMP port unreachable).
const schedulerWarning = "changing the scheduler under traffic: IPVS runs the service without a scheduler for a moment, and new connections arriving then are refused (existing connections are kept); to avoid it, drop new SYNs to the service around the change (README: Changes clients can notice)"

// withhold keeps a destination from being created, or from changing its
// forwarding, while its real server's host is not targeted: that host's side
// (ARP sysctls, the VIP) must be ready first. what names the withheld part
// ("" for the destination itself).
func (h *hostPlan) withhold(k state.ServiceKey, d *state.Destination, what string) bool {
	if d.Host == "" || h.sc.planned(d.Host) {
		return false
	}
	subject := "destination " + destObject(k, d)
	if what != "" {
		subject += ": " + what
	}
	h.note("%s withheld: its real server %s is not targeted, and its side (%s) must be ready first; add --target %s",
		subject, d.Host, realServerSide(d), d.Host)
	return true
}

// realServerSide names what a managed real server needs for d's method.
func realServerSide(d *state.Destination) string {
	switch d.Forward {
	case state.NAT:
		return "default route via the director"
	case state.TUN:
		return "tunnel device up with the VIP, rp_filter off, ARP sysctls"
	}
	if d.Addr.Addr().Is6() {
		return "VIP on lo"
	}
	return "ARP sysctls, VIP on lo"
}

// noteSideStays: in a targeted plan, a removed destination's real server may
// be a host that is not planned, whose side then stays until it is.
func (h *hostPlan) noteSideStays(k state.ServiceKey, d *state.Destination) {
	if h.sc.all || len(h.sc.waiting) == 0 {
		return
	}
	if rs, ok := h.sc.rsHost[d.Addr.Addr()]; ok {
		if !h.sc.planned(rs) {
			h.note("destination %s is removed here, but its real server %s is not targeted: what lvsctl set there for it stays until %s is planned",
				destObject(k, d), rs, rs)
		}
		return
	}
	h.note("destination %s is removed here; if its real server is a host lvsctl manages that is not targeted (%s), what lvsctl set there for it stays until that host is planned",
		destObject(k, d), listSome(h.sc.waiting, 6))
}

// vipsOf returns the addresses a service answers on: its own, or those its
// mark rules cover.
func (h *hostPlan) vipsOf(k state.ServiceKey) []netip.Addr {
	if k.FWMark == 0 {
		return []netip.Addr{k.Addr}
	}
	var out []netip.Addr
	for _, m := range h.d.MarkRules {
		if m.Mark == k.FWMark && !slices.Contains(out, m.Addr) {
			out = append(out, m.Addr)
		}
	}
	return out
}

// takeover warns when a new firewall-mark service takes new connections
// from a live service on one of its mark's (address, protocol, port): IPVS
// looks a packet's mark up first, and the new service has no destinations
// until they are added further down the plan.
func (h *hostPlan) takeover(s *state.Service, live map[state.ServiceKey]*state.Service) string {
	if s.Key.FWMark == 0 {
		return ""
	}
	var taken []string
	for _, m := range h.d.MarkRules {
		if m.Mark != s.Key.FWMark {
			continue
		}
		for _, port := range m.Ports {
			k := state.ServiceKey{Family: m.Family, Protocol: m.Protocol, Addr: m.Addr, Port: port}
			if _, ok := live[k]; ok && !slices.Contains(taken, k.String()) {
				taken = append(taken, k.String())
			}
		}
	}
	if len(taken) == 0 {
		return ""
	}
	return fmt.Sprintf("mark %d takes new connections to %s from that service as soon as this one exists; until its destinations are added, further down this plan, they are refused",
		s.Key.FWMark, listSome(taken, 4))
}

// forwardChange remembers, on a destination update, the method its existing
// connections keep.
type forwardChange struct {
	from   state.Forward
	rsHost string // "" when lvsctl does not manage the real server
	vips   []netip.Addr
}

// warnForwardChanges: IPVS binds a connection to its destination's
// forwarding method when the connection starts, so a method change applies to
// new connections only. Existing ones break if the same plan then removes what
// the old method needs: the VIP on a direct-routing real server, the tunnel
// device, VIP and rp_filter on a tunnel real server, ip_forward on a NAT
// director.
func (p *Plan) warnForwardChanges(desired map[string]*state.Host) {
	for _, c := range p.Changes {
		f := c.fwd
		if f == nil {
			continue
		}
		var gone []string
		where := f.rsHost
		for _, x := range p.Changes {
			if x.order.phase != phaseCleanup || len(x.Steps) == 0 || x.Steps[0].Op == nil {
				continue
			}
			o := x.Steps[0].Op
			switch f.from {
			case state.NAT:
				if x.Host == c.Host && o.Sysctl != nil && (o.Sysctl.Key == "net.ipv4.ip_forward" || o.Sysctl.Key == "net.ipv6.conf.all.forwarding") {
					gone, where = append(gone, x.Kind+" "+x.Object), c.Host
				}
			case state.DR, state.TUN:
				if x.Host != f.rsHost {
					continue
				}
				// The VIP may move (lo to tunl0): only its leaving the host
				// breaks a connection. Strict rp_filter (1) drops what
				// arrives through the tunnel.
				vip := o.Kind == op.DeleteAddress && slices.Contains(f.vips, o.Address.Prefix.Addr()) && !hasAddr(desired[f.rsHost], o.Address.Prefix.Addr())
				tun := f.from == state.TUN && (o.Kind == op.LinkDown || o.Sysctl != nil && strings.HasSuffix(o.Sysctl.Key, ".rp_filter") && o.Sysctl.Value == "1")
				if vip || tun {
					gone = append(gone, x.Kind+" "+x.Object)
				}
			}
		}
		if len(gone) > 0 {
			c.Warning = fmt.Sprintf("existing connections keep using %s until they end (IPVS binds the forwarding method when a connection starts), but later in this plan %s loses what they need (%s), so they break",
				methodName(f.from), where, listSome(gone, 3))
		}
	}
}

func hasAddr(h *state.Host, a netip.Addr) bool {
	return h != nil && slices.ContainsFunc(h.Addresses, func(x state.Address) bool { return x.Prefix.Addr() == a })
}

func methodName(f state.Forward) string {
	if f == state.TUN {
		return "the tunnel"
	}
	return f.Describe()
}

func bareService(s *state.Service) *state.Service {
	c := *s
	c.Dests, c.Why, c.ExternallyManaged = nil, nil, nil
	if len(c.SchedFlags) == 0 {
		c.SchedFlags = nil
	}
	return &c
}

// bareDest is what the kernel holds of a destination: no reasons, counters
// or host name.
func bareDest(d *state.Destination) *state.Destination {
	c := *d
	c.Why, c.Conns, c.Host = nil, nil, ""
	return &c
}

func destObject(k state.ServiceKey, d *state.Destination) string {
	return k.String() + " -> " + d.Addr.String()
}

func serviceDetail(s *state.Service) string {
	parts := []string{s.Scheduler}
	parts = append(parts, s.SchedFlags...)
	if s.Persistent {
		parts = append(parts, fmt.Sprintf("persistent %ds %s", s.Timeout, s.MaskText()))
	}
	if s.PE != "" {
		parts = append(parts, "pe "+s.PE)
	}
	if s.OnePacket {
		parts = append(parts, "one-packet")
	}
	return strings.Join(parts, ", ")
}

func destDetail(d *state.Destination) string {
	s := fmt.Sprintf("%s, weight %d", d.Forward, d.Weight)
	if d.Forward == state.TUN {
		s += ", " + tunnelText(d)
	}
	if d.UpperThreshold != 0 || d.LowerThreshold != 0 {
		s += fmt.Sprintf(", thresholds %d..%d", d.LowerThreshold, d.UpperThreshold)
	}
	return s
}

func tunnelText(d *state.Destination) string {
	t := d.TunnelType
	if d.TunnelPort != 0 {
		t += fmt.Sprintf(" port %d", d.TunnelPort)
	}
	if d.TunnelChecksum != "" && d.TunnelChecksum != "none" {
		t += " " + d.TunnelChecksum
	}
	return t
}

// serviceFields lists what differs between a live and a desired service.
func serviceFields(cur, want *state.Service) []Field {
	var f []Field
	field := func(name, before, after string) {
		if before != after {
			f = append(f, Field{Name: name, Before: before, After: after})
		}
	}
	field("scheduler", cur.Scheduler, want.Scheduler)
	field("flags", strings.Join(cur.SchedFlags, ","), strings.Join(want.SchedFlags, ","))
	field("persistence", persistence(cur), persistence(want))
	field("persistence engine", cur.PE, want.PE)
	field("one-packet", fmt.Sprint(cur.OnePacket), fmt.Sprint(want.OnePacket))
	for i := range f {
		if f[i].Before == "" {
			f[i].Before = "none"
		}
		if f[i].After == "" {
			f[i].After = "none"
		}
	}
	return f
}

func persistence(s *state.Service) string {
	if !s.Persistent {
		return "off"
	}
	return fmt.Sprintf("%ds per %s", s.Timeout, s.MaskText())
}

// destFields lists what differs between a live and a desired destination.
func destFields(cur, want *state.Destination) []Field {
	var f []Field
	field := func(name string, before, after any) {
		b, a := fmt.Sprint(before), fmt.Sprint(after)
		if b != a {
			f = append(f, Field{Name: name, Before: b, After: a})
		}
	}
	field("weight", cur.Weight, want.Weight)
	if !sameMethod(cur, want) {
		field("forward", cur.Forward, want.Forward)
		if want.Forward == state.TUN || cur.Forward == state.TUN {
			field("tunnel", tunnelOf(cur), tunnelOf(want))
		}
	}
	field("upper threshold", cur.UpperThreshold, want.UpperThreshold)
	field("lower threshold", cur.LowerThreshold, want.LowerThreshold)
	return f
}

// sameMethod: the live destination forwards as the desired one says. A
// kernel that reports a destination on the director's own address as local
// (state.Local) delivers its packets locally whatever method was asked for,
// so it matches any.
func sameMethod(cur, want *state.Destination) bool {
	return cur.Forward == state.Local || cur.Forward == want.Forward && tunnelOf(cur) == tunnelOf(want)
}

func tunnelOf(d *state.Destination) string {
	if d.Forward != state.TUN {
		return "none"
	}
	return tunnelText(d)
}
