package importer

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"cuelang.org/go/cue/format"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/lvsctl/lvsctl/internal/ipvsadm"
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
	r, err := ipvsadm.ReadIPVSRules(strings.NewReader(rules), "rules", nil)
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
