// The host's boot-time sysctl configuration: every assignment the next boot
// makes, read from the same files systemd-sysctl reads, so that a plan can
// say when another file contradicts lvsctl's own.

package boot

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/lvsctl/lvsctl/internal/names"
	"github.com/lvsctl/lvsctl/internal/state"
)

// Bounds on what ReadSysctlConfig reads: the agent runs as root on a host
// whose files anyone with write access to /etc or /run may have shaped.
const (
	maxSysctlFiles       = 256     // files read, /etc/sysctl.conf included
	maxSysctlFileSize    = 1 << 20 // bytes per file
	maxSysctlLine        = 4096    // bytes per line; longer lines are skipped
	maxSysctlAssignments = 100000  // assignments in all
	maxConfDirEntries    = 4096    // entries read from one directory
	maxConfLinkHops      = 16      // symbolic links followed for one name
	maxConfWarnings      = 100     // warnings returned in all
	maxConfFileWarnings  = 10      // warnings about the lines of one file
)

// sysctlDirs are the directories of sysctl.d(5) in decreasing precedence, as
// systemd-sysctl (CONF_PATHS("sysctl.d"), with /lib for split-/usr systems)
// and procps's sysctl --system list them.
var sysctlDirs = []string{
	"etc/sysctl.d",
	"run/sysctl.d",
	"usr/local/lib/sysctl.d",
	"usr/lib/sysctl.d",
	"lib/sysctl.d",
}

// sysctlConf is the file procps's sysctl --system reads after the
// directories. systemd-sysctl does not read it itself; distributions link it
// into /etc/sysctl.d as 99-sysctl.conf instead.
const sysctlConf = "etc/sysctl.conf"

// ReadSysctlConfig returns every assignment the host's boot-time sysctl
// configuration makes, in the order the files and their lines are read (a
// later assignment of a key wins; Effective says which one applies to a key,
// globs and exclusions included), and warnings about what could not be read
// (a file too large, a line too long, a line that is not an assignment). fsys is the host's "/" (paths such as "etc/sysctl.d"); netns
// names the network namespace whose view to read, "" for the host's own.
//
// The files are those of sysctl.d(5): every *.conf in /etc/sysctl.d,
// /run/sysctl.d, /usr/local/lib/sysctl.d, /usr/lib/sysctl.d and
// /lib/sysctl.d, where a name in an earlier directory hides the same name in
// later ones and a link to /dev/null hides it and adds nothing; the files
// left are read in the order of their names, whatever their directories.
// /etc/sysctl.conf comes last, as procps's sysctl --system reads it, unless
// one of those files is a link to it (Debian's and Fedora's 99-sysctl.conf),
// so that it counts once; on a systemd host without such a link nothing
// reads it at boot, and its assignments are reported all the same.
//
// With netns, the files are those `ip netns exec NETNS` shows: iproute2
// bind-mounts every entry of /etc/netns/NETNS over the same name in /etc, so
// /etc/netns/NETNS/sysctl.d, when it exists, replaces /etc/sysctl.d whole,
// and /etc/netns/NETNS/sysctl.conf replaces /etc/sysctl.conf.
//
// An assignment's File is the path it was read from as the host names it: a
// link itself, not what it leads to (/etc/sysctl.d/99-sysctl.conf), and
// under /etc/netns/NETNS for the namespace's own files. Its Key is in
// sysctl(8)'s dotted form, whichever form the line used
// (net/ipv4/conf/eth0.100/rp_filter is net.ipv4.conf.eth0/100.rp_filter),
// and may be a glob, as systemd-sysctl allows. A line
// "-KEY" without "=" is systemd's exclusion of KEY from globs; it is
// reported with an empty Value and IgnoreFailure, like "-KEY =", which to a
// numeric sysctl comes to the same: nothing is written.
//
// The error is for a netns name no namespace can have; whatever cannot be
// read on the host is a warning, and the assignments read are still
// returned.
func ReadSysctlConfig(fsys fs.FS, netns string) ([]state.SysctlSetting, []string, error) {
	if netns != "" {
		if err := names.CheckNetnsName(netns); err != nil {
			return nil, nil, err
		}
	}
	v := &nsView{fsys: fsys, netns: netns, bound: map[string]bool{}}
	var w warnList
	if netns != "" {
		for _, e := range []string{"sysctl.d", "sysctl.conf"} {
			own := "etc/netns/" + netns + "/" + e
			if _, err := fs.Stat(fsys, own); err == nil && v.path("etc/"+e) != own {
				w.addf("/%s is not used: ip netns exec binds it over /etc/%s only when that exists and is of the same kind", own, e)
			}
		}
	}
	files := v.sysctlFiles(&w)
	if len(files) > maxSysctlFiles {
		w.addf("%d sysctl configuration files; only the first %d (up to %s) were read", len(files), maxSysctlFiles, files[maxSysctlFiles-1].file)
		files = files[:maxSysctlFiles]
	}
	var out []state.SysctlSetting
	for _, f := range files {
		b, err := v.readRegular(f.target, maxSysctlFileSize)
		if err != nil {
			w.addf("%s: %v; skipped", f.file, err)
			continue
		}
		var full bool
		out, full = parseSysctlFile(out, f.file, b, &w)
		if full {
			w.addf("more than %d sysctl assignments; the rest, from %s on, were not read", maxSysctlAssignments, f.file)
			break
		}
	}
	return out, w.list(), nil
}

