package keepalived

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/lvsctl/lvsctl/internal/state"
)

func sampleKeepalived() *state.Keepalived {
	web := state.Service{
		Key:       state.ServiceKey{Family: state.IPv4, Protocol: state.TCP, Addr: netip.MustParseAddr("192.168.0.10"), Port: 80},
		Scheduler: "wrr", Persistent: true, Timeout: 300, NetmaskBits: 24,
		Dests: []*state.Destination{
			{Addr: netip.MustParseAddrPort("192.168.0.101:80"), Weight: 1, Forward: state.DR},
			{Addr: netip.MustParseAddrPort("192.168.0.102:80"), Weight: 3, Forward: state.DR, UpperThreshold: 100, LowerThreshold: 10},
		},
	}
	dns := state.Service{
		Key:       state.ServiceKey{Family: state.IPv4, Protocol: state.UDP, Addr: netip.MustParseAddr("192.168.0.10"), Port: 53},
		Scheduler: "sh", SchedFlags: []string{"sh-fallback", "sh-port"}, OnePacket: true,
		Dests: []*state.Destination{
			{Addr: netip.MustParseAddrPort("10.0.0.1:5353"), Weight: 2, Forward: state.NAT},
			{Addr: netip.MustParseAddrPort("10.0.0.2:53"), Weight: 0, Forward: state.TUN, TunnelType: "gue", TunnelPort: 6080, TunnelChecksum: "remcsum"},
		},
	}
	mark := state.Service{
		Key:       state.ServiceKey{Family: state.IPv6, FWMark: 7},
		Scheduler: "wlc", Persistent: true, Timeout: 60, NetmaskBits: 64,
		Dests: []*state.Destination{{Addr: netip.MustParseAddrPort("[2001:db8::5]:0"), Weight: 1, Forward: state.DR}},
	}
	return &state.Keepalived{
		Config: "/etc/keepalived/keepalived.conf", PidFile: "/run/keepalived.pid", Program: "/usr/sbin/keepalived",
		RouterName: "d1", Pair: "lvs",
		VRRP: state.VRRPInstance{Name: "lvs", Master: true, Interface: "eth0", RouterID: 51, Priority: 150,
			VIPs: []netip.Prefix{netip.MustParsePrefix("192.168.0.10/32"), netip.MustParsePrefix("2001:db8::10/128")}},
		Services: []state.CheckedService{
			{Service: web, DelayLoop: 6, Inhibit: true, Sorry: netip.MustParseAddrPort("192.168.0.200:80"),
				Checks: []state.Check{{Type: "http", Path: "/health?x=1", Status: 200, Timeout: 3, Retry: 3}, {Type: "tcp", Port: 8080, Timeout: 2, Retry: 1}}},
			{Service: dns, DelayLoop: 10, Checks: []state.Check{{Type: "tcp", Timeout: 3, Retry: 3}, {}}},
			{Service: mark, DelayLoop: 1, Checks: []state.Check{{Type: "https", Path: "/", Status: 204, Timeout: 1, Retry: 0}}},
		},
	}
}

