package scenario

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lvsctl/lvsctl/internal/vmlab"
)

// BenchmarkPlan20HostsSSH plans a 20-host cluster over SSH in the VM lab:
// the first plan (which uploads the agent), plans with a new SSH connection
// per host each time, and plans that reuse connections through the user's
// ControlMaster setting. Software emulation: compare the numbers, not their
// size.
func BenchmarkPlan20HostsSSH(b *testing.B) {
	vmlab.Require(b)
	var cfg strings.Builder
	cfg.WriteString("package c\n\nhosts: {\n")
	for i := 1; i <= 20; i++ {
		fmt.Fprintf(&cfg, "\th%02d: {ssh: address: \"10.9.0.%d\", sysctls: \"net.ipv4.conf.all.arp_ignore\": 1}\n", i, i+10)
	}
	cfg.WriteString("}\n")
	bins, err := Binaries()
	if err != nil {
		b.Fatal(err)
	}
	bins["timeit"] = vmlab.BuildStatic(b, "github.com/lvsctl/lvsctl/test/conformance/testdata/timeit")
	for b.Loop() {
		r, err := vmlab.Run(context.Background(), vmlab.Scenario{
			Name:     "ssh-speed",
			Binaries: bins,
			Modules:  []string{"veth"},
			MemoryMB: 2048, // twenty hosts' agents, sshd sessions and ssh clients in one guest
			Files:    map[string][]byte{"/lab/c/cluster.cue": []byte(cfg.String())},
			Script: Topology + sshSetup + `
set -e
mk ops eth0 10.9.0.2/24
for i in $(seq 1 20); do n=$(printf h%02d $i); mk $n eth0 10.9.0.$((i+10))/24; sshd $n 10.9.0.$((i+10)); done
sleep 1
cd /lab
timeit -n 1 ip netns exec ops lvsctl plan c > /out/first 2>/out/first.err || { cat /out/first.err; exit 1; }
ip netns exec ops lvsctl plan c > /out/plan 2>&1
timeit -n 3 ip netns exec ops lvsctl plan c > /out/cold
printf 'Host *\n\tControlMaster auto\n\tControlPath /tmp/cm-%%C\n\tControlPersist 300\n' >> /root/.ssh/config
ip netns exec ops lvsctl plan c > /dev/null 2>&1
timeit -n 3 ip netns exec ops lvsctl plan c > /out/reused
`,
			Timeout: 600 * time.Second,
		})
		if err != nil {
			b.Fatal(err)
		}
		f := func(n string) string { return string(r.Files[n]) }
		if r.ExitCode != 0 || !strings.Contains(f("plan"), "Plan: 0 to add, 20 to change, 0 to destroy.") {
			b.Fatalf("exit %d: %s\n%s\n%s", r.ExitCode, r.Stderr, r.Stdout, f("first.err"))
		}
		var first, cold, reused float64
		fmt.Sscan(f("first"), &first)
		fmt.Sscan(f("cold"), &cold)
		fmt.Sscan(f("reused"), &reused)
		b.ReportMetric(first/1e6, "first-plan-ms")
		b.ReportMetric(cold/1e6, "cold-plan-ms")
		b.ReportMetric(reused/1e6, "reused-plan-ms")
		b.ReportMetric(cold/reused, "cold/reused")
	}
}
