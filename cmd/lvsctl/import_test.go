package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// lvsctlStdin is lvsctl with stdin.
func lvsctlStdin(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	root := newRoot(&stdout, &stderr)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	err := root.Execute()
	var ee exitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &ee):
		return ee.code, stdout.String(), stderr.String()
	}
	stderr.WriteString("lvsctl: " + err.Error() + "\n")
	return 1, stdout.String(), stderr.String()
}

// writeCluster writes def as a cluster directory's only file.
func writeCluster(t *testing.T, def string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "imported.cue"), []byte(def), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestImportIPVSAdm: ipvsadm -S -n on stdin becomes a definition that
// validates, with the VIPs left to what sets them now (a warning each),
// and the director reached as the flags say.
func TestImportIPVSAdm(t *testing.T) {
	save := `-A -t 192.168.0.10:80 -s wrr -p 300
-a -t 192.168.0.10:80 -r 192.168.0.101:80 -g -w 5
-a -t 192.168.0.10:80 -r 222.117.155.123:80 -g -w 10
-A -f 7 -s wlc -p 600 -M 255.255.0.255
-a -f 7 -r 192.168.0.101:0 -g -w 1
`
	code, out, errOut := lvsctlStdin(t, save, "import", "ipvsadm", "--director", "lvs1", "--ssh", "lvs1.example.com", "-")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	for _, want := range []string{
		"// Imported by lvsctl import ipvsadm from stdin: 2 services, 3 real servers.",
		"hosts: lvs1: {\n\tssh: address: \"lvs1.example.com\"\n\tboot: \"none\"\n}",
		`"192.168.0.10:80": {`,
		`"222.117.155.123": {address: "222.117.155.123", weight: 10, forward: "dr"}`,
		`persistence: {timeout: 600, netmask: "255.255.0.255"}`,
		`Mark 7 is set by rules outside lvsctl`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	dir := writeCluster(t, out)
	code, vout, verr := lvsctl(t, "validate", dir)
	if code != 0 || !strings.Contains(vout, "valid (1 host, 1 director, 2 services)") ||
		!strings.Contains(vout, "warning: lvs1: VIP 192.168.0.10 (service 192.168.0.10:80) is not in vips") {
		t.Errorf("validate: exit %d\n%s%s", code, vout, verr)
	}
	code, sout, _ := lvsctl(t, "validate", "--show", dir)
	if code != 0 || !strings.Contains(sout, "ipvs service TCP 192.168.0.10:80       wrr, persistent 300s ") {
		t.Errorf("validate --show: exit %d\n%s", code, sout)
	}
}

func TestImportErrors(t *testing.T) {
	rules := filepath.Join(t.TempDir(), "ipvsadm.rules")
	os.WriteFile(rules, []byte("-A -t 10.0.0.1:80 -s rr\n\n-a -t 10.0.0.1:80 -r 10.0.0.2:80 -g -w many\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"import", "ipvsadm", rules}, "lvsctl: " + rules + ":3: -w many: not a number in range\n"},
		{[]string{"import", "ipvsadm", "--local", "--ssh", "x", rules}, "--local is this machine itself: it goes with neither --ssh nor --netns"},
		{[]string{"import", "ipvsadm", "--director", "a b", rules}, `--director "a b": use 1 to 128 letters`},
		{[]string{"import", "ipvsadm", "--director", "lvs_1", rules}, `the director "lvs_1" is no address ssh can reach: give --ssh ADDRESS, --netns NAME or --local`},
		{[]string{"import", "ipvsadm", "--package", "my-cluster", "--local", rules}, `--package "my-cluster" is not a CUE package name`},
		{[]string{"import", "ipvsadm", "--netns", "../x", rules}, "--netns:"},
		{[]string{"import", "ipvsadm", filepath.Join(t.TempDir(), "missing")}, "no such file or directory"},
		{[]string{"import", "keepalived", filepath.Join(t.TempDir(), "missing")}, "no such file or directory"},
	} {
		code, out, errOut := lvsctl(t, tc.args...)
		if code != 1 || out != "" || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want %q", tc.args, code, out, errOut, tc.want)
		}
	}
}

// TestImportKeepalived: a keepalived.conf with an include, a definition, a
// group and checkers becomes a definition that validates, with the
// checkers as comments and one line per kind on stderr.
func TestImportKeepalived(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "keepalived.conf"), []byte(`global_defs {
    router_id lvs1
}
$RS=10.0.0.101
include conf.d/*.conf
`), 0o644)
	os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755)
	os.WriteFile(filepath.Join(dir, "conf.d", "web.conf"), []byte(`virtual_server_group web {
    192.0.2.10-11 80
}
virtual_server group web {
    lb_algo wlc
    lb_kind NAT
    protocol TCP
    real_server $RS 8080 {
        weight 3
        HTTP_GET {
            url {
                path /health
                status_code 200
            }
            connect_timeout 2
        }
    }
}
`), 0o644)
	code, out, errOut := lvsctl(t, "import", "keepalived", "--local", filepath.Join(dir, "keepalived.conf"))
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	for _, want := range []string{`"192.0.2.10:80": {`, `"192.0.2.11:80": {`, `"10.0.0.101": {address: "10.0.0.101", port: 8080, weight: 3, forward: "nat"}`, "HTTP_GET", "router_id lvs1", "local: true"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "lvsctl: import: health checkers: 1 (HTTP_GET 1)") {
		t.Errorf("stderr:\n%s", errOut)
	}
	code, vout, verr := lvsctl(t, "validate", writeCluster(t, out))
	if code != 0 || !strings.Contains(vout, "valid (1 host, 1 director, 2 services)") {
		t.Errorf("validate: exit %d\n%s%s", code, vout, verr)
	}
}
