package planner_test

import (
	"slices"

	"github.com/google/go-cmp/cmp"
	"strings"
	"testing"

	"github.com/lvsctl/lvsctl/internal/boot"
	"github.com/lvsctl/lvsctl/internal/fakehost"
	"github.com/lvsctl/lvsctl/internal/state"
	"github.com/lvsctl/lvsctl/planner"
)

// booted is the DR example applied to fake hosts that report their boot
// files, so the plan keeps them too.
func booted(t *testing.T) (map[string]*state.Host, cluster, *planner.Plan) {
	t.Helper()
	desired := load(t, "direct-routing")
	c := newCluster(desired)
	for _, h := range c {
		h.Boot = fakehost.NewBoot()
	}
	p := plan(t, desired, c)
	c.apply(t, p)
	return desired, c, p
}

func bootLines(p *planner.Plan) []string {
	var out []string
	for _, c := range p.Changes {
		if c.IsBoot() {
			out = append(out, c.Host+": "+string(c.Action)+" "+c.Kind+" "+c.Object)
		}
	}
	return out
}

// Every host gets the three files, after every kernel object, counted
// apart; what they hold is what the configuration declares; a second plan
// is empty.
func TestBootFilesFromEmpty(t *testing.T) {
	desired, c, p := booted(t)
	var want []string
	for _, h := range []string{"director", "rs1", "rs2"} {
		want = append(want, h+": + sysctl file /etc/sysctl.d/90-lvsctl.conf", h+": + boot state /var/lib/lvsctl/boot-host.json",
			h+": + systemd unit lvsctl-restore.service")
	}
	if got := bootLines(p); !slices.Equal(got, want) {
		t.Errorf("boot changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	first := slices.IndexFunc(p.Changes, func(c *planner.Change) bool { return c.IsBoot() })
	for _, ch := range p.Changes[first:] {
		if !ch.IsBoot() {
			t.Errorf("kernel change %s %s after the boot files", ch.Kind, ch.Object)
		}
	}
	if a, ch, d := p.Counts(); a != 6 || ch != 17 || d != 0 {
		t.Errorf("Counts = %d, %d, %d; the boot files must not count among the kernel's objects", a, ch, d)
	}
	if a, ch, d := p.BootCounts(); a != 9 || ch != 0 || d != 0 {
		t.Errorf("BootCounts = %d, %d, %d", a, ch, d)
	}
	rs1 := c["rs1"].Boot
	sysctls, err := boot.ParseSysctls([]byte(rs1.SysctlFile.Content))
	if err != nil || len(sysctls) != 8 {
		t.Errorf("rs1's sysctl file (%v):\n%s", err, rs1.SysctlFile.Content)
	}
	if !strings.Contains(rs1.SysctlFile.Content, "\n-net.ipv4.conf.eth0.arp_ignore = 1\n") || !strings.Contains(rs1.SysctlFile.Content, "\nnet.ipv4.conf.all.arp_ignore = 1\n") {
		t.Errorf("an interface's key is not marked as possibly late, or all's is:\n%s", rs1.SysctlFile.Content)
	}
	kept, err := boot.ParseState([]byte(c["director"].Boot.StateFile.Content))
	if err != nil || len(kept.Services) != 1 || len(kept.Services[0].Dests) != 2 || kept.Services[0].Dests[0].Host != "" || len(kept.Addresses) != 1 {
		t.Errorf("director's state file (%v): %+v", err, kept)
	}
	if !rs1.UnitEnabled || !strings.Contains(rs1.Unit.Content, "ExecStart=/usr/local/bin/lvsctl restore\n") {
		t.Errorf("rs1's unit (enabled %v):\n%s", rs1.UnitEnabled, rs1.Unit.Content)
	}
	if p := plan(t, desired, c); !p.Empty() {
		t.Errorf("second plan:\n%s", summary(p))
	}
}

// One weight: one kernel change, and the director's state file follows it,
// field by field.
func TestBootFollowsOneWeight(t *testing.T) {
	desired, c, _ := booted(t)
	desired["director"].Services[0].Dests[0].Weight = 7
	p := plan(t, desired, c)
	if got, want := bootLines(p), []string{"director: ~ boot state /var/lib/lvsctl/boot-host.json"}; !slices.Equal(got, want) {
		t.Fatalf("boot changes: %v", got)
	}
	if a, ch, d := p.Counts(); a != 0 || ch != 1 || d != 0 {
		t.Errorf("Counts = %d, %d, %d", a, ch, d)
	}
	f := p.Changes[len(p.Changes)-1].Fields
	if len(f) != 1 || f[0].Name != "destination TCP 192.168.0.10:80 -> 192.168.0.101:80" || !strings.Contains(f[0].Before, "weight 5") || !strings.Contains(f[0].After, "weight 7") {
		t.Errorf("fields: %+v", f)
	}
}

// A file edited by hand and a disabled unit are drift, and the plan puts
// them back; boot: "none" and a retired host remove the files.
func TestBootDriftAndRemoval(t *testing.T) {
	desired, c, _ := booted(t)
	c["rs1"].Boot.SysctlFile.Content += "net.ipv4.conf.all.arp_ignore = 0\n"
	c["rs2"].Boot.UnitEnabled = false
	p := plan(t, desired, c)
	got := summary(p)
	for _, want := range []string{"rs1: ~ sysctl file /etc/sysctl.d/90-lvsctl.conf", "rs2: ~ systemd unit lvsctl-restore.service"} {
		if !strings.Contains(got, want) {
			t.Errorf("plan lacks %q:\n%s", want, got)
		}
	}
	for _, ch := range p.Changes {
		if ch.Host == "rs2" && ch.Kind == planner.KindUnit && (len(ch.Fields) != 1 || ch.Fields[0].Name != "enabled") {
			t.Errorf("rs2 unit fields: %+v", ch.Fields)
		}
		if ch.Host == "rs1" && ch.Kind == planner.KindSysctlFile && (len(ch.Fields) != 1 || ch.Fields[0].Name != "content") {
			t.Errorf("rs1 sysctl file fields: %+v", ch.Fields)
		}
	}
	c.apply(t, p)
	desired["rs1"].Boot = boot.None
	desired["rs2"].Boot = boot.Files
	p = plan(t, desired, c)
	want := []string{"rs1: - sysctl file /etc/sysctl.d/90-lvsctl.conf", "rs1: - boot state /var/lib/lvsctl/boot-host.json",
		"rs1: - systemd unit lvsctl-restore.service", "rs2: - systemd unit lvsctl-restore.service"}
	if got := bootLines(p); !slices.Equal(got, want) {
		t.Errorf("boot changes:\n%s", strings.Join(got, "\n"))
	}
	c.apply(t, p)
	if c["rs1"].Boot.SysctlFile.Exists || c["rs2"].Boot.Unit.Exists || c["rs2"].Boot.UnitEnabled || !c["rs2"].Boot.StateFile.Exists {
		t.Errorf("after removal: rs1 %+v\nrs2 %+v", c["rs1"].Boot, c["rs2"].Boot)
	}
}

// Every boot change's undo puts back exactly what the host had.
func TestBootUndo(t *testing.T) {
	desired, c, _ := booted(t)
	before := *c["director"].Boot
	desired["director"].Services[0].Scheduler = "wlc"
	desired["director"].Boot = boot.Files
	p := plan(t, desired, c)
	h := c["director"]
	var undo [][]string
	for _, ch := range p.Changes {
		if ch.Host != "director" || !ch.IsBoot() {
			continue
		}
		for _, s := range ch.Steps {
			if err := h.Apply(*s.Op); err != nil {
				t.Fatal(err)
			}
			for _, u := range s.Undo {
				if err := h.Apply(u); err != nil {
					t.Fatalf("undo %s: %v", u, err)
				}
			}
			undo = append(undo, []string{ch.Kind})
		}
	}
	if len(undo) != 2 {
		t.Fatalf("boot steps: %v\n%s", undo, summary(p))
	}
	if diff := cmp.Diff(&before, h.Boot); diff != "" {
		t.Errorf("after undo (-before +after):\n%s", diff)
	}
}

// What else acts at boot is noted: a later sysctl file with another value,
// an enabled ipvsadm restore, a host without systemd, a namespace without a
// name.
func TestBootNotes(t *testing.T) {
	desired, c, _ := booted(t)
	c["rs1"].Boot.Sysctls = []state.SysctlSetting{
		{Key: "net.ipv4.conf.all.arp_ignore", Value: "1", File: "/etc/sysctl.d/90-lvsctl.conf", Line: 9},
		{Key: "net.ipv4.conf.all.arp_ignore", Value: "0", File: "/etc/sysctl.d/99-sysctl.conf", Line: 12},
		{Key: "net.ipv4.conf.*.arp_announce", Value: "0", File: "/usr/lib/sysctl.d/50-x.conf", Line: 3},
		{Key: "net.ipv4.conf.all.arp_ignore", Value: "", File: "/usr/lib/sysctl.d/50-default.conf", Line: 4, IgnoreFailure: true},
		{Key: "net.ipv4.conf.*.arp_ignore", Value: "0", File: "/usr/lib/sysctl.d/99-late-glob.conf", Line: 5},
	}
	c["director"].Boot.Restorers = []state.Restorer{{Name: "ipvsadm.service", RulesFile: "/etc/sysconfig/ipvsadm", Enabled: true, SavesAtStop: true}}
	c["rs2"].Boot.Systemd = false
	c["rs2"].Boot.SysctlWarnings = []string{"/etc/sysctl.d/zz.conf: larger than 1 MiB, skipped"}
	c["director"].Boot.ExeRisk = "/opt/x can be written by group or others (mode -rwxrwxrwx)"
	p := plan(t, desired, c)
	if !p.Empty() {
		t.Errorf("notes alone must not change anything:\n%s", summary(p))
	}
	got := strings.Join(notes(p), "\n")
	for _, want := range []string{
		"rs1: /etc/sysctl.d/99-sysctl.conf:12 sets net.ipv4.conf.all.arp_ignore = 0, and is read after /etc/sysctl.d/90-lvsctl.conf",
		"rs1: /usr/lib/sysctl.d/50-x.conf:3 sets net.ipv4.conf.*.arp_announce = 0 (for net.ipv4.conf.all.arp_announce, net.ipv4.conf.default.arp_announce, net.ipv4.conf.lo.arp_announce, net.ipv4.conf.eth0.arp_announce), which /etc/sysctl.d/90-lvsctl.conf overrides at boot with 2",
		"director: ipvsadm.service restores /etc/sysconfig/ipvsadm at boot, and it saves the live table there when it stops",
		"rs2: systemd does not run this host",
		"rs2: boot-time sysctl configuration: /etc/sysctl.d/zz.conf: larger than 1 MiB, skipped (so a contradiction there may go unnoted)",
		"director: lvsctl-restore.service runs /usr/local/bin/lvsctl as root at every boot, but /opt/x can be written by group or others",
		"rs1: /usr/lib/sysctl.d/99-late-glob.conf:5 sets net.ipv4.conf.*.arp_ignore = 0 (for net.ipv4.conf.all.arp_ignore, net.ipv4.conf.default.arp_ignore, net.ipv4.conf.lo.arp_ignore, net.ipv4.conf.eth0.arp_ignore), which /etc/sysctl.d/90-lvsctl.conf overrides",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("notes lack %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "50-default.conf") || len(p.Notes) != 7 {
		t.Errorf("an exclusion line (-KEY alone) is noted, or notes are repeated: %d notes", len(p.Notes))
	}
	c["rs1"].Boot = &state.Boot{Unavailable: "the agent runs in a network namespace without a name"}
	p = plan(t, desired, c)
	if got := strings.Join(notes(p), "\n"); !p.Empty() || !strings.Contains(got, "rs1: nothing is kept for boot here: the agent runs in a network namespace without a name") {
		t.Errorf("unavailable: notes %s\n%s", got, summary(p))
	}
}
