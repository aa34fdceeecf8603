package ipvs

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/genetlink/genltest"
	"github.com/mdlayher/netlink"

	"github.com/lvsctl/lvsctl/internal/state"
)

var cmpAddrs = cmpopts.EquateComparable(netip.Addr{}, netip.AddrPort{})

func v4svc(sched string) state.ServiceKey {
	return state.ServiceKey{Family: state.IPv4, Protocol: state.TCP, Addr: netip.MustParseAddr("192.168.0.10"), Port: 80}
}

// Every setting the schema offers survives encoding and decoding, in the
// layout the kernel uses for both requests and dumps.
func TestServiceRoundTrip(t *testing.T) {
	cases := []*state.Service{
		{Key: v4svc("wlc"), Scheduler: "wlc"},
		{Key: v4svc("wrr"), Scheduler: "wrr", Persistent: true, Timeout: 300, NetmaskBits: 32},
		{Key: v4svc("sh"), Scheduler: "sh", SchedFlags: []string{"sh-fallback", "sh-port"}, Persistent: true, Timeout: 1800, NetmaskBits: 24},
		{Key: state.ServiceKey{Family: state.IPv6, FWMark: 6}, Scheduler: "mh", SchedFlags: []string{"mh-port"}, Persistent: true, Timeout: 600, NetmaskBits: 64},
		{Key: state.ServiceKey{Family: state.IPv4, Protocol: state.UDP, Addr: netip.MustParseAddr("203.0.113.53"), Port: 53}, Scheduler: "rr", OnePacket: true},
		{Key: state.ServiceKey{Family: state.IPv4, Protocol: state.UDP, Addr: netip.MustParseAddr("203.0.113.60"), Port: 5060}, Scheduler: "sed", Persistent: true, Timeout: 3600, NetmaskBits: 32, PE: "sip"},
		{Key: state.ServiceKey{Family: state.IPv6, Protocol: state.SCTP, Addr: netip.MustParseAddr("2001:db8::1"), Port: 3868}, Scheduler: "twos"},
		{Key: state.ServiceKey{Family: state.IPv4, FWMark: 4294967295}, Scheduler: "lblcr", Persistent: true, Timeout: 2678400, NetmaskBits: 0},
		// Netmasks that are not contiguous, as ipvsadm -M and the kernel take them.
		{Key: v4svc("wrr"), Scheduler: "wrr", Persistent: true, Timeout: 300, Netmask: netip.MustParseAddr("255.255.0.255")},
		{Key: v4svc("wrr"), Scheduler: "wrr", Persistent: true, Timeout: 300, Netmask: netip.MustParseAddr("0.0.0.255")},
	}
	for _, want := range cases {
		ae := netlink.NewAttributeEncoder()
		if err := encodeService(ae, want); err != nil {
			t.Fatal(err)
		}
		b, err := ae.Encode()
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeService(b)
		if err != nil {
			t.Fatalf("%s: %v", want.Key, err)
		}
		if diff := cmp.Diff(want, got, cmpAddrs, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s (-want +got):\n%s", want.Key, diff)
		}
	}
}

