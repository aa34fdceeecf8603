package agent

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/lvsctl/lvsctl/internal/boot"
	"github.com/lvsctl/lvsctl/internal/state"
)

// The files kept for boot (package boot) on this host: read for a gather,
// written, removed and put back for an apply.
//
// A write is checked before anything is touched: the sysctl file must be
// exactly what lvsctl renders for sysctls in its policy, the state file
// exactly what it renders for objects that pass the operations' own checks,
// and the unit exactly the one for this agent and scope. So whatever the
// client sends, nothing but lvsctl's own files reaches /etc.
//
// Before a write or a removal, the agent copies what the file held (and, for
// the unit, whether it was enabled) into the state folder, durably; a revert
// puts that copy back, but only when it is what the plan read (by SHA-256),
// so a stale copy never replaces a file.

func (l *Linux) onDisk(p string) string { return filepath.Join(l.Root, p) }

// diskPath is where one of the boot files is on this machine: the sysctl
// file and the unit under Root, the state file in the state folder.
func (l *Linux) diskPath(file string) string {
	if file == boot.StateFile {
		return l.where.StatePath()
	}
	return l.onDisk(l.where.Path(file))
}

func (l *Linux) exe() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding the agent's own program: %w", err)
	}
	return exe, boot.CheckExe(exe)
}

func (l *Linux) gatherBoot() (*state.Boot, error) {
	w := l.where
	b := &state.Boot{Netns: w.Netns, StateDir: w.StateDir}
	if fi, err := os.Stat("/run/systemd/system"); err == nil && fi.IsDir() {
		b.Systemd = true
	}
	if l.unnamed != "" {
		b.Unavailable = l.unnamed
		return b, nil
	}
	exe, err := l.exe()
	if err != nil {
		b.Unavailable = err.Error()
		return b, nil
	}
	b.Exe = exe
	b.ExeRisk = writableByOthers(exe)
	for _, f := range []struct {
		file string
		to   *state.BootFile
		max  int64
	}{{boot.SysctlFile, &b.SysctlFile, maxBootFile}, {boot.StateFile, &b.StateFile, boot.MaxStateSize}, {boot.UnitFile, &b.Unit, maxBootFile}} {
		p := w.Path(f.file)
		content, exists, err := readBootFile(l.diskPath(f.file), f.max)
		if err != nil {
			return nil, err
		}
		*f.to = state.BootFile{Path: p, Exists: exists, Content: content}
	}
	b.UnitLink = w.UnitLink()
	b.UnitEnabled = l.unitEnabled()
	fsys := os.DirFS(l.Root)
	b.Sysctls, b.SysctlWarnings, err = boot.ReadSysctlConfig(fsys, w.Netns)
	if err != nil {
		return nil, fmt.Errorf("reading the boot-time sysctl configuration: %w", err)
	}
	b.Restorers = boot.FindRestorers(fsys)
	return b, nil
}

// writableByOthers says why someone other than root could replace the
// program at p: p or a folder above it owned by another user, or writable
// by group or others (a sticky folder, such as /tmp, only lets others
// replace what they own); "" when only root can.
func writableByOthers(p string) string {
	child := uint32(0)
	for cur := p; ; cur = filepath.Dir(cur) {
		fi, err := os.Lstat(cur)
		if err != nil {
			return err.Error()
		}
		st := fi.Sys().(*syscall.Stat_t)
		switch {
		case st.Uid != 0:
			return fmt.Sprintf("%s belongs to uid %d", cur, st.Uid)
		case fi.Mode().Perm()&0o022 != 0 && !(fi.Mode()&os.ModeSticky != 0 && child == 0 && cur != p):
			return fmt.Sprintf("%s can be written by group or others (mode %v)", cur, fi.Mode().Perm())
		}
		child = st.Uid
		if cur == "/" {
			return ""
		}
	}
}

// readBootFile reads a file lvsctl keeps for boot, up to max bytes. A file
// that is not a regular file (a link someone put there, a folder) counts as
// there with content lvsctl never writes, so the plan replaces it.
func readBootFile(p string, max int64) (string, bool, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", false, nil
	case errors.Is(err, unix.ELOOP):
		return "", true, nil
	case err != nil:
		return "", false, fmt.Errorf("reading %s: %w", p, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return "", true, nil
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return "", false, fmt.Errorf("reading %s: %w", p, err)
	}
	if int64(len(b)) > max {
		return "", true, nil
	}
	return string(b), true, nil
}

func (l *Linux) unitEnabled() bool {
	t, err := os.Readlink(l.onDisk(l.where.UnitLink()))
	return err == nil && (t == l.where.UnitPath() || t == "../"+l.where.UnitName())
}

