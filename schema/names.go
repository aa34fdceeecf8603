package schema

import (
	"fmt"
	"net/netip"
	"strings"
)

// parseAddr parses an IP address and says what is wrong with a bad one.
func parseAddr(s string) (netip.Addr, error) {
	if strings.Contains(s, "/") {
		return netip.Addr{}, fmt.Errorf("%q is a prefix, not an address: write the address alone (a VIP's prefix goes in its prefix field)", s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q has a zone; lvsctl takes addresses without one", s)
	}
	return a.Unmap(), nil
}
