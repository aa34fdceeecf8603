package schema

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The cluster repository is untrusted (issue 10): these are the ways a pull
// request could make the loader read beyond the cluster directory, or spend
// the runner's memory, and what lvsctl says instead.

// secret is what a file outside the cluster directory holds; no message may
// ever carry it.
const secret = "-----BEGIN OPENSSH PRIVATE KEY----- not-a-real-key"

func outsideFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(p, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func loadErr(t *testing.T, dir string, evaluated bool) string {
	t.Helper()
	l, err := loadDir(dir, Limits{}, evaluated)
	if err == nil {
		t.Fatalf("Load succeeded with %d hosts; want it refused", len(l.Hosts))
	}
	var probs Problems
	if !errors.As(err, &probs) {
		t.Fatalf("Load error is %T, not Problems: %v", err, err)
	}
	msg := strings.ReplaceAll(probs.Error(), dir+string(filepath.Separator), "")
	if strings.Contains(msg, "BEGIN OPENSSH") {
		t.Fatalf("the message carries the outside file:\n%s", msg)
	}
	return msg
}

func wantIn(t *testing.T, msg string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			t.Errorf("message lacks %q:\n%s", p, msg)
		}
	}
}

// The attack as filed: cue.mod, a link to a file on the runner, and @embed of
// it used where a message would echo it.
func TestEmbedRefused(t *testing.T) {
	dir := writeCase(t, map[string]string{
		"c.cue":               base,
		"cue.mod/module.cue":  "module: \"example.com/x\"\nlanguage: version: \"v0.12.0\"\n",
		"x.cue":               "@extern(embed)\n\npackage c\n\n_s: _ @embed(file=\"leak.txt\", type=text)\nhosts: lb: ssh: address: _s\n",
		"cue.mod/pkg/keep.md": "",
	})
	if err := os.Symlink(outsideFile(t), filepath.Join(dir, "leak.txt")); err != nil {
		t.Fatal(err)
	}
	msg := loadErr(t, dir, false)
	wantIn(t, msg, "x.cue:1:1: @extern is not allowed", "x.cue:5:7: @embed is not allowed",
		"lvsctl reads only those")
}

// Embedding a regular file inside the directory is refused as well: the rule
// is simple to state and to check.
func TestEmbedInsideRefused(t *testing.T) {
	dir := writeCase(t, map[string]string{
		"c.cue":    base,
		"x.cue":    "package c\n\n_s: _ @embed(file=\"addr.txt\", type=text)\n",
		"addr.txt": "192.0.2.99",
	})
	wantIn(t, loadErr(t, dir, false), "x.cue:3:7: @embed is not allowed")
}

func TestToolImportRefused(t *testing.T) {
	dir := writeCase(t, map[string]string{"c.cue": base, "x.cue": "package c\n\nimport \"tool/exec\"\n\n_r: exec.Run & {cmd: \"id\"}\n"})
	wantIn(t, loadErr(t, dir, false), `x.cue:3:8: import "tool/exec": the tool/ packages script the cue command`)
}

// A module's packages are never read, even when cue.mod provides them.
func TestModuleImportRefused(t *testing.T) {
	dir := writeCase(t, map[string]string{
		"c.cue":                               base,
		"cue.mod/module.cue":                  "module: \"example.com/x\"\nlanguage: version: \"v0.12.0\"\n",
		"cue.mod/pkg/example.com/y/y.cue":     "package y\nport: 81\n",
		"x.cue":                               "package c\n\nimport \"example.com/y\"\n\ndirectors: lb: services: web: port: y.port\n",
		"cue.mod/usr/example.com/y/extra.cue": "package y\n",
	})
	wantIn(t, loadErr(t, dir, false), `x.cue:3:8: import "example.com/y": lvsctl reads the cluster directory alone`)
}

// The standard library is still there for packages that compute.
func TestStdlibImportAllowed(t *testing.T) {
	dir := writeCase(t, map[string]string{"c.cue": base, "x.cue": "package c\n\nimport \"strings\"\n\nhosts: rs1: interface: strings.ToLower(\"ETH0\")\n"})
	if _, err := Load(dir); err != nil {
		t.Fatal(err)
	}
}

// Files in a parent directory that holds cue.mod are not part of the package
// (CUE's own loader would add them).
func TestParentDirectoryNotRead(t *testing.T) {
	parent := writeCase(t, map[string]string{
		"cue.mod/module.cue": "module: \"example.com/x\"\nlanguage: version: \"v0.12.0\"\n",
		"up.cue":             "package c\n\ndirectors: lb: services: web: port: 81\n",
		"cluster/c.cue":      base,
	})
	l, err := Load(filepath.Join(parent, "cluster"))
	if err != nil {
		t.Fatal(err)
	}
	if p := l.Cluster.Directors["lb"].Services["web"].Port; p != 80 {
		t.Fatalf("port %d: a parent directory's file was read", p)
	}
}

