package importer

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/lvsctl/lvsctl/internal/state"
	"github.com/lvsctl/lvsctl/planner"
)

func addr(iface, p string) state.Address {
	return state.Address{Interface: iface, Prefix: netip.MustParsePrefix(p)}
}

func sysctls(kv ...string) []state.Sysctl {
	var out []state.Sysctl
	for i := 0; i < len(kv); i += 2 {
		out = append(out, state.Sysctl{Key: kv[i], Value: kv[i+1]})
	}
	return out
}

// arp is a real server's ARP settings on lo, all, default and its
// interfaces, as the LVS guide sets them.
func arp(ifaces ...string) []state.Sysctl {
	var kv []string
	for _, i := range append([]string{"all", "default", "lo"}, ifaces...) {
		kv = append(kv, ConfKey(i, "arp_ignore"), "1", ConfKey(i, "arp_announce"), "2", ConfKey(i, "rp_filter"), "1")
	}
	return sysctls(kv...)
}

func setSysctl(s []state.Sysctl, key, v string) []state.Sysctl {
	for i := range s {
		if s[i].Key == key {
			s[i].Value = v
			return s
		}
	}
	return append(s, state.Sysctl{Key: key, Value: v})
}

// guideCluster is the LVS guide's DR and NAT examples as hand-built hosts
// have them: one director with both tables, two DR real servers (rs2 with
// arp_ignore 2, which lvsctl also accepts), two NAT real servers whose
// default route is the director, a firewall-mark service whose marks are
// set by iptables, a tunnel real server, and a host with nothing.
func guideCluster() []LiveHost {
	dr := &state.Service{Key: svcKey(state.TCP, "192.168.0.10:80"), Scheduler: "wrr", Persistent: true, Timeout: 300, NetmaskBits: 32,
		Dests: []*state.Destination{dest("192.168.0.101:80", 5, state.DR), dest("222.117.155.123:80", 10, state.DR)}}
	nat := &state.Service{Key: svcKey(state.TCP, "211.47.13.234:80"), Scheduler: "wlc",
		Dests: []*state.Destination{dest("10.0.0.101:8080", 1, state.NAT), dest("10.0.0.102:8080", 2, state.NAT)}}
	fwm := &state.Service{Key: state.ServiceKey{Family: state.IPv4, FWMark: 7}, Scheduler: "wlc", Persistent: true, Timeout: 600, NetmaskBits: 24,
		Dests: []*state.Destination{dest("192.168.0.101:0", 1, state.DR)}}
	tun := &state.Service{Key: svcKey(state.TCP, "192.168.0.11:443"), Scheduler: "rr",
		Dests: []*state.Destination{{Addr: netip.MustParseAddrPort("203.0.113.7:443"), Weight: 1, Forward: state.TUN, TunnelType: "ipip", TunnelChecksum: "none"}}}
	gw := []state.Route{{Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("10.0.0.234")}}
	rs2 := setSysctl(arp("eth0"), ConfKey("eth0", "arp_ignore"), "2")
	return []LiveHost{
		{Host: &Host{Name: "director", SSH: &SSH{Address: "lvs-director"}}, State: &state.Host{
			Services:  []*state.Service{dr, nat, fwm, tun},
			Timeouts:  &state.Timeouts{TCP: 900, TCPFin: 120, UDP: 60},
			Addresses: []state.Address{addr("ens33", "192.168.0.1/24"), addr("ens33", "192.168.0.10/32"), addr("ens33", "192.168.0.11/32"), addr("ens34", "211.47.13.234/24"), addr("ens35", "10.0.0.234/24"), addr("lo", "127.0.0.1/8")},
			Sysctls:   sysctls("net.ipv4.ip_forward", "1", "net.ipv4.vs.expire_nodest_conn", "0"),
		}},
		{Host: &Host{Name: "empty", Netns: "empty"}, State: &state.Host{Addresses: []state.Address{addr("eth0", "192.0.2.99/24")}}},
		{Host: &Host{Name: "rs1", SSH: &SSH{Address: "192.168.0.101"}}, State: &state.Host{
			Addresses: []state.Address{addr("eth0", "192.168.0.101/24"), addr("lo", "127.0.0.1/8"), addr("lo", "192.168.0.10/32")},
			Sysctls:   arp("eth0"),
		}},
		{Host: &Host{Name: "rs2", SSH: &SSH{Address: "222.117.155.123"}}, State: &state.Host{
			Addresses: []state.Address{addr("eth0", "222.117.155.123/24"), addr("lo", "192.168.0.10/32")},
			Sysctls:   rs2,
		}},
		{Host: &Host{Name: "rs3", SSH: &SSH{Address: "10.0.0.101"}}, State: &state.Host{
			Addresses: []state.Address{addr("eth0", "10.0.0.101/24")}, Routes: gw}},
		{Host: &Host{Name: "rs4", SSH: &SSH{Address: "10.0.0.102"}}, State: &state.Host{
			Addresses: []state.Address{addr("eth0", "10.0.0.102/24")}, Routes: gw}},
		{Host: &Host{Name: "site", SSH: &SSH{Address: "203.0.113.7"}}, State: &state.Host{
			Addresses: []state.Address{addr("eth0", "203.0.113.7/24"), addr("tunl0", "192.168.0.11/32")},
			Links:     []state.Link{{Name: "tunl0", Kind: "ipip", Up: true}, {Name: "lo", Up: true}},
			Sysctls:   setSysctl(setSysctl(arp("eth0", "tunl0"), ConfKey("all", "rp_filter"), "0"), ConfKey("tunl0", "rp_filter"), "2"),
		}},
	}
}

