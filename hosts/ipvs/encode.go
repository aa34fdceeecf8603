package ipvs

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"

	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nlenc"

	"github.com/lvsctl/lvsctl/internal/state"
)

// encodeServiceKey writes the attributes that identify a service.
func encodeServiceKey(ae *netlink.AttributeEncoder, k state.ServiceKey) {
	ae.Uint16(svcAF, af(k.Family))
	if k.FWMark != 0 {
		ae.Uint32(svcFWMark, k.FWMark)
		return
	}
	ae.Uint16(svcProtocol, uint16(k.Protocol))
	ae.Bytes(svcAddr, addr16(k.Addr))
	ae.Bytes(svcPort, be16(k.Port))
}

// encodeService writes a whole service: its key and every setting, as the
// kernel requires for both new and changed services.
func encodeService(ae *netlink.AttributeEncoder, s *state.Service) error {
	flags, err := serviceFlags(s)
	if err != nil {
		return err
	}
	encodeServiceKey(ae, s.Key)
	ae.String(svcSchedName, s.Scheduler)
	// struct ip_vs_flags { __u32 flags; __u32 mask; }: lvsctl sets every flag.
	ae.Bytes(svcFlags, append(nlenc.Uint32Bytes(flags), nlenc.Uint32Bytes(^uint32(flagHashed))...))
	ae.Uint32(svcTimeout, s.Timeout)
	ae.Bytes(svcNetmask, netmask(s))
	if s.PE != "" {
		ae.String(svcPEName, s.PE)
	}
	return nil
}

func serviceFlags(s *state.Service) (uint32, error) {
	var f uint32
	if s.Persistent {
		f |= flagPersistent
	}
	if s.OnePacket {
		f |= flagOnePacket
	}
	for _, name := range s.SchedFlags {
		switch name {
		case "sh-fallback", "mh-fallback", "flag-1":
			f |= flagSched1
		case "sh-port", "mh-port", "flag-2":
			f |= flagSched2
		case "flag-3":
			f |= flagSched3
		default:
			return 0, fmt.Errorf("unknown scheduler flag %q", name)
		}
	}
	return f, nil
}

// schedFlagNames names the scheduler flag bits as ipvsadm does: by scheduler
// for sh and mh, generically otherwise (a hand-set flag shows as drift).
func schedFlagNames(sched string, flags uint32) []string {
	var out []string
	names := [3]string{"flag-1", "flag-2", "flag-3"}
	if sched == "sh" || sched == "mh" {
		names[0], names[1] = sched+"-fallback", sched+"-port"
	}
	for i, bit := range []uint32{flagSched1, flagSched2, flagSched3} {
		if flags&bit != 0 {
			out = append(out, names[i])
		}
	}
	slices.Sort(out)
	return out
}

// netmask is the service's persistence netmask as the kernel keeps it: an
// IPv4 mask in network byte order (any mask, contiguous or not), or an IPv6
// prefix length. Services that are not persistent get the full mask, as
// ipvsadm gives them.
func netmask(s *state.Service) []byte {
	if s.Key.Family == state.IPv6 {
		bits := s.NetmaskBits
		if !s.Persistent || bits == 0 {
			bits = 128
		}
		return nlenc.Uint32Bytes(uint32(bits))
	}
	m := ^uint32(0)
	if s.Persistent {
		m = s.IPv4Mask()
	}
	return binary.BigEndian.AppendUint32(nil, m)
}

// setNetmask reads the kernel's netmask attribute into s.
func setNetmask(s *state.Service, b []byte) {
	if len(b) != 4 {
		return
	}
	if s.Key.Family == state.IPv6 {
		s.NetmaskBits = int(nlenc.Uint32(b))
		return
	}
	s.SetIPv4Mask(binary.BigEndian.Uint32(b))
}

