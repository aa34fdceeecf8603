package ifaces

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/lvsctl/lvsctl/internal/state"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// DefaultRoutes reports the main table's unicast default routes, IPv4 first,
// each with its gateway (the zero Addr for a route with none, such as one
// through a point-to-point device). A multipath route gives one Route per
// next hop. Unreachable, blackhole and prohibit defaults are left out: they
// have no gateway to compare.
func DefaultRoutes() ([]state.Route, error) {
	var out []state.Route
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rs, err := defaults(fam)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			dst := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
			if fam == netlink.FAMILY_V6 {
				dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
			}
			if len(r.MultiPath) == 0 {
				out = append(out, state.Route{Dst: dst, Gateway: gatewayOf(r.Gw, r.Via)})
			}
			for _, hop := range r.MultiPath {
				out = append(out, state.Route{Dst: dst, Gateway: gatewayOf(hop.Gw, hop.Via)})
			}
		}
	}
	return out, nil
}

// defaults lists the main table's unicast default routes of one family.
func defaults(fam int) ([]netlink.Route, error) {
	rs, err := dump(func() ([]netlink.Route, error) {
		return netlink.RouteListFiltered(fam, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	var out []netlink.Route
	for _, r := range rs {
		if r.Type != unix.RTN_UNICAST || r.Dst != nil && !isDefault(r.Dst) {
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

func isDefault(n *net.IPNet) bool {
	ones, _ := n.Mask.Size()
	return ones == 0
}

func gatewayOf(gw net.IP, via netlink.Destination) netip.Addr {
	if v, ok := via.(*netlink.Via); ok && v != nil {
		gw = v.Addr
	}
	a, _ := addrOf(gw)
	return a
}

// ReplaceDefaultRoute makes the main table's default route of r's family go
// through r.Gateway, as `ip route replace default via GW` does, in one
// request. The route lvsctl replaces is the one in force (the lowest metric),
// and the new one keeps that metric, so replacing back restores the old
// route; with none there, the route is added. The gateway must be reachable
// on a connected network; IPv6 link-local gateways are refused, since a
// state.Route names no device to reach them through.
func ReplaceDefaultRoute(r state.Route) error {
	if err := checkDefault(r); err != nil {
		return err
	}
	rt := &netlink.Route{
		Dst:      ipNet(r.Dst),
		Gw:       r.Gateway.AsSlice(),
		Table:    unix.RT_TABLE_MAIN,
		Protocol: unix.RTPROT_STATIC,
		Type:     unix.RTN_UNICAST,
	}
	cur, err := defaults(family(r.Gateway))
	if err != nil {
		return fmt.Errorf("%s: %w", routeName(r), err)
	}
	for i, c := range cur {
		if i == 0 || c.Priority < rt.Priority {
			rt.Priority = c.Priority
		}
	}
	if err := netlink.RouteReplace(rt); err != nil {
		return fmt.Errorf("%s: %w", routeName(r), err)
	}
	return nil
}

// DeleteRoute deletes the main table's route to r.Dst through r.Gateway (any
// gateway when r.Gateway is the zero Addr), whatever its metric. A route that
// is not there is an error wrapping ESRCH, the kernel's answer.
func DeleteRoute(r state.Route) error {
	if !r.Dst.IsValid() || r.Dst.Addr().Is4In6() || r.Gateway.IsValid() && r.Gateway.Is4() != r.Dst.Addr().Is4() {
		return invalidError{fmt.Errorf("%s: not a valid route", routeName(r))}
	}
	rt := &netlink.Route{Dst: ipNet(r.Dst.Masked()), Table: unix.RT_TABLE_MAIN}
	if r.Gateway.IsValid() {
		rt.Gw = r.Gateway.AsSlice()
	}
	if err := netlink.RouteDel(rt); err != nil {
		return fmt.Errorf("%s: %w", routeName(r), err)
	}
	return nil
}

func checkDefault(r state.Route) error {
	switch g := r.Gateway; {
	case !r.Dst.IsValid() || r.Dst.Bits() != 0:
		return invalidError{fmt.Errorf("%s: not a default route", routeName(r))}
	case !g.IsValid() || g.Is4In6() || g.IsUnspecified():
		return invalidError{fmt.Errorf("%s: the gateway is not an IPv4 or IPv6 address", routeName(r))}
	case g.Is4() != r.Dst.Addr().Is4():
		return invalidError{fmt.Errorf("%s: the gateway is not of the destination's family", routeName(r))}
	case g.Is6() && g.IsLinkLocalUnicast():
		return invalidError{fmt.Errorf("%s: a link-local gateway needs a device, which lvsctl's routes do not name", routeName(r))}
	}
	return nil
}

// routeName is r as ip-route(8) prints it: "default via 10.0.0.234".
func routeName(r state.Route) string {
	dst := r.Dst.String()
	if r.Dst.IsValid() && r.Dst.Bits() == 0 {
		dst = "default"
		if r.Dst.Addr().Is6() {
			dst = "IPv6 default"
		}
	}
	if !r.Gateway.IsValid() {
		return "route " + dst
	}
	return "route " + dst + " via " + r.Gateway.String()
}
