package main

import (
	"context"
	"io"

	"github.com/lvsctl/lvsctl/applier"
)

// testHooks are the seams a test build may fill in (build tag
// lvsctl_testhooks, see hooks_on.go). The shipped binary leaves every one nil:
// nothing in its environment can change what it runs or make it fail.
type testHooks struct {
	// agentExe names the local agent program for a host; "" for lvsctl itself.
	agentExe func(host string) string
	// wrap may wrap the hosts an apply runs on (failures and pauses at step k).
	wrap func(ctx context.Context, hosts map[string]applier.Host, w io.Writer) map[string]applier.Host
}

var hooks testHooks
