package planner

import (
	"fmt"
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
				Steps: one(op.Op{Kind: op.AddService, Service: bare}, op.Op{Kind: op.DeleteService, ServiceKey: &bare.Key})})
			for _, d := range s.Dests {
				h.addDest(s.Key, d)
			}
			continue
		}
		if f := serviceFields(cur, s); len(f) > 0 {
			h.add(phaseIPVS, rankService, &Change{Action: Update, Kind: "ipvs service", Object: s.Key.String(), Fields: f, Why: s.Why,
				Steps: one(op.Op{Kind: op.UpdateService, Service: bareService(s)}, op.Op{Kind: op.UpdateService, Service: bareService(cur)})})
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
		if !owned[s.Key] {
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
	for _, d := range want.Dests {
		desired[d.Addr.String()] = true
		c, ok := live[d.Addr.String()]
		if !ok {
			h.addDest(want.Key, d)
			continue
		}
		if f := destFields(c, d); len(f) > 0 {
			k := want.Key
			h.add(phaseIPVS, rankDest, &Change{Action: Update, Kind: "destination", Object: destObject(k, d), Fields: f, Why: d.Why,
				Steps: one(op.Op{Kind: op.UpdateDest, ServiceKey: &k, Dest: bareDest(d)}, op.Op{Kind: op.UpdateDest, ServiceKey: &k, Dest: bareDest(c)})})
		}
	}
	for _, d := range cur.Dests {
		if !desired[d.Addr.String()] {
			h.removeDest(cur.Key, d, "not in the configuration of "+strings.Join(want.Why, ", "))
		}
	}
}

func (h *hostPlan) addDest(k state.ServiceKey, d *state.Destination) {
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
	h.add(phaseIPVSRemove, rankService, &Change{Action: Delete, Kind: "ipvs service", Object: s.Key.String(),
		Detail: fmt.Sprintf("%s, %d destinations drained first", serviceDetail(s), len(s.Dests)), Why: []string{why}, Steps: steps})
}

func bareService(s *state.Service) *state.Service {
	c := *s
	c.Dests, c.Why = nil, nil
	if len(c.SchedFlags) == 0 {
		c.SchedFlags = nil
	}
	return &c
}

func bareDest(d *state.Destination) *state.Destination {
	c := *d
	c.Why, c.Conns = nil, nil
	return &c
}

func destObject(k state.ServiceKey, d *state.Destination) string {
	return k.String() + " -> " + d.Addr.String()
}

func serviceDetail(s *state.Service) string {
	parts := []string{s.Scheduler}
	parts = append(parts, s.SchedFlags...)
	if s.Persistent {
		parts = append(parts, fmt.Sprintf("persistent %ds /%d", s.Timeout, s.NetmaskBits))
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
	return fmt.Sprintf("%ds per /%d", s.Timeout, s.NetmaskBits)
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
	field("forward", cur.Forward, want.Forward)
	if want.Forward == state.TUN || cur.Forward == state.TUN {
		field("tunnel", tunnelOf(cur), tunnelOf(want))
	}
	field("upper threshold", cur.UpperThreshold, want.UpperThreshold)
	field("lower threshold", cur.LowerThreshold, want.LowerThreshold)
	return f
}

func tunnelOf(d *state.Destination) string {
	if d.Forward != state.TUN {
		return "none"
	}
	return tunnelText(d)
}
