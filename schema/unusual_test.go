package schema

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/lvsctl/lvsctl/internal/state"
)

// Configurations that real clusters have and the kernel accepts (issue 13,
// item 5): they load, with a note where lvsctl leaves something to others
// or the kernel ignores what is written.
func TestUnusualButAccepted(t *testing.T) {
	dir := writeCase(t, map[string]string{"c.cue": base, "x.cue": `package c
hosts: rs2: netns: "rs2"
directors: lb: services: {
	// Marks set by iptables: no mark group here.
	ext: {
		fwmark: 7
		scheduler: "rr"
		realServers: {
			a: {address: "198.51.100.2", port: 8080}
			managed: {address: "198.51.100.3", host: "rs2"}
		}
	}
	ext6: {
		fwmark: 8
		family: "ipv6"
		realServers: a: address: "2001:db8::2"
	}
	// keepalived's 127.0.0.11, the director's own address, and ::1.
	local: {
		address: "192.0.2.10"
		port:    53
		protocol: "udp"
		realServers: {
			lo: address: "127.0.0.11"
			own: {address: "192.0.2.10", forward: "nat"}
		}
	}
	local6: {
		address: "2001:db8::10"
		port:    80
		realServers: lo: address: "::1"
	}
	// A netmask that is not contiguous, and one that is.
	odd: {
		address: "192.0.2.10"
		port:    443
		persistence: netmask: "255.255.0.255"
		realServers: a: {address: "198.51.100.2", forward: "tun"}
	}
	even: {
		address: "192.0.2.10"
		port:    8443
		persistence: netmask: "255.255.255.0"
	}
}
directors: lb: services: web: realServers: rs1: port: 8080
`})
	l, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	lb := l.Hosts["lb"]
	svc := map[string]*state.Service{}
	for _, s := range lb.Services {
		svc[s.Why[0]] = s
	}
	ext := svc["service ext"]
	if ext == nil || ext.Key != (state.ServiceKey{Family: state.IPv4, FWMark: 7}) {
		t.Fatalf("service ext: %+v", ext)
	}
	if k := svc["service ext6"].Key; k != (state.ServiceKey{Family: state.IPv6, FWMark: 8}) {
		t.Errorf("service ext6: %+v", k)
	}
	if d := ext.Dests[0]; d.Addr != netip.MustParseAddrPort("198.51.100.2:8080") || d.Forward != state.DR {
		t.Errorf("ext's real server a: %+v", d)
	}
	local := svc["service local"]
	if len(local.Dests) != 2 || local.Dests[0].Addr.String() != "127.0.0.11:53" || local.Dests[1].Addr.String() != "192.0.2.10:53" || local.Dests[1].Forward != state.NAT {
		t.Errorf("local real servers: %+v %+v", local.Dests[0], local.Dests[1])
	}
	if d := svc["service local6"].Dests[0]; d.Addr.String() != "[::1]:80" {
		t.Errorf("local6: %+v", d)
	}
	odd, even := svc["service odd"], svc["service even"]
	if odd.Netmask != netip.MustParseAddr("255.255.0.255") || odd.NetmaskBits != 0 || odd.MaskText() != "/255.255.0.255" {
		t.Errorf("odd netmask: %v /%d", odd.Netmask, odd.NetmaskBits)
	}
	if even.Netmask.IsValid() || even.NetmaskBits != 24 {
		t.Errorf("even netmask: %v /%d", even.Netmask, even.NetmaskBits)
	}
	if d := svc["service web"].Dests[0]; d.Addr.String() != "198.51.100.1:8080" {
		t.Errorf("web's rs1: %+v", d)
	}

	want := []string{
		"service ext (FWM 7): no mark group on this director sets mark 7, so lvsctl neither sets nor checks the rules that mark its packets (iptables, another nftables table)",
		"service ext (FWM 7): real server a is 198.51.100.2:8080, but direct routing does not rewrite the destination port: the kernel keeps 8080 and ignores it, and packets reach the real server on the port the client connected to",
		"service ext (FWM 7): real server managed is host rs2, but no mark group here says which addresses mark 7 covers, so lvsctl adds no VIP there for it (nor the ARP sysctls that go with one): set them up on rs2 yourself",
		"service ext6 (FWM 8 IPv6): no mark group on this director sets mark 8, so lvsctl neither sets nor checks the rules that mark its packets (iptables, another nftables table)",
		"service web (TCP 192.0.2.10:80): real server rs1 is 198.51.100.1:8080, but direct routing does not rewrite the destination port: the kernel keeps 8080 and ignores it, and packets reach the real server on the service's port 80",
	}
	for _, w := range want {
		if !slices.Contains(lb.Notes, w) {
			t.Errorf("missing note %q in:\n%s", w, strings.Join(lb.Notes, "\n"))
		}
	}
	for _, n := range lb.Notes {
		if strings.Contains(n, "service odd") || strings.Contains(n, "service local (") {
			t.Errorf("unexpected note %q", n)
		}
	}
	// The managed real server of the unmarked service gets no VIP, nor
	// the ARP sysctls for one: lvsctl cannot know it.
	if rs2 := l.Hosts["rs2"]; len(rs2.Addresses) != 0 || len(rs2.Sysctls) != 0 {
		t.Errorf("rs2: addresses %+v, %d sysctls", rs2.Addresses, len(rs2.Sysctls))
	}
}

// A tunnel real server on another port is noted as direct routing is.
func TestTunnelPortNote(t *testing.T) {
	dir := writeCase(t, map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: realServers: rs1: {forward: "tun", port: 8080}
`})
	l, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := "service web (TCP 192.0.2.10:80): real server rs1 is 198.51.100.1:8080, but tunnel does not rewrite the destination port: the kernel keeps 8080 and ignores it, and packets reach the real server on the service's port 80"
	if !slices.Contains(l.Hosts["lb"].Notes, want) {
		t.Errorf("notes:\n%s", strings.Join(l.Hosts["lb"].Notes, "\n"))
	}
}
