package schema

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/lvsctl/lvsctl/internal/state"
)

// Every directory under examples/ that holds CUE files is a cluster
// definition that validates (examples/ci and examples/monitoring hold other
// things).
func TestExamplesValidate(t *testing.T) {
	dirs, err := os.ReadDir("../examples")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range dirs {
		if cue, _ := filepath.Glob(filepath.Join("../examples", d.Name(), "*.cue")); !d.IsDir() || len(cue) == 0 {
			continue
		}
		n++
		t.Run(d.Name(), func(t *testing.T) {
			if _, err := Load(filepath.Join("../examples", d.Name())); err != nil {
				t.Fatal(err)
			}
		})
	}
	if n < 5 {
		t.Fatalf("found %d examples, want at least 5", n)
	}
}

// noWhy compares objects without their reasons, which TestShowGolden covers.
var noWhy = cmp.Options{
	cmpopts.IgnoreFields(state.Service{}, "Why"),
	cmpopts.IgnoreFields(state.Destination{}, "Why"),
	cmpopts.IgnoreFields(state.Address{}, "Why"),
	cmpopts.IgnoreFields(state.Sysctl{}, "Why"),
	cmpopts.IgnoreFields(state.Route{}, "Why"),
	cmpopts.IgnoreFields(state.Link{}, "Why"),
	cmpopts.IgnoreFields(state.MarkRule{}, "Why"),
	cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{}, netip.AddrPort{}),
}

func arpSysctls(ifaces ...string) []state.Sysctl {
	var out []state.Sysctl
	for _, i := range ifaces {
		out = append(out,
			state.Sysctl{Key: "net.ipv4.conf." + i + ".arp_ignore", Value: "1"},
			state.Sysctl{Key: "net.ipv4.conf." + i + ".arp_announce", Value: "2"})
	}
	return out
}

// The guide's direct-routing example derives exactly what the guide does by
// hand: ipvsadm -A -t 192.168.0.10:80 -s wrr -p 300, two -g real servers of
// weights 5 and 10, and on each real server the ARP sysctls on lo, all,
// default and eth0 with the VIP as /32 on lo.
func TestGuideDirectRouting(t *testing.T) {
	l, err := Load("../examples/direct-routing")
	if err != nil {
		t.Fatal(err)
	}
	vip := netip.MustParseAddr("192.168.0.10")
	rsSide := func(name string) *state.Host {
		return &state.Host{
			Name:      name,
			Boot:      "systemd",
			Sysctls:   arpSysctls("all", "default", "lo", "eth0"),
			Addresses: []state.Address{{Interface: "lo", Prefix: netip.MustParsePrefix("192.168.0.10/32")}},
		}
	}
	want := map[string]*state.Host{
		"director": {
			Name:      "director",
			Boot:      "systemd",
			Sysctls:   []state.Sysctl{{Key: "net.ipv4.vs.expire_nodest_conn", Value: "1"}},
			Addresses: []state.Address{{Interface: "ens33", Prefix: netip.MustParsePrefix("192.168.0.10/32")}},
			Services: []*state.Service{{
				Key:       state.ServiceKey{Family: state.IPv4, Protocol: state.TCP, Addr: vip, Port: 80},
				Scheduler: "wrr", Persistent: true, Timeout: 300, NetmaskBits: 32,
				Dests: []*state.Destination{
					{Addr: netip.MustParseAddrPort("192.168.0.101:80"), Weight: 5, Forward: state.DR, Host: "rs1"},
					{Addr: netip.MustParseAddrPort("222.117.155.123:80"), Weight: 10, Forward: state.DR, Host: "rs2"},
				},
			}},
		},
		"rs1": rsSide("rs1"),
		"rs2": rsSide("rs2"),
	}
	if diff := cmp.Diff(want, l.Hosts, noWhy); diff != "" {
		t.Errorf("derived state (-want +got):\n%s", diff)
	}
}

// The guide's NAT example: ip_forward=1, ipvsadm -A -t 211.47.13.234:80 -s wlc,
// real servers 10.0.0.101:8080 weight 1 and 10.0.0.102:8080 weight 2 with -m,
// and the real servers' default route via 10.0.0.234 checked, not changed.
func TestGuideNAT(t *testing.T) {
	l, err := Load("../examples/nat")
	if err != nil {
		t.Fatal(err)
	}
	route := []state.Route{{Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("10.0.0.234")}}
	want := map[string]*state.Host{
		"director": {
			Name:      "director",
			Boot:      "systemd",
			Sysctls:   []state.Sysctl{{Key: "net.ipv4.ip_forward", Value: "1"}, {Key: "net.ipv4.vs.expire_nodest_conn", Value: "1"}},
			Addresses: []state.Address{{Interface: "eth0", Prefix: netip.MustParsePrefix("211.47.13.234/32")}},
			Services: []*state.Service{{
				Key:       state.ServiceKey{Family: state.IPv4, Protocol: state.TCP, Addr: netip.MustParseAddr("211.47.13.234"), Port: 80},
				Scheduler: "wlc",
				Dests: []*state.Destination{
					{Addr: netip.MustParseAddrPort("10.0.0.101:8080"), Weight: 1, Forward: state.NAT, Host: "rs1"},
					{Addr: netip.MustParseAddrPort("10.0.0.102:8080"), Weight: 2, Forward: state.NAT, Host: "rs2"},
				},
			}},
		},
		"rs1": {Name: "rs1", Boot: "systemd", Routes: route},
		"rs2": {Name: "rs2", Boot: "systemd", Routes: route},
	}
	if diff := cmp.Diff(want, l.Hosts, noWhy); diff != "" {
		t.Errorf("derived state (-want +got):\n%s", diff)
	}
}

// Reasons name the service and the forwarding method that need an object.
func TestDerivedReasons(t *testing.T) {
	l, err := Load("../examples/direct-routing")
	if err != nil {
		t.Fatal(err)
	}
	got := l.Hosts["rs1"].Sysctls[0].Why
	want := []string{"needed by service web on director, direct routing"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("reason of %s (-want +got):\n%s", l.Hosts["rs1"].Sysctls[0].Key, diff)
	}
	if got := l.Hosts["director"].Sysctls; len(got) != 1 || got[0].Key != "net.ipv4.vs.expire_nodest_conn" {
		t.Errorf("a DR director needs only expire_nodest_conn, got %v", got)
	}
}
