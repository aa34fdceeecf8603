package schema

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A badCase is a configuration directory that must be refused with exactly
// the listed problems, in order. Each want is "PREFIX|FRAGMENT": the problem's
// line must start with PREFIX (file:line:col: field:) and contain FRAGMENT.
type badCase struct {
	name  string
	files map[string]string
	want  []string
}

// base is a valid cluster that bad cases change with a second file or by
// replacing it. Line numbers in wants refer to the files as written.
const base = `package c

hosts: {
	lb: {}
	rs1: {interface: "eth0"}
}
directors: lb: {
	vips: "192.0.2.10": interface: "eth0"
	services: web: {
		address: "192.0.2.10"
		port:    80
		realServers: rs1: {address: "198.51.100.1", host: "rs1"}
	}
}
`

func TestBaseIsValid(t *testing.T) {
	dir := writeCase(t, map[string]string{"c.cue": base})
	if _, err := Load(dir); err != nil {
		t.Fatalf("base configuration: %v", err)
	}
}

var badCases = []badCase{
	{
		name:  "syntax error",
		files: map[string]string{"c.cue": "package c\nhosts: {\n"},
		want:  []string{"c.cue:2:10: |expected '}'"},
	},
	{
		name: "wrong type",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: port: "80"
`},
		want: []string{`c.cue:11:12: directors.lb.services.web.port: |conflicting values 80 and "80" (mismatched types int and string) (also at x.cue:2:37)`},
	},
	{
		name: "unknown scheduler",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: scheduler: "wrrr"
`},
		want: []string{`x.cue:2:42: directors.lb.services.web.scheduler: |"wrrr" is not allowed: expected one of "dh", "fo"`},
	},
	{
		name: "direct routing maps a port",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: realServers: rs1: port: 8080
`},
		want: []string{`x.cue:2:49: directors.lb.services.web.realServers.rs1.port: |direct-routing forwarding cannot map ports`},
	},
}

func TestBadConfigurations(t *testing.T) {
	for _, tc := range badCases {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeCase(t, tc.files)
			checkProblems(t, dir, tc.want)
		})
	}
}

// checkProblems loads dir and compares its problems with want.
func checkProblems(t *testing.T, dir string, want []string) {
	t.Helper()
	l, err := Load(dir)
	if err == nil {
		t.Fatalf("Load succeeded with %d hosts; want %d problems", len(l.Hosts), len(want))
	}
	var probs Problems
	if !errors.As(err, &probs) {
		t.Fatalf("Load error is %T, not Problems: %v", err, err)
	}
	got := make([]string, len(probs))
	for i, p := range probs {
		got[i] = strings.ReplaceAll(p.String(), dir+string(filepath.Separator), "")
	}
	if len(got) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i, w := range want {
		prefix, frag, _ := strings.Cut(w, "|")
		if !strings.HasPrefix(got[i], prefix) || !strings.Contains(got[i], frag) {
			t.Errorf("problem %d:\n got: %s\nwant: %s...%s", i, got[i], prefix, frag)
		}
		if strings.Contains(got[i], "\n") {
			t.Errorf("problem %d spans several lines: %q", i, got[i])
		}
	}
}

func writeCase(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
