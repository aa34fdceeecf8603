package scenario

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lvsctl/lvsctl/internal/gen"
	"github.com/lvsctl/lvsctl/internal/ipvsadm"
	"github.com/lvsctl/lvsctl/internal/vmlab"
	"github.com/lvsctl/lvsctl/schema"
)

// BenchmarkApply1000x20 measures, in one VM: lvsctl apply from an empty
// kernel of 1,000 services x 20 real servers (the director's side, as
// ipvsadm -R makes it), as a ratio to `ipvsadm -R` of the same rules; a
// no-op plan over that table; and the operations a one-weight change sends.
// Software emulation makes absolute times meaningless; ratios are the result.
func BenchmarkApply1000x20(b *testing.B) {
	vmlab.Require(b)
	dir := b.TempDir()
	if _, err := gen.WriteDirector(dir, 1000, 20); err != nil {
		b.Fatal(err)
	}
	l, err := schema.Load(dir)
	if err != nil {
		b.Fatal(err)
	}
	rules := ipvsadm.Save(l.Hosts["lb"].Services)
	cfg, err := os.ReadFile(filepath.Join(dir, "cluster.cue"))
	if err != nil {
		b.Fatal(err)
	}
	// One weight changed: the first service's first real server, 1 -> 9.
	changed := strings.Replace(string(cfg), `rs00: {address: "10.200.0.1", weight: 1}`, `rs00: {address: "10.200.0.1", weight: 9}`, 1)
	if changed == string(cfg) {
		b.Fatal("could not change a weight")
	}
	bins, err := Binaries()
	if err != nil {
		b.Fatal(err)
	}
	bins["timeit"] = vmlab.BuildStatic(b, "github.com/lvsctl/lvsctl/test/conformance/testdata/timeit")
	for b.Loop() {
		r, err := vmlab.Run(context.Background(), vmlab.Scenario{
			Name:     "speed",
			Binaries: bins,
			Modules:  []string{"ip_vs", "ip_vs_wrr", "dummy"},
			Files: map[string][]byte{
				"/lab/big/cluster.cue": cfg, "/lab/changed/cluster.cue": []byte(changed), "/rules": []byte(rules),
			},
			Script: `set -e
ip link add eth0 type dummy && ip link set eth0 up
cd /lab
timeit -n 1 ipvsadm -R -f /rules > /out/restore 2>/dev/null || timeit -n 1 sh -c 'ipvsadm -R < /rules' > /out/restore
ipvsadm -C
ipvsadm -S -n | wc -l > /out/cleared
timeit -n 1 sh -c 'lvsctl apply --auto-approve big > /dev/null 2>&1' > /out/apply
ipvsadm -S -n | wc -l > /out/lines
timeit -n 3 sh -c 'lvsctl plan big > /tmp/plan 2>/dev/null' > /out/noop
cp /tmp/plan /out/noop-plan
lvsctl apply --auto-approve changed > /out/weight 2> /out/weight.err
`,
			Timeout: 900 * time.Second,
		})
		if err != nil {
			b.Fatal(err)
		}
		f := func(n string) string { return string(r.Files[n]) }
		if r.ExitCode != 0 {
			b.Fatalf("exit %d: %s", r.ExitCode, r.Stderr)
		}
		if strings.TrimSpace(f("lines")) != "21000" || strings.TrimSpace(f("cleared")) != "0" {
			b.Fatalf("table lines after apply %q, after clear %q", f("lines"), f("cleared"))
		}
		if !strings.Contains(f("noop-plan"), "No changes.") {
			b.Fatalf("no-op plan:\n%s", f("noop-plan"))
		}
		ops := opLine.FindAllString(f("weight.err"), -1)
		if len(ops) != 1 || !strings.Contains(f("weight"), "Plan: 0 to add, 1 to change, 0 to destroy.") {
			b.Fatalf("one weight: %d operations %q\n%s", len(ops), ops, f("weight"))
		}
		var restore, apply, noop float64
		fmt.Sscan(f("restore"), &restore)
		fmt.Sscan(f("apply"), &apply)
		fmt.Sscan(f("noop"), &noop)
		b.ReportMetric(restore/1e6, "ipvsadm-R-ms")
		b.ReportMetric(apply/1e6, "apply-ms")
		b.ReportMetric(apply/restore, "apply/ipvsadm-R")
		b.ReportMetric(noop/1e6, "noop-plan-ms")
		b.ReportMetric(float64(len(ops)), "ops-for-one-weight")
	}
}
