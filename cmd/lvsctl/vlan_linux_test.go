package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A direct-routing real server whose interface is a VLAN (eth0.100), through
// the real binary and a real agent in a namespace of this machine's kernel:
// apply sets the ARP sysctls in /proc/sys/net/ipv4/conf/eth0.100 (and not in
// eth0's, the same namespace's other device), a second plan says No changes,
// drift finds none, and the sysctl file kept for boot names the VLAN as
// sysctl(8) does, which procps's sysctl and systemd-sysctl then read back into
// the same file of /proc/sys. The host kernel has no VLAN driver: a veth pair
// named eth0 and eth0.100 stands in (the kernel's conf directory is named by
// the device alone). The director is not contacted (--target rs1): IPVS
// needs the VM lab.
func TestDottedInterfaceOnNamespace(t *testing.T) {
	l := newNSLab(t, "rs1")
	ns := l.ns["rs1"]
	if out, err := exec.Command("ip", "-n", ns, "link", "add", "eth0.100", "type", "veth", "peer", "name", "eth0").CombinedOutput(); err != nil {
		t.Fatalf("veth eth0.100: %v %s", err, out)
	}
	// Writing conf/default copies the value to every device whose own was
	// never written (the kernel's devinet_copy_dflt_conf): eth0's are
	// written first, so that a value there can only come from a write to eth0.
	if out, err := exec.Command("ip", "netns", "exec", ns, "sh", "-c", "echo 0 > /proc/sys/net/ipv4/conf/eth0/arp_ignore; echo 0 > /proc/sys/net/ipv4/conf/eth0/arp_announce").CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	dir := filepath.Join(l.dir, "vlan")
	os.MkdirAll(dir, 0o755)
	cfg := `package c
hosts: lb: netns: "lvsctl-not-contacted"
hosts: rs1: {netns: "` + ns + `", interface: "eth0.100"}
directors: lb: services: web: {
	address: "192.0.2.10"
	port:    80
	realServers: rs1: {address: "198.51.100.1", host: "rs1"}
}
`
	if err := os.WriteFile(filepath.Join(dir, "c.cue"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := func(iface, name string) string {
		out, _ := exec.Command("ip", "netns", "exec", ns, "cat", "/proc/sys/net/ipv4/conf/"+iface+"/"+name).Output()
		return strings.TrimSpace(string(out))
	}

	p := l.run("plan", "--detailed-exitcode", "--target", "rs1", dir)
	if p.code != 2 || !strings.Contains(p.stdout.String(), "~ sysctl net.ipv4.conf.eth0/100.arp_ignore: value 0 → 1") ||
		!strings.Contains(p.stdout.String(), "~ sysctl net.ipv4.conf.eth0/100.arp_announce: value 0 → 2") {
		t.Fatalf("plan: exit %d\n%s\n%s", p.code, p.stdout.String(), p.stderr.String())
	}
	a := l.run("apply", "--auto-approve", "--target", "rs1", dir)
	if a.code != 0 || !strings.Contains(a.stdout.String(), "Apply complete!") {
		t.Fatalf("apply: exit %d\n%s\n%s", a.code, a.stdout.String(), a.stderr.String())
	}
	if conf("eth0.100", "arp_ignore") != "1" || conf("eth0.100", "arp_announce") != "2" {
		t.Errorf("after apply, eth0.100's arp_ignore %q and arp_announce %q, want 1 and 2", conf("eth0.100", "arp_ignore"), conf("eth0.100", "arp_announce"))
	}
	if conf("eth0", "arp_ignore") != "0" || conf("eth0", "arp_announce") != "0" {
		t.Errorf("after apply, eth0's arp_ignore %q and arp_announce %q, want them untouched (0)\n%s", conf("eth0", "arp_ignore"), conf("eth0", "arp_announce"), a.stdout.String())
	}
	if p := l.run("plan", "--detailed-exitcode", "--target", "rs1", dir); p.code != 0 || !strings.Contains(p.stdout.String(), "No changes.") {
		t.Fatalf("plan after apply: exit %d\n%s\n%s", p.code, p.stdout.String(), p.stderr.String())
	}
	if d := l.run("drift", "--target", "rs1", dir); d.code != 0 || !strings.Contains(d.stdout.String(), "No drift") {
		t.Fatalf("drift after apply: exit %d\n%s\n%s", d.code, d.stdout.String(), d.stderr.String())
	}

	// The file kept for boot: the VLAN's lines in sysctl(8)'s form, with
	// "-" (the interface may not exist yet when systemd-sysctl runs).
	file := filepath.Join(l.root, "etc/netns", ns, "sysctl.d/90-lvsctl.conf")
	b, err := os.ReadFile(file)
	if err != nil || !strings.Contains(string(b), "\n-net.ipv4.conf.eth0/100.arp_announce = 2\n-net.ipv4.conf.eth0/100.arp_ignore = 1\n") {
		t.Fatalf("sysctl file (%v):\n%s", err, b)
	}
	// The readers of that file at boot write the VLAN's own file, and no
	// other: procps's sysctl (sysctl --system) and systemd-sysctl.
	for _, reader := range [][]string{{"sysctl", "-q", "-p", file}, {"/lib/systemd/systemd-sysctl", file}} {
		if _, err := exec.LookPath(reader[0]); err != nil {
			t.Errorf("%s: %v", reader[0], err)
			continue
		}
		reset := "for i in eth0 eth0.100; do echo 0 > /proc/sys/net/ipv4/conf/$i/arp_ignore; echo 0 > /proc/sys/net/ipv4/conf/$i/arp_announce; done"
		if out, err := exec.Command("ip", "netns", "exec", ns, "sh", "-c", reset).CombinedOutput(); err != nil {
			t.Fatalf("%v %s", err, out)
		}
		out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, reader...)...).CombinedOutput()
		if err != nil {
			t.Errorf("%s: %v\n%s", strings.Join(reader, " "), err, out)
		}
		if conf("eth0.100", "arp_ignore") != "1" || conf("eth0.100", "arp_announce") != "2" || conf("eth0", "arp_ignore") != "0" {
			t.Errorf("after %s: eth0.100's arp_ignore %q, arp_announce %q, eth0's arp_ignore %q; want 1, 2, 0\n%s",
				reader[0], conf("eth0.100", "arp_ignore"), conf("eth0.100", "arp_announce"), conf("eth0", "arp_ignore"), out)
		}
	}
	if d := l.run("drift", "--target", "rs1", dir); d.code != 0 {
		t.Errorf("drift after the boot readers: exit %d\n%s\n%s", d.code, d.stdout.String(), d.stderr.String())
	}
}
