//go:build lvsctl_testhooks

package agent

import (
	"fmt"
	"os"
	"time"
)

// afterWriteAhead, in a binary built with -tags lvsctl_testhooks (the tests'
// own, never lvsctl's), lets a test stop the agent between the write-ahead
// inventory and the first change: when LVSCTL_TEST_PAUSE_AFTER_WAL names a
// file, the agent writes its pid there and waits to be killed.
func afterWriteAhead() {
	path := os.Getenv("LVSCTL_TEST_PAUSE_AFTER_WAL")
	if path == "" {
		return
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, fmt.Appendf(nil, "%d", os.Getpid()), 0o600); err != nil {
		return
	}
	if err := os.Rename(tmp, path); err != nil {
		return
	}
	for {
		time.Sleep(time.Hour)
	}
}
