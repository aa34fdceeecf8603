package planner_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lvsctl/lvsctl/internal/boot"
	"github.com/lvsctl/lvsctl/internal/op"
	"github.com/lvsctl/lvsctl/internal/state"
	"github.com/lvsctl/lvsctl/planner"
)

// What a health checker does to the DR example's director, as ipvsadm would.
var (
	vip80   = state.ServiceKey{Family: state.IPv4, Protocol: state.TCP, Addr: netip.MustParseAddr("192.168.0.10"), Port: 80}
	rs1Addr = netip.MustParseAddrPort("192.168.0.101:80")
	rs2Addr = netip.MustParseAddrPort("222.117.155.123:80")
	sorry   = netip.MustParseAddrPort("192.168.0.200:80")
)

func quiesce(a netip.AddrPort) op.Op { // ipvsadm -e ... -w 0
	return op.Op{Kind: op.UpdateDest, ServiceKey: &vip80, Dest: &state.Destination{Addr: a, Forward: state.DR}}
}
func remove(a netip.AddrPort) op.Op { // ipvsadm -d
	return op.Op{Kind: op.DeleteDest, ServiceKey: &vip80, Dest: &state.Destination{Addr: a}}
}
func addSorry() op.Op { // a sorry server the checker adds
	return op.Op{Kind: op.AddDest, ServiceKey: &vip80, Dest: &state.Destination{Addr: sorry, Weight: 1, Forward: state.DR}}
}

const (
	weightNote   = "service web (TCP 192.168.0.10:80): 1 real server's weight differs (192.168.0.101:80 weight 0, declared 5); its weights are managed elsewhere (externallyManaged), so lvsctl leaves them"
	missingNote  = "service web (TCP 192.168.0.10:80): 1 declared real server is not live (222.117.155.123:80); the presence of its real servers is managed elsewhere (externallyManaged), so lvsctl does not add it"
	sorryNote    = "service web (TCP 192.168.0.10:80): 1 live real server is not declared (192.168.0.200:80 dr, weight 1); the presence of its real servers is managed elsewhere (externallyManaged), so lvsctl does not delete it: a real server taken out of the definition goes when it is taken out of the checker's configuration"
	schedChanged = "director: ipvsadm -E -t 192.168.0.10:80 -s wlc -p 300 -M 255.255.255.255"
)

