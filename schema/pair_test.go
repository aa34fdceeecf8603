package schema

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/lvsctl/lvsctl/internal/state"
)

// pairBase: lb (with its own entry in base) and lb2 are a pair; the pair's
// service is on both, with the sync daemons, and its real server's side is
// derived once.
const pairBase = `package c

hosts: lb2: netns: "lb2"
pairs: lvs: {
	directors: ["lb", "lb2"]
	interface: "eth0"
	vips: "192.0.2.20": {}
	routerID: 51
	marks: both: {mark: 7, address: "192.0.2.20", ports: [80, 443]}
	services: web2: {
		fwmark:    7
		scheduler: "wrr"
		realServers: rs1: {address: "198.51.100.1", host: "rs1"}
	}
}
`

func TestPairDerive(t *testing.T) {
	l, err := Load(writeCase(t, map[string]string{"c.cue": base, "p.cue": pairBase}))
	if err != nil {
		t.Fatal(err)
	}
	role := &state.Pair{Name: "lvs", Directors: []string{"lb", "lb2"}, Interface: "eth0",
		VIPs: []netip.Prefix{netip.MustParsePrefix("192.0.2.20/32")}, RouterID: 51}
	for _, d := range []string{"lb", "lb2"} {
		h := l.Hosts[d]
		if diff := cmp.Diff(role, h.Pair, cmpopts.EquateComparable(netip.Prefix{})); diff != "" {
			t.Errorf("%s: pair (-want +got):\n%s", d, diff)
		}
		i := slices.IndexFunc(h.Services, func(s *state.Service) bool { return s.Key.FWMark == 7 })
		if i < 0 {
			t.Fatalf("%s: no FWM 7 service: %v", d, h.Services)
		}
		if got := h.Services[i].Why; !slices.Equal(got, []string{"service web2 of pair lvs"}) {
			t.Errorf("%s: service why %q", d, got)
		}
		if len(h.MarkRules) != 1 || h.MarkRules[0].Why[0] != "mark group both of pair lvs, for service web2" {
			t.Errorf("%s: mark rules %+v", d, h.MarkRules)
		}
		var states []string
		for _, sd := range h.Daemons {
			states = append(states, sd.State)
			if sd.Interface != "eth0" || sd.SyncID != 51 || sd.Group != state.DefaultSyncGroup {
				t.Errorf("%s: daemon %+v", d, sd)
			}
		}
		if !slices.Equal(states, []string{"master", "backup"}) {
			t.Errorf("%s: daemons %v", d, states)
		}
	}
	// lb keeps its own service and VIP; lb2 has no VIP at all (VRRP's).
	if len(l.Hosts["lb"].Services) != 2 || len(l.Hosts["lb"].Addresses) != 1 || len(l.Hosts["lb2"].Addresses) != 0 {
		t.Errorf("lb: %d services, %d addresses; lb2: %d addresses", len(l.Hosts["lb"].Services), len(l.Hosts["lb"].Addresses), len(l.Hosts["lb2"].Addresses))
	}
	// The real server's VIP for the pair is derived once, for the pair.
	for _, a := range l.Hosts["rs1"].Addresses {
		if a.Prefix.Addr() == netip.MustParseAddr("192.0.2.20") && !slices.Equal(a.Why, []string{"needed by service web2 of pair lvs, direct routing"}) {
			t.Errorf("rs1: VIP why %q", a.Why)
		}
	}
	if !slices.ContainsFunc(l.Hosts["rs1"].Addresses, func(a state.Address) bool { return a.Prefix.Addr() == netip.MustParseAddr("192.0.2.20") }) {
		t.Errorf("rs1 lacks the pair's VIP on lo: %v", l.Hosts["rs1"].Addresses)
	}
}

// syncID overrides routerID; sync: false runs no daemons (a director may
// then run its own).
func TestPairSyncSettings(t *testing.T) {
	l, err := Load(writeCase(t, map[string]string{"c.cue": base, "p.cue": pairBase + `
pairs: lvs: syncID: 9
`}))
	if err != nil {
		t.Fatal(err)
	}
	if d := l.Hosts["lb2"].Daemons; len(d) != 2 || d[0].SyncID != 9 {
		t.Errorf("syncID 9: %+v", d)
	}
	l, err = Load(writeCase(t, map[string]string{"c.cue": base, "p.cue": pairBase + `
pairs: lvs: sync: false
directors: lb: sync: backup: interface: "eth1"
`}))
	if err != nil {
		t.Fatal(err)
	}
	if d := l.Hosts["lb2"].Daemons; len(d) != 0 {
		t.Errorf("sync false: lb2 has %+v", d)
	}
	if d := l.Hosts["lb"].Daemons; len(d) != 1 || d[0].Interface != "eth1" {
		t.Errorf("sync false: lb has %+v", d)
	}
}

