package planner_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/lvsctl/lvsctl/applier"
	"github.com/lvsctl/lvsctl/internal/fakehost"
	"github.com/lvsctl/lvsctl/internal/op"
	"github.com/lvsctl/lvsctl/internal/state"
	"github.com/lvsctl/lvsctl/planner"
)

// The pair example's service web: FWM 1 for 192.168.0.10 ports 80 and 443.
var pairVIP = netip.MustParseAddr("192.168.0.10")

// serves reports whether a fake director would take a new connection to
// vip:port: a mark rule marks it for a firewall-mark service with a
// destination of weight above 0, or a service of that address and port has
// one.
func serves(h *fakehost.Host, vip netip.Addr, port uint16) bool {
	usable := func(k state.ServiceKey) bool {
		for _, s := range h.State.Services {
			if s.Key == k {
				return slices.ContainsFunc(s.Dests, func(d *state.Destination) bool { return d.Weight > 0 })
			}
		}
		return false
	}
	for _, m := range h.State.MarkRules {
		if m.Addr == vip && m.Protocol == state.TCP && slices.Contains(m.Ports, port) {
			return usable(state.ServiceKey{Family: m.Family, FWMark: m.Mark})
		}
	}
	return usable(state.ServiceKey{Family: state.FamilyOf(vip), Protocol: state.TCP, Addr: vip, Port: port})
}

// pairExec runs the applier's operations on the fakes and checks, after
// each, that a director of the pair still serves the pair's VIP.
type pairExec struct {
	*fakehost.Host
	c     cluster
	t     *testing.T
	trace *[]string
}

func (e pairExec) Do(o op.Op) error {
	if err := e.Apply(o); err != nil {
		return err
	}
	if o.Kind == op.WriteInventory {
		return nil
	}
	*e.trace = append(*e.trace, e.State.Name+": "+e.Log[len(e.Log)-1])
	if !serves(e.c["lb1"], pairVIP, 80) && !serves(e.c["lb2"], pairVIP, 80) {
		e.t.Errorf("after %s on %s, neither director serves %s:80:\n%s", o, e.State.Name, pairVIP, strings.Join(*e.trace, "\n"))
	}
	return nil
}

func (e pairExec) Conns(state.ServiceKey, netip.AddrPort) (uint32, error) { return 0, nil }

func (c cluster) pairApplier(t *testing.T, trace *[]string) *applier.Applier {
	hosts := map[string]applier.Host{}
	for name, h := range c {
		hosts[name] = pairExec{h, c, t, trace}
	}
	return &applier.Applier{Hosts: hosts}
}

// changeMark moves the pair's service web and its mark group from mark 1 to
// mark 2 on both directors: a new IPVS identity, so on each director the
// mark rule changes, FWM 2 is created with its destinations, and FWM 1 is
// drained and deleted.
func changeMark(desired map[string]*state.Host) {
	for _, d := range []string{"lb1", "lb2"} {
		h := desired[d]
		for i := range h.MarkRules {
			h.MarkRules[i].Mark = 2
		}
		for _, s := range h.Services {
			if s.Key.FWMark == 1 {
				s.Key.FWMark = 2
			}
		}
	}
}

// blockOrder checks that every change on lb2 (the backup) of the pair's
// IPVS and mark rules comes before every such change on lb1.
func blockOrder(t *testing.T, p *planner.Plan) {
	t.Helper()
	lastLB2, firstLB1 := -1, len(p.Changes)
	for i, c := range p.Changes {
		if c.Kind == "sysctl" || c.Kind == "address" {
			continue
		}
		switch {
		case c.Host == "lb2":
			lastLB2 = i
		case c.Host == "lb1" && i < firstLB1:
			firstLB1 = i
		}
	}
	if lastLB2 < 0 || firstLB1 == len(p.Changes) || lastLB2 > firstLB1 {
		t.Errorf("lb2's block (last change %d) does not come wholly before lb1's (first change %d):\n%s", lastLB2, firstLB1, summary(p))
	}
}