// encodeDest writes a destination's attributes.
func encodeDest(ae *netlink.AttributeEncoder, svc state.ServiceKey, d *state.Destination) error {
	fwd, err := fwdMethod(d.Forward)
	if err != nil {
		return err
	}
	ae.Bytes(destAddr, addr16(d.Addr.Addr()))
	ae.Bytes(destPort, be16(d.Addr.Port()))
	ae.Uint32(destFwdMethod, fwd)
	ae.Uint32(destWeight, d.Weight)
	ae.Uint32(destUThresh, d.UpperThreshold)
	ae.Uint32(destLThresh, d.LowerThreshold)
	ae.Uint16(destAddrFamily, af(state.FamilyOf(d.Addr.Addr())))
	if d.Forward == state.TUN {
		tt, tf, err := tunnel(d)
		if err != nil {
			return err
		}
		ae.Uint8(destTunType, tt)
		ae.Bytes(destTunPort, be16(d.TunnelPort))
		ae.Uint16(destTunFlags, tf)
	}
	return nil
}

func fwdMethod(f state.Forward) (uint32, error) {
	switch f {
	case state.NAT:
		return fwdMasq, nil
	case state.DR:
		return fwdDRoute, nil
	case state.TUN:
		return fwdTunnel, nil
	case state.Local: // as read from a kernel that reports it: put back as it was
		return fwdLocalNode, nil
	}
	return 0, fmt.Errorf("unknown forwarding method %q", f)
}

func forward(m uint32) state.Forward {
	switch m & 0x7 {
	case fwdMasq:
		return state.NAT
	case fwdDRoute:
		return state.DR
	case fwdTunnel:
		return state.TUN
	case fwdLocalNode:
		return state.Local
	}
	return state.Forward(fmt.Sprintf("method-%d", m&0x7))
}

func tunnel(d *state.Destination) (typ uint8, flags uint16, err error) {
	switch d.TunnelType {
	case "", "ipip":
		typ = tunIPIP
	case "gue":
		typ = tunGUE
	case "gre":
		typ = tunGRE
	default:
		return 0, 0, fmt.Errorf("unknown tunnel type %q", d.TunnelType)
	}
	switch d.TunnelChecksum {
	case "", "none":
		flags = tunNoCsum
	case "csum":
		flags = tunCsum
	case "remcsum":
		flags = tunRemCsum
	default:
		return 0, 0, fmt.Errorf("unknown tunnel checksum %q", d.TunnelChecksum)
	}
	return typ, flags, nil
}

func tunnelNames(typ uint8, flags uint16) (string, string) {
	t := [...]string{tunIPIP: "ipip", tunGUE: "gue", tunGRE: "gre"}
	name := fmt.Sprintf("type-%d", typ)
	if int(typ) < len(t) {
		name = t[typ]
	}
	switch flags {
	case tunNoCsum:
		return name, "none"
	case tunCsum:
		return name, "csum"
	case tunRemCsum:
		return name, "remcsum"
	}
	return name, fmt.Sprintf("flags-%#x", flags)
}

func af(f state.Family) uint16 {
	if f == state.IPv6 {
		return afInet6
	}
	return afInet
}

func family(af uint16) (state.Family, error) {
	switch af {
	case afInet:
		return state.IPv4, nil
	case afInet6:
		return state.IPv6, nil
	}
	return "", fmt.Errorf("address family %d", af)
}

// addr16 is union nf_inet_addr: 16 bytes, an IPv4 address in the first 4.
func addr16(a netip.Addr) []byte {
	b := make([]byte, 16)
	if a.Is4() {
		v := a.As4()
		copy(b, v[:])
	} else {
		v := a.As16()
		copy(b, v[:])
	}
	return b
}

func addrFrom(f state.Family, b []byte) (netip.Addr, error) {
	switch {
	case f == state.IPv4 && len(b) >= 4:
		return netip.AddrFrom4([4]byte(b[:4])), nil
	case f == state.IPv6 && len(b) >= 16:
		return netip.AddrFrom16([16]byte(b[:16])), nil
	}
	return netip.Addr{}, fmt.Errorf("%d-byte %s address", len(b), f)
}

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

