package vmlab

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Require stops a test that needs the VM lab where the lab cannot run. In
// CI (the environment variable CI set, as CI=true) the test fails, since a
// test that needs the VM and cannot get it must not pass silently; on a
// developer's machine it is skipped with the reason.
func Require(t testing.TB) {
	t.Helper()
	err := Available()
	if err == nil {
		return
	}
	if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
		t.Fatalf("%v (CI=%s: a test that needs the VM lab fails without it)", err, ci)
	} else {
		t.Skip(err)
	}
}

var (
	buildMu sync.Mutex
	built   = map[string]string{}
)

// BuildStatic builds the Go package pkg (an import path, or a path relative
// to the calling test's folder) with CGO_ENABLED=0 and returns the path of
// the static binary, to be put into the guest with Scenario.Binaries. Each
// package is built once per test binary. The binaries are stripped of their
// symbol table and DWARF (-ldflags "-s -w"; a panic still prints its stack):
// lvsctl is 30% smaller, which every boot unpacks and every SSH test uploads
// and hashes under software emulation.
func BuildStatic(t testing.TB, pkg string) string {
	t.Helper()
	p, err := Build(pkg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Build is BuildStatic for programs: it builds into a per-user folder under
// the system's temporary folder, where the next build replaces it.
func Build(pkg string) (string, error) {
	return BuildTags(pkg)
}

// BuildTags is Build with build tags (go build -tags), such as the test
// hooks a scenario's lvsctl needs. A package built with other tags is
// another program, built and kept apart.
func BuildTags(pkg string, tags ...string) (string, error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	key := pkg
	if len(tags) > 0 {
		key += " -tags " + strings.Join(tags, ",")
	}
	if p, ok := built[key]; ok {
		return p, nil
	}
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("lvsctl-vmlab-bin-%d", os.Getuid()))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("vmlab: %w", err)
	}
	// Two checkouts (a worktree under test while another is edited) must
	// not replace each other's binaries: the module's folder is part of
	// the name.
	mod, _ := exec.Command(goTool(), "env", "GOMOD").Output()
	sum := sha256.Sum256([]byte(key + "\x00" + strings.TrimSpace(string(mod))))
	out := filepath.Join(dir, path.Base(pkg)+"-"+hex.EncodeToString(sum[:4]))
	tmp := fmt.Sprintf("%s.%d.tmp", out, os.Getpid())
	args := []string{"build", "-trimpath", "-ldflags=-s -w"}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	cmd := exec.Command(goTool(), append(args, "-o", tmp, pkg)...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("vmlab: go build %s: %v\n%s", key, err, b)
	}
	// A rename keeps another test binary's copy whole while it is read.
	if err := os.Rename(tmp, out); err != nil {
		return "", fmt.Errorf("vmlab: %w", err)
	}
	built[key] = out
	return out, nil
}

// goTool is the go command of the toolchain running the tests.
func goTool() string {
	if root := os.Getenv("GOROOT"); root != "" {
		p := filepath.Join(root, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "go"
}
