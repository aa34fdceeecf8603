package state

import (
	"encoding/json"
	"net/netip"
	"testing"
)

var (
	svcWeb   = ServiceKey{Family: IPv4, Protocol: TCP, Addr: netip.MustParseAddr("192.168.0.10"), Port: 80}
	svcDNS   = ServiceKey{Family: IPv6, Protocol: UDP, Addr: netip.MustParseAddr("2001:db8::53"), Port: 53}
	svcMark  = ServiceKey{Family: IPv4, FWMark: 7}
	addrVIP  = Address{Interface: "lo", Prefix: netip.MustParsePrefix("192.168.0.10/32")}
	addrVIP2 = Address{Interface: "lo", Prefix: netip.MustParsePrefix("192.168.0.11/32")}
	routeA   = Route{Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("10.0.0.234"), Manage: true}
	routeB   = Route{Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("10.0.0.1"), Manage: true}
	route6   = Route{Dst: netip.MustParsePrefix("::/0"), Gateway: netip.MustParseAddr("2001:db8::1"), Manage: true}
	mark7    = MarkRule{Family: IPv4, Addr: netip.MustParseAddr("192.168.0.10"), Protocol: TCP, Ports: []uint16{80, 443}, Mark: 7}
	mark8    = MarkRule{Family: IPv4, Addr: netip.MustParseAddr("192.168.0.10"), Protocol: TCP, Ports: []uint16{80, 443}, Mark: 8}
	markUDP  = MarkRule{Family: IPv4, Addr: netip.MustParseAddr("192.168.0.10"), Protocol: UDP, Ports: []uint16{53}, Mark: 9}
)

func invJSON(t *testing.T, inv *Inventory) string {
	t.Helper()
	b, err := json.Marshal(inv)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestMergeInventory(t *testing.T) {
	for _, tc := range []struct {
		name      string
		base, add *Inventory
		want      *Inventory
		added     bool
	}{
		{name: "both nil", want: &Inventory{}},
		{name: "nothing to add", base: &Inventory{Services: []ServiceKey{svcWeb}}, add: &Inventory{},
			want: &Inventory{Services: []ServiceKey{svcWeb}}},
		{name: "into nothing", add: &Inventory{Services: []ServiceKey{svcWeb}, Sysctls: map[string]string{"net.ipv4.ip_forward": "0"}},
			want:  &Inventory{Services: []ServiceKey{svcWeb}, Sysctls: map[string]string{"net.ipv4.ip_forward": "0"}},
			added: true},
		{name: "new members follow the old, in the order they come",
			base:  &Inventory{Services: []ServiceKey{svcWeb}, Addresses: []Address{addrVIP}, Links: []string{"lo"}},
			add:   &Inventory{Services: []ServiceKey{svcMark, svcDNS, svcWeb}, Addresses: []Address{addrVIP2, addrVIP}, Links: []string{"tunl0", "lo"}},
			want:  &Inventory{Services: []ServiceKey{svcWeb, svcMark, svcDNS}, Addresses: []Address{addrVIP, addrVIP2}, Links: []string{"lo", "tunl0"}},
			added: true},
		{name: "already owned: nothing added",
			base: &Inventory{Services: []ServiceKey{svcWeb, svcDNS}, Addresses: []Address{addrVIP}, Links: []string{"lo"},
				Sysctls: map[string]string{"net.ipv4.ip_forward": "0"}, Routes: []Route{routeA}, Marks: []MarkRule{mark7}},
			add: &Inventory{Services: []ServiceKey{svcDNS}, Addresses: []Address{addrVIP}, Links: []string{"lo"},
				Sysctls: map[string]string{"net.ipv4.ip_forward": "1"}, Routes: []Route{routeA}, Marks: []MarkRule{mark7}},
			want: &Inventory{Services: []ServiceKey{svcWeb, svcDNS}, Addresses: []Address{addrVIP}, Links: []string{"lo"},
				Sysctls: map[string]string{"net.ipv4.ip_forward": "0"}, Routes: []Route{routeA}, Marks: []MarkRule{mark7}}},
		{name: "an original is never overwritten",
			base:  &Inventory{Sysctls: map[string]string{"net.ipv4.conf.all.arp_ignore": "0"}},
			add:   &Inventory{Sysctls: map[string]string{"net.ipv4.conf.all.arp_ignore": "1", "net.ipv4.conf.all.arp_announce": "0"}},
			want:  &Inventory{Sysctls: map[string]string{"net.ipv4.conf.all.arp_ignore": "0", "net.ipv4.conf.all.arp_announce": "0"}},
			added: true},
		{name: "an empty original is an original",
			base: &Inventory{Sysctls: map[string]string{"net.ipv4.conf.all.arp_ignore": ""}},
			add:  &Inventory{Sysctls: map[string]string{"net.ipv4.conf.all.arp_ignore": "1"}},
			want: &Inventory{Sysctls: map[string]string{"net.ipv4.conf.all.arp_ignore": ""}}},
		{name: "addresses by interface and prefix",
			base: &Inventory{Addresses: []Address{addrVIP}},
			add: &Inventory{Addresses: []Address{
				{Interface: "lo", Prefix: addrVIP.Prefix, Why: []string{"needed by web"}}, // same, Why does not count
				{Interface: "eth0", Prefix: addrVIP.Prefix, Why: []string{"needed by web"}},
				{Interface: "lo", Prefix: netip.MustParsePrefix("192.168.0.10/24")},
			}},
			want: &Inventory{Addresses: []Address{addrVIP,
				{Interface: "eth0", Prefix: addrVIP.Prefix},
				{Interface: "lo", Prefix: netip.MustParsePrefix("192.168.0.10/24")}}},
			added: true},
		{name: "a route by its destination",
			base:  &Inventory{Routes: []Route{routeA}},
			add:   &Inventory{Routes: []Route{routeB, route6, {Dst: route6.Dst, Gateway: route6.Gateway, Manage: true, Why: []string{"x"}}}},
			want:  &Inventory{Routes: []Route{routeA, route6}},
			added: true},
		{name: "a mark rule by its match; the mark is what changes",
			base:  &Inventory{Marks: []MarkRule{mark7}},
			add:   &Inventory{Marks: []MarkRule{mark8, markUDP}},
			want:  &Inventory{Marks: []MarkRule{mark7, markUDP}},
			added: true},
		{name: "mark rules without Why",
			add:   &Inventory{Marks: []MarkRule{{Family: IPv4, Addr: mark7.Addr, Protocol: TCP, Ports: []uint16{80, 443}, Mark: 7, Why: []string{"needed by web"}}}},
			want:  &Inventory{Marks: []MarkRule{mark7}},
			added: true},
		{name: "duplicates within one addition once",
			add:   &Inventory{Services: []ServiceKey{svcWeb, svcWeb}, Links: []string{"tunl0", "tunl0"}, Marks: []MarkRule{mark7, mark8}},
			want:  &Inventory{Services: []ServiceKey{svcWeb}, Links: []string{"tunl0"}, Marks: []MarkRule{mark7}},
			added: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			baseBefore := invJSON(t, tc.base)
			addBefore := invJSON(t, tc.add)
			got, added := MergeInventory(tc.base, tc.add)
			if g, w := invJSON(t, got), invJSON(t, tc.want); g != w {
				t.Errorf("merged:\n got %s\nwant %s", g, w)
			}
			if added != tc.added {
				t.Errorf("added %v, want %v", added, tc.added)
			}
			if invJSON(t, tc.base) != baseBefore || invJSON(t, tc.add) != addBefore {
				t.Errorf("MergeInventory changed its arguments")
			}
			// Merging again adds nothing: the write-ahead of a repeated
			// request writes nothing.
			again, added := MergeInventory(got, tc.add)
			if added || invJSON(t, again) != invJSON(t, got) {
				t.Errorf("second merge added %v: %s", added, invJSON(t, again))
			}
		})
	}
}

