package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/lvsctl/lvsctl/internal/vmlab"
)

// Reboots (issue 11): what lvsctl applied comes back after a restart, with
// no lvsctl apply. Each case boots the VM two times from one persistent
// disk: the first boot builds the network (the distribution's part), mounts
// the disk over the paths lvsctl persists to and applies; the second builds
// the same network, mounts the disk and plays systemd's part
// (boot_like_systemd: sysctl.d files, then the lvsctl-restore units), and
// the state must be the applied one: the same IPVS table, the sysctls in
// force, traffic split by the weights, lvsctl drift and plan silent.
func TestReboot(t *testing.T) {
	vmlab.Require(t)
	bins := map[string]string{} // what these boots run: less to unpack at each boot
	for name, p := range binaries(t) {
		if name == "lvsctl" || name == "namesrv" || name == "hits" {
			bins[name] = p
		}
	}
	dr := labConfig(t, "direct-routing", DRHosts)

	t.Run("DR", func(t *testing.T) {
		m := newMachine(t, bins, map[string][]byte{"/lab/dr/cluster.cue": []byte(dr)})
		b1 := m.boot("apply", Topology+DRNetwork, `
run apply lvsctl apply --auto-approve dr
ip netns exec director ipvsadm -S -n > /out/save
kept > /out/kept
`)
		wantCode(t, b1, "apply", 0)
		wantPersisted(t, b1, "apply", "director", "rs1", "rs2")

		b2 := m.boot("reboot", Topology+DRNetwork, `
c=0; boot_like_systemd > /out/bls 2>&1 || c=$?; echo $c > /out/bls.code
ip netns exec director ipvsadm -S -n > /out/save
ip netns exec client hits -url http://192.168.0.10/ -from 192.168.0.150 -sources 30 -per 2 > /out/hits 2>/out/hits.err
for ns in rs1 rs2; do arpsysctls $ns > /out/arp-$ns; done
run drift lvsctl drift dr
run plan lvsctl plan --detailed-exitcode dr
kept > /out/kept
`)
		wantBooted(t, b2, "director", "rs1", "rs2")
		wantSameTable(t, b1, b2)
		if c := counts(t, b2["hits"]); c["rs1"] != 20 || c["rs2"] != 40 || c["errors"] != 0 {
			t.Errorf("after the reboot, requests by real server, weights 5:10: %v\n%s", c, b2.s("hits.err"))
		}
		for _, ns := range []string{"rs1", "rs2"} {
			if got, want := b2.s("arp-"+ns), "all 1 2\nlo 1 2\neth0 1 2\n"; got != want {
				t.Errorf("after the reboot, %s's arp_ignore and arp_announce:\n%swant\n%s", ns, got, want)
			}
		}
		wantCode(t, b2, "drift", 0)
		wantCode(t, b2, "plan", 0)
	})

	t.Run("NAT", func(t *testing.T) {
		nat := labConfig(t, "nat", NATHosts)
		m := newMachine(t, bins, map[string][]byte{"/lab/nat/cluster.cue": []byte(nat)})
		b1 := m.boot("apply", NATNetwork, `
run apply lvsctl apply --auto-approve nat
ip netns exec director ipvsadm -S -n > /out/save
ip netns exec director cat /proc/sys/net/ipv4/ip_forward > /out/forward
kept > /out/kept
`)
		wantCode(t, b1, "apply", 0)
		wantPersisted(t, b1, "apply", "director")
		if b1.s("forward") != "1\n" {
			t.Errorf("ip_forward on the director after apply: %q", b1.s("forward"))
		}

		b2 := m.boot("reboot", NATNetwork, `
c=0; boot_like_systemd > /out/bls 2>&1 || c=$?; echo $c > /out/bls.code
ip netns exec director ipvsadm -S -n > /out/save
ip netns exec director cat /proc/sys/net/ipv4/ip_forward > /out/forward
cat /proc/sys/net/ipv4/ip_forward > /out/forward-root
ip netns exec client hits -url http://211.47.13.234/ -n 30 > /out/hits 2>/out/hits.err
run drift lvsctl drift nat
run plan lvsctl plan --detailed-exitcode nat
kept > /out/kept
`)
		wantBooted(t, b2, "director")
		wantSameTable(t, b1, b2)
		if b2.s("forward") != "1\n" || b2.s("forward-root") != "0\n" {
			t.Errorf("after the reboot, ip_forward: director %q, the VM's own namespace %q (want 1 and 0)", b2.s("forward"), b2.s("forward-root"))
		}
		// As TestNAT: wlc 1:2 within one request of 10/20.
		if c := counts(t, b2["hits"]); c["rs1"] < 9 || c["rs1"] > 11 || c["rs1"]+c["rs2"] != 30 || c["errors"] != 0 {
			t.Errorf("after the reboot, requests by real server, wlc 1:2: %v\n%s", c, b2.s("hits.err"))
		}
		wantCode(t, b2, "drift", 0)
		wantCode(t, b2, "plan", 0)
	})

	t.Run("RolledBack", func(t *testing.T) {
		// One weight and one sysctl changed: both the boot state and the
		// director's sysctl file change.
		changed := strings.Replace(dr, "weight: 5,", "weight: 7,", 1)
		changed = strings.Replace(changed, "\tservices: web: {", "\tsysctls: \"net.ipv4.vs.expire_quiescent_template\": 1\n\n\tservices: web: {", 1)
		if strings.Count(changed, "weight: 7,") != 1 || !strings.Contains(changed, "expire_quiescent_template") {
			t.Fatal("could not change the DR example")
		}
		m := newMachine(t, bins, map[string][]byte{"/lab/dr/cluster.cue": []byte(dr), "/lab/changed/cluster.cue": []byte(changed)})
		b1 := m.boot("apply-then-fail", Topology+DRNetwork, `
run apply1 lvsctl apply --auto-approve dr
ip netns exec director ipvsadm -S -n > /out/save
kept > /out/kept1
lvsctl plan -o json changed > /out/plan.json 2>/out/plan.err
K=$(`+StepsAWK+` /out/plan.json); echo $K > /out/K
run apply2 env LVSCTL_TEST_FAIL_AT=$K lvsctl apply --auto-approve changed
ip netns exec director ipvsadm -S -n > /out/save2
ip netns exec director cat /proc/sys/net/ipv4/vs/expire_quiescent_template > /out/eqt
kept > /out/kept2
run drift1 lvsctl drift dr
`)
		wantCode(t, b1, "apply1", 0)
		k := b1.code("K")
		if want, err := lastOperation(b1["plan.json"], "sysctl file", "boot state"); err != nil {
			t.Fatalf("plan of the changed definition: %v\n%s", err, b1.s("plan.err"))
		} else if k != want {
			t.Fatalf("the guest counted %d operations in the plan, the plan has %d", k, want)
		}
		out := b1.s("apply2")
		t.Logf("the changed definition applied with LVSCTL_TEST_FAIL_AT=%d:\n%s", k, out)
		wantCode(t, b1, "apply2", 1)
		if !strings.Contains(out, fmt.Sprintf("injected failure at operation %d", k)) || !strings.Contains(out, "every host is as it was before apply") {
			t.Errorf("the apply that failed at its last operation (%d) does not say it failed there and rolled everything back:\n%s", k, out)
		}
		if b1.s("save2") != b1.s("save") || b1.s("eqt") != "0\n" {
			t.Errorf("after the rollback: expire_quiescent_template %q, table\n%swant\n%s", b1.s("eqt"), b1.s("save2"), b1.s("save"))
		}
		if b1.s("kept2") != b1.s("kept1") {
			t.Errorf("the files kept for boot after the rollback differ from before the apply:\n%s", diffLines(b1.s("kept1"), b1.s("kept2")))
		}
		wantCode(t, b1, "drift1", 0)

		b2 := m.boot("reboot", Topology+DRNetwork, `
c=0; boot_like_systemd > /out/bls 2>&1 || c=$?; echo $c > /out/bls.code
ip netns exec director ipvsadm -S -n > /out/save
ip netns exec director cat /proc/sys/net/ipv4/vs/expire_quiescent_template > /out/eqt
run drift lvsctl drift dr
run plan lvsctl plan --detailed-exitcode dr
kept > /out/kept
`)
		wantBooted(t, b2, "director", "rs1", "rs2")
		wantSameTable(t, b1, b2)
		if b2.s("eqt") != "0\n" {
			t.Errorf("after the reboot, the rolled-back sysctl expire_quiescent_template is %q, want 0", b2.s("eqt"))
		}
		wantCode(t, b2, "drift", 0)
		wantCode(t, b2, "plan", 0)
	})

	t.Run("RemovedService", func(t *testing.T) {
		two := strings.Replace(dr, "\tservices: web: {", `	services: alt: {
		protocol:  "tcp"
		address:   "192.168.0.10"
		port:      8080
		scheduler: "wrr"
		realServers: {
			rs1: {address: "192.168.0.101", weight: 5, forward: "dr", host: "rs1"}
			rs2: {address: "222.117.155.123", weight: 10, forward: "dr", host: "rs2"}
		}
	}

	services: web: {`, 1)
		if two == dr {
			t.Fatal("could not add a service to the DR example")
		}
		m := newMachine(t, bins, map[string][]byte{"/lab/dr/cluster.cue": []byte(dr), "/lab/two/cluster.cue": []byte(two)})
		b1 := m.boot("apply-two-then-one", Topology+DRNetwork, `
run apply1 lvsctl apply --auto-approve two
ip netns exec director ipvsadm -S -n > /out/save-two
kept > /out/kept-two
run apply2 lvsctl apply --auto-approve --drain-timeout 0s dr
ip netns exec director ipvsadm -S -n > /out/save
kept > /out/kept
`)
		wantCode(t, b1, "apply1", 0)
		wantCode(t, b1, "apply2", 0)
		if !strings.Contains(b1.s("save-two"), "192.168.0.10:8080") || strings.Contains(b1.s("save"), ":8080") {
			t.Errorf("the second service: table with it\n%s\nwithout it\n%s", b1.s("save-two"), b1.s("save"))
		}
		t.Logf("the apply that removes the service:\n%s", b1.s("apply2"))

		// As on a real boot, nothing applies the namespaces' sysctl.d
		// files: lvsctl restore sets the ARP sysctls itself, before the
		// VIP goes onto lo.
		b2 := m.boot("reboot", Topology+DRNetwork, `
c=0; boot_like_systemd --root-sysctl-only > /out/bls 2>&1 || c=$?; echo $c > /out/bls.code
ip netns exec director ipvsadm -S -n > /out/save
for ns in rs1 rs2; do arpsysctls $ns > /out/arp-$ns; done
run drift lvsctl drift dr
run plan lvsctl plan --detailed-exitcode dr
kept > /out/kept
`)
		wantBooted(t, b2, "director", "rs1", "rs2")
		wantSameTable(t, b1, b2)
		if strings.Contains(b2.s("save"), ":8080") {
			t.Errorf("after the reboot, the removed service is back:\n%s", b2.s("save"))
		}
		for _, ns := range []string{"rs1", "rs2"} {
			if got, want := b2.s("arp-"+ns), "all 1 2\nlo 1 2\neth0 1 2\n"; got != want {
				t.Errorf("after a reboot that ran no sysctl.d file in %s, its arp_ignore and arp_announce:\n%swant\n%s", ns, got, want)
			}
			out := b2.s("boot/lvsctl-restore-netns-" + ns + ".service.out")
			if i, j := strings.Index(out, "arp_ignore"), strings.Index(out, "192.168.0.10/32 dev lo"); i < 0 || j < 0 || i > j {
				t.Errorf("lvsctl restore in %s does not say it set arp_ignore before the VIP on lo:\n%s", ns, out)
			}
		}
		wantCode(t, b2, "drift", 0)
		wantCode(t, b2, "plan", 0)
	})
}

