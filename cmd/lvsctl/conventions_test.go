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
