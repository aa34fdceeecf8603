package ifaces

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/lvsctl/lvsctl/internal/names"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// checkName refuses a bad interface name before the kernel sees it.
func checkName(name string) error {
	if err := names.CheckInterfaceName(name); err != nil {
		return invalidError{err}
	}
	return nil
}

// linkByName looks a device up, turning netlink's LinkNotFoundError (which
// carries no errno) into one that wraps ENODEV.
func linkByName(name string) (netlink.Link, error) {
	l, err := netlink.LinkByName(name)
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		return nil, fmt.Errorf("link %s: %w", name, unix.ENODEV)
	}
	if err != nil {
		return nil, fmt.Errorf("link %s: %w", name, err)
	}
	return l, nil
}

// dump runs a netlink dump again when the kernel reports that it was
// interrupted by a concurrent change (NLM_F_DUMP_INTR), a few times at most.
func dump[T any](f func() (T, error)) (T, error) {
	for i := 0; ; i++ {
		v, err := f()
		if errors.Is(err, netlink.ErrDumpInterrupted) && i < 5 {
			continue
		}
		return v, err
	}
}

// ipNet is p as the standard library's type; host bits stay (10.0.0.1/24).
func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// prefixOf is the inverse of ipNet.
func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := addrOf(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, bits := n.Mask.Size()
	if bits != a.BitLen() {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, ones), true
}

// addrOf converts ip, unmapping the 16-byte form net uses for IPv4.
func addrOf(ip net.IP) (netip.Addr, bool) {
	if v4 := ip.To4(); v4 != nil {
		return netip.AddrFrom4([4]byte(v4)), true
	}
	a, ok := netip.AddrFromSlice(ip)
	return a, ok && a.Is6()
}

func family(a netip.Addr) int {
	if a.Is4() {
		return netlink.FAMILY_V4
	}
	return netlink.FAMILY_V6
}