// machine is one VM rebooted: its boots share one persistent disk.
type machine struct {
	t     *testing.T
	disk  string
	bins  map[string]string
	files map[string][]byte
	boots []string
	outs  []files
}

// newMachine makes a machine with a fresh disk; when the test fails, every
// boot's /out is printed.
func newMachine(t *testing.T, bins map[string]string, in map[string][]byte) *machine {
	m := &machine{t: t, disk: filepath.Join(t.TempDir(), "disk.img"), bins: bins, files: in}
	t.Cleanup(func() {
		if t.Failed() {
			for i, f := range m.outs {
				t.Logf("=== boot %d (%s): /out ===\n%s", i+1, m.boots[i], f.dump())
			}
		}
	})
	return m
}

// boot runs one boot: network (the distribution's configuration), then the
// persistent disk mounted, then script (in /lab, with RebootShell), then
// the disk unmounted. It stops the test when the boot could not run.
func (m *machine) boot(name, network, script string) files {
	t := m.t
	t.Helper()
	r, err := vmlab.Run(context.Background(), vmlab.Scenario{
		Name:     t.Name() + "/" + name,
		Binaries: m.bins,
		Files:    m.files,
		Disk:     m.disk,
		Script: vmlab.BootShell + Topology + RebootShell + `
mark() { echo "$(cut -d' ' -f1 /proc/uptime) $1" >> /out/timeline; }
mark script` + network + `
mark network
persist_mount > /out/persist 2>&1 || { cat /out/persist >&2; exit 1; }
cd /lab
` + script + `
cd /
mark work
persist_umount >> /out/persist 2>&1 || { cat /out/persist >&2; exit 2; }
mark unmounted
`,
		Timeout: 120 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	keep(t, t.Name()+"/"+name, r)
	f := files(r.Files)
	f["_stdout"], f["_stderr"] = []byte(r.Stdout), []byte(r.Stderr)
	m.boots, m.outs = append(m.boots, name), append(m.outs, f)
	var secs []string
	for n := range f {
		if c, ok := strings.CutSuffix(n, ".secs"); ok {
			secs = append(secs, c+" "+strings.TrimSpace(f.s(n))+" s")
		}
	}
	sort.Strings(secs)
	t.Logf("boot %d (%s): %v; guest uptime at each phase: %s; commands: %s", len(m.boots), name, r.Duration.Round(time.Millisecond),
		strings.ReplaceAll(strings.TrimSpace(f.s("timeline")), "\n", ", "), strings.Join(secs, ", "))
	if r.ExitCode != 0 {
		t.Fatalf("boot %s: script exit %d\n%s", name, r.ExitCode, tail(r.Stderr, 3000))
	}
	return f
}

// dump is every file of a boot's /out, in name order, each cut to its last
// 4000 bytes.
func (f files) dump() string {
	names := make([]string, 0, len(f))
	for n := range f {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "--- %s ---\n%s\n", n, tail(f.s(n), 4000))
	}
	return b.String()
}

// wantCode checks the exit status run NAME recorded.
func wantCode(t *testing.T, f files, name string, want int) {
	t.Helper()
	if got := f.code(name + ".code"); got != want {
		t.Errorf("%s: exit %d, want %d\n%s", name, got, want, tail(f.s(name), 3000))
	}
}

// wantPersisted checks that apply (the output of the first apply, from
// empty) wrote the files kept for boot on each host, and that they are
// there.
func wantPersisted(t *testing.T, f files, apply string, hosts ...string) {
	t.Helper()
	for _, kind := range []string{"sysctl file", "boot state", "systemd unit"} {
		if !strings.Contains(f.s(apply), kind) {
			t.Errorf("the first apply writes no %s:\n%s", kind, f.s(apply))
		}
	}
	for _, h := range hosts {
		for _, p := range []string{
			"/var/lib/lvsctl/boot-netns-" + h + ".json",
			"/etc/systemd/system/lvsctl-restore-netns-" + h + ".service",
			"/etc/systemd/system/multi-user.target.wants/lvsctl-restore-netns-" + h + ".service -> /etc/systemd/system/lvsctl-restore-netns-" + h + ".service",
		} {
			if !strings.Contains(f.s("kept"), "== "+p+"\n") {
				t.Errorf("after apply, %s is not kept for boot:\n%s", p, f.s("kept"))
			}
		}
	}
}

// wantBooted checks boot_like_systemd: every sysctl.d configuration applied
// without failure, and the units of hosts (and no other) ran with exit 0.
func wantBooted(t *testing.T, f files, hosts ...string) {
	t.Helper()
	if f.code("bls.code") != 0 {
		t.Errorf("boot_like_systemd exit %s:\n%s", strings.TrimSpace(f.s("bls.code")), f.s("bls"))
	}
	var units []string
	for n := range f {
		if u, ok := strings.CutSuffix(n, ".code"); ok && strings.HasPrefix(u, "boot/lvsctl-restore") {
			units = append(units, strings.TrimPrefix(u, "boot/"))
		}
	}
	sort.Strings(units)
	var want []string
	for _, h := range hosts {
		want = append(want, "lvsctl-restore-netns-"+h+".service")
	}
	sort.Strings(want)
	if strings.Join(units, " ") != strings.Join(want, " ") {
		t.Errorf("units run at boot: %q, want %q\n%s", units, want, f.s("bls"))
	}
	for _, u := range units {
		if f.code("boot/"+u+".code") != 0 {
			t.Errorf("%s: exit %s\n--- unit ---\n%s\n--- output ---\n%s", u, strings.TrimSpace(f.s("boot/"+u+".code")), f.s("boot/"+u+".unit"), tail(f.s("boot/"+u+".out"), 3000))
		}
	}
	t.Logf("boot_like_systemd:\n%s", f.s("bls"))
}

// wantSameTable checks that the IPVS table after the reboot is the one
// the first boot left.
func wantSameTable(t *testing.T, before, after files) {
	t.Helper()
	if before.s("save") == "" || after.s("save") != before.s("save") {
		t.Errorf("after the reboot, ipvsadm -S -n says\n%swant, as before the reboot,\n%s", after.s("save"), before.s("save"))
	}
}

// lastOperation decodes lvsctl plan -o json and returns the number of the
// apply's last operation, as LVSCTL_TEST_FAIL_AT counts them: the steps of
// every change that are operations, in order, then one inventory write per
// host whose inventory changes. The plan must change the kinds named.
func lastOperation(b []byte, kinds ...string) (int, error) {
	var p struct {
		Changes []struct {
			Host, Kind, Object string
			Steps              []struct {
				Op json.RawMessage `json:"op"`
			} `json:"steps"`
		} `json:"changes"`
		Inventories map[string]json.RawMessage `json:"inventories"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return 0, fmt.Errorf("%v: %q", err, tail(string(b), 500))
	}
	n := 0
	seen := map[string]bool{}
	for _, c := range p.Changes {
		seen[c.Kind] = true
		for _, s := range c.Steps {
			if len(s.Op) > 0 && string(s.Op) != "null" {
				n++
			}
		}
	}
	for _, k := range kinds {
		if !seen[k] {
			return 0, fmt.Errorf("no change of kind %q", k)
		}
	}
	return n + len(p.Inventories), nil
}
