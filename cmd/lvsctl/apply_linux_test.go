package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lvsctl/lvsctl/internal/netnstest"
)

// agentNamespace makes a network namespace for the test (named prefix and
// random hex), removed when it ends, and has this test binary serve as the
// agents of in-process lvsctl runs (see TestMain).
func agentNamespace(t *testing.T, prefix string) string {
	t.Helper()
	netnstest.RequireRoot(t)
	b := make([]byte, 4)
	rand.Read(b)
	ns := prefix + hex.EncodeToString(b)
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("LVSCTL_AGENT_EXE", exe)
	return ns
}

// plan, apply and drift on this machine's kernel, with a host in a namespace
// the test creates (a real server's side needs no IPVS).
func TestPlanApplyDriftOnNamespace(t *testing.T) {
	ns := agentNamespace(t, "lvsctl-c-")
	dir := t.TempDir()
	cfg := "package c\nhosts: rs1: {netns: \"" + ns + "\", sysctls: \"net.ipv4.conf.all.arp_ignore\": 1}\n"
	if err := os.WriteFile(filepath.Join(dir, "c.cue"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	state := []string{"--state-dir", t.TempDir(), "--persist-root", t.TempDir()}
	read := func() string {
		out, _ := exec.Command("ip", "netns", "exec", ns, "cat", "/proc/sys/net/ipv4/conf/all/arp_ignore").Output()
		return strings.TrimSpace(string(out))
	}

	code, out, _ := lvsctl(t, append([]string{"plan", "--detailed-exitcode", dir}, state...)...)
	if code != 2 || !strings.Contains(out, "~ sysctl net.ipv4.conf.all.arp_ignore: value 0 → 1") || !strings.Contains(out, "Plan: 0 to add, 1 to change, 0 to destroy.") {
		t.Fatalf("plan: exit %d\n%s", code, out)
	}
	// No terminal, no --auto-approve: refused, nothing changed.
	code, _, errOut := lvsctl(t, append([]string{"apply", dir}, state...)...)
	if code != 1 || !strings.Contains(errOut, "refusing to apply: no terminal to ask for confirmation; use --auto-approve") || read() != "0" {
		t.Fatalf("apply without a terminal: exit %d, %s, value %s", code, errOut, read())
	}
	code, out, _ = lvsctl(t, append([]string{"apply", "--auto-approve", dir}, state...)...)
	if code != 0 || !strings.Contains(out, "Apply complete! 0 added, 1 changed, 0 destroyed.") || read() != "1" {
		t.Fatalf("apply: exit %d\n%s\nvalue %s", code, out, read())
	}
	if code, out, _ := lvsctl(t, append([]string{"plan", "--detailed-exitcode", dir}, state...)...); code != 0 || !strings.Contains(out, "No changes.") {
		t.Fatalf("plan after apply: exit %d\n%s", code, out)
	}
	if code, out, _ := lvsctl(t, append([]string{"drift", dir}, state...)...); code != 0 || !strings.Contains(out, "No drift") {
		t.Fatalf("drift: exit %d\n%s", code, out)
	}
	// By hand: drift names it.
	if out, err := exec.Command("ip", "netns", "exec", ns, "sh", "-c", "echo 0 > /proc/sys/net/ipv4/conf/all/arp_ignore").CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	code, out, _ = lvsctl(t, append([]string{"drift", "-o", "json", dir}, state...)...)
	var r driftReport
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != 2 || !r.Drift || len(r.Objects) != 1 ||
		r.Objects[0].Host != "rs1" || r.Objects[0].Object != "net.ipv4.conf.all.arp_ignore" || r.Objects[0].Fields[0].Before != "0" {
		t.Fatalf("drift: exit %d, %v\n%s", code, err, out)
	}
}
