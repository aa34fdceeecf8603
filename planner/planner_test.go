package planner_test

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lvsctl/lvsctl/internal/fakehost"
	"github.com/lvsctl/lvsctl/internal/op"
	"github.com/lvsctl/lvsctl/internal/state"
	"github.com/lvsctl/lvsctl/planner"
	"github.com/lvsctl/lvsctl/schema"
)

func load(t *testing.T, example string) map[string]*state.Host {
	t.Helper()
	l, err := schema.Load(filepath.Join("../examples", example))
	if err != nil {
		t.Fatal(err)
	}
	return l.Hosts
}

// cluster is a set of fake hosts; every sysctl reads "0" until set.
type cluster map[string]*fakehost.Host

func newCluster(desired map[string]*state.Host) cluster {
	c := cluster{}
	for name := range desired {
		c[name] = fakehost.New(name)
	}
	return c
}

// live gathers from the fakes what the planner asks of an agent.
func (c cluster) live(desired map[string]*state.Host) map[string]*planner.Live {
	out := map[string]*planner.Live{}
	for name, h := range c {
		b, _ := json.Marshal(h.State)
		var s state.Host
		json.Unmarshal(b, &s)
		keys := map[string]bool{}
		for _, x := range desired[name].Sysctls {
			keys[x.Key] = true
		}
		for k := range h.Inventory.Sysctls {
			keys[k] = true
		}
		s.Sysctls = nil
		for k := range keys {
			v := "0"
			for _, x := range h.State.Sysctls {
				if x.Key == k {
					v = x.Value
				}
			}
			s.Sysctls = append(s.Sysctls, state.Sysctl{Key: k, Value: v})
		}
		inv := *h.Inventory
		out[name] = &planner.Live{Host: &s, Inventory: &inv, IPVSAvailable: true}
		if h.Boot != nil {
			b := *h.Boot
			out[name].Boot = &b
		}
	}
	return out
}

// apply runs a plan's steps on the fakes, as the applier would with no
// failures and instant drains, and returns the transcript.
func (c cluster) apply(t *testing.T, p *planner.Plan) string {
	t.Helper()
	var lines []string
	for _, ch := range p.Changes {
		for _, s := range ch.Steps {
			if s.Drain != nil {
				lines = append(lines, ch.Host+": (drain "+s.Drain.Dest.String()+")")
				continue
			}
			h := c[ch.Host]
			if err := h.Apply(*s.Op); err != nil {
				t.Fatalf("%s: %v", ch.Host, err)
			}
			lines = append(lines, ch.Host+": "+h.Log[len(h.Log)-1])
		}
	}
	for name, u := range p.Inventories {
		if err := c[name].Apply(op.Op{Kind: op.WriteInventory, Inventory: u.After}); err != nil {
			t.Fatal(err)
		}
	}
	return strings.Join(lines, "\n")
}