func TestSymlinkOutsideRefused(t *testing.T) {
	dir := writeCase(t, map[string]string{"c.cue": base})
	if err := os.Symlink(outsideFile(t), filepath.Join(dir, "x.cue")); err != nil {
		t.Fatal(err)
	}
	wantIn(t, loadErr(t, dir, false), "x.cue: a symbolic link to a file outside the cluster directory")
}

// A link that stays inside the directory is an ordinary way to share a file.
func TestSymlinkInsideAllowed(t *testing.T) {
	dir := writeCase(t, map[string]string{"c.cue": base, "shared/x.cue": "package c\n\nhosts: rs1: interface: \"eth0\"\n"})
	if err := os.Symlink("shared/x.cue", filepath.Join(dir, "x.cue")); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err != nil {
		t.Fatal(err)
	}
}

// /dev/zero's link is a few bytes long, which passed the old size check.
func TestDeviceRefused(t *testing.T) {
	dir := writeCase(t, map[string]string{"c.cue": base})
	if err := os.Symlink("/dev/zero", filepath.Join(dir, "zero.cue")); err != nil {
		t.Fatal(err)
	}
	wantIn(t, loadErr(t, dir, false), "zero.cue: a symbolic link to a file outside the cluster directory")
	// The same device reached from inside (a device node needs root to make;
	// a link into a linked directory does not): still not a regular file.
	dir2 := writeCase(t, map[string]string{"c.cue": base})
	if err := os.Symlink("/dev", filepath.Join(dir2, "dev")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("dev/zero", filepath.Join(dir2, "zero.cue")); err != nil {
		t.Fatal(err)
	}
	wantIn(t, loadErr(t, dir2, false), "zero.cue: a symbolic link to a file outside the cluster directory")
}

// A FIFO is refused without waiting for a writer.
func TestFIFORefused(t *testing.T) {
	dir := writeCase(t, map[string]string{"c.cue": base})
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe.cue"), 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan string, 1)
	go func() { done <- loadErr(t, dir, false) }()
	select {
	case msg := <-done:
		wantIn(t, msg, "pipe.cue: not a regular file (a FIFO); lvsctl reads only regular files")
	case <-time.After(time.Minute):
		t.Fatal("Load waited on a FIFO")
	}
}

// The evaluator is stopped at its bounds with a clear error. Small bounds
// here: the default's headroom is measured by BenchmarkLoadEvaluated, and the
// binary's flags by cmd/lvsctl's TestValidateBounds.
func TestEvaluationBounded(t *testing.T) {
	t.Run("time", func(t *testing.T) {
		dir := writeCase(t, map[string]string{"c.cue": base, "x.cue": "package c\n\nimport \"list\"\n\n_n: len([for i in list.Range(0, 3000000, 1) {i}])\n"})
		_, err := loadDir(dir, Limits{Time: time.Millisecond}, false)
		if err == nil || !strings.Contains(err.Error(), "evaluating the CUE took longer than 1ms, lvsctl's bound (--eval-timeout)") {
			t.Fatalf("got %v", err)
		}
	})
}

// A value that is a whole file's worth of text is echoed only in part, and
// control characters from the configuration never reach the terminal.
func TestEchoedValuesClipped(t *testing.T) {
	long := strings.Repeat("A", 5000)
	dir := writeCase(t, map[string]string{"c.cue": base, "x.cue": "package c\n\nhosts: lb: ssh: address: \"" + long + "\"\ndirectors: lb: services: web: scheduler: \"" + long + "\"\n"})
	for _, evaluated := range []bool{false, true} {
		msg := loadErr(t, dir, evaluated)
		for _, line := range strings.Split(msg, "\n") {
			if len(line) > 1100 {
				t.Errorf("a line of %d bytes: %.200s...", len(line), line)
			}
		}
		if strings.Contains(msg, strings.Repeat("A", 200)) {
			t.Errorf("the long value is echoed whole: %.300s", msg)
		}
	}
}

func TestControlCharactersEscaped(t *testing.T) {
	dir := writeCase(t, map[string]string{"c.cue": base, "x.cue": "package c\n\nhosts: \"x\\u001b[2J\\u202e\": interface: \"eth0\"\n"})
	for _, evaluated := range []bool{false, true} {
		msg := loadErr(t, dir, evaluated)
		if strings.ContainsAny(msg, "\x1b\u202e") {
			t.Errorf("a control character reached the message: %q", msg)
		}
		wantIn(t, msg, `x\u001b[2J\u202e`)
	}
}