// A service VIP the pair does not move is noted, like a director's service
// VIP not in its vips.
func TestPairServiceVIPNotInVIPs(t *testing.T) {
	l, err := Load(writeCase(t, map[string]string{"c.cue": base, "p.cue": pairBase + `
pairs: lvs: services: dns: {protocol: "udp", address: "192.0.2.53", port: 53, realServers: rs1: address: "198.51.100.1"}
`}))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"lb", "lb2"} {
		if !slices.Contains(l.Hosts[d].Notes, "VIP 192.0.2.53 (service dns of pair lvs) is not in pairs.lvs.vips: VRRP does not move it with the pair, so lvsctl expects it on every director already, from the host's own configuration") {
			t.Errorf("%s: notes %q", d, l.Hosts[d].Notes)
		}
	}
}

func TestPairProblems(t *testing.T) {
	for _, tc := range []badCase{
		{
			name: "one director, unknown and retired hosts",
			files: map[string]string{"c.cue": base, "x.cue": `package c
hosts: old: {netns: "old", retired: true}
pairs: a: {directors: ["lb"], interface: "eth0", routerID: 1}
pairs: b: {directors: ["nope", "old"], interface: "eth0", routerID: 2}
`},
			want: []string{
				`x.cue:3:23: pairs.a.directors: |needs at least 2 elements`,
			},
		},
		{
			name: "unknown and retired hosts, twice, in two pairs",
			files: map[string]string{"c.cue": base, "x.cue": `package c
hosts: old: {netns: "old", retired: true}
hosts: lb2: netns: "lb2"
pairs: a: {directors: ["lb", "lb2", "lb"], interface: "eth0", routerID: 1}
pairs: b: {directors: ["nope", "old", "lb2"], interface: "eth0", routerID: 2}
`},
			want: []string{
				`x.cue:4:37: pairs.a.directors[2]: |director "lb" is listed twice in this pair`,
				`x.cue:5:24: pairs.b.directors[0]: |director "nope" is not a host`,
				`x.cue:5:32: pairs.b.directors[1]: |host "old" is retired`,
				`x.cue:5:39: pairs.b.directors[2]: |director "lb2" is already in pair "a"`,
			},
		},
		{
			name: "router ID, interface, VIP in a director's vips",
			files: map[string]string{"c.cue": base, "x.cue": `package c
hosts: lb2: netns: "lb2"
pairs: lvs: {directors: ["lb", "lb2"], interface: "lo", routerID: 1}
pairs: lvs: vips: "192.0.2.10": {}
`},
			want: []string{
				`x.cue:3:40: pairs.lvs.interface: |lo carries nothing to them`,
				`x.cue:4:19: pairs.lvs.vips."192.0.2.10": |VIP 192.0.2.10 is also in directors.lb.vips`,
			},
		},
		{
			name: "router ID out of range",
			files: map[string]string{"c.cue": base, "x.cue": `package c
hosts: lb2: netns: "lb2"
pairs: lvs: {directors: ["lb", "lb2"], interface: "eth0", routerID: 256}
`},
			want: []string{`x.cue:3:69: pairs.lvs.routerID: |invalid value 256 (out of bound <=255)`},
		},
		{
			name: "own service and mark group clash with the pair's; own sync beside the pair's",
			files: map[string]string{"c.cue": base, "p.cue": pairBase, "x.cue": `package c
directors: lb: services: web2: {address: "192.0.2.10", port: 81}
directors: lb: services: same: {fwmark: 7, realServers: {}}
directors: lb: marks: both: {mark: 8, address: "192.0.2.30", ports: [1]}
directors: lb: marks: other: {mark: 7, address: "192.0.2.20", ports: [443]}
directors: lb: sync: master: interface: "eth0"
`},
			want: []string{
				`x.cue:2:26: directors.lb.services.web2: |has the name of a service of its pair "lvs"`,
				`x.cue:3:26: directors.lb.services.same: |same identity (fwmark 7 ipv4) as service "web2" of pair "lvs"`,
				`x.cue:4:23: directors.lb.marks.both: |has the name of a mark group of its pair "lvs"`,
				`x.cue:5:71: directors.lb.marks.other.ports[0]: |tcp 192.0.2.20 port 443 is already in mark group "both" of pair "lvs"`,
				`x.cue:6:16: directors.lb.sync: |remove this sync, or set the pair's sync to false`,
			},
		},
		{
			name: "a pair's services are checked as a director's",
			files: map[string]string{"c.cue": base, "p.cue": pairBase, "x.cue": `package c
pairs: lvs: services: bad: {address: "192.0.2.20", port: 80, flags: ["sh-port"]}
`},
			want: []string{`x.cue:2:70: pairs.lvs.services.bad.flags[0]: |scheduler flag sh-port only applies to the sh scheduler`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkProblems(t, writeCase(t, tc.files), tc.want)
		})
	}
}