func plan(t *testing.T, desired map[string]*state.Host, c cluster) *planner.Plan {
	t.Helper()
	p, err := planner.Make(desired, c.live(desired))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The guide's DR example from empty hosts: the real servers' ARP sysctls,
// then their loopback VIPs, then the director's VIP, service and
// destinations.
func TestDirectRoutingFromEmpty(t *testing.T) {
	desired := load(t, "direct-routing")
	c := newCluster(desired)
	p := plan(t, desired, c)
	got := c.apply(t, p)
	var want []string
	for _, rs := range []string{"rs1", "rs2"} {
		for _, i := range []string{"all", "default", "lo", "eth0"} {
			want = append(want, rs+": sysctl -w net.ipv4.conf."+i+".arp_ignore=1", rs+": sysctl -w net.ipv4.conf."+i+".arp_announce=2")
		}
	}
	// Ranks order sysctls before addresses across hosts within the prepare phase.
	want = append([]string{"director: sysctl -w net.ipv4.vs.expire_nodest_conn=1"}, want...)
	want = append(want,
		"director: ip addr add 192.168.0.10/32 dev ens33",
		"rs1: ip addr add 192.168.0.10/32 dev lo",
		"rs2: ip addr add 192.168.0.10/32 dev lo",
		"director: ipvsadm -A -t 192.168.0.10:80 -s wrr -p 300 -M 255.255.255.255",
		"director: ipvsadm -a -t 192.168.0.10:80 -r 192.168.0.101:80 -g -w 5",
		"director: ipvsadm -a -t 192.168.0.10:80 -r 222.117.155.123:80 -g -w 10",
	)
	if diff := cmp.Diff(strings.Join(want, "\n"), got); diff != "" {
		t.Errorf("transcript (-want +got):\n%s", diff)
	}
	if a, ch, d := p.Counts(); a != 6 || ch != 17 || d != 0 {
		t.Errorf("counts: %d to add, %d to change, %d to destroy", a, ch, d)
	}
	if len(p.Inventories) != 3 {
		t.Errorf("inventories to write: %d", len(p.Inventories))
	}
}

// Applying a plan and planning again finds nothing to do, for every example.
func TestIdempotent(t *testing.T) {
	for _, ex := range []string{"direct-routing", "nat", "tunnel", "firewall-marks", "large"} {
		t.Run(ex, func(t *testing.T) {
			desired := load(t, ex)
			c := newCluster(desired)
			c.apply(t, plan(t, desired, c))
			p := plan(t, desired, c)
			if !p.Empty() || len(p.Inventories) != 0 {
				t.Errorf("second plan: %d changes, %d inventories:\n%s", len(p.Changes), len(p.Inventories), c.apply(t, p))
			}
		})
	}
}

// One weight changed: one change, one in-place request.
func TestOneWeightChange(t *testing.T) {
	desired := load(t, "direct-routing")
	c := newCluster(desired)
	c.apply(t, plan(t, desired, c))
	desired["director"].Services[0].Dests[0].Weight = 7
	p := plan(t, desired, c)
	if len(p.Changes) != 1 {
		t.Fatalf("%d changes", len(p.Changes))
	}
	ch := p.Changes[0]
	want := []planner.Field{{Name: "weight", Before: "5", After: "7"}}
	if ch.Action != planner.Update || ch.Kind != "destination" || !cmp.Equal(want, ch.Fields) || len(ch.Steps) != 1 || ch.Steps[0].Op.Kind != op.UpdateDest {
		t.Fatalf("change: %+v", ch)
	}
	if got := c.apply(t, p); got != "director: ipvsadm -e -t 192.168.0.10:80 -r 192.168.0.101:80 -g -w 7" {
		t.Errorf("transcript: %s", got)
	}
	if undo := ch.Steps[0].Undo; len(undo) != 1 || undo[0].Dest.Weight != 5 {
		t.Errorf("undo: %+v", undo)
	}
}

// A real server leaves: the director drains and deletes its destination
// first, then the real server loses the VIP and its sysctls go back.
func TestRemoveRealServer(t *testing.T) {
	desired := load(t, "direct-routing")
	c := newCluster(desired)
	c.apply(t, plan(t, desired, c))
	svc := desired["director"].Services[0]
	svc.Dests = svc.Dests[:1]
	desired["rs2"] = &state.Host{Name: "rs2"}
	p := plan(t, desired, c)
	got := c.apply(t, p)
	want := []string{
		"director: ipvsadm -e -t 192.168.0.10:80 -r 222.117.155.123:80 -g -w 0",
		"director: (drain 222.117.155.123:80)",
		"director: ipvsadm -d -t 192.168.0.10:80 -r 222.117.155.123:80",
	}
	if !strings.HasPrefix(got, strings.Join(want, "\n")+"\nrs2: ip addr del 192.168.0.10/32 dev lo\n") {
		t.Errorf("transcript:\n%s", got)
	}
	if strings.Count(got, "rs2: sysctl -w") != 8 || !strings.Contains(got, "rs2: sysctl -w net.ipv4.conf.all.arp_ignore=0") {
		t.Errorf("sysctls not restored:\n%s", got)
	}
	if _, _, d := p.Counts(); d != 2 {
		t.Errorf("destroy count %d, want 2 (destination, address)", d)
	}
}

// A service lvsctl did not create is left alone with a note, unless the
// director is exclusive.
func TestUnmanagedService(t *testing.T) {
	desired := load(t, "direct-routing")
	c := newCluster(desired)
	c.apply(t, plan(t, desired, c))
	stray := &state.Service{Key: state.ServiceKey{Family: state.IPv4, Protocol: state.UDP, Addr: desired["director"].Services[0].Key.Addr, Port: 53}, Scheduler: "rr"}
	c["director"].Apply(op.Op{Kind: op.AddService, Service: stray})
	p := plan(t, desired, c)
	if !p.Empty() || len(p.Notes) != 1 || !strings.Contains(p.Notes[0].Text, "unmanaged IPVS service UDP 192.168.0.10:53") {
		t.Fatalf("changes %d, notes %+v", len(p.Changes), p.Notes)
	}
	desired["director"].Exclusive = true
	p = plan(t, desired, c)
	if len(p.Changes) != 1 || p.Changes[0].Action != planner.Delete || !strings.Contains(p.Changes[0].Why[0], "exclusive") {
		t.Fatalf("exclusive: %+v", p.Changes)
	}
	last := p.Changes[0].Steps[len(p.Changes[0].Steps)-1]
	if last.Op.Kind != op.DeleteService || len(last.Undo) != 1 || last.Undo[0].Service.Scheduler != "rr" {
		t.Errorf("delete service step %+v", last)
	}
}

func TestDirectorWithoutIPVS(t *testing.T) {
	desired := load(t, "direct-routing")
	c := newCluster(desired)
	live := c.live(desired)
	live["director"].IPVSAvailable = false
	live["rs1"].MissingSysctls = []string{"net.ipv4.conf.eth0.arp_ignore"}
	_, err := planner.Make(desired, live)
	if err == nil || !strings.Contains(err.Error(), "host director: IPVS is not available in this kernel") ||
		!strings.Contains(err.Error(), "host rs1: this kernel has no sysctl net.ipv4.conf.eth0.arp_ignore") {
		t.Fatalf("got %v", err)
	}
}

// The planner does no I/O: it imports no os, syscall or exec itself, and
// reaches no netlink, nftables, network or host package at all (fmt brings
// os along, but the planner never calls it).
func TestPlannerIsPure(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{join .Imports \" \"}}", "github.com/lvsctl/lvsctl/planner").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range strings.Fields(string(out)) {
		if imp == "os" || imp == "syscall" || strings.HasPrefix(imp, "os/") || imp == "io/fs" {
			t.Errorf("planner imports %s", imp)
		}
	}
	out, err = exec.Command("go", "list", "-deps", "github.com/lvsctl/lvsctl/planner").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, dep := range strings.Fields(string(out)) {
		switch {
		case dep == "os/exec", dep == "net", strings.Contains(dep, "netlink"), strings.Contains(dep, "nftables"),
			strings.HasPrefix(dep, "github.com/lvsctl/lvsctl/hosts"), strings.HasPrefix(dep, "cuelang.org"):
			t.Errorf("planner depends on %s", dep)
		}
	}
}