// confFile is one file to read: file is its path as the host names it,
// target the name (in the namespace's view) of what it leads to.
type confFile struct {
	name   string
	file   string
	target string
	mask   bool // a link to /dev/null, or not a file: hides its name, adds nothing
}

// sysctlFiles lists the files to read, in order.
func (v *nsView) sysctlFiles(w *warnList) []confFile {
	chosen := map[string]confFile{}
	for _, dir := range sysctlDirs {
		entries, err := v.readDir(dir)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				w.addf("%s: %v; skipped", v.hostPath(dir), err)
			}
			continue
		}
		for _, e := range entries {
			name := e.Name()
			if !strings.HasSuffix(name, ".conf") {
				continue
			}
			if _, ok := chosen[name]; ok {
				continue
			}
			link := dir + "/" + name
			f := confFile{name: name, file: v.hostPath(link)}
			target, fi, err := v.resolve(link)
			switch {
			case err != nil:
				// systemd-sysctl skips what it cannot open, and the
				// same name further down the list is read instead.
				w.addf("%s: %v; skipped", f.file, err)
				continue
			case target == "dev/null":
				f.mask = true
			case !fi.Mode().IsRegular():
				w.addf("%s: not a regular file; skipped", f.file)
				f.mask = true
			}
			f.target = target
			chosen[name] = f
		}
	}
	var files []confFile
	linked := false // some file is /etc/sysctl.conf
	conf, confInfo, confErr := v.resolve(sysctlConf)
	for _, name := range slices.Sorted(maps.Keys(chosen)) {
		f := chosen[name]
		if f.mask {
			continue
		}
		if confErr == nil && v.sameFile(f.target, conf, confInfo) {
			linked = true
		}
		files = append(files, f)
	}
	switch {
	case linked:
	case confErr == nil && conf == "dev/null":
	case confErr == nil && !confInfo.Mode().IsRegular():
		w.addf("%s: not a regular file; skipped", v.hostPath(sysctlConf))
	case confErr == nil:
		files = append(files, confFile{name: "sysctl.conf", file: v.hostPath(sysctlConf), target: conf})
	case !errors.Is(confErr, fs.ErrNotExist):
		w.addf("%s: %v; skipped", v.hostPath(sysctlConf), confErr)
	}
	return files
}

// parseSysctlFile appends the assignments of one file to out. full reports
// that maxSysctlAssignments was reached.
func parseSysctlFile(out []state.SysctlSetting, file string, b []byte, w *warnList) (_ []state.SysctlSetting, full bool) {
	fw := w.file(file)
	n := 0
	for line := range strings.SplitSeq(string(b), "\n") {
		n++
		s, ok, warn := parseSysctlLine(line)
		if warn != "" {
			fw.addf("%s:%d: %s", file, n, warn)
		}
		if !ok {
			continue
		}
		if len(out) >= maxSysctlAssignments {
			fw.done()
			return out, true
		}
		s.File, s.Line = file, n
		out = append(out, s)
	}
	fw.done()
	return out, false
}

