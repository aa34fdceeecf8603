package conformance

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/lvsctl/lvsctl/hosts/agent"
	"github.com/lvsctl/lvsctl/internal/ipvsadm"
	"github.com/lvsctl/lvsctl/internal/state"
	"github.com/lvsctl/lvsctl/internal/vmlab"
)

var schedulers = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos"}

const maxWeight = 2147483647 // the kernel keeps an int

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func tcp(addr string, port uint16) state.ServiceKey {
	a := netip.MustParseAddr(addr)
	return state.ServiceKey{Family: state.FamilyOf(a), Protocol: state.TCP, Addr: a, Port: port}
}

// desiredTable is every attribute the schema offers, at least once.
func desiredTable() []*state.Service {
	var svcs []*state.Service
	for i, sched := range schedulers {
		s := &state.Service{Key: tcp(fmt.Sprintf("10.0.1.%d", i+1), 80), Scheduler: sched, Dests: []*state.Destination{
			{Addr: ap("10.1.0.1:80"), Weight: 1, Forward: state.DR},
			{Addr: ap("10.1.0.2:80"), Weight: 0, Forward: state.DR},
		}}
		switch sched {
		case "sh":
			s.SchedFlags = []string{"sh-fallback", "sh-port"}
		case "mh":
			s.SchedFlags = []string{"mh-fallback", "mh-port"}
		}
		svcs = append(svcs, s)
	}
	return append(svcs,
		// Persistence with a client netmask, thresholds, NAT mapping ports,
		// the largest weight, and every tunnel type and checksum.
		&state.Service{Key: tcp("10.0.2.1", 80), Scheduler: "wrr", Persistent: true, Timeout: 300, NetmaskBits: 24, Dests: []*state.Destination{
			{Addr: ap("10.1.0.1:8080"), Weight: maxWeight, Forward: state.NAT, UpperThreshold: 2000, LowerThreshold: 1500},
			{Addr: ap("10.1.0.2:8080"), Weight: 1, Forward: state.NAT, UpperThreshold: 7, LowerThreshold: 7},
			{Addr: ap("10.1.0.3:80"), Weight: 1, Forward: state.TUN, TunnelType: "ipip", TunnelChecksum: "none"},
			{Addr: ap("10.1.0.4:80"), Weight: 1, Forward: state.TUN, TunnelType: "gre", TunnelChecksum: "none"},
			{Addr: ap("10.1.0.5:80"), Weight: 1, Forward: state.TUN, TunnelType: "gre", TunnelChecksum: "csum"},
			{Addr: ap("10.1.0.6:80"), Weight: 1, Forward: state.TUN, TunnelType: "gue", TunnelPort: 6080, TunnelChecksum: "none"},
			{Addr: ap("10.1.0.7:80"), Weight: 1, Forward: state.TUN, TunnelType: "gue", TunnelPort: 6081, TunnelChecksum: "csum"},
			{Addr: ap("10.1.0.8:80"), Weight: 1, Forward: state.TUN, TunnelType: "gue", TunnelPort: 6082, TunnelChecksum: "remcsum"},
			{Addr: ap("[2001:db8:1::9]:80"), Weight: 2, Forward: state.TUN, TunnelType: "ipip", TunnelChecksum: "none"}, // mixed family
		}},
		// Full-mask persistence, the sip engine, one-packet UDP.
		&state.Service{Key: state.ServiceKey{Family: state.IPv4, Protocol: state.UDP, Addr: netip.MustParseAddr("10.0.2.2"), Port: 5060},
			Scheduler: "sed", Persistent: true, Timeout: 3600, NetmaskBits: 32, PE: "sip",
			Dests: []*state.Destination{{Addr: ap("10.1.0.1:5060"), Weight: 3, Forward: state.NAT}}},
		&state.Service{Key: state.ServiceKey{Family: state.IPv4, Protocol: state.UDP, Addr: netip.MustParseAddr("10.0.2.3"), Port: 53},
			Scheduler: "rr", OnePacket: true, Dests: []*state.Destination{{Addr: ap("10.1.0.1:53"), Weight: 1, Forward: state.DR}}},
		&state.Service{Key: state.ServiceKey{Family: state.IPv4, Protocol: state.SCTP, Addr: netip.MustParseAddr("10.0.2.4"), Port: 3868},
			Scheduler: "lc", Dests: []*state.Destination{{Addr: ap("10.1.0.1:3868"), Weight: 1, Forward: state.DR}}},
		// Firewall marks, IPv4 and IPv6; persistence over all clients.
		&state.Service{Key: state.ServiceKey{Family: state.IPv4, FWMark: 7}, Scheduler: "wlc", Persistent: true, Timeout: 600, NetmaskBits: 0,
			Dests: []*state.Destination{{Addr: ap("10.1.0.1:0"), Weight: 1, Forward: state.DR}, {Addr: ap("10.1.0.2:0"), Weight: 2, Forward: state.DR}}},
		&state.Service{Key: state.ServiceKey{Family: state.IPv6, FWMark: 6}, Scheduler: "mh", SchedFlags: []string{"mh-port"}, Persistent: true, Timeout: 600, NetmaskBits: 64,
			Dests: []*state.Destination{{Addr: ap("[2001:db8:1::1]:0"), Weight: 1, Forward: state.DR}}},
		// What real configurations have (issue 13, item 5): a persistence
		// netmask that is not contiguous, a destination on the director's
		// loopback, and direct-routing and tunnel destinations on another
		// port than the service's, which the kernel keeps as sent.
		&state.Service{Key: tcp("10.0.2.5", 80), Scheduler: "wrr", Persistent: true, Timeout: 300, Netmask: netip.MustParseAddr("255.255.0.255"),
			Dests: []*state.Destination{
				{Addr: ap("127.0.0.11:80"), Weight: 1, Forward: state.DR},
				{Addr: ap("10.1.0.1:8080"), Weight: 1, Forward: state.DR},
				{Addr: ap("10.1.0.2:8080"), Weight: 1, Forward: state.TUN, TunnelType: "ipip", TunnelChecksum: "none"},
			}},
		&state.Service{Key: state.ServiceKey{Family: state.IPv4, FWMark: 9}, Scheduler: "rr", Persistent: true, Timeout: 60, Netmask: netip.MustParseAddr("0.0.255.255"),
			Dests: []*state.Destination{{Addr: ap("10.1.0.1:8080"), Weight: 1, Forward: state.DR}, {Addr: ap("127.0.0.1:0"), Weight: 1, Forward: state.DR}}},
		// IPv6 services, NAT and DR.
		&state.Service{Key: tcp("2001:db8::10", 443), Scheduler: "wlc", Persistent: true, Timeout: 1800, NetmaskBits: 128,
			Dests: []*state.Destination{{Addr: ap("[2001:db8:1::1]:8443"), Weight: maxWeight, Forward: state.NAT}, {Addr: ap("[2001:db8:1::2]:443"), Weight: 1, Forward: state.DR}}},
	)
}

