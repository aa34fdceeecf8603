package scenario

import (
	"context"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/lvsctl/lvsctl/internal/ipvsadm"
	"github.com/lvsctl/lvsctl/internal/vmlab"
)

// The CI examples' steps (examples/ci/lvsctl-ci.sh, which the GitHub Actions
// workflow and the GitLab pipeline call), run as a pipeline would on the
// guide's DR example: a merge request's review saves the plan, the merge
// applies exactly that plan; a weight change reviewed, then a weight changed
// by hand before the merge: the saved plan is refused as stale, naming the
// director and the destination, and nothing changes; planned again, it
// applies.
func TestCIPipeline(t *testing.T) {
	vmlab.Require(t)
	script, err := os.ReadFile("../../examples/ci/lvsctl-ci.sh")
	if err != nil {
		t.Fatal(err)
	}
	dr := labConfig(t, "direct-routing", DRHosts)
	weight := strings.Replace(dr, "weight: 5,", "weight: 10,", 1)
	r, err := vmlab.Run(context.Background(), vmlab.Scenario{
		Name:     "ci",
		Binaries: binaries(t),
		Files: map[string][]byte{"/lab/ci/lvsctl-ci.sh": script, "/lab/dr/cluster.cue": []byte(dr),
			"/lab/weight/cluster.cue": []byte(weight)},
		Script: topology + DRNetwork + `
cd /lab
step() { n=$1; shift; c=0; "$@" > /out/$n 2>&1 || c=$?; echo $c > /out/$n.code; }
# Merge request 1 (the example), merged.
export LVSCTL_CI_OUT=/out/mr1
step review1 sh ci/lvsctl-ci.sh review dr
step apply1 sh ci/lvsctl-ci.sh apply
ip netns exec client hits -url http://192.168.0.10/ -from 192.168.0.150 -sources 30 -per 2 > /out/hits1
# Merge request 2 (one weight), and a weight changed by hand before its merge.
export LVSCTL_CI_OUT=/out/mr2
step review2 sh ci/lvsctl-ci.sh review weight
ip netns exec director ipvsadm -e -t 192.168.0.10:80 -r 222.117.155.123:80 -g -w 3
ip netns exec director ipvsadm -S -n > /out/save-hand
step apply2 sh ci/lvsctl-ci.sh apply
ip netns exec director ipvsadm -S -n > /out/save-refused
# Planned again (a new pipeline), merged.
export LVSCTL_CI_OUT=/out/mr3
step review3 sh ci/lvsctl-ci.sh review weight
step apply3 sh ci/lvsctl-ci.sh apply
ip netns exec director ipvsadm -S -n > /out/save3
step plan4 lvsctl plan --detailed-exitcode weight
step noplan sh ci/lvsctl-ci.sh apply
`,
		Timeout: 240 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	f := func(name string) string { return string(r.Files[name]) }
	code := func(name string) string { return strings.TrimSpace(f(name + ".code")) }
	if r.ExitCode != 0 {
		t.Fatalf("scenario exit %d\n%s", r.ExitCode, r.Stderr)
	}
	dump := func() string {
		var b strings.Builder
		for _, n := range []string{"review1", "apply1", "review2", "apply2", "review3", "apply3", "plan4", "noplan"} {
			b.WriteString("--- " + n + " (exit " + code(n) + ")\n" + f(n))
		}
		return b.String()
	}
	if code("review1") != "2" || code("apply1") != "0" || !strings.Contains(f("apply1"), "Apply complete! 6 added, 17 changed, 0 destroyed.") ||
		f("mr1/plan.txt") == "" || !strings.Contains(f("mr1/plan.json"), `"changes"`) || len(r.Files["mr1/plan.lvsctl"]) == 0 {
		t.Fatalf("first merge request:\n%s", dump())
	}
	if c := counts(t, r.Files["hits1"]); c["rs1"] != 20 || c["rs2"] != 40 || c["errors"] != 0 {
		t.Errorf("requests by real server after the first merge, weights 5:10: %v", c)
	}
	if code("review2") != "2" || !strings.Contains(f("mr2/plan.txt"), "~ destination TCP 192.168.0.10:80 -> 192.168.0.101:80: weight 5 → 10") {
		t.Errorf("second review:\n%s", dump())
	}
	if code("apply2") != "1" || !strings.Contains(f("apply2"), "the saved plan is stale") ||
		!strings.Contains(f("apply2"), "director: destination TCP 192.168.0.10:80 -> 222.117.155.123:80: (dr, weight 10) → (dr, weight 3)") {
		t.Errorf("apply of the stale plan:\n%s", dump())
	}
	if f("save-refused") != f("save-hand") {
		t.Errorf("the refused apply changed the table:\n--- by hand\n%s--- after\n%s", f("save-hand"), f("save-refused"))
	}
	want, _ := ipvsadm.ParseSave("-A -t 192.168.0.10:80 -s wrr -p 300\n-a -t 192.168.0.10:80 -r 192.168.0.101:80 -g -w 10\n-a -t 192.168.0.10:80 -r 222.117.155.123:80 -g -w 10\n")
	got, err := ipvsadm.ParseSave(f("save3"))
	if err != nil || code("review3") != "2" || code("apply3") != "0" || code("plan4") != "0" || !cmp.Equal(want, got, cmpopts.EquateComparable(netip.Addr{}, netip.AddrPort{})) {
		t.Errorf("planned again and applied (table %v, %v):\n%s", got, err, dump())
	}
	// Applied once, the saved plan is stale: a second run of the merge job changes nothing.
	if code("noplan") != "1" || !strings.Contains(f("noplan"), "the saved plan is stale") {
		t.Errorf("a second apply of the same saved plan:\n%s", dump())
	}
}
