package planner_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lvsctl/lvsctl/internal/op"
	"github.com/lvsctl/lvsctl/internal/state"
	"github.com/lvsctl/lvsctl/planner"
)

// applied returns an example's desired state and a cluster it has been
// applied to.
func applied(t *testing.T, example string) (map[string]*state.Host, cluster) {
	t.Helper()
	desired := load(t, example)
	c := newCluster(desired)
	c.apply(t, plan(t, desired, c))
	return desired, c
}

// summary is a plan as one line per change: host, action, kind, object,
// reasons, and the warning after "!".
func summary(p *planner.Plan) string {
	var lines []string
	for _, c := range p.Changes {
		l := c.Host + ": " + string(c.Action) + " " + c.Kind + " " + c.Object + "   # " + strings.Join(c.Why, "; ")
		if c.Warning != "" {
			l += "   ! " + c.Warning
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, "\n")
}

func notes(p *planner.Plan) []string {
	var out []string
	for _, n := range p.Notes {
		out = append(out, n.Host+": "+n.Text)
	}
	return out
}

func hasNote(p *planner.Plan, host, fragment string) bool {
	return slices.ContainsFunc(p.Notes, func(n planner.Note) bool { return n.Host == host && strings.Contains(n.Text, fragment) })
}

// A retired real server: the director drains and deletes its destination,
// then the real server loses the VIP and gets its sysctls back, each change
// saying why, and its inventory is emptied. Planned again, nothing is left
// and a note says the entry can go.
func TestRetiredRealServer(t *testing.T) {
	desired, c := applied(t, "direct-routing")
	svc := desired["director"].Services[0]
	svc.Dests = svc.Dests[:1]
	desired["rs2"] = &state.Host{Name: "rs2", Retired: true}
	p := plan(t, desired, c)
	if !slices.Equal(p.Retired, []string{"rs2"}) {
		t.Errorf("retired: %v", p.Retired)
	}
	got := summary(p)
	for _, want := range []string{
		"director: - destination TCP 192.168.0.10:80 -> 222.117.155.123:80   # not in the configuration of service web",
		"rs2: - address 192.168.0.10/32 dev lo   # host retired",
		"rs2: ~ sysctl net.ipv4.conf.all.arp_ignore   # host retired: back to its value before lvsctl",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("plan lacks %q:\n%s", want, got)
		}
	}
	if strings.Index(got, "director: - destination") > strings.Index(got, "rs2: - address") {
		t.Errorf("the real server loses the VIP before the director removes it:\n%s", got)
	}
	u := p.Inventories["rs2"]
	if u == nil || !u.After.Empty() || len(u.Adopt) != 0 || len(u.Release) != 9 {
		t.Fatalf("rs2 inventory update: %+v", u)
	}
	if len(p.InventoriesBefore) != 3 || p.InventoriesBefore["rs1"].Empty() {
		t.Errorf("inventories before: %v", p.InventoriesBefore)
	}
	c.apply(t, p)
	if !c["rs2"].Inventory.Empty() || len(c["rs2"].State.Addresses) != 0 {
		t.Errorf("rs2 after apply: %+v, inventory %+v", c["rs2"].State, c["rs2"].Inventory)
	}
	p = plan(t, desired, c)
	if !p.Empty() || !hasNote(p, "rs2", "retired, and lvsctl owns nothing here any more") {
		t.Errorf("second plan: %s\nnotes %v", summary(p), notes(p))
	}
}

// A retired director (taken out of directors first): its service is drained
// and deleted, its VIP, mark rules and sysctls go, all as "host retired".
func TestRetiredDirector(t *testing.T) {
	desired, c := applied(t, "firewall-marks")
	desired["director"] = &state.Host{Name: "director", Retired: true}
	p := plan(t, desired, c)
	var director []string
	for _, ch := range p.Changes {
		if ch.Host != "director" {
			continue
		}
		director = append(director, string(ch.Action)+" "+ch.Kind)
		if !strings.HasPrefix(ch.Why[0], "host retired") {
			t.Errorf("%s %s: why %v", ch.Kind, ch.Object, ch.Why)
		}
	}
	for _, kind := range []string{"- ipvs service", "- address", "- mark rule", "~ sysctl"} {
		if !slices.Contains(director, kind) {
			t.Errorf("no %s on the retired director: %v", kind, director)
		}
	}
	c.apply(t, p)
	st := c["director"].State
	if len(st.Services) != 0 || len(st.Addresses) != 0 || len(st.MarkRules) != 0 || !c["director"].Inventory.Empty() {
		t.Errorf("director after apply: %+v, inventory %+v", st, c["director"].Inventory)
	}
}

