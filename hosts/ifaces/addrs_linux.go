package ifaces

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/lvsctl/lvsctl/internal/state"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Addresses reports the addresses on the named interfaces, or on every
// interface when ifaces is nil, as prefixes with their host bits
// (192.0.2.10/32 on lo, 10.0.0.1/24 on eth0), sorted by interface and
// address. IPv6 link-local addresses (fe80::/10) are left out, and so are
// interfaces that do not exist.
func Addresses(ifaces []string) ([]state.Address, error) {
	for _, n := range ifaces {
		if err := checkName(n); err != nil {
			return nil, err
		}
	}
	var out []state.Address
	add := func(iface string, addrs []netlink.Addr) {
		for _, a := range addrs {
			p, ok := prefixOf(a.IPNet)
			if !ok || p.Addr().Is6() && p.Addr().IsLinkLocalUnicast() {
				continue
			}
			out = append(out, state.Address{Interface: iface, Prefix: p})
		}
	}
	if ifaces == nil {
		links, err := dump(netlink.LinkList)
		if err != nil {
			return nil, fmt.Errorf("list links: %w", err)
		}
		byIndex := map[int]string{}
		for _, l := range links {
			byIndex[l.Attrs().Index] = l.Attrs().Name
		}
		addrs, err := dump(func() ([]netlink.Addr, error) { return netlink.AddrList(nil, netlink.FAMILY_ALL) })
		if err != nil {
			return nil, fmt.Errorf("list addresses: %w", err)
		}
		for _, a := range addrs {
			if name, ok := byIndex[a.LinkIndex]; ok {
				add(name, []netlink.Addr{a})
			}
		}
	}
	for _, n := range ifaces {
		l, err := linkByName(n)
		if errors.Is(err, unix.ENODEV) {
			continue
		}
		if err != nil {
			return nil, err
		}
		addrs, err := dump(func() ([]netlink.Addr, error) { return netlink.AddrList(l, netlink.FAMILY_ALL) })
		if err != nil {
			return nil, fmt.Errorf("list addresses on %s: %w", n, err)
		}
		add(n, addrs)
	}
	slices.SortFunc(out, func(a, b state.Address) int {
		return cmp.Or(cmp.Compare(a.Interface, b.Interface),
			a.Prefix.Addr().Compare(b.Prefix.Addr()),
			cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()))
	})
	return slices.CompactFunc(out, func(a, b state.Address) bool {
		return a.Interface == b.Interface && a.Prefix == b.Prefix
	}), nil
}

// AddAddress adds a.Prefix to a.Interface, as `ip addr add` does; IPv6
// addresses skip duplicate address detection (nodad), so they are usable at
// once. An address that is there already is an error wrapping EEXIST.
func AddAddress(a state.Address) error {
	l, addr, err := resolveAddress(a)
	if err != nil {
		return err
	}
	if a.Prefix.Addr().Is6() {
		addr.Flags |= unix.IFA_F_NODAD
	}
	if err := netlink.AddrAdd(l, addr); err != nil {
		return fmt.Errorf("address %s on %s: %w", a.Prefix, a.Interface, err)
	}
	return nil
}

// DeleteAddress removes a.Prefix from a.Interface. An address that is not
// there is an error wrapping EADDRNOTAVAIL, the kernel's answer; a missing
// interface, one wrapping ENODEV.
func DeleteAddress(a state.Address) error {
	l, addr, err := resolveAddress(a)
	if err != nil {
		return err
	}
	if err := netlink.AddrDel(l, addr); err != nil {
		return fmt.Errorf("address %s on %s: %w", a.Prefix, a.Interface, err)
	}
	return nil
}

func resolveAddress(a state.Address) (netlink.Link, *netlink.Addr, error) {
	if err := checkName(a.Interface); err != nil {
		return nil, nil, err
	}
	if !a.Prefix.IsValid() || a.Prefix.Addr().Is4In6() || a.Prefix.Addr().Zone() != "" {
		return nil, nil, invalidError{fmt.Errorf("address %s on %s: not a valid IPv4 or IPv6 prefix", a.Prefix, a.Interface)}
	}
	l, err := linkByName(a.Interface)
	if err != nil {
		return nil, nil, fmt.Errorf("address %s on %s: %w", a.Prefix, a.Interface, err)
	}
	return l, &netlink.Addr{IPNet: ipNet(a.Prefix)}, nil
}
