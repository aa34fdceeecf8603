package main

import (
	"os"
	"testing"
)

// TestMain lets the test binary stand in for lvsctl when a test starts it as
// an agent (a test sets LVSCTL_AGENT_EXE to it, read here by the test's own
// hook), so agent tests run this code.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "agent" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	if hooks.agentExe == nil {
		hooks.agentExe = func(string) string { return os.Getenv("LVSCTL_AGENT_EXE") }
	}
	os.Exit(m.Run())
}
