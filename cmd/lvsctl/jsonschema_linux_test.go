package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// plan -o json, drift -o json and drift --textfile through the command, on
// a host in a namespace of this machine's kernel (a real server's side needs
// no IPVS) and one whose namespace does not exist (unreachable).
func TestJSONAndTextfileOnNamespace(t *testing.T) {
	ns := agentNamespace(t, "lvsctl-j-")
	dir := filepath.Join(t.TempDir(), "edge")
	os.Mkdir(dir, 0o755)
	write := func(cfg string) {
		if err := os.WriteFile(filepath.Join(dir, "c.cue"), []byte("package c\n"+cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rs1 := "hosts: rs1: {netns: \"" + ns + "\", sysctls: \"net.ipv4.conf.all.arp_ignore\": 1}\n"
	write(rs1)
	prom := filepath.Join(t.TempDir(), "lvsctl.prom")
	state := []string{"--state-dir", t.TempDir(), "--persist-root", t.TempDir()}
	cmd := func(args ...string) (int, string, string) { return lvsctl(t, append(append(args, dir), state...)...) }

	code, out, errOut := cmd("plan", "-o", "json")
	if code != 0 || !strings.Contains(out, `"actions": [`) {
		t.Fatalf("plan -o json: exit %d, %s\n%s", code, errOut, out)
	}
	checkJSON(t, "plan", out)
	// A saved plan, shown as JSON: the plan's schema too.
	saved := filepath.Join(t.TempDir(), "plan.lvsctl")
	if code, _, errOut := cmd("plan", "--out", saved); code != 0 {
		t.Fatalf("plan --out: exit %d, %s", code, errOut)
	}
	code, shown, errOut := lvsctl(t, "show", saved, "-o", "json")
	if code != 0 {
		t.Fatalf("show -o json: exit %d, %s", code, errOut)
	}
	checkJSON(t, "plan", shown)

	// Not applied: drift finds the sysctl (and the files kept for boot).
	code, out, _ = cmd("drift", "-o", "json", "--textfile", prom)
	if code != 2 || !strings.Contains(out, `"object": "net.ipv4.conf.all.arp_ignore"`) {
		t.Fatalf("drift: exit %d\n%s", code, out)
	}
	checkJSON(t, "drift", out)
	mfs := parseTextfile(t, prom)
	n, _ := gauge(mfs, metricObjects, "cluster", "edge", "host", "rs1")
	checked, _ := gauge(mfs, metricChecked, "cluster", "edge", "host", "rs1")
	run1, _ := gauge(mfs, metricLastRun, "cluster", "edge")
	success1, _ := gauge(mfs, metricLastSuccess, "cluster", "edge")
	if n < 1 || checked != 1 || run1 == 0 || success1 != run1 {
		t.Fatalf("after a run with drift: objects %v, checked %v, last run %v, last success %v", n, checked, run1, success1)
	}

	// rs2 cannot be reached: exit 1 as before, rs2 not checked, and the
	// last success stays the first run's.
	write(rs1 + "hosts: rs2: netns: \"lvsctl-none-" + strings.TrimPrefix(ns, "lvsctl-j-") + "\"\n")
	code, out, _ = cmd("drift", "-o", "json", "--textfile", prom)
	if code != 1 || !strings.Contains(out, `"unknown": [`) || !strings.Contains(out, `"host": "rs2"`) {
		t.Fatalf("drift with rs2 unreachable: exit %d\n%s", code, out)
	}
	checkJSON(t, "drift", out)
	mfs = parseTextfile(t, prom)
	checked2, _ := gauge(mfs, metricChecked, "host", "rs2")
	checked1, _ := gauge(mfs, metricChecked, "host", "rs1")
	_, hasObjects2 := gauge(mfs, metricObjects, "host", "rs2")
	run2, _ := gauge(mfs, metricLastRun)
	success2, _ := gauge(mfs, metricLastSuccess)
	if checked2 != 0 || checked1 != 1 || hasObjects2 || run2 <= run1 || success2 != success1 {
		t.Errorf("after a run with rs2 unreachable: rs2 checked %v (objects %v), rs1 checked %v, last run %v (before %v), last success %v (before %v)",
			checked2, hasObjects2, checked1, run2, run1, success2, success1)
	}

	// A definition that does not load: still written, as a failed run.
	write("hosts: rs1: {netns: 5}\n")
	code, out, errOut = cmd("drift", "--textfile", prom)
	if code != 1 || out != "" || errOut == "" {
		t.Fatalf("drift of a broken definition: exit %d, %q, %q", code, out, errOut)
	}
	mfs = parseTextfile(t, prom)
	run3, _ := gauge(mfs, metricLastRun)
	success3, _ := gauge(mfs, metricLastSuccess)
	if run3 <= run2 || success3 != success1 || len(mfs[metricChecked].GetMetric()) != 0 {
		t.Errorf("after a broken definition: last run %v, last success %v (want %v), hosts %v", run3, success3, success1, mfs[metricChecked])
	}

	// A textfile that cannot be written is an error, whatever drift found.
	write(rs1)
	code, _, errOut = cmd("drift", "--textfile", filepath.Join(t.TempDir(), "no", "x.prom"))
	if code != 1 || !strings.Contains(errOut, "x.prom") {
		t.Errorf("unwritable textfile: exit %d, %s", code, errOut)
	}
}
