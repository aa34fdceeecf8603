//go:build lvsctl_testhooks

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/lvsctl/lvsctl/applier"
	"github.com/lvsctl/lvsctl/internal/op"
)

// A test build (go build -tags lvsctl_testhooks) reads these from the
// environment; the VM lab uses them to stop or break an apply at step k:
//
//	LVSCTL_TEST_FAIL_AT=k        operation k fails before it reaches its host
//	LVSCTL_TEST_PAUSE_AT=k       after k operations, print "lvsctl-test: paused
//	                             after operation k", create LVSCTL_TEST_PAUSE_FILE,
//	                             and wait for LVSCTL_TEST_RESUME_FILE or a signal
//	LVSCTL_TEST_AGENT_EXE=PATH   the local agent program for every host
//	LVSCTL_TEST_AGENT_EXE_<host> the local agent program for one host
//
// With FAIL_AT or PAUSE_AT set, operations go one at a time, so k counts
// single operations.
func init() {
	hooks.agentExe = func(host string) string {
		if p := os.Getenv("LVSCTL_TEST_AGENT_EXE_" + host); p != "" {
			return p
		}
		return os.Getenv("LVSCTL_TEST_AGENT_EXE")
	}
	hooks.wrap = wrapForTests
}

func wrapForTests(ctx context.Context, hosts map[string]applier.Host, w io.Writer) map[string]applier.Host {
	failAt := envStep(w, "LVSCTL_TEST_FAIL_AT")
	pauseAt := envStep(w, "LVSCTL_TEST_PAUSE_AT")
	if failAt == 0 && pauseAt == 0 {
		return hosts
	}
	shared := &steps{ctx: ctx, w: w, failAt: failAt, pauseAt: pauseAt}
	out := map[string]applier.Host{}
	for name, h := range hosts {
		out[name] = &stepHook{Host: h, steps: shared}
	}
	return out
}

// steps is the count every host's hook shares.
type steps struct {
	ctx             context.Context
	w               io.Writer
	count           int
	failAt, pauseAt int
}

func envStep(w io.Writer, name string) int {
	s := os.Getenv(name)
	if s == "" {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		fmt.Fprintf(w, "ignoring %s=%q: not a step number\n", name, s)
		return 0
	}
	fmt.Fprintf(w, "%s=%d (a test hook)\n", name, n)
	return n
}

// stepHook hides the host's batching (it has no DoBatch), so operations are
// counted one by one.
type stepHook struct {
	applier.Host
	*steps
}

func (s *stepHook) Do(o op.Op) error {
	if s.count == s.pauseAt && s.pauseAt > 0 {
		s.pause()
		if s.ctx.Err() != nil {
			return fmt.Errorf("interrupted before this operation: %w", context.Cause(s.ctx))
		}
	}
	s.count++
	if s.count == s.failAt {
		return fmt.Errorf("injected failure at operation %d (LVSCTL_TEST_FAIL_AT)", s.failAt)
	}
	return s.Host.Do(o)
}

func (s *steps) pause() {
	s.pauseAt = -1 // once: rollback's operations go through Do too
	fmt.Fprintf(s.w, "lvsctl-test: paused after operation %d\n", s.count)
	if f := os.Getenv("LVSCTL_TEST_PAUSE_FILE"); f != "" {
		os.WriteFile(f, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
	}
	resume := os.Getenv("LVSCTL_TEST_RESUME_FILE")
	for {
		if resume != "" {
			if _, err := os.Stat(resume); err == nil {
				return
			}
		}
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}