func TestPairReplacementOneDirectorAtATime(t *testing.T) {
	desired, c := applied(t, "pair")
	if !serves(c["lb1"], pairVIP, 80) || !serves(c["lb2"], pairVIP, 80) {
		t.Fatal("after the first apply, the pair's directors do not both serve the VIP")
	}
	changeMark(desired)
	p := plan(t, desired, c)
	blockOrder(t, p)
	got := summary(p)
	for _, want := range []string{"lb2: ~ mark rule", "lb2: + ipvs service FWM 2", "lb2: - ipvs service FWM 1", "lb1: ~ mark rule", "lb1: + ipvs service FWM 2", "lb1: - ipvs service FWM 1"} {
		if !strings.Contains(got, want) {
			t.Errorf("plan lacks %q:\n%s", want, got)
		}
	}
	var trace []string
	r := c.pairApplier(t, &trace).Apply(context.Background(), p)
	if !r.OK() {
		t.Fatalf("apply: %+v", r.Failed)
	}
	if len(trace) < 10 {
		t.Errorf("only %d steps simulated:\n%s", len(trace), strings.Join(trace, "\n"))
	}
	if p := plan(t, desired, c); len(p.Changes) != 0 {
		t.Errorf("planned again:\n%s", summary(p))
	}
}

// The invariant check itself must be able to fail: the same replacement in
// the old order (every director's mark rule first, then every director's
// services) leaves both without the service.
func TestPairInvariantCatchesBothAtOnce(t *testing.T) {
	desired, c := applied(t, "pair")
	changeMark(desired)
	p := plan(t, desired, c)
	// Both directors' mark rules first: neither has FWM 2 yet.
	var marks, rest []*planner.Change
	for _, ch := range p.Changes {
		if ch.Kind == "mark rule" {
			marks = append(marks, ch)
		} else {
			rest = append(rest, ch)
		}
	}
	p.Changes = append(marks, rest...)
	var trace []string
	bad := false
	hosts := map[string]applier.Host{}
	for name, h := range c {
		hosts[name] = checkExec{h, c, &trace, &bad}
	}
	(&applier.Applier{Hosts: hosts}).Apply(context.Background(), p)
	if !bad {
		t.Errorf("the check did not notice both directors without the service:\n%s", strings.Join(trace, "\n"))
	}
}

// checkExec is pairExec that records a violation instead of failing.
type checkExec struct {
	*fakehost.Host
	c     cluster
	trace *[]string
	bad   *bool
}

func (e checkExec) Do(o op.Op) error {
	if err := e.Apply(o); err != nil {
		return err
	}
	*e.trace = append(*e.trace, e.State.Name+": "+o.String())
	if !serves(e.c["lb1"], pairVIP, 80) && !serves(e.c["lb2"], pairVIP, 80) {
		*e.bad = true
	}
	return nil
}

func (e checkExec) Conns(state.ServiceKey, netip.AddrPort) (uint32, error) { return 0, nil }