func TestDestinationRoundTrip(t *testing.T) {
	k := v4svc("wrr")
	ap := netip.MustParseAddrPort
	cases := []*state.Destination{
		{Addr: ap("192.168.0.101:80"), Weight: 5, Forward: state.DR},
		{Addr: ap("10.0.0.101:8080"), Weight: 0, Forward: state.NAT, UpperThreshold: 2000, LowerThreshold: 1500},
		{Addr: ap("10.0.0.102:8080"), Weight: 2147483647, Forward: state.NAT},
		{Addr: ap("203.0.113.11:80"), Weight: 1, Forward: state.TUN, TunnelType: "ipip", TunnelChecksum: "none"},
		{Addr: ap("203.0.113.12:80"), Weight: 1, Forward: state.TUN, TunnelType: "gre", TunnelChecksum: "csum"},
		{Addr: ap("203.0.113.13:80"), Weight: 1, Forward: state.TUN, TunnelType: "gue", TunnelPort: 6080, TunnelChecksum: "remcsum"},
		{Addr: ap("[2001:db8::11]:80"), Weight: 3, Forward: state.TUN, TunnelType: "ipip", TunnelChecksum: "none"}, // mixed family
		{Addr: ap("192.0.2.1:80"), Weight: 1, Forward: state.DR, UpperThreshold: 4294967295, LowerThreshold: 4294967295},
		{Addr: ap("127.0.0.11:80"), Weight: 1, Forward: state.Local}, // as a kernel that reports local nodes reads it
	}
	for _, want := range cases {
		ae := netlink.NewAttributeEncoder()
		if err := encodeDest(ae, k, want); err != nil {
			t.Fatal(err)
		}
		b, err := ae.Encode()
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeDest(k.Family, b)
		if err != nil {
			t.Fatalf("%s: %v", want.Addr, err)
		}
		got.Conns = nil
		if diff := cmp.Diff(want, got, cmpAddrs); diff != "" {
			t.Errorf("%s (-want +got):\n%s", want.Addr, diff)
		}
	}
}

// The IPv4 netmask is the mask in network byte order, contiguous or not;
// IPv6 keeps a prefix length; a service that is not persistent gets the full
// mask (as ipvsadm).
func TestNetmaskEncoding(t *testing.T) {
	for _, tc := range []struct {
		f          state.Family
		bits       int
		mask       string
		persistent bool
		want       []byte
	}{
		{state.IPv4, 24, "", true, []byte{255, 255, 255, 0}},
		{state.IPv4, 0, "", true, []byte{0, 0, 0, 0}},
		{state.IPv4, 32, "", true, []byte{255, 255, 255, 255}},
		{state.IPv4, 8, "", false, []byte{255, 255, 255, 255}},
		{state.IPv4, 0, "255.255.0.255", true, []byte{255, 255, 0, 255}},
		{state.IPv4, 0, "255.0.255.0", false, []byte{255, 255, 255, 255}},
		{state.IPv6, 64, "", true, netlinkU32(64)},
		{state.IPv6, 0, "", false, netlinkU32(128)},
	} {
		s := &state.Service{Key: state.ServiceKey{Family: tc.f}, NetmaskBits: tc.bits, Persistent: tc.persistent}
		if tc.mask != "" {
			s.Netmask = netip.MustParseAddr(tc.mask)
		}
		if got := netmask(s); !cmp.Equal(got, tc.want) {
			t.Errorf("netmask(%s, /%d %q, persistent %v) = %v, want %v", tc.f, tc.bits, tc.mask, tc.persistent, got, tc.want)
		}
	}
	// Read back, a contiguous mask is a prefix length and only another is
	// kept as a mask.
	for mask, want := range map[string]string{"255.255.255.0": "/24", "0.0.0.0": "/0", "255.255.255.255": "/32", "255.255.0.255": "/255.255.0.255", "128.0.0.1": "/128.0.0.1"} {
		s := &state.Service{Key: state.ServiceKey{Family: state.IPv4}}
		setNetmask(s, netip.MustParseAddr(mask).AsSlice())
		if got := s.MaskText(); got != want {
			t.Errorf("mask %s read back as %s, want %s", mask, got, want)
		}
		if got := s.IPv4Mask(); got != binary.BigEndian.Uint32(netip.MustParseAddr(mask).AsSlice()) {
			t.Errorf("mask %s read back as %#x", mask, got)
		}
	}
}

func netlinkU32(v uint32) []byte {
	ae := netlink.NewAttributeEncoder()
	ae.Uint32(1, v)
	b, _ := ae.Encode()
	return b[4:8]
}

