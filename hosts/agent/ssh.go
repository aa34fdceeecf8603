package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lvsctl/lvsctl/internal/names"
)

// SSH describes the SSH transport: the system OpenSSH client runs the agent
// on the remote host, so ~/.ssh/config, ProxyJump, the ssh agent, known_hosts
// and ControlMaster all behave as the user has set them up. lvsctl adds only
// BatchMode=yes (never a prompt) and never changes host key checking.
//
// No configuration string reaches the remote shell unchecked: the remote
// commands are fixed text, a hexadecimal hash, and names that passed the
// strict patterns of package names.
type SSH struct {
	Address   string // host name, ssh_config alias or IP address
	Port      int    // 0: as the ssh configuration says
	User      string // "": as the ssh configuration says
	AgentPath string // an lvsctl already on the host; else lvsctl uploads itself
	Netns     string
	StateDir  string
	Exe       string // the local lvsctl binary to upload; this program when empty
	Command   string // the ssh program; "ssh" when empty
	BinDir    string // where uploaded agents live; RemoteBinDir when empty
	// ConnectTimeout bounds connecting and the first answer; Timeout bounds
	// every later silence (see Client). Defaults when zero.
	ConnectTimeout, Timeout time.Duration
}

// RemoteBinDir is where uploaded agents live, one file per content hash, so
// two lvsctl versions never overwrite each other's agent.
const RemoteBinDir = "/var/lib/lvsctl/bin"

func (s SSH) check() error {
	if err := names.CheckSSHAddress(s.Address); err != nil {
		return err
	}
	if s.User != "" {
		if err := names.CheckSSHUser(s.User); err != nil {
			return err
		}
	}
	if s.AgentPath != "" {
		if err := names.CheckAgentPath(s.AgentPath); err != nil {
			return err
		}
	}
	if s.Netns != "" {
		if err := names.CheckNetnsName(s.Netns); err != nil {
			return err
		}
	}
	if s.StateDir != "" {
		if err := names.CheckAgentPath(s.StateDir); err != nil {
			return fmt.Errorf("state directory: %w", err)
		}
	}
	return nil
}

func (s SSH) bounds() (connect, timeout time.Duration) {
	connect, timeout = s.ConnectTimeout, s.Timeout
	if connect <= 0 {
		connect = DefaultConnectTimeout
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return connect, timeout
}

// args is the ssh command line for one remote command: BatchMode (never a
// prompt), ssh's own connect timeout, and keepalives that notice a dead peer
// within about a third of the request timeout.
func (s SSH) args(remote string) []string {
	connect, timeout := s.bounds()
	alive := max(1, int(timeout/time.Second)/9)
	a := []string{"-o", "BatchMode=yes",
		"-o", "ConnectTimeout=" + strconv.Itoa(max(1, int(connect/time.Second))),
		"-o", "ServerAliveInterval=" + strconv.Itoa(alive), "-o", "ServerAliveCountMax=3"}
	if s.Port != 0 && s.Port != 22 {
		a = append(a, "-p", strconv.Itoa(s.Port))
	}
	if s.User != "" {
		a = append(a, "-l", s.User)
	}
	return append(a, "--", s.Address, remote)
}

func (s SSH) command(remote string) *exec.Cmd {
	prog := s.Command
	if prog == "" {
		prog = "ssh"
	}
	return exec.Command(prog, s.args(remote)...)
}

// Start makes sure the agent is on the host and starts it.
func (s SSH) Start(ctx context.Context, host string) (*Client, error) {
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("host %s: %w", host, err)
	}
	agentPath := s.AgentPath
	if agentPath == "" {
		var err error
		if agentPath, err = s.upload(ctx, host); err != nil {
			return nil, err
		}
	}
	remote := agentPath + " agent"
	if s.Netns != "" {
		remote += " --netns " + s.Netns
	}
	if s.StateDir != "" {
		remote += " --state-dir " + s.StateDir
	}
	connect, timeout := s.bounds()
	return startAgent(ctx, host, s.command(remote), connect, timeout)
}

