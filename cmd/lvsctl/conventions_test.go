package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// What people expect of a CLI: --version, an internal command kept out of
// --help, completion of -o values and of a definition's directory, and
// grammar that counts.
func TestConventions(t *testing.T) {
	_, version, _ := lvsctl(t, "version")
	if code, out, _ := lvsctl(t, "--version"); code != 0 || out != version || !strings.HasPrefix(out, "lvsctl ") {
		t.Errorf("--version: exit %d, %q; version says %q", code, out, version)
	}
	if _, out, _ := lvsctl(t, "--help"); strings.Contains(out, "\n  agent ") || !strings.Contains(out, "\n  restore ") || !strings.Contains(out, "\n  show ") {
		t.Errorf("--help lists agent, or lacks restore or show:\n%s", out)
	}
	if _, out, _ := lvsctl(t, "__complete", "plan", "-o", ""); !strings.Contains(out, "text\njson\n:4\n") {
		t.Errorf("completion of -o:\n%q", out)
	}
	if _, out, _ := lvsctl(t, "__complete", "plan", ""); !strings.HasSuffix(strings.TrimSpace(out), ":16") {
		t.Errorf("completion of plan's DIR is not a directory filter:\n%q", out)
	}
	if _, out, _ := lvsctl(t, "__complete", "apply", ""); !strings.HasSuffix(strings.TrimSpace(out), ":0") {
		t.Errorf("completion of apply's DIR or FILE:\n%q", out)
	}
}

// Warnings (a service's VIP that is not in vips) are printed by validate
// itself, not only by --show.
func TestValidateWarns(t *testing.T) {
	b, err := os.ReadFile("../../examples/direct-routing/cluster.cue")
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), `	vips: "192.168.0.10": {interface: "ens33", prefix: 32}`, "", 1)
	if cfg == string(b) {
		t.Fatal("could not remove the VIP from the example")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "cluster.cue"), []byte(cfg), 0o644)
	code, out, _ := lvsctl(t, "validate", dir)
	if code != 0 || !strings.Contains(out, "  warning: director: VIP 192.168.0.10 (service web) is not in vips") {
		t.Errorf("validate: exit %d\n%s", code, out)
	}
}

// validate --show --host NAME shows that host alone, in text and JSON; a
// host that is not in the definition is an error.
func TestShowOneHost(t *testing.T) {
	code, out, _ := lvsctl(t, "validate", "--show", "--host", "rs1", "../../examples/direct-routing")
	if code != 0 || !strings.HasPrefix(out, "rs1 (ssh 192.168.0.101)\n") || strings.Contains(out, "director (ssh") || strings.Contains(out, "rs2 (ssh") ||
		!strings.Contains(out, "(default, lo and eth0 likewise)") {
		t.Errorf("--host rs1: exit %d\n%s", code, out)
	}
	code, out, _ = lvsctl(t, "validate", "--show", "-o", "json", "--host", "rs1", "../../examples/direct-routing")
	if code != 0 || strings.Count(out, `"name": "rs1"`) != 1 || strings.Contains(out, `"name": "rs2"`) {
		t.Errorf("--host rs1 -o json: exit %d\n%s", code, out)
	}
	if code, _, errOut := lvsctl(t, "validate", "--show", "--host", "rs9", "../../examples/direct-routing"); code != 1 || !strings.Contains(errOut, "--host rs9: no such host") {
		t.Errorf("--host rs9: exit %d, %s", code, errOut)
	}
}
