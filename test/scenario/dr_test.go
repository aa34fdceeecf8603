package scenario

import (
	"context"
	"encoding/json"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/lvsctl/lvsctl/internal/ipvsadm"
	"github.com/lvsctl/lvsctl/internal/vmlab"
)

func labConfig(t *testing.T, example, hosts string) string {
	t.Helper()
	c, err := LabConfig("../..", example, hosts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func binaries(t *testing.T) map[string]string {
	t.Helper()
	b, err := Binaries()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const topology = Topology

func counts(t *testing.T, b []byte) map[string]int {
	t.Helper()
	var m map[string]int
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("hits output %q: %v", b, err)
	}
	return m
}

var opLine = regexp.MustCompile(`(?m)^\S+: (ipvs|addr|link|sysctl|route|mark)\.\S+ `)

// The guide's direct-routing example, applied from an empty kernel and
// proven with traffic; then one weight changed; then drift repaired.
func TestDirectRouting(t *testing.T) {
	vmlab.Require(t)
	dr := labConfig(t, "direct-routing", DRHosts)
	weight := strings.Replace(dr, "weight: 5,", "weight: 10,", 1)
	// A health checker owns the weights and presence of the service's real
	// servers; then the scheduler changes beside it.
	ext := strings.Replace(weight, `scheduler: "wrr"`, `scheduler: "wrr"
		externallyManaged: ["weight", "presence"]`, 1)
	extSched := strings.Replace(ext, `scheduler: "wrr"`, `scheduler: "wlc"`, 1)
	if ext == weight || extSched == ext {
		t.Fatal("the example has no scheduler line to edit")
	}
	r, err := vmlab.Run(context.Background(), vmlab.Scenario{
		Name:     "dr",
		Binaries: binaries(t),
		Files: map[string][]byte{"/lab/dr/cluster.cue": []byte(dr), "/lab/weight/cluster.cue": []byte(weight),
			"/lab/ext/cluster.cue": []byte(ext), "/lab/extsched/cluster.cue": []byte(extSched)},
		Script: topology + DRNetwork + `
set -e
cd /lab
code lvsctl plan --detailed-exitcode dr > /out/plan1.code 2>/dev/null
lvsctl plan dr > /out/plan1 2>/out/plan1.err
code lvsctl apply --auto-approve dr > /out/apply1.code 2>/out/apply1.err
lvsctl apply --auto-approve dr > /out/apply1 2>>/out/apply1.err || true
ip netns exec director ipvsadm -S -n > /out/save1
ip netns exec client hits -url http://192.168.0.10/ -from 192.168.0.150 -sources 30 -per 2 > /out/hits1
code lvsctl plan --detailed-exitcode dr > /out/plan2.code 2>/dev/null
lvsctl plan dr > /out/plan2 2>/dev/null
lvsctl plan weight > /out/plan3 2>/dev/null
lvsctl apply --auto-approve weight > /out/apply3 2>/out/apply3.err
ip netns exec client hits -url http://192.168.0.10/ -from 192.168.0.200 -sources 30 -per 2 > /out/hits3
ip netns exec director ipvsadm -e -t 192.168.0.10:80 -r 192.168.0.101:80 -g -w 1
ip -n rs2 addr del 192.168.0.10/32 dev lo
code lvsctl drift -o json weight > /out/drift.code 2>/dev/null
lvsctl drift -o json weight > /out/drift 2>/dev/null || true
lvsctl apply --auto-approve weight > /out/apply4 2>/out/apply4.err
code lvsctl plan --detailed-exitcode weight > /out/plan5.code 2>/dev/null
lvsctl apply --auto-approve ext > /out/apply6 2>/out/apply6.err
ip netns exec director ipvsadm -e -t 192.168.0.10:80 -r 192.168.0.101:80 -g -w 0
ip netns exec director ipvsadm -d -t 192.168.0.10:80 -r 222.117.155.123:80
code lvsctl plan --detailed-exitcode ext > /out/plan7.code 2>/dev/null
lvsctl plan ext > /out/plan7 2>/dev/null
code lvsctl drift ext > /out/drift7.code 2>/dev/null
lvsctl drift -o json ext > /out/drift7 2>/dev/null || true
lvsctl plan extsched > /out/plan8 2>/dev/null
lvsctl apply --auto-approve extsched > /out/apply8 2>/out/apply8.err
ip netns exec director ipvsadm -S -n > /out/save8
ip netns exec director ipvsadm -e -t 192.168.0.10:80 -r 192.168.0.101:80 -g -w 3
ip netns exec client hits -url http://192.168.0.10/ -from 192.168.0.200 -sources 30 -per 2 > /out/hits9
code lvsctl plan --detailed-exitcode extsched > /out/plan9.code 2>/dev/null
`,
		Timeout: 180 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	f := func(name string) string { return string(r.Files[name]) }
	if r.ExitCode != 0 {
		t.Fatalf("scenario exit %d\nstderr: %s\napply1.err: %s", r.ExitCode, r.Stderr, f("apply1.err"))
	}
	t.Logf("VM run %v\n--- plan from empty ---\n%s", r.Duration, f("plan1"))

	if f("plan1.code") != "2\n" || !strings.Contains(f("plan1"), "Plan: 6 to add, 17 to change, 0 to destroy.") {
		t.Errorf("first plan (exit %s):\n%s", f("plan1.code"), f("plan1"))
	}
	if f("apply1.code") != "0\n" {
		t.Fatalf("apply exit %s:\n%s", f("apply1.code"), f("apply1.err"))
	}
	// The table equals what the guide's ipvsadm commands produce.
	guide, _ := ipvsadm.ParseSave("-A -t 192.168.0.10:80 -s wrr -p 300\n-a -t 192.168.0.10:80 -r 192.168.0.101:80 -g -w 5\n-a -t 192.168.0.10:80 -r 222.117.155.123:80 -g -w 10\n")
	got, err := ipvsadm.ParseSave(f("save1"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(guide, got, cmpopts.EquateComparable(netip.Addr{}, netip.AddrPort{})); diff != "" {
		t.Errorf("ipvsadm -S -n after apply (-guide +lvsctl):\n%s", diff)
	}
	// Weights 5 and 10, 30 clients persisted to one server each: 10 and 20
	// clients, 2 requests each.
	if c := counts(t, r.Files["hits1"]); c["rs1"] != 20 || c["rs2"] != 40 || c["errors"] != 0 {
		t.Errorf("requests by real server, weights 5:10: %v", c)
	}
	if f("plan2.code") != "0\n" || !strings.Contains(f("plan2"), "No changes.") {
		t.Errorf("second plan (exit %s):\n%s", f("plan2.code"), f("plan2"))
	}
	if f("apply1") == "" || !strings.Contains(f("apply1"), "No changes.") {
		t.Errorf("second apply:\n%s", f("apply1"))
	}

	// One weight: one kernel object in the plan, one netlink request sent;
	// and the director's state kept for boot follows it (one file write).
	lines := strings.Count(f("plan3"), "\n  ~ ") + strings.Count(f("plan3"), "\n  + ") + strings.Count(f("plan3"), "\n  - ")
	if lines != 2 || !strings.Contains(f("plan3"), "~ destination TCP 192.168.0.10:80 -> 192.168.0.101:80: weight 5 → 10") ||
		!strings.Contains(f("plan3"), "~ boot state /var/lib/lvsctl/boot-netns-director.json: destination TCP 192.168.0.10:80 -> 192.168.0.101:80 ") ||
		!strings.Contains(f("plan3"), "Plan: 0 to add, 1 to change, 0 to destroy.") ||
		!strings.Contains(f("plan3"), "Kept for boot: 0 files to add, 1 to change, 0 to remove.") {
		t.Errorf("plan for one weight (%d change lines):\n%s", lines, f("plan3"))
	}
	if ops := opLine.FindAllString(f("apply3.err"), -1); len(ops) != 1 || !strings.HasPrefix(ops[0], "director: ipvs.update-dest") {
		t.Errorf("operations sent for one weight: %q\n%s", ops, f("apply3.err"))
	}
	if !strings.Contains(f("apply3.err"), "director: boot.write state") || strings.Count(f("apply3.err"), ": boot.") != 1 {
		t.Errorf("boot files written for one weight:\n%s", f("apply3.err"))
	}
	if c := counts(t, r.Files["hits3"]); c["rs1"] != 30 || c["rs2"] != 30 || c["errors"] != 0 {
		t.Errorf("requests by real server, weights 10:10: %v", c)
	}

	// Drift: a weight set by hand and a VIP lost from a real server.
	if f("drift.code") != "2\n" {
		t.Errorf("drift exit %s", f("drift.code"))
	}
	var drift struct {
		Drift   bool
		Objects []struct{ Host, Kind, Object string }
	}
	if err := json.Unmarshal(r.Files["drift"], &drift); err != nil {
		t.Fatalf("drift JSON: %v\n%s", err, f("drift"))
	}
	var names []string
	for _, o := range drift.Objects {
		names = append(names, o.Host+" "+o.Kind+" "+o.Object)
	}
	want := []string{"rs2 address 192.168.0.10/32 dev lo", "director destination TCP 192.168.0.10:80 -> 192.168.0.101:80"}
	if !drift.Drift || !cmp.Equal(want, names, cmpopts.SortSlices(func(a, b string) bool { return a < b })) {
		t.Errorf("drift report names %q, want %q", names, want)
	}
	if !strings.Contains(f("apply4"), "Apply complete! 1 added, 1 changed, 0 destroyed.") || f("plan5.code") != "0\n" {
		t.Errorf("repair:\n%s\nplan after repair exit %s", f("apply4"), f("plan5.code"))
	}

	// externallyManaged: declaring it changes only the state kept for boot.
	if !strings.Contains(f("apply6"), "Apply complete! 0 added, 0 changed, 0 destroyed.") || opLine.MatchString(f("apply6.err")) {
		t.Errorf("apply of externallyManaged:\n%s\n%s", f("apply6"), f("apply6.err"))
	}
	// The checker quiesced rs1 and removed rs2: no change, no drift, and
	// notes that say why.
	for _, note := range []string{
		"director: service web (TCP 192.168.0.10:80): 1 real server's weight differs (192.168.0.101:80 weight 0, declared 10); its weights are managed elsewhere (externallyManaged), so lvsctl leaves them",
		"director: service web (TCP 192.168.0.10:80): 1 declared real server is not live (222.117.155.123:80); the presence of its real servers is managed elsewhere (externallyManaged), so lvsctl does not add it",
	} {
		if !strings.Contains(f("plan7"), note) {
			t.Errorf("plan after the checker lacks %q:\n%s", note, f("plan7"))
		}
	}
	if f("plan7.code") != "0\n" || !strings.Contains(f("plan7"), "No changes.") {
		t.Errorf("plan after the checker (exit %s):\n%s", f("plan7.code"), f("plan7"))
	}
	var drift7 struct {
		Drift   bool
		Objects []any
		Notes   []struct{ Host, Text string }
	}
	if err := json.Unmarshal(r.Files["drift7"], &drift7); err != nil {
		t.Fatalf("drift JSON after the checker: %v\n%s", err, f("drift7"))
	}
	if f("drift7.code") != "0\n" || drift7.Drift || len(drift7.Objects) != 0 || !strings.Contains(f("drift7"), "managed elsewhere (externallyManaged)") {
		t.Errorf("drift after the checker (exit %s):\n%s", f("drift7.code"), f("drift7"))
	}
	// A scheduler change is still planned and applied, as one change and one
	// request, and leaves the checker's weights and removal as they were.
	if !strings.Contains(f("plan8"), "~ ipvs service TCP 192.168.0.10:80: scheduler wrr → wlc") || !strings.Contains(f("plan8"), "Plan: 0 to add, 1 to change, 0 to destroy.") ||
		strings.Contains(f("plan8"), "destination TCP") {
		t.Errorf("plan of the scheduler change:\n%s", f("plan8"))
	}
	if ops := opLine.FindAllString(f("apply8.err"), -1); len(ops) != 1 || !strings.HasPrefix(ops[0], "director: ipvs.update-service") {
		t.Errorf("operations sent for the scheduler change: %q\n%s", ops, f("apply8.err"))
	}
	checked, _ := ipvsadm.ParseSave("-A -t 192.168.0.10:80 -s wlc -p 300\n-a -t 192.168.0.10:80 -r 192.168.0.101:80 -g -w 0\n")
	got, err = ipvsadm.ParseSave(f("save8"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(checked, got, cmpopts.EquateComparable(netip.Addr{}, netip.AddrPort{})); diff != "" {
		t.Errorf("ipvsadm -S -n after the scheduler change (-want +got):\n%s", diff)
	}
	// The checker brings rs1 back at a weight of its own: every request goes
	// to it, rs2 stays out, and the plan still has nothing to do.
	if c := counts(t, r.Files["hits9"]); c["rs1"] != 60 || c["rs2"] != 0 || c["errors"] != 0 {
		t.Errorf("requests by real server, rs2 removed by the checker: %v", c)
	}
	if f("plan9.code") != "0\n" {
		t.Errorf("plan after the checker's weight 3: exit %s", f("plan9.code"))
	}
}