// upload puts this lvsctl on the host at a path named by its hash, unless it
// is there already, after checking that the host can run it.
func (s SSH) upload(ctx context.Context, host string) (string, error) {
	exe := s.Exe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return "", fmt.Errorf("host %s: finding lvsctl's own binary: %w", host, err)
		}
	}
	bin, err := os.ReadFile(exe)
	if err != nil {
		return "", fmt.Errorf("host %s: reading %s to upload: %w", host, exe, err)
	}
	sum := sha256.Sum256(bin)
	dir := s.BinDir
	if dir == "" {
		dir = RemoteBinDir
	}
	if err := names.CheckAgentPath(dir); err != nil {
		return "", fmt.Errorf("host %s: agent folder: %w", host, err)
	}
	path := dir + "/lvsctl-" + hex.EncodeToString(sum[:12])
	probe, err := s.run(ctx, host, "uname -sm && if test -x "+path+"; then echo present; else echo absent; fi", nil)
	if err != nil {
		return "", err
	}
	lines := strings.Fields(probe)
	if len(lines) != 3 {
		return "", fmt.Errorf("host %s: unexpected answer to uname over SSH: %q", host, Clean(probe))
	}
	goos, goarch := strings.ToLower(lines[0]), map[string]string{"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}[lines[1]]
	if goos != runtime.GOOS || goarch != runtime.GOARCH {
		return "", fmt.Errorf("host %s is %s/%s (uname: %s %s) but this lvsctl is %s/%s: install an lvsctl for it there and set hosts.%s.agentPath",
			host, Clean(goos), goarch, Clean(lines[0]), Clean(lines[1]), runtime.GOOS, runtime.GOARCH, host)
	}
	if lines[2] == "present" {
		return path, nil
	}
	tmp := path + ".upload.$$" // the remote shell's pid: uploads never share a file
	script := fmt.Sprintf("mkdir -p %s && cat > %s && test \"$(wc -c < %s)\" -eq %d && chmod 0755 %s && mv -f %s %s",
		dir, tmp, tmp, len(bin), tmp, tmp, path)
	if _, err := s.run(ctx, host, script, bin); err != nil {
		return "", fmt.Errorf("%w (uploading the agent to %s)", err, path)
	}
	return path, nil
}

// run runs a fixed remote command and explains ssh's failures. It is bounded
// like a request: the first output (or the first read of stdin) must come
// within the connect timeout, and after that it may not go without progress
// for longer than the timeout. ctx ends it at once.
func (s SSH) run(ctx context.Context, host, remote string, stdin []byte) (string, error) {
	cmd := s.command(remote)
	ownGroup(cmd)
	cmd.WaitDelay = 2 * time.Second
	var progress atomic.Int64
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &counting{w: &out, n: &progress}, &counting{w: &errb, n: &progress}
	if stdin != nil {
		cmd.Stdin = &countingReader{r: bytes.NewReader(stdin), n: &progress}
	}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("host %s: running ssh: %w", host, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	connect, timeout := s.bounds()
	bound, last, seen := connect, time.Now(), int64(0)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err == nil {
				return out.String(), nil
			}
			return "", explainSSH(host, s.Address, err, errb.String())
		case <-ctx.Done():
			killGroup(cmd)
			<-done
			return "", fmt.Errorf("host %s: stopped: %v", host, context.Cause(ctx))
		case <-tick.C:
			if n := progress.Load(); n != seen {
				seen, last, bound = n, time.Now(), timeout
				continue
			}
			if time.Since(last) >= bound {
				killGroup(cmd)
				<-done
				what := "no answer from " + s.Address + " over SSH within " + bound.String()
				if seen > 0 {
					what = "the SSH session to " + s.Address + " made no progress for " + bound.String()
				}
				return "", fmt.Errorf("host %s: timed out: %s; lvsctl gave up on it", host, what)
			}
		}
	}
}

// counting writes to w and counts the bytes as progress.
type counting struct {
	w io.Writer
	n *atomic.Int64
}

func (c *counting) Write(p []byte) (int, error) { c.n.Add(int64(len(p))); return c.w.Write(p) }

// countingReader counts what ssh reads from it as progress (an upload).
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// explainSSH turns ssh's failure into what a person needs to know.
func explainSSH(host, address string, err error, stderr string) error {
	msg := strings.TrimSpace(stderr)
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return fmt.Errorf("host %s: running ssh: %w", host, err)
	}
	switch {
	case strings.Contains(msg, "REMOTE HOST IDENTIFICATION HAS CHANGED") || strings.Contains(msg, "Host key verification failed"):
		return fmt.Errorf("host %s: ssh refused the host key of %s (%s); lvsctl never accepts an unknown or changed key: check known_hosts; nothing was changed", host, address, Clean(lastLine(msg)))
	case ee.ExitCode() == 255:
		return fmt.Errorf("host %s: cannot reach %s over SSH: %s", host, address, Clean(lastLine(msg)))
	}
	return fmt.Errorf("host %s: remote command failed (exit %d): %s", host, ee.ExitCode(), Clean(lastLine(msg)))
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSpace(s)
}
