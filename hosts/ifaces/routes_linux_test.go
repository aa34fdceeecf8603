package ifaces

import (
	"errors"
	"github.com/lvsctl/lvsctl/internal/netnstest"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/lvsctl/lvsctl/internal/state"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

var (
	default4 = mustPrefix("0.0.0.0/0")
	default6 = mustPrefix("::/0")
)

func route(dst netip.Prefix, gw string) state.Route {
	return state.Route{Dst: dst, Gateway: netip.MustParseAddr(gw)}
}

var cmpRoute = cmp.Options{cmpPrefix, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })}

// uplink gives the test's namespace a device on 192.0.2.0/24 and
// 2001:db8:1::/64, for gateways to be reachable on.
func uplink(t *testing.T) {
	t.Helper()
	if err := EnsureLink(state.Link{Name: "uplink", Kind: "ifb", Up: true}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"192.0.2.1/24", "2001:db8:1::1/64"} {
		if err := AddAddress(addr("uplink", p)); err != nil {
			t.Fatal(err)
		}
	}
}

func mustDefaultRoutes(t *testing.T) []state.Route {
	t.Helper()
	got, err := DefaultRoutes()
	if err != nil {
		t.Fatalf("DefaultRoutes: %v", err)
	}
	return got
}

func TestDefaultRoutes(t *testing.T) {
	netnstest.Enter(t)
	uplink(t)
	steps := []struct {
		name string
		do   func() error
		want []state.Route
	}{
		{"none at first", func() error { return nil }, nil},
		{"add IPv4", func() error { return ReplaceDefaultRoute(route(default4, "192.0.2.254")) },
			[]state.Route{route(default4, "192.0.2.254")}},
		{"replace IPv4", func() error { return ReplaceDefaultRoute(route(default4, "192.0.2.253")) },
			[]state.Route{route(default4, "192.0.2.253")}},
		{"add IPv6", func() error { return ReplaceDefaultRoute(route(default6, "2001:db8:1::fe")) },
			[]state.Route{route(default4, "192.0.2.253"), route(default6, "2001:db8:1::fe")}},
		{"replace IPv6", func() error { return ReplaceDefaultRoute(route(default6, "2001:db8:1::fd")) },
			[]state.Route{route(default4, "192.0.2.253"), route(default6, "2001:db8:1::fd")}},
		{"delete IPv4", func() error { return DeleteRoute(route(default4, "192.0.2.253")) },
			[]state.Route{route(default6, "2001:db8:1::fd")}},
		{"delete IPv6", func() error { return DeleteRoute(route(default6, "2001:db8:1::fd")) }, nil},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if diff := cmp.Diff(s.want, mustDefaultRoutes(t), cmpRoute); diff != "" {
			t.Fatalf("%s: default routes (-want +got):\n%s", s.name, diff)
		}
	}
}

// A default route with a metric (as DHCP clients add them) is replaced in
// place, keeping its metric, rather than shadowed by a second one.
func TestReplaceKeepsTheMetric(t *testing.T) {
	netnstest.Enter(t)
	uplink(t)
	for _, gw := range []string{"192.0.2.254", "2001:db8:1::fe"} {
		a := netip.MustParseAddr(gw)
		dst := default4
		if a.Is6() {
			dst = default6
		}
		if err := netlink.RouteAdd(&netlink.Route{Dst: ipNet(dst), Gw: a.AsSlice(), Priority: 100, Table: unix.RT_TABLE_MAIN}); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []state.Route{route(default4, "192.0.2.253"), route(default6, "2001:db8:1::fd")} {
		if err := ReplaceDefaultRoute(r); err != nil {
			t.Fatal(err)
		}
	}
	want := []state.Route{route(default4, "192.0.2.253"), route(default6, "2001:db8:1::fd")}
	if diff := cmp.Diff(want, mustDefaultRoutes(t), cmpRoute); diff != "" {
		t.Errorf("default routes (-want +got):\n%s", diff)
	}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rs, err := defaults(fam)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.Priority != 100 || r.Protocol != unix.RTPROT_STATIC {
				t.Errorf("%v: metric %d, protocol %d; want 100, static", r, r.Priority, r.Protocol)
			}
		}
	}
}

func TestRouteErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		do     func() error
		msg    string
		target error
	}{{
		name:   "delete an absent route",
		do:     func() error { return DeleteRoute(route(default4, "192.0.2.254")) },
		msg:    "route default via 192.0.2.254: no such process",
		target: unix.ESRCH,
	}, {
		name:   "delete an absent IPv6 route",
		do:     func() error { return DeleteRoute(route(default6, "2001:db8:1::fe")) },
		msg:    "route IPv6 default via 2001:db8:1::fe: no such process",
		target: unix.ESRCH,
	}, {
		name:   "a gateway on no connected network",
		do:     func() error { return ReplaceDefaultRoute(route(default4, "198.51.100.1")) },
		msg:    "route default via 198.51.100.1: network is unreachable",
		target: unix.ENETUNREACH,
	}, {
		name:   "not a default route",
		do:     func() error { return ReplaceDefaultRoute(route(mustPrefix("10.0.0.0/8"), "192.0.2.254")) },
		msg:    "route 10.0.0.0/8 via 192.0.2.254: not a default route",
		target: ErrInvalid,
	}, {
		name:   "a gateway of the other family",
		do:     func() error { return ReplaceDefaultRoute(route(default6, "192.0.2.254")) },
		msg:    "route IPv6 default via 192.0.2.254: the gateway is not of the destination's family",
		target: ErrInvalid,
	}, {
		name:   "no gateway",
		do:     func() error { return ReplaceDefaultRoute(state.Route{Dst: default4}) },
		msg:    "route default: the gateway is not an IPv4 or IPv6 address",
		target: ErrInvalid,
	}, {
		name:   "a link-local gateway",
		do:     func() error { return ReplaceDefaultRoute(route(default6, "fe80::1")) },
		msg:    "route IPv6 default via fe80::1: a link-local gateway needs a device, which lvsctl's routes do not name",
		target: ErrInvalid,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			netnstest.Enter(t)
			uplink(t)
			err := tc.do()
			if err == nil || err.Error() != tc.msg || !errors.Is(err, tc.target) {
				t.Errorf("error %v, want %q wrapping %v", err, tc.msg, tc.target)
			}
		})
	}
}
