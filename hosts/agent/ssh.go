package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

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

// args is the ssh command line for one remote command.
func (s SSH) args(remote string) []string {
	a := []string{"-o", "BatchMode=yes"}
	if s.Port != 0 && s.Port != 22 {
		a = append(a, "-p", strconv.Itoa(s.Port))
	}
	if s.User != "" {
		a = append(a, "-l", s.User)
	}
	return append(a, "--", s.Address, remote)
}

func (s SSH) command(ctx context.Context, remote string) *exec.Cmd {
	prog := s.Command
	if prog == "" {
		prog = "ssh"
	}
	return exec.CommandContext(ctx, prog, s.args(remote)...)
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
	return startAgent(host, s.command(ctx, remote))
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
		return "", fmt.Errorf("host %s: unexpected answer to uname over SSH: %q", host, probe)
	}
	goos, goarch := strings.ToLower(lines[0]), map[string]string{"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}[lines[1]]
	if goos != runtime.GOOS || goarch != runtime.GOARCH {
		return "", fmt.Errorf("host %s is %s/%s (uname: %s %s) but this lvsctl is %s/%s: install an lvsctl for it there and set hosts.%s.agentPath",
			host, goos, goarch, lines[0], lines[1], runtime.GOOS, runtime.GOARCH, host)
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

// run runs a fixed remote command and explains ssh's failures.
func (s SSH) run(ctx context.Context, host, remote string, stdin []byte) (string, error) {
	cmd := s.command(ctx, remote)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	if err == nil {
		return out.String(), nil
	}
	return "", explainSSH(host, s.Address, err, errb.String())
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
		return fmt.Errorf("host %s: ssh refused the host key of %s (%s); lvsctl never accepts an unknown or changed key: check known_hosts; nothing was changed", host, address, lastLine(msg))
	case ee.ExitCode() == 255:
		return fmt.Errorf("host %s: cannot reach %s over SSH: %s", host, address, lastLine(msg))
	}
	return fmt.Errorf("host %s: remote command failed (exit %d): %s", host, ee.ExitCode(), lastLine(msg))
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSpace(s)
}
