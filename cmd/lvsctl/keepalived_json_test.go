package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// validate --show -o json carries, on each director of a pair with
// keepalived, the configuration lvsctl writes there (format 1.4), and its
// schema holds it.
func TestValidateShowKeepalived(t *testing.T) {
	src, err := os.ReadFile("../../examples/pair/cluster.cue")
	if err != nil {
		t.Fatal(err)
	}
	with := strings.Replace(string(src), "routerID: 51", "routerID: 51\n\tkeepalived: {}", 1)
	with = strings.Replace(with, `web1: {address: "192.168.0.101", weight: 1, host: "web1"}`,
		`web1: {address: "192.168.0.101", weight: 1, host: "web1", check: {type: "http", path: "/health", port: 80}}`, 1)
	if !strings.Contains(with, "keepalived: {}") || !strings.Contains(with, "/health") {
		t.Fatal("the example changed")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "cluster.cue"), []byte(with), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := lvsctl(t, "validate", "--show", "-o", "json", dir)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, %s", code, errOut)
	}
	checkJSON(t, "validate-show", out)
	for _, want := range []string{`"format_version": "1.5"`, `"keepalived": {`, `"config": "/etc/keepalived/keepalived.conf"`,
		`"routerName": "lb1"`, `"routerName": "lb2"`, `"priority": 150`, `"priority": 100`, `"path": "/health"`} {
		if !strings.Contains(out, want) {
			t.Errorf("validate --show -o json lacks %s:\n%s", want, out)
		}
	}
	bad := strings.Replace(out, `"type": "http"`, `"type": "misc"`, 1)
	if err := validateAgainst(t, "validate-show", bad); err == nil {
		t.Errorf("the schema accepts a misc check")
	}
}