// The result shares no memory with the base: changing it leaves the
// inventory the agent read alone.
func TestMergeInventoryCopies(t *testing.T) {
	base := &Inventory{Marks: []MarkRule{mark7}, Sysctls: map[string]string{"net.ipv4.ip_forward": "0"}, Services: []ServiceKey{svcWeb}}
	got, _ := MergeInventory(base, &Inventory{Services: []ServiceKey{svcDNS}})
	got.Marks[0].Ports[0] = 8080
	got.Sysctls["net.ipv4.ip_forward"] = "1"
	got.Services[0] = svcMark
	if base.Marks[0].Ports[0] != 80 || base.Sysctls["net.ipv4.ip_forward"] != "0" || base.Services[0] != svcWeb {
		t.Errorf("base changed: %+v", base)
	}
}

func TestSameInventory(t *testing.T) {
	full := &Inventory{Services: []ServiceKey{svcWeb, svcDNS}, Addresses: []Address{addrVIP, addrVIP2}, Links: []string{"lo", "tunl0"},
		Sysctls: map[string]string{"a": "0", "b": "1"}, Routes: []Route{routeA, route6}, Marks: []MarkRule{mark7, markUDP}}
	for _, tc := range []struct {
		name string
		a, b *Inventory
		want bool
	}{
		{"nil and empty", nil, &Inventory{Sysctls: map[string]string{}}, true},
		{"itself", full, full, true},
		{"other order", full, &Inventory{Services: []ServiceKey{svcDNS, svcWeb}, Addresses: []Address{addrVIP2, addrVIP}, Links: []string{"tunl0", "lo"},
			Sysctls: map[string]string{"b": "1", "a": "0"}, Routes: []Route{route6, routeA}, Marks: []MarkRule{markUDP, mark7}}, true},
		{"a member fewer", full, &Inventory{Services: []ServiceKey{svcWeb}, Addresses: full.Addresses, Links: full.Links, Sysctls: full.Sysctls, Routes: full.Routes, Marks: full.Marks}, false},
		{"another original", &Inventory{Sysctls: map[string]string{"a": "0"}}, &Inventory{Sysctls: map[string]string{"a": "1"}}, false},
		{"another gateway", &Inventory{Routes: []Route{routeA}}, &Inventory{Routes: []Route{routeB}}, false},
		{"another mark", &Inventory{Marks: []MarkRule{mark7}}, &Inventory{Marks: []MarkRule{mark8}}, false},
		{"empty and something", &Inventory{}, &Inventory{Links: []string{"lo"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := SameInventory(tc.a, tc.b); got != tc.want {
				t.Errorf("SameInventory = %v, want %v", got, tc.want)
			}
			if got := SameInventory(tc.b, tc.a); got != tc.want {
				t.Errorf("SameInventory reversed = %v, want %v", got, tc.want)
			}
		})
	}
}
