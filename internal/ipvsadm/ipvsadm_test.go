package ipvsadm

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/lvsctl/lvsctl/internal/state"
)

// Output captured from ipvsadm v1.31 on Debian's 6.1 kernel in the VM lab.
const save = `-A -t 192.168.0.10:80 -s wrr -p 300 -M 255.255.255.0
-a -t 192.168.0.10:80 -r 192.168.0.101:80 -g -w 5
-a -t 192.168.0.10:80 -r 192.168.0.102:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-remcsum
-a -t 192.168.0.10:80 -r 192.168.0.103:80 -i -w 1 --tun-type gre --tun-csum
-A -u 192.168.0.53:53 -s rr -o
-A -u 192.168.0.60:5060 -s sh -p 3600 --pe sip -b sh-fallback,sh-port
-A -f 6 -6 -s mh -p 600 -M 64 -b mh-port
-a -f 6 -6 -r [2001:db8:1::1]:0 -g -w 1
`

const thresholds = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn 
  -> RemoteAddress:Port
TCP  192.168.0.10:80 wrr persistent 300 mask 255.255.255.0
  -> 192.168.0.101:80             100        50         0          0         
  -> 192.168.0.102:80             0          0          0          0         
  -> 192.168.0.103:80             0          0          0          0         
UDP  192.168.0.53:53 rr ops
UDP  192.168.0.60:5060 sh (sh-fallback,sh-port) persistent 3600 pe sip
FWM  6 IPv6 mh (mh-port) persistent 600 mask 64
`

func TestParseCaptured(t *testing.T) {
	svcs, err := ParseSave(save)
	if err != nil {
		t.Fatal(err)
	}
	th, err := ParseThresholds(thresholds)
	if err != nil {
		t.Fatal(err)
	}
	th.Apply(svcs)
	vip := netip.MustParseAddr("192.168.0.10")
	ap := netip.MustParseAddrPort
	want := []*state.Service{
		{Key: state.ServiceKey{Family: state.IPv4, Protocol: state.TCP, Addr: vip, Port: 80}, Scheduler: "wrr", Persistent: true, Timeout: 300, NetmaskBits: 24,
			Dests: []*state.Destination{
				{Addr: ap("192.168.0.101:80"), Weight: 5, Forward: state.DR, UpperThreshold: 100, LowerThreshold: 50},
				{Addr: ap("192.168.0.102:80"), Weight: 1, Forward: state.TUN, TunnelType: "gue", TunnelPort: 6080, TunnelChecksum: "remcsum"},
				{Addr: ap("192.168.0.103:80"), Weight: 1, Forward: state.TUN, TunnelType: "gre", TunnelChecksum: "csum"},
			}},
		{Key: state.ServiceKey{Family: state.IPv4, Protocol: state.UDP, Addr: netip.MustParseAddr("192.168.0.53"), Port: 53}, Scheduler: "rr", OnePacket: true},
		{Key: state.ServiceKey{Family: state.IPv4, Protocol: state.UDP, Addr: netip.MustParseAddr("192.168.0.60"), Port: 5060}, Scheduler: "sh",
			SchedFlags: []string{"sh-fallback", "sh-port"}, Persistent: true, Timeout: 3600, NetmaskBits: 32, PE: "sip"},
		{Key: state.ServiceKey{Family: state.IPv6, FWMark: 6}, Scheduler: "mh", SchedFlags: []string{"mh-port"}, Persistent: true, Timeout: 600, NetmaskBits: 64,
			Dests: []*state.Destination{{Addr: ap("[2001:db8:1::1]:0"), Weight: 1, Forward: state.DR}}},
	}
	if diff := cmp.Diff(want, svcs, cmpopts.EquateComparable(netip.Addr{}, netip.AddrPort{})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// Save writes what ParseSave reads back.
	again, err := ParseSave(Save(want))
	if err != nil {
		t.Fatal(err)
	}
	th.Apply(again)
	if diff := cmp.Diff(want, again, cmpopts.EquateComparable(netip.Addr{}, netip.AddrPort{})); diff != "" {
		t.Errorf("Save then ParseSave (-want +got):\n%s", diff)
	}
	if _, err := ParseSave("-A -t 192.168.0.10:80 -s wrr --frobnicate\n"); err == nil {
		t.Error("unknown option accepted")
	}
	to, err := ParseTimeouts("Timeout (tcp tcpfin udp): 900 120 300\n")
	if err != nil || to.TCP != 900 || to.TCPFin != 120 || to.UDP != 300 {
		t.Errorf("timeouts %+v, %v", to, err)
	}
}

// Captured in the VM lab (Debian's 6.1 kernel): a persistence netmask that is
// not contiguous, destinations on the director's loopback and own address,
// and direct-routing and tunnel destinations whose port differs from the
// service's (written through netlink: ipvsadm -a itself would have replaced
// the port by the service's), on a port and on a firewall-mark service.
const saveUnusual = `-A -t 192.0.2.10:80 -s wrr -p 300 -M 255.255.0.255
-a -t 192.0.2.10:80 -r 10.9.0.254:80 -g -w 1
-a -t 192.0.2.10:80 -r 127.0.0.11:80 -g -w 1
-a -t 192.0.2.10:80 -r 127.0.0.13:8080 -m -w 1
-A -t 192.0.2.20:80 -s wrr
-a -t 192.0.2.20:80 -r 10.9.0.1:8080 -g -w 1
-a -t 192.0.2.20:80 -r 10.9.0.2:8080 -i -w 1 --tun-type ipip
-A -t 192.0.2.30:80 -s rr -p 60 -M 255.0.255.0
-A -t [2001:db8::10]:80 -s rr
-a -t [2001:db8::10]:80 -r [::1]:80 -g -w 1
-A -f 7 -s rr
-a -f 7 -r 10.9.0.1:8080 -g -w 1
-a -f 7 -r 127.0.0.1:0 -g -w 1
`

func TestParseUnusual(t *testing.T) {
	svcs, err := ParseSave(saveUnusual)
	if err != nil {
		t.Fatal(err)
	}
	ap := netip.MustParseAddrPort
	tcp := func(a string) state.ServiceKey {
		return state.ServiceKey{Family: state.FamilyOf(netip.MustParseAddr(a)), Protocol: state.TCP, Addr: netip.MustParseAddr(a), Port: 80}
	}
	want := []*state.Service{
		{Key: tcp("192.0.2.10"), Scheduler: "wrr", Persistent: true, Timeout: 300, Netmask: netip.MustParseAddr("255.255.0.255"),
			Dests: []*state.Destination{
				{Addr: ap("10.9.0.254:80"), Weight: 1, Forward: state.DR},
				{Addr: ap("127.0.0.11:80"), Weight: 1, Forward: state.DR},
				{Addr: ap("127.0.0.13:8080"), Weight: 1, Forward: state.NAT},
			}},
		{Key: tcp("192.0.2.20"), Scheduler: "wrr", Dests: []*state.Destination{
			{Addr: ap("10.9.0.1:8080"), Weight: 1, Forward: state.DR},
			{Addr: ap("10.9.0.2:8080"), Weight: 1, Forward: state.TUN, TunnelType: "ipip", TunnelChecksum: "none"},
		}},
		{Key: tcp("192.0.2.30"), Scheduler: "rr", Persistent: true, Timeout: 60, Netmask: netip.MustParseAddr("255.0.255.0")},
		{Key: tcp("2001:db8::10"), Scheduler: "rr", Dests: []*state.Destination{{Addr: ap("[::1]:80"), Weight: 1, Forward: state.DR}}},
		{Key: state.ServiceKey{Family: state.IPv4, FWMark: 7}, Scheduler: "rr", Dests: []*state.Destination{
			{Addr: ap("10.9.0.1:8080"), Weight: 1, Forward: state.DR},
			{Addr: ap("127.0.0.1:0"), Weight: 1, Forward: state.DR},
		}},
	}
	opts := cmpopts.EquateComparable(netip.Addr{}, netip.AddrPort{})
	if diff := cmp.Diff(want, svcs, opts); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	again, err := ParseSave(Save(want))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, again, opts); diff != "" {
		t.Errorf("Save then ParseSave (-want +got):\n%s", diff)
	}
	if !strings.Contains(Save(want), "-A -t 192.0.2.10:80 -s wrr -p 300 -M 255.255.0.255\n") {
		t.Errorf("Save wrote:\n%s", Save(want))
	}
	// A mask that is contiguous is a prefix length, as before.
	svcs, err = ParseSave("-A -t 192.0.2.10:80 -s wrr -p 300 -M 255.255.255.0\n")
	if err != nil || svcs[0].NetmaskBits != 24 || svcs[0].Netmask.IsValid() {
		t.Errorf("contiguous mask: %+v, %v", svcs, err)
	}
	for _, bad := range []string{"255.255.0.256", "2001:db8::", "129", "-1"} {
		if _, err := ParseSave("-A -t 192.0.2.10:80 -s wrr -p 300 -M " + bad + "\n"); err == nil {
			t.Errorf("-M %s accepted", bad)
		}
	}
}
