// Package netnstest gives tests that touch the kernel a fresh network
// namespace of their own, and the project's rule for root: a test that needs
// it skips on a developer machine without it, and fails when CI is set.
package netnstest

import (
	"os"
	"runtime"
	"testing"

	"github.com/vishvananda/netns"
)

// RequireRoot skips a test that needs root, unless CI is set: CI runs as root,
// and a CI run that cannot create namespaces has tested nothing.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal("needs root to create network namespaces, and CI is set: run the tests as root")
	}
	t.Skip("needs root to create network namespaces")
}

// Enter locks the test's goroutine to its thread and moves the thread
// into a fresh network namespace until the test ends. It returns a function
// that runs f back in the namespace the test started in (to read, never to
// change, the machine's own state).
func Enter(t testing.TB) (inOriginal func(f func())) {
	t.Helper()
	RequireRoot(t)
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("current network namespace: %v", err)
	}
	ns, err := netns.New()
	if err != nil {
		orig.Close()
		runtime.UnlockOSThread()
		t.Fatalf("new network namespace: %v", err)
	}
	t.Cleanup(func() {
		defer orig.Close()
		defer ns.Close()
		if err := netns.Set(orig); err != nil {
			// Leave the thread locked: it ends with the goroutine rather than
			// running other code in the test's namespace.
			t.Errorf("back to the original network namespace: %v", err)
			return
		}
		runtime.UnlockOSThread()
	})
	return func(f func()) {
		t.Helper()
		if err := netns.Set(orig); err != nil {
			t.Fatalf("enter the original network namespace: %v", err)
		}
		defer func() {
			if err := netns.Set(ns); err != nil {
				t.Fatalf("back to the test's network namespace: %v", err)
			}
		}()
		f()
	}
}
