package planner_test

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lvsctl/lvsctl/internal/state"
	"github.com/lvsctl/lvsctl/planner"
)

func oneService(s *state.Service) map[string]*state.Host {
	return map[string]*state.Host{"lb": {Name: "lb", Boot: "none", Services: []*state.Service{s}}}
}

func liveOf(s *state.Service) map[string]*planner.Live {
	return map[string]*planner.Live{"lb": {Host: &state.Host{Name: "lb", Services: []*state.Service{s}}, Inventory: &state.Inventory{Services: []state.ServiceKey{s.Key}}, IPVSAvailable: true}}
}

// A netmask that is not contiguous is compared and shown as the mask; a
// live destination the kernel reports as local matches any declared method.
func TestUnusualLiveState(t *testing.T) {
	k := state.ServiceKey{Family: state.IPv4, Protocol: state.TCP, Addr: netip.MustParseAddr("192.0.2.10"), Port: 80}
	want := &state.Service{Key: k, Scheduler: "wrr", Persistent: true, Timeout: 300, Netmask: netip.MustParseAddr("255.255.0.255"),
		Dests: []*state.Destination{
			{Addr: netip.MustParseAddrPort("127.0.0.11:80"), Weight: 1, Forward: state.DR},
			{Addr: netip.MustParseAddrPort("192.0.2.1:80"), Weight: 1, Forward: state.TUN, TunnelType: "ipip", TunnelChecksum: "none"},
		}}
	live := &state.Service{Key: k, Scheduler: "wrr", Persistent: true, Timeout: 300, Netmask: netip.MustParseAddr("255.255.0.255"),
		Dests: []*state.Destination{
			{Addr: netip.MustParseAddrPort("127.0.0.11:80"), Weight: 1, Forward: state.Local},
			{Addr: netip.MustParseAddrPort("192.0.2.1:80"), Weight: 1, Forward: state.Local},
		}}
	p, err := planner.Make(oneService(want), liveOf(live))
	if err != nil {
		t.Fatal(err)
	}
	if !p.Empty() {
		t.Errorf("same table: %d changes: %+v", len(p.Changes), p.Changes[0])
	}

	// The contiguous /16 the mask would be without its last byte differs.
	live.Netmask, live.NetmaskBits = netip.Addr{}, 16
	live.Dests[0].Weight = 5
	p, err = planner.Make(oneService(want), liveOf(live))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Changes) != 2 {
		t.Fatalf("%d changes: %+v", len(p.Changes), p.Changes)
	}
	if got, w := p.Changes[0].Fields, []planner.Field{{Name: "persistence", Before: "300s per /16", After: "300s per /255.255.0.255"}}; !cmp.Equal(got, w) {
		t.Errorf("service fields %+v, want %+v", got, w)
	}
	if got, w := p.Changes[1].Fields, []planner.Field{{Name: "weight", Before: "5", After: "1"}}; !cmp.Equal(got, w) || p.Changes[1].Warning != "" {
		t.Errorf("local destination's fields %+v (warning %q), want %+v", got, p.Changes[1].Warning, w)
	}
	// Its undo puts the kernel's value back as it was read.
	if u := p.Changes[1].Steps[0].Undo[0].Dest; u.Forward != state.Local || u.Weight != 5 {
		t.Errorf("undo %+v", u)
	}

	// A new service's detail names the mask.
	p, err = planner.Make(oneService(want), map[string]*planner.Live{"lb": {Host: &state.Host{Name: "lb"}, Inventory: &state.Inventory{}, IPVSAvailable: true}})
	if err != nil {
		t.Fatal(err)
	}
	if d := p.Changes[0].Detail; d != "wrr, persistent 300s /255.255.0.255" {
		t.Errorf("detail %q", d)
	}
}