// decodeService reads the attributes of one service (without destinations).
func decodeService(b []byte) (*state.Service, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return nil, err
	}
	s := &state.Service{}
	var rawAddr, rawMask []byte
	var flags uint32
	var afv uint16
	for ad.Next() {
		switch ad.Type() {
		case svcAF:
			afv = ad.Uint16()
		case svcProtocol:
			s.Key.Protocol = state.Protocol(ad.Uint16())
		case svcAddr:
			rawAddr = ad.Bytes()
		case svcPort:
			if b := ad.Bytes(); len(b) == 2 {
				s.Key.Port = binary.BigEndian.Uint16(b)
			}
		case svcFWMark:
			s.Key.FWMark = ad.Uint32()
		case svcSchedName:
			s.Scheduler = ad.String()
		case svcFlags:
			if b := ad.Bytes(); len(b) >= 4 {
				flags = nlenc.Uint32(b[:4])
			}
		case svcTimeout:
			s.Timeout = ad.Uint32()
		case svcNetmask:
			rawMask = ad.Bytes()
		case svcPEName:
			s.PE = ad.String()
		}
	}
	if err := ad.Err(); err != nil {
		return nil, err
	}
	if s.Key.Family, err = family(afv); err != nil {
		return nil, err
	}
	if s.Key.FWMark == 0 {
		if s.Key.Addr, err = addrFrom(s.Key.Family, rawAddr); err != nil {
			return nil, err
		}
	}
	s.Persistent = flags&flagPersistent != 0
	s.OnePacket = flags&flagOnePacket != 0
	s.SchedFlags = schedFlagNames(s.Scheduler, flags)
	if s.Persistent {
		setNetmask(s, rawMask)
	} else {
		s.Timeout = 0 // meaningless without persistence
	}
	return s, nil
}

// decodeDest reads the attributes of one destination of a service of
// family svcFamily (a destination of another family says so itself).
func decodeDest(svcFamily state.Family, b []byte) (*state.Destination, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return nil, err
	}
	d := &state.Destination{Conns: &state.Conns{}}
	var rawAddr []byte
	var port uint16
	fam := svcFamily
	var tunType uint8
	var tunFlags uint16
	for ad.Next() {
		switch ad.Type() {
		case destAddr:
			rawAddr = ad.Bytes()
		case destPort:
			if b := ad.Bytes(); len(b) == 2 {
				port = binary.BigEndian.Uint16(b)
			}
		case destFwdMethod:
			d.Forward = forward(ad.Uint32())
		case destWeight:
			d.Weight = ad.Uint32()
		case destUThresh:
			d.UpperThreshold = ad.Uint32()
		case destLThresh:
			d.LowerThreshold = ad.Uint32()
		case destActiveConns:
			d.Conns.Active = ad.Uint32()
		case destInactConns:
			d.Conns.Inactive = ad.Uint32()
		case destPersistConns:
			d.Conns.Persistent = ad.Uint32()
		case destAddrFamily:
			if f, err := family(ad.Uint16()); err == nil {
				fam = f
			}
		case destTunType:
			tunType = ad.Uint8()
		case destTunPort:
			if b := ad.Bytes(); len(b) == 2 {
				d.TunnelPort = binary.BigEndian.Uint16(b)
			}
		case destTunFlags:
			tunFlags = ad.Uint16()
		}
	}
	if err := ad.Err(); err != nil {
		return nil, err
	}
	a, err := addrFrom(fam, rawAddr)
	if err != nil {
		return nil, err
	}
	d.Addr = netip.AddrPortFrom(a, port)
	if d.Forward == state.TUN {
		d.TunnelType, d.TunnelChecksum = tunnelNames(tunType, tunFlags)
	} else {
		d.TunnelPort = 0
	}
	return d, nil
}
