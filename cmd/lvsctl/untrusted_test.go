package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/lvsctl/lvsctl/internal/vmlab"
)

// Issue 10: the cluster repository is untrusted. These run the binary that
// ships (no build tags), as CI would on a pull request.

func shippedBinary(t *testing.T) string {
	t.Helper()
	exe, err := vmlab.Build("github.com/lvsctl/lvsctl/cmd/lvsctl")
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// The test hooks are compiled only with the lvsctl_testhooks tag: the names
// of their environment variables are not even in the shipped binary.
func TestShippedBinaryHasNoHooks(t *testing.T) {
	hooks := []string{"LVSCTL_TEST_FAIL_AT", "LVSCTL_TEST_PAUSE_AT", "LVSCTL_TEST_PAUSE_AFTER_WAL", "LVSCTL_TEST_AGENT_EXE", "LVSCTL_AGENT_EXE"}
	shipped, err := os.ReadFile(shippedBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hooks {
		if bytes.Contains(shipped, []byte(h)) {
			t.Errorf("the shipped binary contains %s", h)
		}
	}
	// The same check finds them in a test build, so it can fail.
	tagged, err := vmlab.BuildTags("github.com/lvsctl/lvsctl/cmd/lvsctl", "lvsctl_testhooks")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(tagged)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("LVSCTL_TEST_FAIL_AT")) {
		t.Error("the test build has no LVSCTL_TEST_FAIL_AT: the check above proves nothing")
	}
}

// A 100-byte comprehension that asks for gigabytes is stopped at
// --eval-memory, and the process stays near that bound; --eval-timeout stops
// it by time.
func TestValidateBounds(t *testing.T) {
	exe := shippedBinary(t)
	dir := t.TempDir()
	bomb := "package c\n\nimport \"list\"\n\nhosts: lb: local: true\n_x: [for i in list.Range(0, 20000000, 1) {i}]\n"
	if err := os.WriteFile(filepath.Join(dir, "c.cue"), []byte(bomb), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--eval-memory", "512MiB"}, "evaluating the CUE needed more than 512.0 MiB of memory, lvsctl's bound (--eval-memory)"},
		{[]string{"--eval-timeout", "1s"}, "evaluating the CUE took longer than 1s, lvsctl's bound (--eval-timeout)"},
	} {
		cmd := exec.Command(exe, append([]string{"validate"}, append(tc.flags, dir)...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Fatalf("%v: %v, want exit status 1; stderr:\n%s", tc.flags, err, stderr.String())
		}
		if !strings.Contains(stderr.String(), tc.want) || !strings.Contains(stderr.String(), "nothing was changed on any host") {
			t.Errorf("%v: stderr lacks %q:\n%s", tc.flags, tc.want, stderr.String())
		}
		rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10
		t.Logf("%v: peak RSS %d MiB", tc.flags, rss>>20)
		if tc.flags[0] == "--eval-memory" && rss > 1<<30 {
			t.Errorf("peak RSS %d MiB with --eval-memory 512MiB", rss>>20)
		}
	}
}

// Bad flag values are refused by name.
func TestEvalMemoryFlag(t *testing.T) {
	code, _, stderr := lvsctl(t, "validate", "--eval-memory", "lots", "../../examples/nat")
	if code != 1 || !strings.Contains(stderr, `"lots" is not a size`) {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	code, stdout, stderr := lvsctl(t, "validate", "--eval-memory", "2GiB", "../../examples/nat")
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, stdout, stderr)
	}
}
