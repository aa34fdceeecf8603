package main

import (
	"os"
	"testing"
)

// TestMain lets the test binary stand in for lvsctl when a test starts it as
// an agent (LVSCTL_AGENT_EXE points at it), so agent tests run this code.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "agent" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}
