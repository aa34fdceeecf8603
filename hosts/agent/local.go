package agent

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/lvsctl/lvsctl/internal/names"
)

// Local describes the local transport: the agent runs as a child process on
// this machine, entered into a network namespace when Netns is set.
type Local struct {
	Netns    string // a name under /run/netns; "" for this namespace
	Exe      string // the lvsctl binary; this program when empty
	StateDir string // where the agent keeps inventory and lock; its default when empty
	Root     string // where the files kept for boot go; "/" when empty (tests)
	// ConnectTimeout and Timeout bound the first answer and every later
	// request's silence (see Client).
	ConnectTimeout, Timeout time.Duration
}

// Start runs the agent and returns a client for it. The agent lives until
// the client is closed or ctx is done; it runs in a process group of its own,
// so a terminal's Ctrl-C does not reach it.
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
	if l.Root != "" {
		args = append(args, "--persist-root", l.Root)
	}
	return startAgent(ctx, host, exec.Command(exe, args...), l.ConnectTimeout, l.Timeout)
}

// startAgent starts cmd, the agent or the ssh that runs it, in a process
// group of its own, and returns a client on its pipes that ends the group when
// ctx is done or a bound passes; the agent's stderr is kept for error
// messages.
func startAgent(ctx context.Context, host string, cmd *exec.Cmd, connect, timeout time.Duration) (*Client, error) {
	ownGroup(cmd)
	// Wait returns this long after the process ends even if something it
	// started still holds its output open.
	cmd.WaitDelay = 2 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c := NewClient(host, stdin, stdout, cmd.Wait)
	c.ConnectTimeout, c.Timeout = connect, timeout
	cmd.Stderr = c.Stderr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("host %s: starting %s: %w", host, cmd.Path, err)
	}
	c.SetKill(func() { killGroup(cmd) })
	c.Watch(ctx)
	return c, nil
}
