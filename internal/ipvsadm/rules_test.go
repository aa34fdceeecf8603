package ipvsadm

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/lvsctl/lvsctl/internal/state"
)

var addrs = cmp.Options{cmpopts.EquateComparable(netip.Addr{}, netip.AddrPort{}, netip.Prefix{})}

func svcKey(proto state.Protocol, ap string) state.ServiceKey {
	a := netip.MustParseAddrPort(ap)
	return state.ServiceKey{Family: state.FamilyOf(a.Addr()), Protocol: proto, Addr: a.Addr(), Port: a.Port()}
}

func dest(ap string, w uint32, f state.Forward) *state.Destination {
	return &state.Destination{Addr: netip.MustParseAddrPort(ap), Weight: w, Forward: f}
}

func TestReadIPVSRules(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []*state.Service
	}{{
		name: "ipvsadm -S -n, the guide's DR example",
		in: `-A -t 192.168.0.10:80 -s wrr -p 300
-a -t 192.168.0.10:80 -r 192.168.0.101:80 -g -w 5
-a -t 192.168.0.10:80 -r 222.117.155.123:80 -g -w 10
`,
		want: []*state.Service{{Key: svcKey(state.TCP, "192.168.0.10:80"), Scheduler: "wrr", Persistent: true, Timeout: 300, NetmaskBits: 32,
			Dests: []*state.Destination{dest("192.168.0.101:80", 5, state.DR), dest("222.117.155.123:80", 10, state.DR)}}},
	}, {
		name: "a rules file: comments, -C, long options, ipvsadm's defaults",
		in: `# /etc/ipvsadm.rules
-C
ipvsadm --add-service --udp-service 10.1.1.1:53 --scheduler=rr
--add-server -u 10.1.1.1:53 --real-server 10.1.2.1 --masquerading
-A -t 10.1.1.1:25 -p
-a -t 10.1.1.1:25 -r 10.1.2.2:2525 -m -w5 -x 100 -y 10
`,
		want: []*state.Service{
			{Key: svcKey(state.UDP, "10.1.1.1:53"), Scheduler: "rr", Dests: []*state.Destination{dest("10.1.2.1:53", 1, state.NAT)}},
			{Key: svcKey(state.TCP, "10.1.1.1:25"), Scheduler: "wlc", Persistent: true, Timeout: 300, NetmaskBits: 32,
				Dests: []*state.Destination{{Addr: netip.MustParseAddrPort("10.1.2.2:2525"), Weight: 5, Forward: state.NAT, UpperThreshold: 100, LowerThreshold: 10}}},
		},
	}, {
		name: "firewall marks, IPv6, tunnels, flags, one-packet, persistence engine",
		in: `-A -f 7 -s wlc -p 600 -M 255.255.255.0
-a -f 7 -r 192.168.0.101:0 -g -w 1
-A -f 9 -6 -s sh -b sh-port,sh-fallback -p 60 -M 64
-a -f 9 -6 -r [2001:db8::7]:0 -i -w 2 --tun-type gue --tun-port 6080 --tun-remcsum
-A -u [2001:db8::1]:5060 -s rr -p 30 --pe sip -o
-a -u [2001:db8::1]:5060 -r [2001:db8::2]:5060 -m -w 1
`,
		want: []*state.Service{
			{Key: state.ServiceKey{Family: state.IPv4, FWMark: 7}, Scheduler: "wlc", Persistent: true, Timeout: 600, NetmaskBits: 24,
				Dests: []*state.Destination{dest("192.168.0.101:0", 1, state.DR)}},
			{Key: state.ServiceKey{Family: state.IPv6, FWMark: 9}, Scheduler: "sh", SchedFlags: []string{"sh-fallback", "sh-port"}, Persistent: true, Timeout: 60, NetmaskBits: 64,
				Dests: []*state.Destination{{Addr: netip.MustParseAddrPort("[2001:db8::7]:0"), Weight: 2, Forward: state.TUN, TunnelType: "gue", TunnelPort: 6080, TunnelChecksum: "remcsum"}}},
			{Key: svcKey(state.UDP, "[2001:db8::1]:5060"), Scheduler: "rr", Persistent: true, Timeout: 30, NetmaskBits: 128, PE: "sip", OnePacket: true,
				Dests: []*state.Destination{dest("[2001:db8::2]:5060", 1, state.NAT)}},
		},
	}, {
		name: "edits apply to what came before",
		in: `-A -t 10.0.0.1:80 -s rr
-a -t 10.0.0.1:80 -r 10.0.0.2:80 -g -w 1
-E -t 10.0.0.1:80 -s wrr
-e -t 10.0.0.1:80 -r 10.0.0.2:80 -g -w 4
`,
		want: []*state.Service{{Key: svcKey(state.TCP, "10.0.0.1:80"), Scheduler: "wrr", Dests: []*state.Destination{dest("10.0.0.2:80", 4, state.DR)}}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadIPVSRules(strings.NewReader(tc.in), "rules", nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got.Services, addrs); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestReadIPVSRulesErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.9:80 -r 10.0.0.2", "rules:2: real server of service TCP 10.0.0.9:80, which no earlier line adds"},
		{"-A -t 10.0.0.1:80 -s fastest", `rules:1: -s fastest: not a scheduler the kernel has`},
		{"\n\n-A -t 10.0.0.1 -s rr", "rules:3: -t 10.0.0.1: a service needs a port"},
		{"-A -t www.example.com:80", `rules:1: -t www.example.com:80: "www.example.com" is not an address (save the table with ipvsadm -S -n`},
		{"-A -t 10.0.0.1:80\n-A -t 10.0.0.1:80", "rules:2: service TCP 10.0.0.1:80 is added twice"},
		{"-A -t 10.0.0.1:80 -s rr -Z", "rules:1: option -Z does not go with -A"},
		{"-A -t 10.0.0.1:80 -p 300 -M 255.0.255.0\x1b[31m", `rules:1: -M 255.0.255.0\x1b[31m: not a netmask`},
		{"-A -t [2001:db8::1]:80 -p 300 -M 255.255.0.0", `rules:1: -M 255.255.0.0: an IPv6 service groups clients by a prefix length`},
		{"-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.0.2 -w 3000000000", "rules:2: -w 3000000000: not a number in range"},
		{"-A -f 0", "rules:1: -f 0: a firewall mark is a number from 1 to 4294967295"},
		{"-D -t 10.0.0.1:80", "rules:1: -D is not a rule of an IPVS table"},
		{"hello", `rules:1: "hello" is not an ipvsadm rule`},
		{"-A -t 10.0.0.1:80\n-C", "rules:2: -C (clear the table) after rules"},
		{"-A -t 10.0.0.1:80 -s " + strings.Repeat("x", 5000), "rules:1: a line longer than 4096 bytes"},
	} {
		_, err := ReadIPVSRules(strings.NewReader(tc.in), "rules", nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}

type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := f[host]; ok {
		return a, nil
	}
	return nil, fmt.Errorf("no such host")
}

// TestReadIPVSRulesNames: ipvsadm -S without -n prints host and service
// names; they are resolved, and said so.
func TestReadIPVSRulesNames(t *testing.T) {
	res := fakeResolver{
		"vip.example.com": {netip.MustParseAddr("192.0.2.10")},
		"rs1.example.com": {netip.MustParseAddr("192.0.2.21")},
		"two.example.com": {netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")},
	}
	r, err := ReadIPVSRules(strings.NewReader("-A -t vip.example.com:http -s wrr\n-a -t vip.example.com:http -r rs1.example.com:http -g -w 2\n"), "save", res)
	if _, serr := os.Stat("/etc/services"); serr != nil {
		t.Fatalf("this test needs /etc/services for the name http: %v", serr)
	}
	if err != nil {
		t.Fatal(err)
	}
	want := []*state.Service{{Key: svcKey(state.TCP, "192.0.2.10:80"), Scheduler: "wrr", Dests: []*state.Destination{dest("192.0.2.21:80", 2, state.DR)}}}
	if diff := cmp.Diff(want, r.Services, addrs); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	if !slices.ContainsFunc(r.Notes, func(n string) bool { return strings.Contains(n, "vip.example.com is 192.0.2.10") }) {
		t.Errorf("no note of the resolved name: %q", r.Notes)
	}
	_, err = ReadIPVSRules(strings.NewReader("-A -t two.example.com:80\n"), "save", res)
	if err == nil || !strings.Contains(err.Error(), "save:1: -t two.example.com:80: two.example.com resolves to 2 addresses") {
		t.Errorf("got %v", err)
	}
}
