package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The files kept for boot, through the real binary and real agents in
// namespaces of this machine's kernel (boot files under a temporary
// --persist-root): written by apply, used by lvsctl restore, reported by
// drift when edited or disabled, put back by a rollback from the agent's copy,
// removed by boot: "none"; and the notes about other sysctl files. The VM lab
// (test/scenario TestReboot) reboots a machine with them.
func TestBootFilesOnNamespaces(t *testing.T) {
	l := newNSLab(t, "rs1")
	ns := l.ns["rs1"]
	set := l.config("set", true)
	sysctlFile := filepath.Join(l.root, "etc/netns", ns, "sysctl.d/90-lvsctl.conf")
	unit := filepath.Join(l.root, "etc/systemd/system/lvsctl-restore-netns-"+ns+".service")
	link := filepath.Join(l.root, "etc/systemd/system/multi-user.target.wants/lvsctl-restore-netns-"+ns+".service")
	stateFile := filepath.Join(l.state, "boot-netns-"+ns+".json")
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			return "(" + err.Error() + ")"
		}
		return string(b)
	}
	sysctl := func(key string) string {
		out, _ := exec.Command("ip", "netns", "exec", ns, "cat", "/proc/sys/"+strings.ReplaceAll(key, ".", "/")).Output()
		return strings.TrimSpace(string(out))
	}

	a := l.run("apply", "--auto-approve", set)
	if a.code != 0 || !strings.Contains(a.stdout.String(), "Kept for boot: 3 files added, 0 changed, 0 removed.") {
		t.Fatalf("apply: exit %d\n%s\n%s", a.code, a.stdout.String(), a.stderr.String())
	}
	if got := read(sysctlFile); !strings.Contains(got, "\nnet.ipv4.conf.all.arp_announce = 2\nnet.ipv4.conf.all.arp_ignore = 1\nnet.ipv4.ip_forward = 1\n") {
		t.Errorf("sysctl file:\n%s", got)
	}
	wantExec := fmt.Sprintf("\nExecStart=%s restore --netns %s --state-dir %s\n", l.exe, ns, l.state)
	if got := read(unit); !strings.Contains(got, wantExec) || !strings.Contains(got, "\nBefore=network-online.target\n") {
		t.Errorf("unit, want %q:\n%s", wantExec, got)
	}
	if target, err := os.Readlink(link); err != nil || target != "/etc/systemd/system/lvsctl-restore-netns-"+ns+".service" {
		t.Errorf("unit link: %q, %v", target, err)
	}
	if fi, err := os.Stat(stateFile); err != nil || fi.Mode().Perm() != 0o600 || !strings.Contains(read(stateFile), `"key": "net.ipv4.ip_forward"`) {
		t.Errorf("state file (%v):\n%s", err, read(stateFile))
	}

	// What the unit runs, as it runs it: the sysctls come back.
	exec.Command("ip", "netns", "exec", ns, "sh", "-c", "echo 0 > /proc/sys/net/ipv4/conf/all/arp_ignore; echo 0 > /proc/sys/net/ipv4/ip_forward").Run()
	out, err := exec.Command(l.exe, "restore", "--netns", ns, "--state-dir", l.state).CombinedOutput()
	if err != nil || sysctl("net.ipv4.conf.all.arp_ignore") != "1" || sysctl("net.ipv4.ip_forward") != "1" ||
		!strings.Contains(string(out), "~ sysctl net.ipv4.conf.all.arp_ignore: value 0 -> 1") || !strings.Contains(string(out), "lvsctl restore: done, 2 changed") {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	if out, err := exec.Command(l.exe, "restore", "--netns", ns, "--state-dir", l.state).CombinedOutput(); err != nil || !strings.Contains(string(out), "everything was in place") {
		t.Errorf("second restore: %v\n%s", err, out)
	}

	// A hand edit and a disabled unit are drift; apply puts them back.
	os.WriteFile(sysctlFile, []byte(read(sysctlFile)+"net.ipv4.conf.all.arp_ignore = 0\n"), 0o644)
	os.Remove(link)
	d := l.run("drift", set)
	if d.code != 2 || !strings.Contains(d.stdout.String(), "sysctl file /etc/netns/"+ns+"/sysctl.d/90-lvsctl.conf: content not what lvsctl writes (edited?) → lvsctl's") ||
		!strings.Contains(d.stdout.String(), "systemd unit lvsctl-restore-netns-"+ns+".service: enabled false → true") {
		t.Fatalf("drift: exit %d\n%s\n%s", d.code, d.stdout.String(), d.stderr.String())
	}
	if a := l.run("apply", "--auto-approve", set); a.code != 0 || !strings.Contains(a.stdout.String(), "Kept for boot: 0 files added, 2 changed, 0 removed.") {
		t.Fatalf("repair: exit %d\n%s", a.code, a.stdout.String())
	}

	// Another sysctl file read later at boot with another value: a note.
	// (ip netns exec binds /etc/netns/NAME/sysctl.conf over an existing
	// /etc/sysctl.conf, as on Debian.)
	os.WriteFile(filepath.Join(l.root, "etc/sysctl.conf"), []byte("# the host's own\n"), 0o644)
	os.MkdirAll(filepath.Join(l.root, "etc/netns", ns), 0o755)
	os.WriteFile(filepath.Join(l.root, "etc/netns", ns, "sysctl.conf"), []byte("# by hand\nnet.ipv4.ip_forward = 0\n"), 0o644)
	p := l.run("plan", "--detailed-exitcode", set)
	if p.code != 0 || !strings.Contains(p.stdout.String(), "rs1: /etc/netns/"+ns+"/sysctl.conf:2 sets net.ipv4.ip_forward = 0, and is read after /etc/netns/"+ns+"/sysctl.d/90-lvsctl.conf at boot") {
		t.Errorf("plan with a contradicting sysctl.conf: exit %d\n%s", p.code, p.stdout.String())
	}

	// A failure at the last step: the files are put back from the agent's
	// copies, byte for byte.
	changed := strings.Replace(read(filepath.Join(set, "c.cue")), `"net.ipv4.conf.all.arp_announce": 2`, `"net.ipv4.conf.all.arp_announce": 1`, 1)
	dir := filepath.Join(l.dir, "changed")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "c.cue"), []byte(changed), 0o644)
	before := l.snapshot()
	// Its steps: the sysctl, the sysctl file, the boot state.
	fail := l.start([]string{"LVSCTL_TEST_FAIL_AT=3"}, "apply", "--auto-approve", dir)
	<-fail.done
	if fail.code != 1 || !strings.Contains(fail.stdout.String(), "Rolled back 2 steps; every host is as it was before apply") ||
		!strings.Contains(fail.stderr.String(), "undone on rs1: boot.write sysctl") {
		t.Fatalf("apply failing at its last step: exit %d\n%s\n%s", fail.code, fail.stdout.String(), fail.stderr.String())
	}
	if got := l.snapshot(); got != before {
		t.Errorf("after the rollback (-before +after):\n--- before\n%s--- after\n%s", before, got)
	}

	// boot: "none" removes them.
	none := filepath.Join(l.dir, "none")
	os.MkdirAll(none, 0o755)
	os.WriteFile(filepath.Join(none, "c.cue"), []byte(read(filepath.Join(set, "c.cue"))+"hosts: rs1: boot: \"none\"\n"), 0o644)
	if a := l.run("apply", "--auto-approve", none); a.code != 0 || !strings.Contains(a.stdout.String(), "Kept for boot: 0 files added, 0 changed, 3 removed.") {
		t.Fatalf("boot: none: exit %d\n%s\n%s", a.code, a.stdout.String(), a.stderr.String())
	}
	for _, p := range []string{sysctlFile, unit, link, stateFile} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s is still there (%v)", p, err)
		}
	}
}
