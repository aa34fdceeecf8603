package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Another lvsctl's lock: apply fails at once by default, and with
// --lock-timeout it waits, then goes on once the lock is free (real binary,
// real agents in namespaces).
func TestLockTimeout(t *testing.T) {
	l := newNSLab(t, "rs1")
	set := l.config("set", true)
	dir := t.TempDir()
	pause, resume := filepath.Join(dir, "paused"), filepath.Join(dir, "resume")
	first := l.start([]string{"LVSCTL_TEST_PAUSE_AT=1", "LVSCTL_TEST_PAUSE_FILE=" + pause, "LVSCTL_TEST_RESUME_FILE=" + resume}, "apply", "--auto-approve", set)
	for {
		if _, err := os.Stat(pause); err == nil {
			break
		}
		select {
		case <-first.done:
			t.Fatalf("the first apply ended: exit %d\n%s\n%s", first.code, first.stdout.String(), first.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if a := l.run("apply", "--auto-approve", set); a.code != 1 || !strings.Contains(a.stderr.String(), "another lvsctl holds the lock") ||
		!strings.Contains(a.stderr.String(), "--lock-timeout") {
		t.Fatalf("apply while locked: exit %d\n%s", a.code, a.stderr.String())
	}
	waiting := l.start(nil, "apply", "--auto-approve", "--lock-timeout", "10m", set)
	for !strings.Contains(waiting.stderr.String(), "rs1: another lvsctl holds the lock; waiting up to") {
		select {
		case <-waiting.done:
			t.Fatalf("apply --lock-timeout did not wait: exit %d\n%s", waiting.code, waiting.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	os.WriteFile(resume, nil, 0o644)
	<-first.done
	<-waiting.done
	if first.code != 0 || waiting.code != 0 || !strings.Contains(waiting.stdout.String(), "No changes.") {
		t.Fatalf("after the lock was freed: first exit %d, waiting exit %d\n%s\n%s", first.code, waiting.code, waiting.stdout.String(), waiting.stderr.String())
	}
}