// fakeKernel answers as the IPVS family would, recording requests.
func fakeKernel(t *testing.T, reply func(cmd uint8, data []byte) ([]genetlink.Message, error)) (*Conn, *[]uint8) {
	t.Helper()
	var cmds []uint8
	c := genltest.Dial(genltest.ServeFamily(genetlink.Family{ID: 42, Name: familyName, Version: familyVersion},
		func(greq genetlink.Message, nreq netlink.Message) ([]genetlink.Message, error) {
			if nreq.Header.Type == 0 {
				return nil, nil // nltest polling the receive side, not a request
			}
			cmds = append(cmds, greq.Header.Command)
			return reply(greq.Header.Command, greq.Data)
		}))
	conn, err := newConn(c)
	if err != nil {
		t.Fatal(err)
	}
	conn.noDeadline = true
	t.Cleanup(func() { conn.Close() })
	return conn, &cmds
}

// A new service carries the full entry the kernel demands: scheduler, flags,
// timeout and netmask, beside the key.
func TestAddServiceRequest(t *testing.T) {
	var seen []uint16
	c, cmds := fakeKernel(t, func(cmd uint8, data []byte) ([]genetlink.Message, error) {
		ad, _ := netlink.NewAttributeDecoder(data)
		for ad.Next() {
			if ad.Type() == attrService {
				nd, _ := netlink.NewAttributeDecoder(ad.Bytes())
				for nd.Next() {
					seen = append(seen, nd.Type())
				}
			}
		}
		return nil, nil
	})
	if err := c.AddService(&state.Service{Key: v4svc("wlc"), Scheduler: "wlc"}); err != nil {
		t.Fatal(err)
	}
	want := []uint16{svcAF, svcProtocol, svcAddr, svcPort, svcSchedName, svcFlags, svcTimeout, svcNetmask}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("service attributes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]uint8{cmdNewService}, *cmds); diff != "" {
		t.Errorf("commands (-want +got):\n%s", diff)
	}
	if c.Writes() != 1 {
		t.Errorf("Writes() = %d, want 1", c.Writes())
	}
}

// A weight change is exactly one SET_DEST request.
func TestUpdateDestinationIsOneRequest(t *testing.T) {
	c, cmds := fakeKernel(t, func(uint8, []byte) ([]genetlink.Message, error) { return nil, nil })
	d := &state.Destination{Addr: netip.MustParseAddrPort("192.168.0.101:80"), Weight: 7, Forward: state.DR}
	if err := c.UpdateDestination(v4svc("wrr"), d); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]uint8{cmdSetDest}, *cmds); diff != "" || c.Writes() != 1 {
		t.Errorf("commands (-want +got):\n%s, writes %d", diff, c.Writes())
	}
}

func TestNoIPVSFamily(t *testing.T) {
	c := genltest.Dial(func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		return nil, syscall.ENOENT
	})
	_, err := newConn(c)
	if !errors.Is(err, ErrNotAvailable) || !strings.Contains(err.Error(), "IPVS is not available in this kernel") {
		t.Fatalf("got %v, want ErrNotAvailable", err)
	}
}

func TestErrorsNameObjectAndErrno(t *testing.T) {
	c, _ := fakeKernel(t, func(cmd uint8, _ []byte) ([]genetlink.Message, error) {
		return nil, syscall.ENOENT
	})
	err := c.AddService(&state.Service{Key: v4svc("twos"), Scheduler: "twos"})
	var oe *OpError
	if !errors.As(err, &oe) || !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("got %T %v", err, err)
	}
	for _, want := range []string{"add service TCP 192.168.0.10:80", "scheduler or persistence engine is not available", "ENOENT"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
}

func TestDumpsDoNotCountAsWrites(t *testing.T) {
	c, _ := fakeKernel(t, func(uint8, []byte) ([]genetlink.Message, error) { return nil, nil })
	if _, err := c.Services(); err != nil {
		t.Fatal(err)
	}
	if c.Writes() != 0 {
		t.Errorf("Writes() = %d after a dump", c.Writes())
	}
}
