package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lvsctl/lvsctl/internal/keepalived"
	"github.com/lvsctl/lvsctl/internal/names"
	"github.com/lvsctl/lvsctl/internal/op"
	"github.com/lvsctl/lvsctl/internal/state"
)

// keepalived's configuration on a director of a pair: read for a gather,
// written (rendered here from the operation's structured configuration,
// checked with `keepalived -t`, then keepalived reloaded) and put back.
//
// The agent never writes text it was sent: it checks every field and
// renders the file itself (keepalived.Render). The program it runs must be
// named keepalived and be root's and writable by no one else, like the
// agent itself; the process it signals must be a keepalived in the agent's
// own network namespace.
//
// In a named network namespace, a path under /etc is where `ip netns exec
// NAME` shows it: /etc/netns/NAME/..., as for lvsctl's sysctl file. So
// keepalived started with `ip netns exec NAME keepalived` reads the file the
// agent writes for that namespace's director.

// configTestTimeout bounds `keepalived -t`.
const configTestTimeout = 60 * time.Second

func (l *Linux) keepalivedDisk(p string) string {
	if l.where.Netns != "" && strings.HasPrefix(p, "/etc/") {
		p = "/etc/netns/" + l.where.Netns + strings.TrimPrefix(p, "/etc")
	}
	return filepath.Join(l.Root, p)
}

func (l *Linux) keepalivedBackup(p string) string {
	sum := sha256.Sum256([]byte(p))
	return filepath.Join(l.StateDir, "keepalived-prev-"+l.Scope+"-"+hex.EncodeToString(sum[:6])+".json")
}

// checkKeepalivedPaths holds an operation's or a request's paths to their
// patterns; the configuration is refused in a namespace without a name,
// whose /etc is the host's.
func (l *Linux) checkKeepalivedPaths(config, pid, program string) error {
	if l.unnamed != "" {
		return errors.New("keepalived's configuration is not written here: " + l.unnamed)
	}
	if err := keepalived.CheckConfigPath(config); err != nil {
		return err
	}
	if err := keepalived.CheckPidPath(pid); err != nil {
		return err
	}
	if program != "" {
		return keepalived.CheckProgramPath(program)
	}
	return nil
}

func (l *Linux) gatherKeepalived(r *KeepalivedRequest) (*state.KeepalivedFile, error) {
	if err := l.checkKeepalivedPaths(r.Config, r.PidFile, ""); err != nil {
		return nil, err
	}
	content, exists, err := readBootFile(l.keepalivedDisk(r.Config), maxKeepalivedFile)
	if err != nil {
		return nil, err
	}
	pid, _ := l.keepalivedPid(r.PidFile)
	return &state.KeepalivedFile{Path: r.Config, Exists: exists, Content: content, Running: pid > 0}, nil
}

// keepalivedPid returns the pid the pid file names when that process is a
// keepalived in this network namespace; otherwise 0 and why.
func (l *Linux) keepalivedPid(pidFile string) (int, string) {
	f, err := os.OpenFile(l.keepalivedDisk(pidFile), os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return 0, fmt.Sprintf("no pid file %s", pidFile)
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, 32))
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0, fmt.Sprintf("%s holds no pid", pidFile)
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil || strings.TrimSpace(string(comm)) != "keepalived" {
		return 0, fmt.Sprintf("process %d (from %s) is not keepalived", pid, pidFile)
	}
	own, err1 := os.Stat("/proc/thread-self/ns/net")
	its, err2 := os.Stat(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err1 != nil || err2 != nil || !os.SameFile(own, its) {
		return 0, fmt.Sprintf("keepalived %d runs in another network namespace", pid)
	}
	return pid, ""
}

// keepalivedProgram checks the program on this host, as the agent's own
// program is checked: a regular executable that only root can replace.
func keepalivedProgram(p string) error {
	fi, err := os.Stat(p)
	switch {
	case err != nil:
		return fmt.Errorf("keepalived program: %w", err)
	case !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0:
		return fmt.Errorf("keepalived program %s is not an executable file", p)
	}
	if why := writableByOthers(p); why != "" {
		return fmt.Errorf("keepalived program %s is not run: %s, who could replace it", p, why)
	}
	return nil
}