// A failure in the master's block rolls back in the reverse order: the
// master's steps, then the backup's, and at every step of the rollback a
// director still serves the VIP.
func TestPairRollbackReverse(t *testing.T) {
	desired, c := applied(t, "pair")
	changeMark(desired)
	p := plan(t, desired, c)
	c["lb1"].Fail = func(o op.Op) error {
		if o.Kind == op.DeleteService && o.ServiceKey.FWMark == 1 {
			return errors.New("injected")
		}
		return nil
	}
	var trace []string
	r := c.pairApplier(t, &trace).Apply(context.Background(), p)
	if r.OK() || r.Failed.Host != "lb1" {
		t.Fatalf("want a failure on lb1, got %+v", r.Failed)
	}
	if len(r.Undone) < 6 || len(r.NotUndone) != 0 {
		t.Fatalf("undone: %q, not undone: %+v", r.Undone, r.NotUndone)
	}
	// Undone is the reverse of what was done (the step that failed did
	// nothing to undo).
	done := slices.Clone(r.Done)
	slices.Reverse(done)
	var doneSteps []string
	for _, d := range done {
		if !strings.Contains(d, "inventory") {
			doneSteps = append(doneSteps, d)
		}
	}
	var undone []string
	for _, u := range r.Undone {
		if !strings.Contains(u, "inventory") {
			undone = append(undone, u)
		}
	}
	if !slices.Equal(undone, doneSteps) {
		t.Errorf("undone is not the reverse of done:\ndone (reversed):\n%s\nundone:\n%s", strings.Join(doneSteps, "\n"), strings.Join(undone, "\n"))
	}
	// lb1's undo runs before lb2's.
	firstLB2 := slices.IndexFunc(r.Undone, func(s string) bool { return strings.HasPrefix(s, "lb2") })
	lastLB1 := -1
	for i, s := range r.Undone {
		if strings.HasPrefix(s, "lb1") {
			lastLB1 = i
		}
	}
	if firstLB2 < 0 || lastLB1 > firstLB2 {
		t.Errorf("rollback does not undo lb1 before lb2: %q", r.Undone)
	}
	c["lb1"].Fail = nil
	desired2, _ := applied(t, "pair")
	if p := plan(t, desired2, c); len(p.Changes) != 0 {
		t.Errorf("after the rollback, the cluster is not as first applied:\n%s", summary(p))
	}
}

// Removing the pair's service: the backup's is drained and deleted before
// the master's is touched.
func TestPairRemovalBackupFirst(t *testing.T) {
	desired, c := applied(t, "pair")
	for _, d := range []string{"lb1", "lb2"} {
		h := desired[d]
		h.Services = slices.DeleteFunc(h.Services, func(s *state.Service) bool { return s.Key.FWMark == 1 })
		h.MarkRules = nil
	}
	p := plan(t, desired, c)
	blockOrder(t, p)
	got := summary(p)
	if !strings.Contains(got, "lb2: - ipvs service FWM 1") || !strings.Contains(got, "lb1: - ipvs service FWM 1") {
		t.Fatalf("plan:\n%s", got)
	}
	// Until lb2's service is gone, lb1 keeps its own untouched.
	var trace []string
	for _, ch := range p.Changes {
		for _, s := range ch.Steps {
			if s.Op == nil {
				continue
			}
			if err := c[ch.Host].Apply(*s.Op); err != nil {
				t.Fatal(err)
			}
			trace = append(trace, ch.Host+": "+s.Op.String())
			if ch.Host == "lb2" && !serves(c["lb1"], pairVIP, 80) {
				t.Errorf("lb1 stopped serving during lb2's removal:\n%s", strings.Join(trace, "\n"))
			}
		}
	}
}

// The plan notes which director has each of the pair's VIPs, and says so
// when none has.
func TestPairVIPNotes(t *testing.T) {
	desired, c := applied(t, "pair")
	p := plan(t, desired, c)
	if !hasNote(p, "lb1", "pair lvs: VIP 192.168.0.10 is on none of its directors (lb1, lb2): no director takes its traffic") {
		t.Errorf("notes: %q", notes(p))
	}
	vrrp := state.Address{Interface: "eth0", Prefix: netip.MustParsePrefix("192.168.0.10/32")}
	if err := c["lb2"].Apply(op.Op{Kind: op.AddAddress, Address: &vrrp}); err != nil {
		t.Fatal(err)
	}
	p = plan(t, desired, c)
	if !hasNote(p, "lb2", "pair lvs: VIP 192.168.0.10 is on lb2 (not its usual master lb1: VRRP has moved it)") || len(p.Changes) != 0 {
		t.Errorf("notes: %q\n%s", notes(p), summary(p))
	}
	if err := c["lb1"].Apply(op.Op{Kind: op.AddAddress, Address: &vrrp}); err != nil {
		t.Fatal(err)
	}
	p = plan(t, desired, c)
	if !hasNote(p, "lb1", "pair lvs: VIP 192.168.0.10 is on lb1 and lb2 at once") {
		t.Errorf("notes: %q", notes(p))
	}
}