// TestFromLive: the definition import live writes for a cluster set up by
// hand derives exactly what the hosts have: planned against them, it
// changes nothing.
func TestFromLive(t *testing.T) {
	lhs := guideCluster()
	live := map[string]*planner.Live{}
	for _, lh := range lhs {
		live[lh.Host.Name] = &planner.Live{Host: lh.State, Inventory: &state.Inventory{}, IPVSAvailable: len(lh.State.Services) > 0}
	}
	def, notes := FromLive(lhs)
	if len(notes) > 0 {
		t.Errorf("notes for a cluster lvsctl can take as it is: %q", notes)
	}
	out, err := Render(def, "cluster")
	if err != nil {
		t.Fatal(err)
	}
	loaded := renderAndLoad(t, def)
	p, err := planner.MakeWith(loaded.Hosts, live, planner.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range p.Changes {
		t.Errorf("the first plan changes %s: %s %s %s %v", c.Host, c.Action, c.Kind, c.Object, c.Fields)
	}
	if t.Failed() {
		t.Logf("the definition:\n%s", out)
	}
	for _, want := range []string{
		`"192.168.0.10": interface: "ens33"`,
		`"net.ipv4.conf.eth0.arp_ignore": 2`,
		`"net.ipv4.vs.expire_nodest_conn": 0`,
		`natGateway: ["10.0.0.234"]`,
		`timeouts: udp: 60`,
		`"192.168.0.101": {address: "192.168.0.101", weight: 5, forward: "dr", host: "rs1"}`,
		`Mark 7 is set by rules outside lvsctl`,
		`"net.ipv4.conf.tunl0.rp_filter": 2`,
		`lvsctl found no IPVS table here, and no real server of one.`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the definition lacks %s:\n%s", want, out)
		}
	}
}

// TestFromLiveNotes: what lvsctl cannot take as it is, the first plan
// changes, and import says so.
func TestFromLiveNotes(t *testing.T) {
	lhs := guideCluster()
	lhs[2].State.Sysctls = setSysctl(lhs[2].State.Sysctls, ConfKey("eth0", "arp_announce"), "0")
	lhs[0].State.Sysctls = setSysctl(lhs[0].State.Sysctls, "net.ipv4.ip_forward", "0")
	_, notes := FromLive(lhs)
	want := []string{
		"rs1: net.ipv4.conf.eth0.arp_announce is 0; the first plan sets it to 2",
		"director: net.ipv4.ip_forward is 0, and NAT needs it 1: the first plan sets it",
	}
	for _, w := range want {
		if !strings.Contains(strings.Join(notes, "\n"), w) {
			t.Errorf("no note %q in %q", w, notes)
		}
	}
}