// externallyManaged on the DR example's service: after an apply, a checker
// changes the director's table; the plan leaves what the checker owns (with
// a note) and changes the rest.
func TestExternallyManaged(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ext     []string
		checker []op.Op
		edit    func(s *state.Service) // the definition's change, if any
		want    []string               // the transcript of the plan's steps
		notes   []string
	}{
		{name: "weight: a quiesced real server is no change", ext: []string{"weight"},
			checker: []op.Op{quiesce(rs1Addr)}, notes: []string{weightNote}},
		{name: "weight: a removed real server is added back", ext: []string{"weight"},
			checker: []op.Op{remove(rs2Addr)},
			want:    []string{"director: ipvsadm -a -t 192.168.0.10:80 -r 222.117.155.123:80 -g -w 10"}},
		{name: "weight: an undeclared real server is drained and deleted", ext: []string{"weight"},
			checker: []op.Op{addSorry()},
			want:    []string{"director: ipvsadm -e -t 192.168.0.10:80 -r 192.168.0.200:80 -g -w 0", "director: (drain 192.168.0.200:80)", "director: ipvsadm -d -t 192.168.0.10:80 -r 192.168.0.200:80"}},
		{name: "weight: a threshold change keeps the checker's weight", ext: []string{"weight"},
			checker: []op.Op{quiesce(rs1Addr)}, edit: func(s *state.Service) { s.Dests[0].UpperThreshold = 100 },
			want:  []string{"director: ipvsadm -e -t 192.168.0.10:80 -r 192.168.0.101:80 -g -w 0 -x 100 -y 0"},
			notes: []string{weightNote}},
		{name: "presence: a removed real server stays removed", ext: []string{"presence"},
			checker: []op.Op{remove(rs2Addr)}, notes: []string{missingNote}},
		{name: "presence: a sorry server stays", ext: []string{"presence"},
			checker: []op.Op{addSorry()}, notes: []string{sorryNote}},
		{name: "presence: weights are still lvsctl's", ext: []string{"presence"},
			checker: []op.Op{quiesce(rs1Addr)},
			want:    []string{"director: ipvsadm -e -t 192.168.0.10:80 -r 192.168.0.101:80 -g -w 5"}},
		{name: "both: a scheduler change is one change", ext: []string{"presence", "weight"},
			checker: []op.Op{quiesce(rs1Addr), remove(rs2Addr)}, edit: func(s *state.Service) { s.Scheduler = "wlc" },
			want: []string{schedChanged}, notes: []string{weightNote, missingNote}},
		{name: "none: the checker is fought", ext: nil,
			checker: []op.Op{quiesce(rs1Addr), remove(rs2Addr)},
			want: []string{"director: ipvsadm -e -t 192.168.0.10:80 -r 192.168.0.101:80 -g -w 5",
				"director: ipvsadm -a -t 192.168.0.10:80 -r 222.117.155.123:80 -g -w 10"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			desired := load(t, "direct-routing")
			svc := desired["director"].Services[0]
			svc.ExternallyManaged = tc.ext
			c := newCluster(desired)
			c.apply(t, plan(t, desired, c))
			for _, o := range tc.checker {
				if o.Kind == op.UpdateDest { // keep the rest of the destination
					for _, d := range c["director"].State.Services[0].Dests {
						if d.Addr == o.Dest.Addr {
							x := *d
							x.Weight = 0
							o.Dest = &x
						}
					}
				}
				if err := c["director"].Apply(o); err != nil {
					t.Fatal(err)
				}
			}
			if tc.edit != nil {
				tc.edit(svc)
			}
			p := plan(t, desired, c)
			var notes []string
			for _, n := range p.Notes {
				if n.Host == "director" && strings.Contains(n.Text, "externallyManaged") {
					notes = append(notes, n.Text)
				}
			}
			if diff := cmp.Diff(tc.notes, notes); diff != "" {
				t.Errorf("notes (-want +got):\n%s", diff)
			}
			var got []string
			if s := c.apply(t, p); s != "" {
				got = strings.Split(s, "\n")
			}
			// A definition change also rewrites the state kept for boot.
			got = slices.DeleteFunc(got, func(l string) bool { return strings.Contains(l, "boot") || strings.Contains(l, "lvsctl-restore") })
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("transcript (-want +got):\n%s", diff)
			}
			// Nothing lvsctl planned undoes the checker, and a plan after
			// the apply is empty.
			if p := plan(t, desired, c); !p.Empty() {
				t.Errorf("plan after apply: %+v", p.Changes[0])
			}
		})
	}
}

// A threshold update on an externally weighted service sends the live
// weight, and its undo puts back what was read.
func TestExternalWeightUpdateSteps(t *testing.T) {
	desired := load(t, "direct-routing")
	svc := desired["director"].Services[0]
	svc.ExternallyManaged = []string{"weight"}
	c := newCluster(desired)
	c.apply(t, plan(t, desired, c))
	d := *c["director"].State.Services[0].Dests[0]
	d.Weight = 2
	c["director"].Apply(op.Op{Kind: op.UpdateDest, ServiceKey: &vip80, Dest: &d})
	svc.Dests[0].LowerThreshold, svc.Dests[0].UpperThreshold = 10, 20
	p := plan(t, desired, c)
	var ch *planner.Change
	for _, x := range p.Changes {
		if x.Kind == "destination" {
			ch = x
		}
	}
	if ch == nil {
		t.Fatalf("no destination change: %+v", p.Changes)
	}
	want := []planner.Field{{Name: "upper threshold", Before: "0", After: "20"}, {Name: "lower threshold", Before: "0", After: "10"}}
	if !cmp.Equal(want, ch.Fields) {
		t.Errorf("fields %+v", ch.Fields)
	}
	if o, u := ch.Steps[0].Op.Dest, ch.Steps[0].Undo[0].Dest; o.Weight != 2 || u.Weight != 2 || u.UpperThreshold != 0 || o.UpperThreshold != 20 {
		t.Errorf("op %+v, undo %+v", o, u)
	}
	// The service's own op never carries externallyManaged to the host.
	desired["director"].Services[0].Scheduler = "rr"
	for _, x := range plan(t, desired, c).Changes {
		if x.Kind == "ipvs service" && x.Steps[0].Op.Service.ExternallyManaged != nil {
			t.Errorf("op carries %v", x.Steps[0].Op.Service.ExternallyManaged)
		}
	}
}

