package importer

import (
	"fmt"
	"math/bits"
	"net/netip"

	"github.com/lvsctl/lvsctl/internal/state"
)

// setIPv4Mask sets an IPv4 persistence netmask.
func setIPv4Mask(s *state.Service, m netip.Addr) error {
	b := m.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n := bits.LeadingZeros32(^v)
	if v<<n != 0 {
		return fmt.Errorf("netmask %s is not contiguous", m)
	}
	s.NetmaskBits = n
	return nil
}