// parseSysctlLine reads one line as systemd-sysctl does: whitespace (" \t\r\n")
// around the line, the key and the value is dropped; empty lines and lines
// whose first character is "#" or ";" are comments; "KEY = VALUE" assigns,
// "-KEY = VALUE" assigns and ignores a failure, "-KEY" alone excludes KEY
// from globs. ok is false for a line that assigns nothing; warn says why a
// line that is not a comment was skipped.
//
// Unlike systemd-sysctl, a line longer than maxSysctlLine, or holding
// control characters or bytes that are not UTF-8, is skipped with a warning:
// no sysctl lvsctl manages has such a key, and such values are not shown.
func parseSysctlLine(line string) (s state.SysctlSetting, ok bool, warn string) {
	if len(line) > maxSysctlLine {
		return s, false, fmt.Sprintf("line longer than %d bytes; skipped", maxSysctlLine)
	}
	line = strings.Trim(line, " \t\r\n")
	if line == "" || line[0] == '#' || line[0] == ';' {
		return s, false, ""
	}
	if !utf8.ValidString(line) || strings.ContainsFunc(line, isControl) {
		return s, false, "line holds control characters or is not UTF-8; skipped"
	}
	key, value, assign := strings.Cut(line, "=")
	switch {
	case strings.HasPrefix(key, "-"):
		key = key[1:]
		s.IgnoreFailure = true
	case !assign:
		return s, false, fmt.Sprintf("%q is not an assignment; skipped", clip(line))
	}
	s.Key = normalizeSysctlKey(strings.Trim(key, " \t\r\n"))
	if s.Key == "" {
		return s, false, fmt.Sprintf("%q assigns no key; skipped", clip(line))
	}
	s.Value = strings.Trim(value, " \t\r\n")
	return s, true, ""
}

func isControl(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }

// clip shortens text quoted in a warning.
func clip(s string) string {
	if len(s) <= 80 {
		return s
	}
	i := 80
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "..."
}

// normalizeSysctlKey returns key in sysctl(8)'s dotted form, the form lvsctl
// uses. A key may be written with dots or slashes; as sysctl.d(5) says, when
// its first separator is a slash, dots within components belong to the names
// (net/ipv4/conf/eth0.100/rp_filter), and when it is a dot, slashes do
// (net.ipv4.conf.eth0/100.rp_filter, the dotted form of the same key).
// systemd-sysctl turns the key into a path under /proc/sys and simplifies it
// (no empty or "." components); so does this, before turning the path back
// into the dotted form, where "/" stands for a "." within a name. "" means
// the key names nothing.
func normalizeSysctlKey(key string) string {
	if i := strings.IndexAny(key, "./"); i >= 0 && key[i] == '.' {
		key = swapDotSlash(key)
	}
	parts := strings.Split(key, "/")
	parts = slices.DeleteFunc(parts, func(p string) bool { return p == "" || p == "." })
	return swapDotSlash(strings.Join(parts, "/"))
}

// swapDotSlash turns a dotted key into its path under /proc/sys and back.
func swapDotSlash(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '.':
			return '/'
		case '/':
			return '.'
		}
		return r
	}, s)
}

// isSysctlGlob reports whether a key is a pattern, as systemd's
// string_is_glob does.
func isSysctlGlob(key string) bool { return strings.ContainsAny(key, "*?[") }

// KeyMatches reports whether the key pattern of an assignment (a normalized
// key as ReadSysctlConfig returns it, possibly a glob) applies to key, a
// sysctl in dotted form. systemd-sysctl expands a glob with glob(3) under
// /proc/sys, so a wildcard matches within one component of the path and
// never across a separator: net.ipv4.conf.*.rp_filter applies to
// net.ipv4.conf.eth0.rp_filter and to net.ipv4.conf.eth0/100.rp_filter (the
// VLAN eth0.100), not to net.ipv4.conf.a.b.rp_filter.
func KeyMatches(pattern, key string) bool {
	if pattern == key {
		return true
	}
	if !isSysctlGlob(pattern) {
		return false
	}
	ok, err := path.Match(swapDotSlash(pattern), swapDotSlash(key))
	return err == nil && ok // glob(3) takes a malformed pattern literally: equal, handled above
}