// A new service gets every declared real server, with its declared weight,
// whatever is externally managed; so does a restore at boot, from the state
// file (which keeps externallyManaged), and a restore that finds the
// service there leaves the checker's work.
func TestExternalNewServiceAndRestore(t *testing.T) {
	desired := load(t, "direct-routing")
	desired["director"].Services[0].ExternallyManaged = []string{"presence", "weight"}
	c := newCluster(desired)
	got := c.apply(t, plan(t, desired, c))
	for _, l := range []string{"director: ipvsadm -a -t 192.168.0.10:80 -r 192.168.0.101:80 -g -w 5", "director: ipvsadm -a -t 192.168.0.10:80 -r 222.117.155.123:80 -g -w 10"} {
		if !strings.Contains(got, l) {
			t.Errorf("new service: no %q in\n%s", l, got)
		}
	}

	kept := boot.Persisted(desired["director"])
	if !slices.Equal(kept.Services[0].ExternallyManaged, []string{"presence", "weight"}) {
		t.Fatalf("state kept for boot: %+v", kept.Services[0])
	}
	parsed, err := boot.ParseState(boot.RenderState(kept))
	if err != nil || !slices.Equal(parsed.Services[0].ExternallyManaged, []string{"presence", "weight"}) {
		t.Fatalf("state file read back: %v %+v", err, parsed)
	}
	parsed.Name = "director"
	restore := func(live *state.Host) *planner.Plan {
		p, err := planner.Make(map[string]*state.Host{"director": parsed},
			map[string]*planner.Live{"director": {Host: live, Inventory: &state.Inventory{}, IPVSAvailable: true}})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// At boot the table is empty: all of it comes back as declared.
	p := restore(&state.Host{Name: "director"})
	var dests []string
	for _, ch := range p.Changes {
		if ch.Kind == "destination" {
			dests = append(dests, ch.Object+" "+ch.Detail)
		}
	}
	if want := []string{"TCP 192.168.0.10:80 -> 192.168.0.101:80 dr, weight 5", "TCP 192.168.0.10:80 -> 222.117.155.123:80 dr, weight 10"}; !cmp.Equal(want, dests) {
		t.Errorf("restore at boot: %v", dests)
	}
	// The checker got there first (or restore runs again): it is left.
	c["director"].Apply(remove(rs2Addr))
	live := c.live(desired)["director"].Host
	live.Services[0].Dests[0].Weight = 0
	p = restore(live)
	for _, ch := range p.Changes {
		if ch.Kind == "destination" || ch.Kind == "ipvs service" {
			t.Errorf("restore changes %s %s", ch.Kind, ch.Object)
		}
	}
	if len(p.Notes) != 2 || !strings.HasPrefix(p.Notes[0].Text, "service TCP 192.168.0.10:80: 1 real server's weight differs") {
		t.Errorf("restore notes %+v", p.Notes)
	}
}

// A real server taken out of the definition of a service whose presence is
// managed elsewhere: its destination stays on the director (the checker
// owns it), and the plan warns where it takes the VIP off that real server,
// which still gets connections.
func TestExternalPresenceRealServerLeaves(t *testing.T) {
	desired := load(t, "direct-routing")
	svc := desired["director"].Services[0]
	svc.ExternallyManaged = []string{"presence"}
	c := newCluster(desired)
	c.apply(t, plan(t, desired, c))
	c["rs2"].Apply(op.Op{Kind: op.AddAddress, Address: &state.Address{Interface: "eth0", Prefix: netip.MustParsePrefix("222.117.155.123/24")}})
	svc.Dests = svc.Dests[:1]
	desired["rs2"] = &state.Host{Name: "rs2"}
	p := plan(t, desired, c)
	var warned []string
	for _, ch := range p.Changes {
		if ch.Host == "director" && ch.Kind == "destination" {
			t.Errorf("director changes %s %s", ch.Action, ch.Object)
		}
		if ch.Warning != "" {
			warned = append(warned, ch.Host+" "+ch.Kind+" "+ch.Object+": "+ch.Warning)
		}
	}
	want := []string{"rs2 address 192.168.0.10/32 dev lo: director still sends new connections to 222.117.155.123:80, which is this host (service web (TCP 192.168.0.10:80) keeps it: the presence of its real servers is managed elsewhere (externallyManaged)), and they break once 192.168.0.10 is gone here; take it out of the checker's configuration first, or put it back in the definition"}
	if diff := cmp.Diff(want, warned); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	// Once the checker has removed it, nothing is left to warn about.
	c["director"].Apply(remove(rs2Addr))
	for _, ch := range plan(t, desired, c).Changes {
		if ch.Warning != "" {
			t.Errorf("after the checker: %s %s: %s", ch.Kind, ch.Object, ch.Warning)
		}
	}
}
