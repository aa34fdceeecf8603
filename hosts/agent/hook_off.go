//go:build !lvsctl_testhooks

package agent

// afterWriteAhead is a test hook (see hook_on.go); in lvsctl itself it does
// nothing.
func afterWriteAhead() {}
