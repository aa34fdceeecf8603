package main

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/lvsctl/lvsctl/internal/op"
	"github.com/lvsctl/lvsctl/internal/state"
	"github.com/lvsctl/lvsctl/planner"
)

// A saved plan is not stale for what a health checker did on a service whose
// weights or presence are externally managed, unless the plan itself
// changes that destination; anything else that moved still makes it stale.
func TestStaleLeavesExternallyManaged(t *testing.T) {
	k := state.ServiceKey{Family: state.IPv4, Protocol: state.TCP, Addr: netip.MustParseAddr("192.168.0.10"), Port: 80}
	rs1, rs2, sorry := netip.MustParseAddrPort("192.168.0.101:80"), netip.MustParseAddrPort("222.117.155.123:80"), netip.MustParseAddrPort("192.168.0.200:80")
	table := func(dests ...*state.Destination) *planner.Live {
		return &planner.Live{Host: &state.Host{Name: "director", Services: []*state.Service{{Key: k, Scheduler: "wrr", Dests: dests}}},
			Inventory: &state.Inventory{Services: []state.ServiceKey{k}}, IPVSAvailable: true}
	}
	dest := func(a netip.AddrPort, w uint32) *state.Destination {
		return &state.Destination{Addr: a, Weight: w, Forward: state.DR, Conns: &state.Conns{Active: w}}
	}
	updateRS1 := &planner.Plan{Changes: []*planner.Change{{Host: "director", Kind: "destination", Steps: []planner.Step{{
		Op: &op.Op{Kind: op.UpdateDest, ServiceKey: &k, Dest: &state.Destination{Addr: rs1, Weight: 5, UpperThreshold: 9}}}}}}}
	for _, tc := range []struct {
		name  string
		ext   []string
		plan  *planner.Plan
		now   *planner.Live
		stale string // "" when not stale, else a line it names
	}{
		{name: "weight moved, weight external", ext: []string{"weight"}, now: table(dest(rs1, 0), dest(rs2, 10))},
		{name: "weight moved, nothing external", now: table(dest(rs1, 0), dest(rs2, 10)), stale: "director: destination TCP 192.168.0.10:80 -> 192.168.0.101:80"},
		{name: "weight moved, presence external", ext: []string{"presence"}, now: table(dest(rs1, 0), dest(rs2, 10)), stale: "192.168.0.101:80"},
		{name: "weight moved on a destination the plan updates", ext: []string{"weight"}, plan: updateRS1, now: table(dest(rs1, 0), dest(rs2, 10)), stale: "192.168.0.101:80"},
		{name: "removed and added, presence external", ext: []string{"presence"}, now: table(dest(rs1, 5), dest(sorry, 1))},
		{name: "removed, weight external", ext: []string{"weight"}, now: table(dest(rs1, 5)), stale: "222.117.155.123:80"},
		{name: "removed and quiesced, both", ext: []string{"presence", "weight"}, now: table(dest(rs1, 0))},
		{name: "scheduler moved, both", ext: []string{"presence", "weight"}, now: func() *planner.Live {
			l := table(dest(rs1, 0))
			l.Host.Services[0].Scheduler = "wlc"
			return l
		}(), stale: "director: ipvs service TCP 192.168.0.10:80"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			was := table(dest(rs1, 5), dest(rs2, 10))
			p := tc.plan
			if p == nil {
				p = &planner.Plan{}
			}
			sp := &savedPlan{Plan: p, Live: map[string]*savedLive{"director": {Fingerprint: fingerprint(was), Live: was}},
				Desired: map[string]*state.Host{"director": {Name: "director", Services: []*state.Service{{Key: k, Scheduler: "wrr", ExternallyManaged: tc.ext}}}}}
			err := stale(sp, map[string]*planner.Live{"director": tc.now})
			switch {
			case tc.stale == "" && err != nil:
				t.Errorf("stale: %v", err)
			case tc.stale != "" && (err == nil || !strings.Contains(err.Error(), tc.stale)):
				t.Errorf("got %v, want it stale naming %q", err, tc.stale)
			}
			// The saved live state is left as it was read.
			if was.Host.Services[0].Dests[0].Weight != 5 || len(was.Host.Services[0].Dests) != 2 {
				t.Errorf("saved live state changed: %+v", was.Host.Services[0].Dests)
			}
		})
	}
}
