package importer

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"cuelang.org/go/cue/format"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/lvsctl/lvsctl/internal/state"
	"github.com/lvsctl/lvsctl/schema"
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

// TestRenderRoundTrip: what import writes is cue fmt clean, loads, and
// derives exactly the IPVS table it was made from.
func TestRenderRoundTrip(t *testing.T) {
	rules := `-A -t 192.168.0.10:80 -s wrr -p 300
-a -t 192.168.0.10:80 -r 192.168.0.101:80 -g -w 5
-a -t 192.168.0.10:80 -r 222.117.155.123:80 -g -w 10
-A -u 192.168.0.10:53 -s rr -o
-a -u 192.168.0.10:53 -r 192.168.0.101:53 -g -w 1
-A -t 192.168.0.10:53 -s rr
-a -t 192.168.0.10:53 -r 192.168.0.101:53 -g -w 1 -x 10 -y 2
-A -t 192.168.0.10:443 -s sh -p 60 -M 255.255.0.255
-a -t 192.168.0.10:443 -r 192.168.0.101:443 -g -w 1
-A -t [2001:db8::1]:443 -s mh -b mh-fallback,mh-port -p 100 -M 64
-a -t [2001:db8::1]:443 -r [2001:db8::5]:443 -i -w 3 --tun-type gre --tun-csum
-A -t 211.47.13.234:80 -s wlc
-a -t 211.47.13.234:80 -r 10.0.0.101:8080 -m -w 1
-a -t 211.47.13.234:80 -r 10.0.0.101:8081 -m -w 2
-a -t 211.47.13.234:80 -r 10.0.0.102:8080 -m -w 0
-A --sctp-service 10.9.9.9:3868 -s sed
`
	r, err := ReadIPVSRules(strings.NewReader(rules), "rules", nil)
	if err != nil {
		t.Fatal(err)
	}
	def := &Definition{Hosts: []*Host{{Name: "lvs1", SSH: &SSH{Address: "lvs1.example.com"}, Boot: "none"}}}
	dir := def.Director("lvs1")
	for _, s := range r.Services {
		dir.AddService(s)
	}
	loaded := renderAndLoad(t, def)
	got := loaded.Hosts["lvs1"].Services
	opts := cmp.Options{addrs, cmpopts.IgnoreFields(state.Service{}, "Why"), cmpopts.IgnoreFields(state.Destination{}, "Why"),
		cmpopts.SortSlices(func(a, b *state.Destination) bool { return a.Addr.String() < b.Addr.String() }),
		cmpopts.SortSlices(func(a, b *state.Service) bool { return a.Key.String() < b.Key.String() })}
	if diff := cmp.Diff(r.Services, got, opts); diff != "" {
		t.Errorf("the imported definition derives another table (-ipvsadm +lvsctl)\n%s", diff)
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range loaded.Cluster.Directors["lvs1"].Services {
			if !yield(n) {
				return
			}
		}
	})
	want := []string{"192.168.0.10:443", "192.168.0.10:53", "192.168.0.10:80", "2001:db8::1.443", "211.47.13.234:80", "sctp@10.9.9.9:3868", "udp@192.168.0.10:53"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("service names (-want +got)\n%s", diff)
	}
	reals := loaded.Cluster.Directors["lvs1"].Services["211.47.13.234:80"].RealServers
	if _, ok := reals["10.0.0.101:8081"]; !ok || len(reals) != 3 {
		t.Errorf("real servers of one address on two ports are named by address and port: %v", slices.Collect(func(y func(string) bool) {
			for n := range reals {
				if !y(n) {
					return
				}
			}
		}))
	}
}

// renderAndLoad writes def as lvsctl import does, checks that cue fmt would
// leave it as it is, and loads it as lvsctl plan does.
func renderAndLoad(t *testing.T, def *Definition) *schema.Loaded {
	t.Helper()
	out, err := Render(def, "cluster")
	if err != nil {
		t.Fatal(err)
	}
	// cue fmt formats with format.Node, and cue fmt -s simplifies too.
	for _, opts := range [][]format.Option{nil, {format.Simplify()}} {
		again, err := format.Source(out, opts...)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(string(again), string(out)); diff != "" {
			t.Errorf("cue fmt (%d options) would change the output (-fmt +import)\n%s", len(opts), diff)
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "imported.cue"), out, 0o644); err != nil {
		t.Fatal(err)
	}
	loaded, err := schema.Load(dir)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return loaded
}

// TestRenderComments: comments are cleaned of control characters and
// wrapped, and cannot end the comment early.
func TestRenderComments(t *testing.T) {
	def := &Definition{Header: []string{"from \x1b[2Jhostile\x07 input\nsecond line */ hosts: {}"},
		Hosts: []*Host{{Name: "d", Local: true, Comment: []string{strings.Repeat("word ", 40)}}}}
	out, err := Render(def, "cluster")
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(string(out), "\x1b\x07") {
		t.Errorf("control characters in the output:\n%q", out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if len(strings.ReplaceAll(l, "\t", "        ")) > 80 {
			t.Errorf("a line over 80 columns: %q", l)
		}
		if strings.Contains(l, "hosts: {}") && !strings.HasPrefix(strings.TrimSpace(l), "//") {
			t.Errorf("comment text escaped its comment: %q", l)
		}
	}
	renderAndLoad(t, def)
}
