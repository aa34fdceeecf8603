package schema

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lvsctl/lvsctl/internal/state"
)

// A managed tunnel real server gets the receiving device by the outer family
// (its own address) and the inner one (the service's VIP): IPv4 in IPv4 on
// tunl0, IPv6 in IPv4 on sit0, IPv6 in IPv6 on ip6tnl0; GRE by the outer
// family alone. The IPv4 VIP brings the ARP sysctls and rp_filter off; an
// IPv6 VIP needs neither.
func TestTunnelDeviceByFamilies(t *testing.T) {
	dir := writeCase(t, map[string]string{"c.cue": `package c

hosts: {
	lb: local: true
	v4in4: netns: "v4in4"
	v6in4: netns: "v6in4"
	v6in6: netns: "v6in6"
	gre6in4: netns: "gre6in4"
}
directors: lb: services: {
	web4: {
		address: "192.0.2.10"
		port:    80
		realServers: v4in4: {address: "198.51.100.1", host: "v4in4", forward: "tun"}
	}
	web6: {
		address: "2001:db8::10"
		port:    80
		realServers: {
			v6in4: {address: "198.51.100.2", host: "v6in4", forward: "tun"}
			v6in6: {address: "2001:db8:1::3", host: "v6in6", forward: "tun"}
			gre6in4: {address: "198.51.100.4", host: "gre6in4", forward: "tun", tunnel: type: "gre"}
		}
	}
}
`})
	l, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	type side struct {
		Links     []string
		Addresses []string
		Sysctls   []string
	}
	got := func(name string) side {
		h := l.Hosts[name]
		var s side
		for _, x := range h.Links {
			s.Links = append(s.Links, x.Name+" "+x.Kind)
		}
		for _, x := range h.Addresses {
			s.Addresses = append(s.Addresses, x.Prefix.String()+" dev "+x.Interface)
		}
		for _, x := range h.Sysctls {
			s.Sysctls = append(s.Sysctls, x.Key+"="+x.Value)
		}
		return s
	}
	arp := func(dev string) []string {
		var out []string
		for _, i := range []string{"all", "default", "lo", dev} {
			out = append(out, "net.ipv4.conf."+i+".arp_ignore=1", "net.ipv4.conf."+i+".arp_announce=2")
		}
		return append(out, "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf."+dev+".rp_filter=0")
	}
	for name, want := range map[string]side{
		"v4in4":   {Links: []string{"tunl0 ipip"}, Addresses: []string{"192.0.2.10/32 dev tunl0"}, Sysctls: arp("tunl0")},
		"v6in4":   {Links: []string{"sit0 sit"}, Addresses: []string{"2001:db8::10/128 dev sit0"}},
		"v6in6":   {Links: []string{"ip6tnl0 ip6tnl"}, Addresses: []string{"2001:db8::10/128 dev ip6tnl0"}},
		"gre6in4": {Links: []string{"gre0 gre"}, Addresses: []string{"2001:db8::10/128 dev gre0"}},
	} {
		if diff := cmp.Diff(want, got(name)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	// The director's destinations keep their own family under the service's.
	for _, s := range l.Hosts["lb"].Services {
		if s.Key.Family != state.IPv6 {
			continue
		}
		for _, d := range s.Dests {
			if d.Addr.Addr() == netip.MustParseAddr("198.51.100.2") && (d.Forward != state.TUN || d.TunnelType != "ipip") {
				t.Errorf("IPv6 service's IPv4 destination: %+v", d)
			}
		}
	}
}

// IPv4 in IPv6 needs an ip6tnl device of mode ipip6 or any: the kernel's
// ip6tnl0 is ip6ip6 and drops it, and lvsctl does not set a tunnel's mode.
// A managed real server is refused at its host, naming what is missing.
func TestTunnelIPv4InIPv6Refused(t *testing.T) {
	dir := writeCase(t, map[string]string{"c.cue": `package c

hosts: {
	lb: local: true
	rs6: netns: "rs6"
}
directors: lb: services: web: {
	address: "192.0.2.10"
	port:    80
	realServers: rs6: {address: "2001:db8::1", host: "rs6", forward: "tun"}
}
`})
	_, err := Load(dir)
	want := `c.cue:10:45: directors.lb.services.web.realServers.rs6.host: lvsctl does not set up an IPv4-in-IPv6 receiver (an ip6tnl device of mode ipip6 or any; the kernel's ip6tnl0 takes only IPv6 in IPv6) on a managed real server yet`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v\nwant %s", err, want)
	}
}
