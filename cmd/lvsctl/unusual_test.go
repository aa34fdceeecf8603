package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// What real clusters have and the kernel accepts (issue 13, item 5) is valid,
// with a warning where lvsctl leaves something to others or the kernel
// ignores what is written; validate --show prints it faithfully, in text and
// in JSON that matches its schema.
func TestValidateUnusual(t *testing.T) {
	b, err := os.ReadFile("../../examples/direct-routing/cluster.cue")
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b) + `
directors: director: services: {
	marked: {
		fwmark: 7
		scheduler: "rr"
		persistence: netmask: "255.255.0.255"
		realServers: a: {address: "192.168.0.101", port: 8080}
	}
	dns: {
		protocol: "udp"
		address: "192.168.0.10"
		port: 53
		realServers: lo: address: "127.0.0.11"
	}
}
`
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "cluster.cue"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := lvsctl(t, "validate", dir)
	for _, w := range []string{
		"  warning: director: service marked (FWM 7): no mark group on this director sets mark 7, so lvsctl neither sets nor checks the rules that mark its packets (iptables, another nftables table)",
		"  warning: director: service marked (FWM 7): real server a is 192.168.0.101:8080, but direct routing does not rewrite the destination port: the kernel keeps 8080 and ignores it, and packets reach the real server on the port the client connected to",
	} {
		if code != 0 || !strings.Contains(out, w) {
			t.Errorf("validate: exit %d, want %q in\n%s%s", code, w, out, errOut)
		}
	}
	code, out, errOut = lvsctl(t, "validate", "--show", "--host", "director", dir)
	for _, w := range []string{"ipvs service FWM 7", "rr, persistent 300s per /255.255.0.255", "-> 192.168.0.101:8080", "-> 127.0.0.11:53"} {
		if code != 0 || !strings.Contains(out, w) {
			t.Errorf("validate --show: exit %d, want %q in\n%s%s", code, w, out, errOut)
		}
	}
	code, out, errOut = lvsctl(t, "validate", "--show", "-o", "json", dir)
	if code != 0 || !strings.Contains(out, `"netmask": "255.255.0.255"`) {
		t.Errorf("validate --show -o json: exit %d\n%s%s", code, out, errOut)
	}
	checkJSON(t, "validate-show", out)
}
