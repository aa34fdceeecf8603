package agent

import (
	"context"
	"fmt"
	"os"
	"os/exec"

	"github.com/lvsctl/lvsctl/internal/names"
)

// Local describes the local transport: the agent runs as a child process on
// this machine, entered into a network namespace when Netns is set.
type Local struct {
	Netns    string // a name under /run/netns; "" for this namespace
	Exe      string // the lvsctl binary; this program when empty
	StateDir string // where the agent keeps inventory and lock; its default when empty
}

// Start runs the agent and returns a client for it.
func (l Local) Start(ctx context.Context, host string) (*Client, error) {
	exe := l.Exe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("host %s: finding lvsctl's own binary: %w", host, err)
		}
	}
	args := []string{"agent"}
	if l.Netns != "" {
		if err := names.CheckNetnsName(l.Netns); err != nil {
			return nil, fmt.Errorf("host %s: %w", host, err)
		}
		args = append(args, "--netns", l.Netns)
	}
	if l.StateDir != "" {
		args = append(args, "--state-dir", l.StateDir)
	}
	return startAgent(host, exec.CommandContext(ctx, exe, args...))
}

// startAgent starts cmd, the agent or the ssh that runs it, and returns a
// client on its pipes; the agent's stderr is kept for error messages.
func startAgent(host string, cmd *exec.Cmd) (*Client, error) {
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c := NewClient(host, stdin, stdout, cmd.Wait)
	cmd.Stderr = c.Stderr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("host %s: starting %s: %w", host, cmd.Path, err)
	}
	return c, nil
}
