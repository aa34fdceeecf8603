package ipvsadm

import (
	"net/netip"

	"github.com/lvsctl/lvsctl/internal/state"
)

// setIPv4Mask sets an IPv4 persistence netmask, contiguous or not, as the
// kernel and ipvsadm -M accept it.
func setIPv4Mask(s *state.Service, m netip.Addr) error {
	b := m.As4()
	s.SetIPv4Mask(uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]))
	return nil
}
