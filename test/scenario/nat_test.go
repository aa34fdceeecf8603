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
	// Sync daemons, on the same boot: a master on the director, a backup on
	// a second director d2 beside it on the real servers' network; then a
	// changed sync ID; then none (d2 stays a host, so lvsctl stops what it
	// started there).
	d2 := "\nhosts: d2: netns: \"d2\"\n"
	sync := cfg + d2 + `directors: director: sync: master: {interface: "eth1", syncID: 7}
directors: d2: sync: backup: {interface: "eth1", syncID: 7}
`
	syncID := strings.Replace(sync, `master: {interface: "eth1", syncID: 7}`, `master: {interface: "eth1", syncID: 8}`, 1)
	noSync := cfg + d2
	r, err := vmlab.Run(context.Background(), vmlab.Scenario{
		Name:     "nat",
		Binaries: binaries(t),
		Files: map[string][]byte{"/lab/nat/cluster.cue": []byte(cfg), "/lab/sync/cluster.cue": []byte(sync),
			"/lab/syncid/cluster.cue": []byte(syncID), "/lab/nosync/cluster.cue": []byte(noSync)},
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
ip netns add d2
ip -n d2 link set lo up
veth d2 br1 eth1 10.0.0.235/24
lvsctl plan sync > /out/sync-plan1 2>/dev/null
lvsctl apply --auto-approve sync > /out/sync-apply1 2>/out/sync-apply1.err
ip netns exec director ipvsadm -L --daemon > /out/sync-1
ip netns exec d2 ipvsadm -L --daemon >> /out/sync-1
c=0; lvsctl plan --detailed-exitcode sync > /out/sync-plan2 2>/dev/null || c=$?; echo $c > /out/sync-plan2.code
lvsctl plan syncid > /out/sync-plan3 2>/dev/null
lvsctl apply --auto-approve syncid > /out/sync-apply3 2>/out/sync-apply3.err
ip netns exec director ipvsadm -L --daemon > /out/sync-3
ip netns exec d2 ipvsadm -L --daemon >> /out/sync-3
lvsctl apply --auto-approve nosync > /out/sync-apply4 2>/out/sync-apply4.err
ip netns exec director ipvsadm -L --daemon > /out/sync-4
ip netns exec d2 ipvsadm -L --daemon >> /out/sync-4
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

	// Sync daemons: started by apply, read back by ipvsadm, no changes
	// after, a changed sync ID is one replacement, and none stops both.
	t.Logf("--- plan with sync daemons ---\n%s\n--- sync ID changed ---\n%s", f("sync-plan1"), f("sync-plan3"))
	for _, line := range []string{"+ sync daemon master (eth1, syncid 7)", "+ sync daemon backup (eth1, syncid 7)", "Plan: 2 to add, 0 to change, 0 to destroy."} {
		if !strings.Contains(f("sync-plan1"), line) {
			t.Errorf("plan with sync daemons lacks %q:\n%s", line, f("sync-plan1"))
		}
	}
	want1 := "master sync daemon (mcast=eth1, syncid=7, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n" +
		"backup sync daemon (mcast=eth1, syncid=7, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n"
	if f("sync-1") != want1 {
		t.Errorf("ipvsadm -L --daemon on director and d2 after apply:\n%s\napply:\n%s\n%s", f("sync-1"), f("sync-apply1"), f("sync-apply1.err"))
	}
	if f("sync-plan2.code") != "0\n" || !strings.Contains(f("sync-plan2"), "No changes.") {
		t.Errorf("plan after the daemons started (exit %s):\n%s", f("sync-plan2.code"), f("sync-plan2"))
	}
	if !strings.Contains(f("sync-plan3"), "-/+ sync daemon master: syncid 7 → 8") ||
		!strings.Contains(f("sync-plan3"), "Plan: 1 to add, 0 to change, 1 to destroy.") ||
		!strings.Contains(f("sync-plan3"), "cannot change a running sync daemon") {
		t.Errorf("plan for a changed sync ID:\n%s", f("sync-plan3"))
	}
	if ops := opLine.FindAllString(f("sync-apply3.err"), -1); len(ops) != 2 || !strings.HasPrefix(ops[0], "director: ipvs.stop-daemon") ||
		!strings.HasPrefix(ops[1], "director: ipvs.start-daemon") {
		t.Errorf("operations for a changed sync ID: %q\n%s", ops, f("sync-apply3.err"))
	}
	if want := strings.Replace(want1, "syncid=7", "syncid=8", 1); f("sync-3") != want {
		t.Errorf("ipvsadm -L --daemon after the sync ID changed:\n%s", f("sync-3"))
	}
	if f("sync-4") != "" || !strings.Contains(f("sync-apply4"), "0 added, 0 changed, 2 destroyed.") {
		t.Errorf("daemons left after sync was removed:\n%s\n%s\n%s", f("sync-4"), f("sync-apply4"), f("sync-apply4.err"))
	}
}