// Effective returns the assignment the next boot makes to key (a sysctl in
// dotted form, no glob), as systemd-sysctl decides it from settings in the
// order ReadSysctlConfig returns them; ok is false when nothing assigns it.
//
// An assignment of key itself wins over every glob, whatever their order,
// and the last one wins; its Value may be "" (an exclusion, "-KEY" alone),
// which writes nothing and still keeps the globs off key. Otherwise the
// globs that match key are written one after another, in the order in which
// each glob was last given a different value, so the last of them wins; a
// glob whose last value is "" writes nothing and is passed over. The setting
// returned is the last line that gave the winner its value.
//
// procps's sysctl --system decides the same, except that it writes every
// line of a glob in the order of the lines, which differs only when a glob is
// given the same value twice around another glob.
func Effective(settings []state.SysctlSetting, key string) (state.SysctlSetting, bool) {
	var exact *state.SysctlSetting
	type globAt struct {
		last  *state.SysctlSetting
		moved int // when it last took a different value: its place in systemd's ordered map
	}
	globs := map[string]*globAt{}
	for i := range settings {
		s := &settings[i]
		switch {
		case s.Key == key:
			exact = s
		case isSysctlGlob(s.Key):
			g := globs[s.Key]
			if g == nil {
				g = &globAt{moved: i}
				globs[s.Key] = g
			} else if g.last.Value != s.Value {
				g.moved = i
			}
			g.last = s
		}
	}
	if exact != nil {
		return *exact, true
	}
	var best *globAt
	for pattern, g := range globs {
		if g.last.Value == "" || !KeyMatches(pattern, key) {
			continue
		}
		if best == nil || g.moved > best.moved {
			best = g
		}
	}
	if best == nil {
		return state.SysctlSetting{}, false
	}
	return *best.last, true
}

// nsView reads fsys as a process in network namespace netns sees it under
// `ip netns exec`: iproute2 bind-mounts each entry of /etc/netns/NETNS over
// /etc/ENTRY, which succeeds only when /etc/ENTRY exists and is of the same
// kind (a directory over a directory, a file over a file). Names are clean
// and relative to "/" ("etc/sysctl.d"), as the namespace sees them.
type nsView struct {
	fsys  fs.FS
	netns string
	bound map[string]bool // by entry of /etc: whether the namespace's replaces it
}

// path returns where name, as the namespace sees it, lies in fsys.
func (v *nsView) path(name string) string {
	if v.netns == "" {
		return name
	}
	rest, ok := strings.CutPrefix(name, "etc/")
	if !ok {
		return name
	}
	entry, tail, _ := strings.Cut(rest, "/")
	src := "etc/netns/" + v.netns + "/" + entry
	bound, ok := v.bound[entry]
	if !ok {
		own, err1 := fs.Stat(v.fsys, src)
		host, err2 := fs.Stat(v.fsys, "etc/"+entry)
		bound = err1 == nil && err2 == nil && own.IsDir() == host.IsDir()
		if len(v.bound) < maxConfDirEntries {
			v.bound[entry] = bound
		}
	}
	if !bound {
		return name
	}
	if tail == "" {
		return src
	}
	return src + "/" + tail
}

// hostPath is the absolute path of name on the host.
func (v *nsView) hostPath(name string) string { return "/" + v.path(name) }

