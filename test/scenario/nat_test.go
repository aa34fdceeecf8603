package scenario

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/lvsctl/lvsctl/internal/ipvsadm"
	"github.com/lvsctl/lvsctl/internal/vmlab"
)

// The guide's NAT example from an empty kernel: the director forwards, the
// real servers answer on 8080 through it, and requests split by weight. The
// real servers' default route is checked and reported, never changed.
func TestNAT(t *testing.T) {
	vmlab.Require(t)
	cfg := labConfig(t, "nat", NATHosts)
	r, err := vmlab.Run(context.Background(), vmlab.Scenario{
		Name:     "nat",
		Binaries: binaries(t),
		Files:    map[string][]byte{"/lab/nat/cluster.cue": []byte(cfg)},
		Script: `set -e
` + NATNetwork + `
# rs2's default route goes elsewhere: lvsctl reports it and changes nothing.
ip -n rs2 route replace default via 10.0.0.1
cd /lab
cat /proc/sys/net/ipv4/ip_forward > /out/forward-root-before
lvsctl plan nat > /out/plan1 2>/dev/null
ip -n rs2 route replace default via 10.0.0.234
lvsctl apply --auto-approve nat > /out/apply 2>/out/apply.err
ip netns exec director cat /proc/sys/net/ipv4/ip_forward > /out/forward
cat /proc/sys/net/ipv4/ip_forward > /out/forward-root
ip netns exec director ipvsadm -S -n > /out/save
ip -n rs2 route show default > /out/rs2-route
ip netns exec client hits -url http://211.47.13.234/ -n 30 > /out/hits
lvsctl plan nat > /out/plan2 2>/dev/null
`,
		Timeout: 180 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	f := func(name string) string { return string(r.Files[name]) }
	if r.ExitCode != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.ExitCode, r.Stderr, f("apply.err"))
	}
	t.Logf("VM run %v\n--- first plan ---\n%s", r.Duration, f("plan1"))
	if !strings.Contains(f("plan1"), "rs2: default route is via 10.0.0.1, but it must be via 10.0.0.234") ||
		strings.Contains(f("plan1"), "rs1: default route") || strings.Contains(f("plan1"), "route 0.0.0.0/0") {
		t.Errorf("the route check, reported and not planned:\n%s", f("plan1"))
	}
	if !strings.Contains(f("plan1"), "~ sysctl net.ipv4.ip_forward: value 0 → 1") {
		t.Errorf("ip_forward not planned:\n%s", f("plan1"))
	}
	if f("forward") != "1\n" || f("forward-root") != f("forward-root-before") {
		t.Errorf("ip_forward: director %q, VM's own namespace %q (was %q)", f("forward"), f("forward-root"), f("forward-root-before"))
	}
	guide, _ := ipvsadm.ParseSave("-A -t 211.47.13.234:80 -s wlc\n-a -t 211.47.13.234:80 -r 10.0.0.101:8080 -m -w 1\n-a -t 211.47.13.234:80 -r 10.0.0.102:8080 -m -w 2\n")
	got, err := ipvsadm.ParseSave(f("save"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(guide, got, cmpopts.EquateComparable(netip.Addr{}, netip.AddrPort{})); diff != "" {
		t.Errorf("ipvsadm -S -n (-guide +lvsctl):\n%s", diff)
	}
	// wlc weighs active connections 256 times inactive ones, so whether the
	// previous request's connection still counts as active when the next one
	// arrives (a matter of timing in an emulated guest) can move one request:
	// 11/19 was seen once in 2 runs on a loaded machine. Weights 1:2 must
	// still show within one request of 10/20.
	if c := counts(t, r.Files["hits"]); c["rs1"] < 9 || c["rs1"] > 11 || c["rs1"]+c["rs2"] != 30 || c["errors"] != 0 {
		t.Errorf("requests by real server, wlc 1:2: %v", c)
	}
	if !strings.Contains(f("plan2"), "No changes.") || strings.Contains(f("plan2"), "default route") {
		t.Errorf("plan after apply:\n%s", f("plan2"))
	}
	if !strings.Contains(f("rs2-route"), "via 10.0.0.234") {
		t.Errorf("rs2's route: %s", f("rs2-route"))
	}
}
