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
	Root      string // where the files kept for boot go; "/" when empty (tests)
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
		if err := names.CheckAgentBinary(s.AgentPath); err != nil {
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
	if s.Root != "" {
		if err := names.CheckAgentPath(s.Root); err != nil {
			return fmt.Errorf("persist root: %w", err)
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

// Start makes sure the agent is on the host and starts it. Every start runs
// through remoteScript, which refuses an agent that someone other than root
// (or the SSH user) could have replaced, and, for an uploaded agent, one whose
// SHA-256 is not this lvsctl's.
func (s SSH) Start(ctx context.Context, host string) (*Client, error) {
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("host %s: %w", host, err)
	}
	agentPath, want := s.AgentPath, "-"
	if agentPath == "" {
		var err error
		if agentPath, want, err = s.upload(ctx, host); err != nil {
			return nil, err
		}
	}
	args := []string{"agent"}
	if s.Netns != "" {
		args = append(args, "--netns", s.Netns)
	}
	if s.StateDir != "" {
		args = append(args, "--state-dir", s.StateDir)
	}
	if s.Root != "" {
		args = append(args, "--persist-root", s.Root)
	}
	connect, timeout := s.bounds()
	return startAgent(ctx, host, s.command(remote("run", "-", agentPath, want, args...)), connect, timeout)
}

// remoteScript is the one program lvsctl runs on a host, as
//
//	sh -c '<remoteScript>' lvsctl MODE DIR FILE SHA256 [AGENT ARGS...]
//
// where every argument is a fixed word, "-", a hexadecimal hash, or a name
// that passed package names' strict patterns, so nothing from a
// configuration is parsed by a shell as anything but a plain word. It uses
// POSIX sh, id, uname, stat -c, sha256sum, mkdir, cat, chmod and mv only
// (coreutils on Debian and RHEL; busybox has them too).
//
// MODE probe prints uname -sm, then "present" or "absent" for FILE, after
// checking DIR (or its nearest existing ancestor) and FILE, if it is there.
//
// MODE upload creates DIR with mode 0755 whatever the umask, writes stdin to
// a temporary file in DIR (removed on any failure, and on HUP, INT, TERM and
// PIPE), and renames it to FILE, mode 0755, only if its SHA-256 is SHA256.
//
// MODE run checks FILE and, unless SHA256 is "-", its SHA-256, and then execs
// it with the agent arguments, in the same shell.
//
// An uploaded agent is checked against the SHA-256 of this lvsctl. An
// agentPath is run with SHA256 "-": its binary is the operator's, unknown
// here, and a hash taken by an earlier probe would only be compared with
// itself (and cost a round trip); what protects it is safe below, in the same
// shell as the exec. So an agentPath costs one SSH session, as before, and an
// upload three at most (probe, upload when absent, run).
//
// safe is the check that makes the rest mean something: FILE and every folder
// above it up to / must be no symbolic link, owned by root (or by the user
// lvsctl logs in as, whose own files the agent could change anyway) and not
// writable by group or others (so a sticky, shared folder such as /tmp is
// refused too). Then no other user can replace FILE, or anything on its path,
// between the check, the hash and the exec that follow it in the same shell:
// there is no window in which another user could swap what runs as root. A
// bad folder is refused with how to fix it, never changed by lvsctl.
//
// A refusal exits with status 98 and one line on stderr that starts with
// "lvsctl refused to run the agent FILE:". In MODE run it waits a second
// first, so that the line reaches lvsctl before the end of the session does.
const remoteScript = `set -u
mode=$1 dir=$2 file=$3 want=$4
shift 4
me=$(id -u) || exit 1
refuse() {
	echo "lvsctl refused to run the agent $file: $*" >&2
	if test "$mode" = run; then sleep 1; fi
	exit 98
}
safe() {
	p=$1
	while :; do
		if test -L "$p"; then refuse "$p is a symbolic link: name the real path (readlink -f $p)"; fi
		s=$(stat -c "%u %a" "$p") || refuse "cannot read the owner and mode of $p"
		u=${s% *} m=${s#* }
		if test "$u" != 0 && test "$u" != "$me"; then refuse "$p is owned by uid $u, not by root: only root may be able to change what runs as root; fix: chown root $p"; fi
		if test $((0$m & 18)) != 0; then
			if test $((0$m & 512)) != 0; then refuse "$p is a shared folder (mode $m, like /tmp) where anyone can add files: keep the agent elsewhere"; fi
			refuse "$p is writable by group or others (mode $m), who could replace the agent: fix: chmod go-w $p"
		fi
		if test "$p" = /; then return 0; fi
		p=${p%/*}
		p=${p:-/}
	done
}
existing() {
	p=$1
	while ! test -e "$p" && ! test -L "$p"; do p=${p%/*}; p=${p:-/}; done
	safe "$p"
}
agent() {
	safe "$file"
	test -f "$file" || refuse "$file is not a regular file"
	test -x "$file" || refuse "$file is not executable: fix: chmod 0755 $file"
}
sum() {
	h=$(sha256sum < "$1") || return 1
	echo "${h%% *}"
}
case $mode in
probe)
	uname -sm || exit 1
	existing "$dir"
	if test -e "$file" || test -L "$file"; then agent; echo present; else echo absent; fi
	;;
upload)
	umask 022
	existing "$dir"
	mkdir -p -m 0755 "$dir" || exit 1
	safe "$dir"
	tmp=$file.upload.$$
	cleanup() { rm -f "$tmp"; }
	trap cleanup EXIT
	trap "exit 1" HUP INT TERM PIPE
	rm -f "$tmp"
	cat > "$tmp" || exit 1
	got=$(sum "$tmp") || exit 1
	if test "$got" != "$want"; then echo "lvsctl: the upload to $file arrived with SHA-256 $got, not $want; it was removed" >&2; exit 1; fi
	chmod 0755 "$tmp" && mv -f "$tmp" "$file" || exit 1
	trap - EXIT
	;;
run)
	agent
	if test "$want" != -; then
		got=$(sum "$file") || refuse "cannot read it"
		test "$got" = "$want" || refuse "its SHA-256 is $got, not $want (the SHA-256 of this lvsctl), so it is not the agent lvsctl uploaded: find out how it got there, then delete it, and lvsctl uploads its own"
	fi
	exec "$file" "$@"
	;;
esac
`

// refusedExit is remoteScript's exit status when it refuses an agent.
const refusedExit = 98

// remote is the command line that runs remoteScript with these arguments,
// each of which must be a fixed word, "-", a hexadecimal hash or a name that
// passed package names' checks.
func remote(mode, dir, file, want string, args ...string) string {
	return "sh -c '" + remoteScript + "' lvsctl " + strings.Join(append([]string{mode, dir, file, want}, args...), " ")
}

// upload puts this lvsctl on the host at a path named by its hash, unless it
// is there already, after checking that the host can run it. It returns the
// path and the full SHA-256 that every start checks.
func (s SSH) upload(ctx context.Context, host string) (path, sum string, err error) {
	exe := s.Exe
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return "", "", fmt.Errorf("host %s: finding lvsctl's own binary: %w", host, err)
		}
	}
	bin, err := os.ReadFile(exe)
	if err != nil {
		return "", "", fmt.Errorf("host %s: reading %s to upload: %w", host, exe, err)
	}
	h := sha256.Sum256(bin)
	sum = hex.EncodeToString(h[:])
	dir := s.BinDir
	if dir == "" {
		dir = RemoteBinDir
	}
	if err := names.CheckAgentPath(dir); err != nil {
		return "", "", fmt.Errorf("host %s: agent folder: %w", host, err)
	}
	path = dir + "/lvsctl-" + sum[:24]
	probe, err := s.run(ctx, host, remote("probe", dir, path, sum), nil)
	if err != nil {
		return "", "", err
	}
	lines := strings.Fields(probe)
	if len(lines) != 3 || lines[2] != "present" && lines[2] != "absent" {
		return "", "", fmt.Errorf("host %s: unexpected answer to uname over SSH: %q", host, Clean(probe))
	}
	goos, goarch := strings.ToLower(lines[0]), map[string]string{"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}[lines[1]]
	if goos != runtime.GOOS || goarch != runtime.GOARCH {
		return "", "", fmt.Errorf("host %s is %s/%s (uname: %s %s) but this lvsctl is %s/%s: install an lvsctl for it there and set hosts.%s.agentPath",
			host, Clean(goos), goarch, Clean(lines[0]), Clean(lines[1]), runtime.GOOS, runtime.GOARCH, host)
	}
	if lines[2] == "present" {
		return path, sum, nil
	}
	if _, err := s.run(ctx, host, remote("upload", dir, path, sum), bin); err != nil {
		return "", "", fmt.Errorf("%w (uploading the agent to %s)", err, path)
	}
	return path, sum, nil
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
	case ee.ExitCode() == refusedExit && strings.HasPrefix(lastLine(msg), "lvsctl refused to run the agent "):
		return fmt.Errorf("host %s (%s): %s", host, address, Clean(lastLine(msg)))
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
