package main

import (
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
