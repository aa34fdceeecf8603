package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lvsctl/lvsctl/internal/vmlab"
)

// snapshot prints every host's whole live state: addresses, routes, the
// sysctls lvsctl touches, nftables, the IPVS table and timeouts, and the
// inventories.
const snapshot = `
snap() {
	for ns in director rs1 rs2; do
		echo "## $ns"
		ip -n $ns -o addr show | sed "s/ tentative//" # duplicate address detection's, a matter of timing
		ip -n $ns route show
		ip netns exec $ns sh -c 'for f in /proc/sys/net/ipv4/conf/*/arp_ignore /proc/sys/net/ipv4/conf/*/arp_announce /proc/sys/net/ipv4/conf/*/rp_filter /proc/sys/net/ipv4/ip_forward; do echo "$f $(cat $f)"; done'
		ip netns exec $ns nft list ruleset
		ip netns exec $ns ipvsadm -S -n
		ip netns exec $ns ipvsadm -L --timeout
	done
	cat /var/lib/lvsctl/inventory-* 2>/dev/null || true
}
`

// The guide's firewall-mark example. First, failures: a scheduler whose
// module is missing from the kernel, and then a failure injected at every
// step in turn; each must leave every host exactly as before. Then the
// example applied: HTTP and HTTPS from one client land on one real server.
func TestFirewallMarksAndRollback(t *testing.T) {
	vmlab.Require(t)
	cfg := labConfig(t, "firewall-marks", noBoot(`	director: netns: "director"
	rs1: {netns: "rs1", interface: "eth0"}
	rs2: {netns: "rs2", interface: "eth0"}`))
	sed := strings.Replace(cfg, "fwmark: 7\n", "fwmark: 7\n\t\tscheduler: \"sed\"\n", 1)
	if sed == cfg {
		t.Fatal("could not set the scheduler in the firewall-marks example")
	}
	var modules []string // the lab's defaults, without the sed scheduler
	for _, m := range vmlab.DefaultModules {
		if m != "ip_vs_sed" {
			modules = append(modules, m)
		}
	}
	r, err := vmlab.Run(context.Background(), vmlab.Scenario{
		Name:     "fwmark",
		Modules:  modules,
		Binaries: binaries(t),
		Files:    map[string][]byte{"/lab/fwm/cluster.cue": []byte(cfg), "/lab/sed/cluster.cue": []byte(sed)},
		Script: Topology + snapshot + `
set -e
mk client eth0 192.168.0.2/24
mk director ens33 192.168.0.1/24
mk rs1 eth0 192.168.0.101/24
mk rs2 eth0 192.168.0.102/24
for i in $(seq 150 159); do ip -n client addr add 192.168.0.$i/24 dev eth0; done
for rs in rs1 rs2; do ip netns exec $rs namesrv $rs :80 & ip netns exec $rs namesrv $rs :443 & done
sleep 1
cd /lab
snap > /out/before

# A scheduler the kernel does not have: its module is gone.
rm -f /lib/modules/*/kernel/net/netfilter/ipvs/ip_vs_sed.ko
lvsctl apply --auto-approve sed > /out/sed 2>&1 || true
snap > /out/after-sed

# A failure injected at operation k, for every k.
k=1
while [ $k -lt 100 ]; do
	LVSCTL_TEST_FAIL_AT=$k lvsctl apply --auto-approve fwm > /out/fail-$k 2>&1 || true
	if grep -q "Apply complete" /out/fail-$k; then break; fi
	snap > /tmp/after
	cmp -s /out/before /tmp/after || cp /tmp/after /out/after-$k
	k=$((k+1))
done
echo $k > /out/last

for i in $(seq 150 159); do
	a=$(ip netns exec client hits -url http://192.168.0.20/ -from 192.168.0.$i)
	b=$(ip netns exec client hits -url http://192.168.0.20:443/ -from 192.168.0.$i)
	echo "$a $b" >> /out/pairs
done
ip netns exec director ipvsadm -S -n > /out/save
`,
		Timeout: 300 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	f := func(name string) string { return string(r.Files[name]) }
	if r.ExitCode != 0 {
		t.Fatalf("exit %d\n%s", r.ExitCode, r.Stderr)
	}
	t.Logf("VM run %v", r.Duration)

	if !strings.Contains(f("sed"), "Apply failed on director at: ipvs.add-service FWM 7") ||
		!strings.Contains(f("sed"), "scheduler or persistence engine is not available in this kernel") ||
		!strings.Contains(f("sed"), "every host is as it was before apply") {
		t.Errorf("apply with a missing scheduler module:\n%s", f("sed"))
	}
	if f("after-sed") != f("before") {
		t.Errorf("after the failed apply, the hosts differ from before:\nbefore:\n%s\nafter:\n%s", f("before"), f("after-sed"))
	}
	t.Logf("a missing scheduler module, rolled back:\n%s", lastLines(f("sed"), 4))

	var last int
	fmt.Sscan(f("last"), &last)
	if last < 20 {
		t.Fatalf("the plan completed at operation %d; expected about 26 operations", last)
	}
	for k := 1; k < last; k++ {
		out := f(fmt.Sprintf("fail-%d", k))
		if !strings.Contains(out, fmt.Sprintf("injected failure at operation %d", k)) || !strings.Contains(out, "every host is as it was before apply") {
			t.Errorf("failure at operation %d:\n%s", k, out)
		}
		if after, ok := r.Files[fmt.Sprintf("after-%d", k)]; ok {
			t.Errorf("failure at operation %d left the hosts changed:\n%s", k, after)
		}
	}
	t.Logf("failures injected at operations 1..%d each rolled back to an identical snapshot; operation %d is past the end, and that apply completed", last-1, last)

	// Persistence across ports through the mark: both of a client's
	// requests reach one real server.
	pairs := strings.Split(strings.TrimSpace(f("pairs")), "\n")
	seen := map[string]int{}
	for _, line := range pairs {
		var a, b map[string]int
		dec := json.NewDecoder(strings.NewReader(line))
		if dec.Decode(&a) != nil || dec.Decode(&b) != nil {
			t.Fatalf("pair %q", line)
		}
		rs := ""
		for k, v := range a {
			if k != "errors" && v == 1 {
				rs = k
			}
		}
		if rs == "" || b[rs] != 1 || a["errors"]+b["errors"] != 0 {
			t.Errorf("HTTP and HTTPS from one client: %v and %v", a, b)
		}
		seen[rs]++
	}
	if len(pairs) != 10 || seen["rs1"] == 0 || seen["rs2"] == 0 {
		t.Errorf("clients per real server: %v (of %d)", seen, len(pairs))
	}
	if !strings.Contains(f("save"), "-A -f 7 -s wlc -p 600") {
		t.Errorf("table:\n%s", f("save"))
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