// checkBootWrite holds a write to exactly what lvsctl renders.
func (l *Linux) checkBootWrite(b *Boot) error {
	if l.unnamed != "" {
		return errors.New(l.unnamed)
	}
	switch b.File {
	case boot.SysctlFile:
		_, err := boot.ParseSysctls([]byte(b.Content))
		return err
	case boot.StateFile:
		h, err := boot.ParseState([]byte(b.Content))
		if err != nil {
			return err
		}
		return checkPersisted(h)
	case boot.UnitFile:
		exe, err := l.exe()
		if err != nil {
			return err
		}
		if !bytes.Equal([]byte(b.Content), boot.RenderUnit(exe, l.where)) {
			return fmt.Errorf("the unit is not the one for this agent (%s) and scope", exe)
		}
		return nil
	}
	return fmt.Errorf("unknown boot file %q", b.File)
}

// bootBackup is a file's content from before lvsctl's last write or removal.
type bootBackup struct {
	Existed bool   `json:"existed"`
	Content string `json:"content,omitempty"`
	Enabled bool   `json:"enabled,omitempty"`
}

func (l *Linux) backup(file string) error {
	max := int64(maxBootFile)
	if file == boot.StateFile {
		max = boot.MaxStateSize
	}
	content, exists, err := readBootFile(l.diskPath(file), max)
	if err != nil {
		return err
	}
	bk := bootBackup{Existed: exists, Content: content, Enabled: file == boot.UnitFile && l.unitEnabled()}
	data, err := json.Marshal(bk)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(l.StateDir, 0o700); err != nil {
		return err
	}
	return writeAtomic(l.where.BackupPath(file), data, 0o600)
}

func (l *Linux) writeBoot(b *Boot) error {
	if err := l.checkBootWrite(b); err != nil {
		return fmt.Errorf("%s: %w", l.where.Path(b.File), err)
	}
	if err := l.backup(b.File); err != nil {
		return fmt.Errorf("keeping a copy of %s before changing it: %w", l.where.Path(b.File), err)
	}
	p := l.diskPath(b.File)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if err := writeAtomic(p, []byte(b.Content), modeOf(b.File)); err != nil {
		return err
	}
	if b.File == boot.UnitFile {
		return l.enableUnit(b.Enable)
	}
	return nil
}

func (l *Linux) removeBoot(b *Boot) error {
	p := l.where.Path(b.File)
	if p == "" {
		return fmt.Errorf("unknown boot file %q", b.File)
	}
	if err := l.backup(b.File); err != nil {
		return fmt.Errorf("keeping a copy of %s before removing it: %w", p, err)
	}
	if b.File == boot.UnitFile {
		if err := l.enableUnit(false); err != nil {
			return err
		}
	}
	return removeSynced(l.diskPath(b.File))
}

func (l *Linux) revertBoot(b *Boot) error {
	p := l.where.Path(b.File)
	if p == "" {
		return fmt.Errorf("unknown boot file %q", b.File)
	}
	if !b.Existed {
		if b.File == boot.UnitFile {
			if err := l.enableUnit(false); err != nil {
				return err
			}
		}
		return removeSynced(l.diskPath(b.File))
	}
	data, err := os.ReadFile(l.where.BackupPath(b.File))
	if err != nil {
		return fmt.Errorf("no copy of %s from before lvsctl changed it: %w", p, err)
	}
	var bk bootBackup
	if err := json.Unmarshal(data, &bk); err != nil {
		return fmt.Errorf("the copy of %s is damaged: %w", p, err)
	}
	sum := sha256.Sum256([]byte(bk.Content))
	if !bk.Existed || hex.EncodeToString(sum[:]) != b.SHA256 {
		return fmt.Errorf("the copy of %s is not what the plan read there, so it is not put back", p)
	}
	if err := writeAtomic(l.diskPath(b.File), []byte(bk.Content), modeOf(b.File)); err != nil {
		return err
	}
	if b.File == boot.UnitFile {
		return l.enableUnit(b.Enabled)
	}
	return nil
}

// modeOf is a boot file's mode: the state file is the agent's, like the
// inventory; the others are read by systemd and people.
func modeOf(file string) os.FileMode {
	if file == boot.StateFile {
		return 0o600
	}
	return 0o644
}

// enableUnit makes or removes the unit's link in multi-user.target.wants, as
// systemctl enable and disable do.
func (l *Linux) enableUnit(on bool) error {
	link := l.onDisk(l.where.UnitLink())
	if !on {
		return removeSynced(link)
	}
	if l.unitEnabled() {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		return err
	}
	tmp := link + ".lvsctl-tmp"
	os.Remove(tmp)
	if err := os.Symlink(l.where.UnitPath(), tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, link); err != nil {
		os.Remove(tmp)
		return err
	}
	syncDir(filepath.Dir(link))
	return nil
}

// writeAtomic replaces p with data: a crash leaves the old file or the new
// one, and the new one is on disk when it returns.
func writeAtomic(p string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(p)
	f, err := os.CreateTemp(dir, ".lvsctl-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), p); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

func removeSynced(p string) error {
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	syncDir(filepath.Dir(p))
	return nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