// resolve follows the symbolic links at name (the last component, as many
// times as it leads to another link) and returns the name of the file they
// lead to, with its information. A link to /dev/null gives "dev/null" and no
// information: a mask, whether or not fsys holds the device.
func (v *nsView) resolve(name string) (string, fs.FileInfo, error) {
	for range maxConfLinkHops {
		if name == "dev/null" {
			return name, nil, nil
		}
		p := v.path(name)
		fi, err := fs.Lstat(v.fsys, p)
		if err != nil {
			return "", nil, unwrapPathError(err)
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			return name, fi, nil
		}
		t, err := fs.ReadLink(v.fsys, p)
		if err != nil {
			return "", nil, unwrapPathError(err)
		}
		if !path.IsAbs(t) {
			t = path.Dir(name) + "/" + t
		}
		// Clean from "/", where ".." stays at the root, as the kernel has it.
		name = strings.TrimPrefix(path.Clean("/"+t), "/")
		if name == "" {
			name = "."
		}
	}
	return "", nil, fmt.Errorf("more than %d symbolic links", maxConfLinkHops)
}

// unwrapPathError drops the path from err: messages name the file
// themselves, as the host names it.
func unwrapPathError(err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Err
	}
	return err
}

// sameFile reports whether the file name leads to is the file conf (with
// its information confInfo), by name, or as the operating system knows it.
func (v *nsView) sameFile(name, conf string, confInfo fs.FileInfo) bool {
	if name == conf || v.path(name) == v.path(conf) {
		return true
	}
	fi, err := fs.Stat(v.fsys, v.path(name))
	return err == nil && confInfo != nil && os.SameFile(fi, confInfo)
}

// readDir lists at most maxConfDirEntries entries of the directory name.
func (v *nsView) readDir(name string) ([]fs.DirEntry, error) {
	p := v.path(name)
	fi, err := fs.Stat(v.fsys, p)
	if err != nil {
		return nil, unwrapPathError(err)
	}
	if !fi.IsDir() {
		return nil, errors.New("not a directory")
	}
	f, err := v.fsys.Open(p)
	if err != nil {
		return nil, unwrapPathError(err)
	}
	defer f.Close()
	d, ok := f.(fs.ReadDirFile)
	if !ok {
		return nil, errors.New("cannot be listed")
	}
	var out []fs.DirEntry
	for {
		batch, err := d.ReadDir(256)
		out = append(out, batch...)
		if len(out) > maxConfDirEntries {
			return nil, fmt.Errorf("more than %d entries", maxConfDirEntries)
		}
		if err == io.EOF || err == nil && len(batch) == 0 {
			return out, nil
		}
		if err != nil {
			return nil, unwrapPathError(err)
		}
	}
}

// readRegular reads name, a regular file, if it holds at most max bytes.
// "dev/null" reads empty.
func (v *nsView) readRegular(name string, max int64) ([]byte, error) {
	if name == "dev/null" {
		return nil, nil
	}
	p := v.path(name)
	// Stat first: opening a FIFO would wait for a writer.
	fi, err := fs.Stat(v.fsys, p)
	if err != nil {
		return nil, unwrapPathError(err)
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	if fi.Size() > max {
		return nil, fmt.Errorf("larger than %d bytes", max)
	}
	f, err := v.fsys.Open(p)
	if err != nil {
		return nil, unwrapPathError(err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, unwrapPathError(err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("larger than %d bytes", max)
	}
	return b, nil
}

// warnList gathers warnings up to maxConfWarnings, and counts the rest.
type warnList struct {
	msgs    []string
	dropped int
}

func (w *warnList) addf(format string, args ...any) {
	if len(w.msgs) >= maxConfWarnings {
		w.dropped++
		return
	}
	w.msgs = append(w.msgs, fmt.Sprintf(format, args...))
}

func (w *warnList) list() []string {
	if w.dropped == 0 {
		return w.msgs
	}
	return append(w.msgs, fmt.Sprintf("%d more warnings not shown", w.dropped))
}

// file returns a list for the lines of one file, which keeps at most
// maxConfFileWarnings of them.
func (w *warnList) file(name string) *fileWarnings { return &fileWarnings{w: w, name: name} }

type fileWarnings struct {
	w    *warnList
	name string
	n    int
}

func (f *fileWarnings) addf(format string, args ...any) {
	f.n++
	if f.n <= maxConfFileWarnings {
		f.w.addf(format, args...)
	}
}

// done reports the warnings left out.
func (f *fileWarnings) done() {
	if more := f.n - maxConfFileWarnings; more > 0 {
		f.w.addf("%s: %d more lines skipped", f.name, more)
	}
}