// A retired tunnel real server sets its tunnel device down.
func TestRetiredTunnelRealServer(t *testing.T) {
	desired, c := applied(t, "tunnel")
	rs := "site-a"
	for _, s := range desired["director"].Services {
		s.Dests = slices.DeleteFunc(s.Dests, func(d *state.Destination) bool { return d.Host == rs })
	}
	desired[rs] = &state.Host{Name: rs, Retired: true}
	p := plan(t, desired, c)
	if !strings.Contains(summary(p), rs+": ~ link tunl0   # host retired (tunnel fallback devices cannot be deleted, so it is set down)") {
		t.Errorf("plan:\n%s", summary(p))
	}
}

// A managed default route stays on a retired host, with a note, and leaves
// the inventory.
func TestRetiredHostKeepsManagedRoute(t *testing.T) {
	desired := load(t, "nat")
	desired["rs1"].Routes[0].Manage = true
	c := newCluster(desired)
	c.apply(t, plan(t, desired, c))
	if len(c["rs1"].Inventory.Routes) != 1 {
		t.Fatalf("rs1 inventory: %+v", c["rs1"].Inventory)
	}
	svc := desired["director"].Services[0]
	svc.Dests = slices.DeleteFunc(svc.Dests, func(d *state.Destination) bool { return d.Host == "rs1" })
	desired["rs1"] = &state.Host{Name: "rs1", Retired: true}
	p := plan(t, desired, c)
	for _, ch := range p.Changes {
		if ch.Kind == "route" {
			t.Errorf("a route change on a retired host: %+v", ch)
		}
	}
	if !hasNote(p, "rs1", "route 0.0.0.0/0 via 10.0.0.234, which lvsctl set, stays although the host is retired: deleting a default route could cut the SSH session") {
		t.Errorf("notes: %v", notes(p))
	}
	if u := p.Inventories["rs1"]; u == nil || !u.After.Empty() || len(u.Release) != 1 || u.Release[0].Kind != "route" {
		t.Errorf("rs1 inventory update: %+v", u)
	}
}

func TestUnknownTarget(t *testing.T) {
	desired := load(t, "direct-routing")
	c := newCluster(desired)
	_, err := planner.MakeWith(desired, c.live(desired), planner.Options{Targets: []string{"director", "rs9"}})
	if err == nil || !strings.Contains(err.Error(), "target rs9: no such host in the configuration") {
		t.Fatalf("got %v", err)
	}
}