// requests writes one agent session: a request per line.
func requests(reqs ...agent.Request) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for i, r := range reqs {
		r.V, r.ID = agent.Version, i+1
		enc.Encode(r)
	}
	return b.Bytes()
}

func addOps(s *state.Service) []agent.Op {
	bare := *s
	bare.Dests = nil
	ops := []agent.Op{{Kind: agent.AddService, Service: &bare}}
	for _, d := range s.Dests {
		ops = append(ops, agent.Op{Kind: agent.AddDest, ServiceKey: &s.Key, Dest: d})
	}
	return ops
}

func responses(t testing.TB, b []byte) []agent.Response {
	t.Helper()
	var out []agent.Response
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var r agent.Response
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("agent answer %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

var compareTables = cmp.Options{
	cmpopts.EquateComparable(netip.Addr{}, netip.AddrPort{}),
	cmpopts.IgnoreFields(state.Destination{}, "Conns", "Why"),
	cmpopts.IgnoreFields(state.Service{}, "Why"),
	cmpopts.EquateEmpty(),
}

func sorted(svcs []*state.Service) []*state.Service {
	out := slices.Clone(svcs)
	sort.Slice(out, func(i, j int) bool { return out[i].Key.String() < out[j].Key.String() })
	for _, s := range out {
		sort.Slice(s.Dests, func(i, j int) bool { return s.Dests[i].Addr.String() < s.Dests[j].Addr.String() })
	}
	return out
}

const readBack = `ipvsadm -S -n > /out/save-$1 && ipvsadm -Ln --thresholds > /out/thresholds-$1 && ipvsadm -L --timeout > /out/timeout-$1`

// TestConformance writes every attribute the schema offers through the agent
// on Debian's kernel, reads it back through the agent and through ipvsadm,
// changes it in place, and deletes it.
func TestConformance(t *testing.T) {
	vmlab.Require(t)
	lvsctl := vmlab.BuildStatic(t, "github.com/lvsctl/lvsctl/cmd/lvsctl")
	want := desiredTable()

	// Phase 1: add each service in its own request, so a scheduler the
	// kernel lacks fails alone; set the timeouts; gather.
	var phase1 []agent.Request
	phase1 = append(phase1, agent.Request{Kind: "lock"})
	for _, s := range want {
		phase1 = append(phase1, agent.Request{Kind: "apply", Apply: addOps(s)})
	}
	timeouts := state.Timeouts{TCP: 900, TCPFin: 120, UDP: 300}
	phase1 = append(phase1,
		agent.Request{Kind: "apply", Apply: []agent.Op{{Kind: agent.SetTimeouts, Timeouts: &timeouts}}},
		agent.Request{Kind: "gather", Gather: &agent.GatherRequest{IPVS: true}})

	// Phase 2: change in place: weights 0, 1 and the largest; a scheduler,
	// persistence and flags; forwarding and tunnel settings; thresholds.
	changed := sorted(deepCopy(t, want))
	byKey := map[string]*state.Service{}
	for _, s := range changed {
		byKey[s.Key.String()] = s
	}
	nat := byKey["TCP 10.0.2.1:80"]
	nat.Scheduler, nat.Timeout, nat.NetmaskBits = "wlc", 900, 16
	nat.Dests[0].Weight, nat.Dests[0].UpperThreshold, nat.Dests[0].LowerThreshold = 0, 0, 0
	nat.Dests[1].Weight = maxWeight
	nat.Dests[5].TunnelType, nat.Dests[5].TunnelPort, nat.Dests[5].TunnelChecksum = "gre", 0, "csum"
	rr := byKey["TCP 10.0.1.1:80"]
	rr.Scheduler, rr.SchedFlags = "sh", []string{"sh-port"}
	rr.Dests[0].Forward = state.TUN
	rr.Dests[0].TunnelType, rr.Dests[0].TunnelChecksum = "ipip", "none"
	udp := byKey["UDP 10.0.2.3:53"]
	udp.OnePacket, udp.Persistent, udp.Timeout, udp.NetmaskBits = false, true, 60, 32
	phase2 := []agent.Request{{Kind: "apply", Apply: []agent.Op{
		{Kind: agent.UpdateService, Service: withoutDests(nat)},
		{Kind: agent.UpdateDest, ServiceKey: &nat.Key, Dest: nat.Dests[0]},
		{Kind: agent.UpdateDest, ServiceKey: &nat.Key, Dest: nat.Dests[1]},
		{Kind: agent.UpdateDest, ServiceKey: &nat.Key, Dest: nat.Dests[5]},
		{Kind: agent.UpdateService, Service: withoutDests(rr)},
		{Kind: agent.UpdateDest, ServiceKey: &rr.Key, Dest: rr.Dests[0]},
		{Kind: agent.UpdateService, Service: withoutDests(udp)},
	}}, {Kind: "gather", Gather: &agent.GatherRequest{IPVS: true}}}

	// Phase 3: delete a destination, then each service in its own request
	// (one whose scheduler the kernel lacks was never added).
	phase3 := []agent.Request{{Kind: "apply", Apply: []agent.Op{{Kind: agent.DeleteDest, ServiceKey: &nat.Key, Dest: nat.Dests[2]}}}}
	for _, s := range want {
		k := s.Key
		phase3 = append(phase3, agent.Request{Kind: "apply", Apply: []agent.Op{{Kind: agent.DeleteService, ServiceKey: &k}}})
	}
	phase3 = append(phase3, agent.Request{Kind: "gather", Gather: &agent.GatherRequest{IPVS: true}})

	// Phases 4 to 6, on the emptied table (the kernel runs no sync daemon
	// beside a mixed-family destination): sync daemons.
	phase4, phase5 := daemonPhases()

	r, err := vmlab.Run(context.Background(), vmlab.Scenario{
		Name:     "conformance",
		Binaries: map[string]string{"lvsctl": lvsctl},
		Files: map[string][]byte{
			"/req/1.jsonl": requests(phase1...),
			"/req/2.jsonl": requests(phase2...),
			"/req/3.jsonl": requests(phase3...),
			"/req/4.jsonl": requests(phase4...),
			"/req/5.jsonl": requests(phase5...),
			"/req/6.jsonl": requests(agent.Request{Kind: "gather", Gather: &agent.GatherRequest{IPVS: true}}),
		},
		Script: `set -e
read_back() { ` + readBack + `; }
ls /lib/modules/*/kernel/net/netfilter/ipvs/ > /out/modules
for p in 1 2 3; do
	lvsctl agent --state-dir /tmp/lvsctl < /req/$p.jsonl > /out/agent-$p
	read_back $p
done
` + daemonScript,
		Timeout: 120 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.ExitCode != 0 {
		t.Fatalf("scenario exit %d\nstdout:\n%s\nstderr:\n%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	t.Logf("VM run: %v", r.Duration)

	// Which schedulers does this kernel have? Those it lacks must fail with
	// the message that says so; the rest must be there.
	modules := string(r.Files["modules"])
	has := func(sched string) bool { return strings.Contains(modules, "ip_vs_"+sched+".ko") }
	resp1 := responses(t, r.Files["agent-1"])
	if len(resp1) != len(phase1) {
		t.Fatalf("phase 1: %d answers to %d requests", len(resp1), len(phase1))
	}
	var present []*state.Service
	for i, s := range want {
		res := resp1[i+1]
		if s.Scheduler != "" && !has(s.Scheduler) {
			if len(res.Results) != 1 || res.Results[0].Error == nil || res.Results[0].Error.Errno != "ENOENT" ||
				!strings.Contains(res.Results[0].Error.Message, "scheduler or persistence engine is not available") {
				t.Errorf("scheduler %s is not in this kernel; want a clear ENOENT, got %+v", s.Scheduler, res.Results)
			}
			t.Logf("scheduler %s: not in this kernel, refused with: %s", s.Scheduler, res.Results[0].Error.Message)
			continue
		}
		if res.Error != nil || len(res.Results) != len(s.Dests)+1 || slices.ContainsFunc(res.Results, func(r agent.Result) bool { return !r.OK }) {
			t.Errorf("adding %s: %+v %+v", s.Key, res.Error, res.Results)
		}
		present = append(present, s)
	}
	check := func(phase string, agentAnswer agent.Response, want []*state.Service, wantTimeouts state.Timeouts) {
		t.Helper()
		if agentAnswer.Error != nil || agentAnswer.Gather == nil {
			t.Fatalf("phase %s gather: %+v", phase, agentAnswer.Error)
		}
		g := agentAnswer.Gather
		if !g.IPVSAvailable || g.IPVSVersion != "1.2.1" {
			t.Errorf("phase %s: IPVS available %v version %q", phase, g.IPVSAvailable, g.IPVSVersion)
		}
		if diff := cmp.Diff(sorted(want), sorted(g.Host.Services), compareTables); diff != "" {
			t.Errorf("phase %s, read through the agent (-written +read):\n%s", phase, diff)
		}
		saved, err := ipvsadm.ParseSave(string(r.Files["save-"+phase]))
		if err != nil {
			t.Fatal(err)
		}
		th, err := ipvsadm.ParseThresholds(string(r.Files["thresholds-"+phase]))
		if err != nil {
			t.Fatal(err)
		}
		th.Apply(saved)
		if diff := cmp.Diff(sorted(want), sorted(saved), compareTables); diff != "" {
			t.Errorf("phase %s, read through ipvsadm (-written +ipvsadm):\n%s", phase, diff)
		}
		to, err := ipvsadm.ParseTimeouts(string(r.Files["timeout-"+phase]))
		if err != nil {
			t.Fatal(err)
		}
		got := *g.Host.Timeouts
		if got.TCP != wantTimeouts.TCP || got.TCPFin != wantTimeouts.TCPFin || got.UDP != wantTimeouts.UDP ||
			to.TCP != wantTimeouts.TCP || to.TCPFin != wantTimeouts.TCPFin || to.UDP != wantTimeouts.UDP {
			t.Errorf("phase %s timeouts: agent %+v, ipvsadm %+v, want %+v", phase, got, to, wantTimeouts)
		}
	}
	check("1", resp1[len(resp1)-1], present, timeouts)

	resp2 := responses(t, r.Files["agent-2"])
	if len(resp2) != 2 || resp2[0].Error != nil || slices.ContainsFunc(resp2[0].Results, func(r agent.Result) bool { return !r.OK }) {
		t.Fatalf("phase 2 changes: %+v", resp2)
	}
	var present2 []*state.Service
	for _, s := range changed {
		if has(s.Scheduler) || s == rr {
			present2 = append(present2, s)
		}
	}
	check("2", resp2[1], present2, timeouts)

	resp3 := responses(t, r.Files["agent-3"])
	if len(resp3) != len(phase3) {
		t.Fatalf("phase 3: %d answers to %d requests", len(resp3), len(phase3))
	}
	for i, res := range resp3[:len(resp3)-1] {
		if len(res.Results) != 1 {
			t.Fatalf("phase 3 request %d: %+v", i+1, res)
		}
		if r := res.Results[0]; !r.OK {
			// Only a service whose scheduler the kernel lacks may be
			// missing, and deleting it says "no such service".
			if i == 0 || has(want[i-1].Scheduler) || r.Error.Errno != "ESRCH" {
				t.Errorf("phase 3 request %d: %+v", i+1, r.Error)
			}
		}
	}
	check("3", resp3[len(resp3)-1], nil, timeouts)
	checkDaemons(t, r.Files)
}

func deepCopy(t *testing.T, svcs []*state.Service) []*state.Service {
	b, err := json.Marshal(svcs)
	if err != nil {
		t.Fatal(err)
	}
	var out []*state.Service
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func withoutDests(s *state.Service) *state.Service {
	c := *s
	c.Dests = nil
	return &c
}
