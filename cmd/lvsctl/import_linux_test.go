package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportLiveOnNamespaces: import live through the real binary and real
// agents in namespaces of this machine's kernel, which has no IPVS: it
// reads every host in parallel, writes hosts with nothing lvsctl would
// manage as such, plans its own output (no change), and changes nothing on
// any host, not even an inventory. The VM lab (test/scenario TestImport)
// imports real IPVS tables.
func TestImportLiveOnNamespaces(t *testing.T) {
	l := newNSLab(t, "rs1", "rs2")
	for _, h := range []string{"rs1", "rs2"} {
		// A VLAN's name, whose sysctls import reads as net.ipv4.conf.eth0/100.*.
		ns, outer := l.ns[h], "i"+l.ns[h][len(l.ns[h])-8:]
		for _, c := range [][]string{
			{"link", "add", outer, "type", "veth", "peer", "name", "eth0.100", "netns", ns},
			{"-n", ns, "addr", "add", "192.0.2.1/24", "dev", "eth0.100"},
			{"-n", ns, "link", "set", "eth0.100", "up"},
		} {
			if out, err := exec.Command("ip", c...).CombinedOutput(); err != nil {
				t.Fatalf("ip %q: %v %s", c, err, out)
			}
		}
		t.Cleanup(func() { exec.Command("ip", "link", "del", outer).Run() })
	}
	hosts := l.config("hosts", false)
	before := l.snapshot()
	r := l.run("import", "live", hosts)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr.String())
	}
	out := r.stdout.String()
	if strings.Count(out, "lvsctl found no IPVS table here, and no real server of one.") != 2 || !strings.Contains(out, "directors: {}") ||
		!strings.Contains(strings.Join(strings.Fields(strings.ReplaceAll(out, "//", "")), " "), "Imported by lvsctl import live from the hosts of "+hosts+": 0 directors, 0 services, 0 real servers.") {
		t.Errorf("definition:\n%s", out)
	}
	if !strings.Contains(r.stderr.String(), "lvsctl: import: the first plan of this definition changes no object on any host.") {
		t.Errorf("stderr:\n%s", r.stderr.String())
	}
	if after := l.snapshot(); after != before {
		t.Errorf("import changed the hosts:\n%s\n---\n%s", before, after)
	}
	dir := writeCluster(t, out)
	if code, vout, verr := lvsctl(t, "validate", dir); code != 0 || !strings.Contains(vout, "valid (2 hosts, 0 directors, 0 services)") {
		t.Errorf("validate: exit %d\n%s%s", code, vout, verr)
	}
}
