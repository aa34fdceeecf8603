package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// plan --out, show and apply FILE through the real binary, on namespaces of
// this machine's kernel: the saved plan is applied exactly, without asking;
// a host changed by hand between plan and apply makes it stale, named by
// host and object, with nothing changed; a damaged file and another
// lvsctl's plan are refused.
func TestSavedPlan(t *testing.T) {
	l := newNSLab(t, "rs1", "rs2")
	set := l.config("set", true)
	file := filepath.Join(t.TempDir(), "reviewed.plan")
	p := l.run("plan", "--out", file, set)
	if p.code != 0 || !strings.Contains(p.stderr.String(), "Saved the plan to "+file) {
		t.Fatalf("plan --out: exit %d\n%s\n%s", p.code, p.stdout.String(), p.stderr.String())
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("saved plan: %v", err)
	}
	// show reaches no host: no agent flags.
	s, err := exec.Command(l.exe, "show", file).CombinedOutput()
	if err != nil || !strings.Contains(string(s), "~ sysctl net.ipv4.conf.all.arp_ignore: value 0 → 1") || !strings.Contains(string(s), "by lvsctl ") {
		t.Fatalf("show: %v\n%s", err, s)
	}
	if j, err := exec.Command(l.exe, "show", "-o", "json", file).Output(); err != nil || !json.Valid(j) || !strings.Contains(string(j), `"net.ipv4.conf.all.arp_ignore"`) {
		t.Fatalf("show -o json: %v\n%s", err, j)
	}

	// A hand change on rs2 between plan and apply: refused, nothing changed.
	before := l.snapshot()
	exec.Command("ip", "netns", "exec", l.ns["rs2"], "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward").Run()
	moved := l.snapshot()
	a := l.run("apply", file)
	if a.code != 1 || !strings.Contains(a.stderr.String(), "the saved plan is stale") ||
		!strings.Contains(a.stderr.String(), "rs2: sysctl net.ipv4.ip_forward: 0 → 1") || strings.Contains(a.stderr.String(), "  rs1:") {
		t.Fatalf("apply of a stale plan: exit %d\n%s\n%s", a.code, a.stdout.String(), a.stderr.String())
	}
	if got := l.snapshot(); got != moved {
		t.Fatalf("a stale plan changed something:\n--- before\n%s--- after\n%s", moved, got)
	}
	exec.Command("ip", "netns", "exec", l.ns["rs2"], "sh", "-c", "echo 0 > /proc/sys/net/ipv4/ip_forward").Run()
	if got := l.snapshot(); got != before {
		t.Fatalf("could not put rs2 back:\n%s", got)
	}

	// Damaged, or written by another lvsctl: refused before any host is read.
	b, _ := os.ReadFile(file)
	damaged := filepath.Join(t.TempDir(), "damaged.plan")
	os.WriteFile(damaged, []byte(strings.Replace(string(b), `"value": "1"`, `"value": "7"`, 1)), 0o600)
	if a := l.run("apply", damaged); a.code != 1 || !strings.Contains(a.stderr.String(), "is not a whole saved plan (its content does not match its SHA-256: damaged or edited)") || strings.Contains(a.stderr.String(), "reading live state") {
		t.Errorf("apply of a damaged plan: exit %d\n%s", a.code, a.stderr.String())
	}
	os.WriteFile(damaged, b[:len(b)/2], 0o600)
	if a := l.run("apply", damaged); a.code != 1 || !strings.Contains(a.stderr.String(), "is not a whole saved plan") {
		t.Errorf("apply of half a plan: exit %d\n%s", a.code, a.stderr.String())
	}
	var sp savedPlan
	if err := json.Unmarshal(b, &sp); err != nil {
		t.Fatal(err)
	}
	sp.Lvsctl = "v0.0.1"
	other, _ := sealSaved(&sp)
	os.WriteFile(damaged, other, 0o600)
	if a := l.run("apply", damaged); a.code != 1 || !strings.Contains(a.stderr.String(), "was written by lvsctl v0.0.1, and this is lvsctl ") {
		t.Errorf("apply of another version's plan: exit %d\n%s", a.code, a.stderr.String())
	}
	if got := l.snapshot(); got != before {
		t.Fatalf("a refused plan changed something:\n%s", got)
	}

	// The reviewed plan, applied as it is, without asking.
	a = l.run("apply", file)
	if a.code != 0 || !strings.Contains(a.stdout.String(), "Apply complete! 0 added, 6 changed, 0 destroyed.") {
		t.Fatalf("apply of the saved plan: exit %d\n%s\n%s", a.code, a.stdout.String(), a.stderr.String())
	}
	if p := l.run("plan", "--detailed-exitcode", set); p.code != 0 {
		t.Errorf("plan after the saved plan: exit %d\n%s", p.code, p.stdout.String())
	}
	// Applied once, it is stale: the hosts are no longer what it was made against.
	if a := l.run("apply", file); a.code != 1 || !strings.Contains(a.stderr.String(), "the saved plan is stale") {
		t.Errorf("second apply of the saved plan: exit %d\n%s", a.code, a.stderr.String())
	}
}

// apply -o json through the real binary: the report of a rolled-back apply
// and of a complete one, each valid against schema/json/apply.json; and -o
// json without --auto-approve or a saved plan is refused, as it shows no
// plan to confirm.
func TestApplyJSONReport(t *testing.T) {
	l := newNSLab(t, "rs1")
	set := l.config("set", true)
	if a := l.run("apply", "-o", "json", set); a.code != 1 || !strings.Contains(a.stderr.String(), "use it with --auto-approve or a saved plan") {
		t.Errorf("apply -o json without --auto-approve: exit %d\n%s", a.code, a.stderr.String())
	}
	fail := l.start([]string{"LVSCTL_TEST_FAIL_AT=2"}, "apply", "--auto-approve", "-o", "json", set)
	<-fail.done
	var r struct {
		Outcome string
		Done    []struct{ Host, Step string }
		Undone  []struct{ Host, Step string }
		Failed  *struct{ Host, Step, Error string }
	}
	if err := json.Unmarshal(fail.stdout.Bytes(), &r); err != nil || fail.code != 1 || r.Outcome != "rolled-back" || r.Failed == nil || r.Failed.Host != "rs1" || len(r.Undone) != 1 {
		t.Fatalf("a failing apply -o json: exit %d, %v\n%s\n%s", fail.code, err, fail.stdout.String(), fail.stderr.String())
	}
	checkJSON(t, "apply", fail.stdout.String())
	ok := l.run("apply", "--auto-approve", "-o", "json", set)
	if err := json.Unmarshal(ok.stdout.Bytes(), &r); err != nil || ok.code != 0 || r.Outcome != "applied" || r.Failed != nil {
		t.Fatalf("apply -o json: exit %d, %v\n%s", ok.code, err, ok.stdout.String())
	}
	checkJSON(t, "apply", ok.stdout.String())
	none := l.run("apply", "--auto-approve", "-o", "json", set)
	if err := json.Unmarshal(none.stdout.Bytes(), &r); err != nil || none.code != 0 || r.Outcome != "no-changes" {
		t.Fatalf("apply -o json with nothing to do: exit %d, %v\n%s", none.code, err, none.stdout.String())
	}
	checkJSON(t, "apply", none.stdout.String())
}