// targeted plans with live state for the targets only.
func targeted(t *testing.T, desired map[string]*state.Host, c cluster, targets ...string) *planner.Plan {
	t.Helper()
	live := c.live(desired)
	for name := range live {
		if !slices.Contains(targets, name) {
			delete(live, name)
		}
	}
	p, err := planner.MakeWith(desired, live, planner.Options{Targets: targets})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Only targeted hosts change. A destination toward a real server whose host
// is not targeted is withheld, with a note, until its side is ready.
func TestTargetsWithholdNewDestinations(t *testing.T) {
	desired := load(t, "direct-routing")
	c := newCluster(desired)
	p := targeted(t, desired, c, "director", "rs1")
	for _, ch := range p.Changes {
		if ch.Host == "rs2" {
			t.Errorf("change on rs2, not targeted: %+v", ch)
		}
	}
	got := summary(p)
	if !strings.Contains(got, "director: + destination TCP 192.168.0.10:80 -> 192.168.0.101:80") || strings.Contains(got, "222.117.155.123:80") {
		t.Errorf("plan:\n%s", got)
	}
	want := "destination TCP 192.168.0.10:80 -> 222.117.155.123:80 withheld: its real server rs2 is not targeted, and its side (ARP sysctls, VIP on lo) must be ready first; add --target rs2"
	if !slices.Contains(notes(p), "director: "+want) {
		t.Errorf("notes: %v", notes(p))
	}
	if _, ok := p.Inventories["rs2"]; ok || len(p.InventoriesBefore) != 2 {
		t.Errorf("inventories: %v, before %v", p.Inventories, p.InventoriesBefore)
	}
	c.apply(t, p)

	// rs2 alone: its side; the director is not touched.
	p = targeted(t, desired, c, "rs2")
	if hosts := changedHosts(p); !slices.Equal(hosts, []string{"rs2"}) {
		t.Errorf("hosts changed: %v", hosts)
	}
	c.apply(t, p)
	// Then the director with rs2: the destination, now that its side is
	// ready. (The director alone would still withhold it: without rs2's live
	// state, its side cannot be known to be ready.)
	p = targeted(t, desired, c, "director", "rs2")
	if got := summary(p); len(p.Changes) != 1 || !strings.Contains(got, "+ destination TCP 192.168.0.10:80 -> 222.117.155.123:80") {
		t.Errorf("plan:\n%s", got)
	}
	c.apply(t, p)
	if p := plan(t, desired, c); !p.Empty() {
		t.Errorf("full plan after the targeted ones:\n%s", summary(p))
	}
}

func changedHosts(p *planner.Plan) []string {
	var out []string
	for _, c := range p.Changes {
		if !slices.Contains(out, c.Host) {
			out = append(out, c.Host)
		}
	}
	slices.Sort(out)
	return out
}

// The director side can always be changed and removed: a weight change
// proceeds, and so does a removal (drained), with a note that the real
// server's side stays until its host is planned. A forwarding change waits.
func TestTargetsDirectorSide(t *testing.T) {
	desired, c := applied(t, "direct-routing")
	svc := desired["director"].Services[0]
	svc.Dests[1].Weight = 3
	p := targeted(t, desired, c, "director")
	if len(p.Changes) != 1 || p.Changes[0].Fields[0].Name != "weight" {
		t.Errorf("weight change:\n%s", summary(p))
	}

	svc.Dests[1].Weight = 10
	svc.Dests[1].Forward = state.TUN
	svc.Dests[1].TunnelType, svc.Dests[1].TunnelChecksum = "ipip", "none"
	p = targeted(t, desired, c, "director")
	if len(p.Changes) != 0 || !hasNote(p, "director", "destination TCP 192.168.0.10:80 -> 222.117.155.123:80: its forwarding change is withheld: its real server rs2 is not targeted, and its side (tunnel device up with the VIP, rp_filter off, ARP sysctls) must be ready first; add --target rs2") {
		t.Errorf("forwarding change: %s\nnotes %v", summary(p), notes(p))
	}

	svc.Dests = svc.Dests[:1]
	p = targeted(t, desired, c, "director")
	if got := summary(p); len(p.Changes) != 1 || !strings.Contains(got, "director: - destination TCP 192.168.0.10:80 -> 222.117.155.123:80") {
		t.Errorf("removal:\n%s", got)
	}
	// Which host the removed real server was, the configuration no longer
	// says: the note names the hosts it may be.
	if !hasNote(p, "director", "destination TCP 192.168.0.10:80 -> 222.117.155.123:80 is removed here; if its real server is a host lvsctl manages that is not targeted (rs1, rs2), what lvsctl set there for it stays until that host is planned") {
		t.Errorf("notes: %v", notes(p))
	}
	// While another service still names it, the note names rs2.
	other := &state.Service{Key: state.ServiceKey{Family: state.IPv4, Protocol: state.TCP, Addr: svc.Key.Addr, Port: 443}, Scheduler: "rr",
		Dests: []*state.Destination{{Addr: netip.MustParseAddrPort("222.117.155.123:443"), Weight: 1, Forward: state.DR, Host: "rs2"}}}
	desired["director"].Services = append(desired["director"].Services, other)
	p = targeted(t, desired, c, "director")
	if !hasNote(p, "director", "destination TCP 192.168.0.10:80 -> 222.117.155.123:80 is removed here, but its real server rs2 is not targeted: what lvsctl set there for it stays until rs2 is planned") {
		t.Errorf("notes: %v", notes(p))
	}
}

// A real server's side waits for its director: planned alone after its
// destination left the configuration, rs2 keeps its VIP and sysctls (and
// its inventory keeps them), because the director, not targeted, may still
// send it traffic. With the director targeted too, both go, director first.
func TestTargetsRealServerCleanupWaitsForDirector(t *testing.T) {
	desired, c := applied(t, "direct-routing")
	svc := desired["director"].Services[0]
	svc.Dests = svc.Dests[:1]
	desired["rs2"] = &state.Host{Name: "rs2", Retired: true}
	p := targeted(t, desired, c, "rs2")
	if len(p.Changes) != 0 || !hasNote(p, "rs2", "director is not targeted and may still send this host traffic") {
		t.Errorf("plan: %s\nnotes %v", summary(p), notes(p))
	}
	if u := p.Inventories["rs2"]; u != nil {
		t.Errorf("rs2's inventory changes while its cleanup waits: %+v", u)
	}
	p = targeted(t, desired, c, "rs2", "director")
	got := summary(p)
	if !strings.Contains(got, "rs2: - address 192.168.0.10/32 dev lo") || strings.Index(got, "director: - destination") > strings.Index(got, "rs2: - address") {
		t.Errorf("plan:\n%s", got)
	}
}

func TestTargetNeedsLiveState(t *testing.T) {
	desired := load(t, "direct-routing")
	c := newCluster(desired)
	live := c.live(desired)
	delete(live, "rs1")
	if _, err := planner.MakeWith(desired, live, planner.Options{Targets: []string{"rs1"}}); err == nil || !strings.Contains(err.Error(), "host rs1: no live state") {
		t.Errorf("got %v", err)
	}
	if _, err := planner.Make(desired, live); err == nil || !strings.Contains(err.Error(), "host rs1: no live state") {
		t.Errorf("without targets: %v", err)
	}
}

// Adoption: objects that are live and desired but missing from the inventory
// change nothing on the host, yet the plan is not empty: it records them.
func TestInventoryOnlyPlan(t *testing.T) {
	desired, c := applied(t, "direct-routing")
	c["director"].Inventory = &state.Inventory{Sysctls: map[string]string{"net.ipv4.ip_forward": "0"}}
	p := plan(t, desired, c)
	if len(p.Changes) != 0 || p.Empty() {
		t.Fatalf("changes %d, empty %v", len(p.Changes), p.Empty())
	}
	u := p.Inventories["director"]
	var adopt, release []string
	for _, m := range u.Adopt {
		adopt = append(adopt, m.String())
	}
	for _, m := range u.Release {
		release = append(release, m.String())
	}
	wantAdopt := []string{"ipvs service TCP 192.168.0.10:80", "address 192.168.0.10/32 dev ens33", "sysctl net.ipv4.vs.expire_nodest_conn (original 1)"}
	if diff := cmp.Diff(wantAdopt, adopt); diff != "" {
		t.Errorf("adopt (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"sysctl net.ipv4.ip_forward (original 0)"}, release); diff != "" {
		t.Errorf("release (-want +got):\n%s", diff)
	}
	if a, r, h := p.InventoryCounts(); a != 3 || r != 1 || h != 1 {
		t.Errorf("inventory counts %d %d %d", a, r, h)
	}
}

// Inventories are sets: one in another order is not an update, and a
// sysctl whose recorded original differs is an update of its original.
func TestInventoryComparesAsSets(t *testing.T) {
	desired, c := applied(t, "direct-routing")
	inv := c["rs1"].Inventory
	slices.Reverse(inv.Addresses)
	inv.Addresses = append(inv.Addresses, inv.Addresses...)
	if p := plan(t, desired, c); !p.Empty() {
		t.Errorf("reordered inventory: %+v", p.Inventories["rs1"])
	}
	c["director"].Inventory.Sysctls["net.ipv4.vs.expire_nodest_conn"] = "1"
	c["director"].State.Sysctls = append(c["director"].State.Sysctls, state.Sysctl{Key: "x", Value: "y"})
	p := plan(t, desired, c)
	if u := p.Inventories["director"]; u != nil {
		t.Errorf("recorded original kept: %+v", u)
	}
}

// A scheduler change carries the kernel's warning; a flags change does not.
func TestSchedulerChangeWarns(t *testing.T) {
	desired, c := applied(t, "direct-routing")
	desired["director"].Services[0].Scheduler = "wlc"
	p := plan(t, desired, c)
	if len(p.Changes) != 1 || p.Changes[0].Warning != "changing the scheduler under traffic: IPVS runs the service without a scheduler for a moment, and new connections arriving then are refused (existing connections are kept); to avoid it, drop new SYNs to the service around the change (README: Changes clients can notice)" {
		t.Fatalf("plan:\n%s", summary(p))
	}
	desired["director"].Services[0].Scheduler = "wrr"
	desired["director"].Services[0].Timeout = 600
	if p := plan(t, desired, c); len(p.Changes) != 1 || p.Changes[0].Warning != "" {
		t.Errorf("persistence change:\n%s", summary(p))
	}
}

// A prefix change deletes and adds the address: warned. Deleting a service
// with destinations refuses new connections from the start of its drain:
// warned; deleting one without destinations changes nothing clients see.
func TestAddressAndServiceWarnings(t *testing.T) {
	desired, c := applied(t, "direct-routing")
	desired["director"].Addresses[0].Prefix = netip.MustParsePrefix("192.168.0.10/24")
	p := plan(t, desired, c)
	if len(p.Changes) != 1 || p.Changes[0].Action != planner.Replace ||
		p.Changes[0].Warning != "a prefix change is a delete, then an add: in between, this host does not have 192.168.0.10 and does not accept packets sent to it" {
		t.Fatalf("plan:\n%s", summary(p))
	}
	c.apply(t, p)
	if p := plan(t, desired, c); !p.Empty() {
		t.Errorf("after the prefix change:\n%s\n%+v", summary(p), p.Inventories)
	}

	desired, c = applied(t, "direct-routing")
	desired["director"].Services = nil
	p = plan(t, desired, c)
	var del *planner.Change
	for _, ch := range p.Changes {
		if ch.Kind == "ipvs service" {
			del = ch
		}
	}
	want := "new connections are refused from the start of the drain, when every destination is at weight 0 (clients the service still remembers go on to their real server); connections still open when the drain ends (no active connections left, or the drain timeout) are cut"
	if del == nil || del.Action != planner.Delete || del.Warning != want {
		t.Fatalf("plan:\n%s", summary(p))
	}

	empty := &state.Service{Key: state.ServiceKey{Family: state.IPv4, Protocol: state.UDP, Addr: netip.MustParseAddr("192.168.0.10"), Port: 53}, Scheduler: "rr"}
	c["director"].Apply(op.Op{Kind: op.AddService, Service: empty})
	c["director"].Inventory.Services = append(c["director"].Inventory.Services, empty.Key)
	for _, ch := range plan(t, desired, c).Changes {
		if ch.Object == empty.Key.String() && ch.Warning != "" {
			t.Errorf("deleting a service without destinations: %s", ch.Warning)
		}
	}
}

// A forwarding change applies to new connections only: existing ones break
// only when the same plan removes what the old method needs.
func TestForwardChangeWarnings(t *testing.T) {
	// DR to NAT: the real server loses the VIP, so existing DR connections
	// break.
	desired, c := applied(t, "direct-routing")
	d := desired["director"].Services[0].Dests[1]
	d.Forward = state.NAT
	desired["rs2"].Addresses = nil
	desired["rs2"].Sysctls = nil
	p := plan(t, desired, c)
	var fwd *planner.Change
	for _, ch := range p.Changes {
		if ch.Kind == "destination" {
			fwd = ch
		}
	}
	want := "existing connections keep using direct routing until they end (IPVS binds the forwarding method when a connection starts), but later in this plan rs2 loses what they need (address 192.168.0.10/32 dev lo), so they break"
	if fwd == nil || fwd.Warning != want {
		t.Fatalf("plan:\n%s", summary(p))
	}

	// DR to TUN: the VIP moves from lo to tunl0 and stays on the host.
	desired, c = applied(t, "direct-routing")
	d = desired["director"].Services[0].Dests[1]
	d.Forward, d.TunnelType, d.TunnelChecksum = state.TUN, "ipip", "none"
	desired["rs2"].Addresses[0].Interface = "tunl0"
	desired["rs2"].Links = []state.Link{{Name: "tunl0", Kind: "ipip", Up: true}}
	p = plan(t, desired, c)
	for _, ch := range p.Changes {
		if ch.Kind == "destination" && ch.Warning != "" {
			t.Errorf("DR to TUN with the VIP kept: %s", ch.Warning)
		}
	}

	// NAT to DR where the director no longer needs ip_forward.
	desired, c = applied(t, "nat")
	for _, x := range desired["director"].Services[0].Dests {
		x.Forward = state.DR
	}
	desired["director"].Sysctls = slices.DeleteFunc(desired["director"].Sysctls, func(s state.Sysctl) bool { return s.Key == "net.ipv4.ip_forward" })
	p = plan(t, desired, c)
	n := 0
	for _, ch := range p.Changes {
		if ch.Kind == "destination" {
			n++
			if !strings.HasPrefix(ch.Warning, "existing connections keep using NAT until they end") || !strings.Contains(ch.Warning, "director loses what they need (sysctl net.ipv4.ip_forward)") {
				t.Errorf("%s: warning %q", ch.Object, ch.Warning)
			}
		}
	}
	if n != 2 {
		t.Fatalf("plan:\n%s", summary(p))
	}
}

// A new firewall-mark service takes new connections from a live service on
// an address and port its mark covers, and refuses them until its
// destinations are added.
func TestMarkTakeoverWarns(t *testing.T) {
	desired := load(t, "firewall-marks")
	c := newCluster(desired)
	var fwm *state.Service
	for _, s := range desired["director"].Services {
		if s.Key.FWMark != 0 {
			fwm = s
		}
	}
	m := desired["director"].MarkRules[0]
	old := &state.Service{Key: state.ServiceKey{Family: m.Family, Protocol: m.Protocol, Addr: m.Addr, Port: m.Ports[0]}, Scheduler: "rr"}
	c["director"].Apply(op.Op{Kind: op.AddService, Service: old})
	p := plan(t, desired, c)
	for _, ch := range p.Changes {
		if ch.Object == fwm.Key.String() && ch.Action == planner.Create {
			if !strings.HasPrefix(ch.Warning, "mark ") || !strings.Contains(ch.Warning, old.Key.String()+" from that service as soon as this one exists") {
				t.Errorf("warning: %q", ch.Warning)
			}
			return
		}
	}
	t.Fatalf("no creation of %s:\n%s", fwm.Key, summary(p))
}

// An inventory written under the older, wider sysctl policy may hold a key
// the policy now refuses (issue 10). lvsctl does not write it back: it says
// so and lets it go from the inventory.
func TestInventoryKeyOutsidePolicy(t *testing.T) {
	desired, c := applied(t, "direct-routing")
	const key = "net.core.somaxconn"
	c["rs1"].Inventory.Sysctls[key] = "128"
	c["rs1"].State.Sysctls = append(c["rs1"].State.Sysctls, state.Sysctl{Key: key, Value: "4096"})
	p := plan(t, desired, c)
	if len(p.Changes) != 0 {
		t.Fatalf("changes for a key outside the policy:\n%s", summary(p))
	}
	var notes []string
	for _, n := range p.Notes {
		notes = append(notes, n.Host+": "+n.Text)
	}
	want := "rs1: sysctl net.core.somaxconn is outside lvsctl's sysctl policy now: lvsctl leaves it at 4096 and stops managing it (its value before lvsctl was 128)"
	if !slices.Contains(notes, want) {
		t.Errorf("notes %q lack %q", notes, want)
	}
	u := p.Inventories["rs1"]
	if u == nil || len(u.Release) != 1 || u.Release[0].String() != "sysctl net.core.somaxconn (original 128)" {
		t.Errorf("inventory update %+v", u)
	}
}