// TestRenderRoundTrip: what Render writes, keepalived's reader (ParseFile)
// reads back as the same services, real servers and VIPs, with every
// checker and the sorry server where Render put them, and no warning.
func TestRenderRoundTrip(t *testing.T) {
	k := sampleKeepalived()
	text, err := Render(k)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "keepalived.conf")
	if err := os.WriteFile(p, text, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := ParseFile(p)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	if len(res.Warnings) > 0 {
		t.Errorf("warnings: %q\n%s", res.Warnings, text)
	}
	if len(res.Services) != len(k.Services) {
		t.Fatalf("%d services read back, %d rendered\n%s", len(res.Services), len(k.Services), text)
	}
	for i, got := range res.Services {
		want := k.Services[i].Service
		g := *got
		for _, s := range []*state.Service{&g, &want} {
			s.Why, s.ExternallyManaged, s.Dests = nil, nil, nil
			if len(s.SchedFlags) == 0 {
				s.SchedFlags = nil
			}
		}
		if !reflect.DeepEqual(g, want) {
			t.Errorf("service %d read back as\n%+v\nrendered from\n%+v\n%s", i, g, want, text)
		}
		if len(got.Dests) != len(k.Services[i].Service.Dests) {
			t.Errorf("service %s: %d real servers read back, %d rendered", want.Key, len(got.Dests), len(k.Services[i].Service.Dests))
		}
		want = k.Services[i].Service
		for j, d := range got.Dests {
			g := *d
			g.Why = nil
			if j < len(want.Dests) && !reflect.DeepEqual(g, *want.Dests[j]) {
				t.Errorf("service %s dest %d read back as %+v, rendered from %+v", want.Key, j, *d, *want.Dests[j])
			}
		}
	}
	wantVIPs := k.VRRP.VIPs
	if !reflect.DeepEqual(res.VRRPAddresses, wantVIPs) {
		t.Errorf("VRRP addresses %v, want %v", res.VRRPAddresses, wantVIPs)
	}
	web := k.Services[0].Service.Key
	notes := strings.Join(res.ServiceNotes[web], "\n")
	for _, want := range []string{"delay_loop 6", "inhibit_on_failure", "sorry_server 192.168.0.200 80"} {
		if !strings.Contains(notes, want) {
			t.Errorf("service notes %q lack %q", notes, want)
		}
	}
	d1 := strings.Join(res.DestNotes[web][netip.MustParseAddrPort("192.168.0.101:80")], "\n")
	d2 := strings.Join(res.DestNotes[web][netip.MustParseAddrPort("192.168.0.102:80")], "\n")
	if !strings.Contains(d1, "HTTP_GET") || !strings.Contains(d1, "/health?x=1") || !strings.Contains(d1, "status_code 200") {
		t.Errorf("rs1's checker note: %q", d1)
	}
	if !strings.Contains(d2, "TCP_CHECK") || !strings.Contains(d2, "connect_port 8080") || !strings.Contains(d2, "retry 1") {
		t.Errorf("rs2's checker note: %q", d2)
	}
	dns := k.Services[1].Service.Key
	if n := res.DestNotes[dns][netip.MustParseAddrPort("10.0.0.2:53")]; len(n) != 0 {
		t.Errorf("a real server without a checker has notes %q", n)
	}
	if !strings.Contains(string(text), "state MASTER") || !strings.Contains(string(text), "priority 150") || !strings.Contains(string(text), "router_id d1") {
		t.Errorf("the VRRP part:\n%s", text)
	}
	k.VRRP.Master = false
	again, _ := Render(k)
	if !strings.Contains(string(again), "state BACKUP") {
		t.Errorf("a backup renders:\n%s", again)
	}
}

// TestRenderRefuses: a value keepalived would read as something else, or
// a checker lvsctl does not write, is refused with a message.
func TestRenderRefuses(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(k *state.Keepalived)
		want string
	}{
		{"misc", func(k *state.Keepalived) { k.Services[0].Checks[0] = state.Check{Type: "misc", Timeout: 3} }, "MISC_CHECK would run a program"},
		{"path space", func(k *state.Keepalived) { k.Services[0].Checks[0].Path = "/a b" }, "path"},
		{"path brace", func(k *state.Keepalived) { k.Services[0].Checks[0].Path = "/}\nMISC_CHECK {" }, "path"},
		{"path comment", func(k *state.Keepalived) { k.Services[0].Checks[0].Path = "/#x" }, "path"},
		{"path definition", func(k *state.Keepalived) { k.Services[0].Checks[0].Path = "/$X" }, "path"},
		{"relative path", func(k *state.Keepalived) { k.Services[0].Checks[0].Path = "health" }, "path"},
		{"status", func(k *state.Keepalived) { k.Services[0].Checks[0].Status = 42 }, "status"},
		{"router name", func(k *state.Keepalived) { k.RouterName = "d1 }" }, "router_id"},
		{"interface", func(k *state.Keepalived) { k.VRRP.Interface = "eth0 {" }, "vrrp_instance"},
		{"router id", func(k *state.Keepalived) { k.VRRP.RouterID = 256 }, "virtual_router_id"},
		{"priority", func(k *state.Keepalived) { k.VRRP.Priority = 255 }, "priority"},
		{"checks", func(k *state.Keepalived) { k.Services[0].Checks = k.Services[0].Checks[:1] }, "1 checkers for 2"},
		{"delay", func(k *state.Keepalived) { k.Services[0].DelayLoop = 0 }, "delay_loop"},
		{"scheduler", func(k *state.Keepalived) { k.Services[0].Service.Scheduler = "wrr\nx" }, "scheduler"},
		{"sorry family", func(k *state.Keepalived) { k.Services[0].Sorry = netip.MustParseAddrPort("[::1]:80") }, "sorry_server"},
		{"no vip", func(k *state.Keepalived) { k.VRRP.VIPs = nil }, "no VIP"},
	} {
		k := sampleKeepalived()
		c.edit(k)
		_, err := Render(k)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}