func (l *Linux) writeKeepalived(k *op.Keepalived) error {
	spec := k.Spec
	if err := l.checkKeepalivedPaths(spec.Config, spec.PidFile, spec.Program); err != nil {
		return err
	}
	text, err := keepalived.Render(spec)
	if err != nil {
		return err
	}
	if err := keepalivedProgram(spec.Program); err != nil {
		return err
	}
	disk := l.keepalivedDisk(spec.Config)
	old, existed, err := readBootFile(disk, maxKeepalivedFile)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(disk), 0o755); err != nil {
		return err
	}
	// The new file is checked under a temporary name beside the old one and
	// only then renamed over it: a configuration keepalived refuses never
	// replaces the one it runs, even for a moment.
	tmp, err := os.CreateTemp(filepath.Dir(disk), ".lvsctl-*.conf")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(text)
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := configTest(spec.Program, tmp.Name(), spec.Config); err != nil {
		return err
	}
	// The copy a revert puts back is taken only now, so a refused write
	// never replaces the copy of what an earlier write replaced.
	bk, err := json.Marshal(bootBackup{Existed: existed, Content: old})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(l.StateDir, 0o700); err != nil {
		return err
	}
	if err := writeAtomic(l.keepalivedBackup(spec.Config), bk, 0o600); err != nil {
		return fmt.Errorf("keeping a copy of %s before changing it: %w", spec.Config, err)
	}
	if err := os.Rename(tmp.Name(), disk); err != nil {
		return err
	}
	syncDir(filepath.Dir(disk))
	return l.reloadKeepalived(spec.PidFile)
}

// configTest runs `program -t -f file`: keepalived's own check of a
// configuration, which exits 0 when it is good. Its message names the file
// as path, with control characters escaped.
func configTest(program, file, path string) error {
	ctx, cancel := context.WithTimeout(context.Background(), configTestTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, program, "-t", "-f", file)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Stdin = nil
	err := cmd.Run()
	if err == nil {
		return nil
	}
	msg := strings.TrimSpace(strings.ReplaceAll(out.String(), file, path))
	if len(msg) > 2000 {
		msg = msg[:2000] + "…"
	}
	if msg == "" {
		msg = err.Error()
	}
	return fmt.Errorf("keepalived -t refused the new configuration, so %s is as it was: %s", path, names.Clean(strings.ReplaceAll(msg, "\n", "; ")))
}

// reloadKeepalived sends SIGHUP to keepalived when it runs here: it reads
// its configuration again and keeps its checkers' state for real servers
// that stay. When it does not run, the file waits for its next start.
func (l *Linux) reloadKeepalived(pidFile string) error {
	pid, _ := l.keepalivedPid(pidFile)
	if pid == 0 {
		return nil
	}
	if err := unix.Kill(pid, unix.SIGHUP); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("reloading keepalived (pid %d): %w", pid, err)
	}
	return nil
}

func (l *Linux) revertKeepalived(k *op.Keepalived) error {
	if err := l.checkKeepalivedPaths(k.Path, k.PidFile, ""); err != nil {
		return err
	}
	disk := l.keepalivedDisk(k.Path)
	if !k.Existed {
		// There was no file before: it goes, and keepalived keeps what it
		// runs until its next start (a reload without a configuration
		// would drop its VRRP instance and the VIPs with it).
		return removeSynced(disk)
	}
	data, err := os.ReadFile(l.keepalivedBackup(k.Path))
	if err != nil {
		return fmt.Errorf("no copy of %s from before lvsctl changed it: %w", k.Path, err)
	}
	var bk bootBackup
	if err := json.Unmarshal(data, &bk); err != nil {
		return fmt.Errorf("the copy of %s is damaged: %w", k.Path, err)
	}
	sum := sha256.Sum256([]byte(bk.Content))
	if !bk.Existed || hex.EncodeToString(sum[:]) != k.SHA256 {
		return fmt.Errorf("the copy of %s is not what the plan read there, so it is not put back", k.Path)
	}
	if err := writeAtomic(disk, []byte(bk.Content), 0o644); err != nil {
		return err
	}
	return l.reloadKeepalived(k.PidFile)
}

// removeKeepalived removes a configuration lvsctl wrote, after keeping a
// copy for a revert. keepalived is not reloaded: without a configuration it
// would drop its VRRP instance and the VIPs with it; it keeps what it runs
// until its next start.
func (l *Linux) removeKeepalived(k *op.Keepalived) error {
	if err := l.checkKeepalivedPaths(k.Path, k.PidFile, ""); err != nil {
		return err
	}
	disk := l.keepalivedDisk(k.Path)
	old, existed, err := readBootFile(disk, maxKeepalivedFile)
	if err != nil {
		return err
	}
	bk, err := json.Marshal(bootBackup{Existed: existed, Content: old})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(l.StateDir, 0o700); err != nil {
		return err
	}
	if err := writeAtomic(l.keepalivedBackup(k.Path), bk, 0o600); err != nil {
		return fmt.Errorf("keeping a copy of %s before removing it: %w", k.Path, err)
	}
	return removeSynced(disk)
}
