// The distributions' own services that restore an IPVS table at boot, which
// act on the same table as lvsctl's restore.

package boot

import (
	"fmt"
	"io/fs"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/lvsctl/lvsctl/internal/state"
)

// Bounds on what FindRestorers reads.
const (
	maxScriptSize = 64 << 10 // bytes of a unit, a drop-in, an init script or its defaults file
	maxDropIns    = 64       // drop-ins read for one unit
	maxExecs      = 64       // commands kept of one Exec setting
)

// unitDirs are where systemd looks for a system unit that outlives a reboot,
// in decreasing precedence. /run/systemd/system is left out: it is emptied
// at every boot (systemctl mask --runtime, transient units).
var unitDirs = []string{
	"etc/systemd/system",
	"usr/local/lib/systemd/system",
	"usr/lib/systemd/system",
	"lib/systemd/system",
}

const (
	ipvsadmUnit   = "ipvsadm.service"
	ipvsadmScript = "etc/init.d/ipvsadm"

	// rhelRules is where RHEL's and Fedora's ipvsadm.service keeps the table:
	//   ExecStart=/bin/bash -c "exec /sbin/ipvsadm-restore < /etc/sysconfig/ipvsadm"
	//   ExecStop=/bin/bash -c "exec /sbin/ipvsadm-save -n > /etc/sysconfig/ipvsadm"
	rhelRules = "/etc/sysconfig/ipvsadm"
	// debianRules and debianDefaults are the files of Debian's and Ubuntu's
	// /etc/init.d/ipvsadm (IPVSADM_RULES, IPVSADM_CONFIG).
	debianRules    = "/etc/ipvsadm.rules"
	debianDefaults = "/etc/default/ipvsadm"
)

// FindRestorers returns the services on the host (fsys is its "/") that
// restore an IPVS table at boot: RHEL's and Fedora's ipvsadm.service, and
// Debian's and Ubuntu's /etc/init.d/ipvsadm. Only services that are
// installed are returned; Enabled says whether each will run at the next
// boot, and Why says what was found, for the plan's note. Both act on the
// IPVS table of the host's own network namespace.
//
// ipvsadm.service is the unit systemd would load (/etc/systemd/system first,
// then /usr/local/lib, /usr/lib and /lib), with its drop-ins. It is enabled
// when systemd runs the host, the unit is not masked, and a *.wants or
// *.requires directory of the unit directories links it (systemctl enable
// makes multi-user.target.wants/ipvsadm.service). Its RulesFile is what its
// ExecStart feeds to ipvsadm-restore (or ipvsadm -R), /etc/sysconfig/ipvsadm
// when it names none, and SavesAtStop says its ExecStop saves the table
// (ipvsadm-save, ipvsadm -S) into that same file, as RHEL's does.
//
// Debian's /etc/init.d/ipvsadm, on start, clears the table and restores
// IPVSADM_RULES (/etc/ipvsadm.rules) only when AUTO is "true" in
// /etc/default/ipvsadm (the package ships "false"); it never saves at stop
// (Debian dropped that in 1.24, see the package's NEWS.Debian). It runs at
// boot from an S link in /etc/rc2.d to /etc/rc5.d, which the package makes:
// under systemd through systemd-sysv-generator, which must be installed (it
// is gone from systemd 258) and which passes over a script that has a
// native ipvsadm.service; without systemd from those links (or OpenRC's
// /etc/runlevels).
func FindRestorers(fsys fs.FS) []state.Restorer {
	v := &nsView{fsys: fsys, bound: map[string]bool{}}
	systemd := isDir(fsys, "run/systemd/system")
	unit, unitPath, mask := findUnit(v, ipvsadmUnit)
	var out []state.Restorer
	if r, ok := findIpvsadmUnit(v, systemd, unit, unitPath, mask); ok {
		out = append(out, r)
	}
	// systemd-sysv-generator makes ipvsadm.service of the script only when
	// no unit of that name exists, a mask included.
	shadow := ""
	switch {
	case mask != "":
		shadow = fmt.Sprintf("%s is masked (%s links to /dev/null)", ipvsadmUnit, mask)
	case unit != "":
		shadow = fmt.Sprintf("%s exists (%s), and systemd runs it instead", ipvsadmUnit, unitPath)
	}
	if r, ok := findIpvsadmScript(v, systemd, shadow); ok {
		out = append(out, r)
	}
	return out
}

// findUnit returns the file systemd loads for unit (its name in fsys and
// the path of the unit directory's entry), "" when there is none, and the
// path of a link to /dev/null that masks it, "" when there is none.
func findUnit(v *nsView, unit string) (target, entry, mask string) {
	for _, dir := range unitDirs {
		name := dir + "/" + unit
		t, fi, err := v.resolve(name)
		switch {
		case err != nil:
			continue // a link to nothing: systemd looks further
		case t == "dev/null":
			if mask == "" && target == "" {
				mask = "/" + name
			}
			continue
		case !fi.Mode().IsRegular():
			continue
		}
		if target == "" {
			target, entry = t, "/"+name
		}
	}
	return target, entry, mask
}

// findIpvsadmUnit reports ipvsadm.service, found by findUnit.
func findIpvsadmUnit(v *nsView, systemd bool, unit, unitPath, mask string) (state.Restorer, bool) {
	r := state.Restorer{Name: ipvsadmUnit, RulesFile: rhelRules}
	if unit == "" {
		return r, false
	}
	if mask != "" {
		r.Why = fmt.Sprintf("%s is installed (%s) but masked (%s links to /dev/null), so it does not run", ipvsadmUnit, unitPath, mask)
		return r, true
	}

	var texts []string
	var unread []string
	if b, err := v.readRegular(unit, maxScriptSize); err == nil {
		texts = append(texts, string(b))
	} else {
		unread = append(unread, fmt.Sprintf("%s: %v", unitPath, err))
	}
	for _, d := range dropIns(v, ipvsadmUnit) {
		if b, err := v.readRegular(d.target, maxScriptSize); err == nil {
			texts = append(texts, string(b))
		} else {
			unread = append(unread, fmt.Sprintf("%s: %v", d.file, err))
		}
	}
	u := parseUnit(texts)
	named := false
	if f := restoredFile(u); f != "" {
		r.RulesFile, named = f, true
	}
	r.SavesAtStop = slices.Contains(savedFiles(u), r.RulesFile)
	wantedBy := wantsLink(v, ipvsadmUnit)
	r.Enabled = systemd && wantedBy != ""

	var why string
	rules := r.RulesFile
	if !named {
		rules += " (its ExecStart names no file: the RHEL default)"
	}
	switch {
	case !systemd:
		why = fmt.Sprintf("%s is installed (%s) but systemd does not run this host", ipvsadmUnit, unitPath)
	case r.Enabled:
		why = fmt.Sprintf("%s is enabled (%s) and restores %s at boot", ipvsadmUnit, wantedBy, rules)
	default:
		why = fmt.Sprintf("%s is installed (%s) but not enabled; started, it would restore %s", ipvsadmUnit, unitPath, rules)
	}
	if r.SavesAtStop {
		why += "; its ExecStop saves the live table into " + r.RulesFile
	}
	if len(unread) > 0 {
		why += "; could not read " + strings.Join(unread, ", ")
	}
	r.Why = why
	return r, true
}

// dropIns lists the unit's drop-ins (UNIT.d/*.conf) in the order systemd
// reads them: by name, a name in an earlier directory hiding the same name
// in later ones.
func dropIns(v *nsView, unit string) []confFile {
	chosen := map[string]confFile{}
	for _, dir := range unitDirs {
		d := dir + "/" + unit + ".d"
		entries, err := v.readDir(d)
		if err != nil {
			continue
		}
		for _, e := range entries {
			name := e.Name()
			if _, ok := chosen[name]; ok || !strings.HasSuffix(name, ".conf") {
				continue
			}
			target, fi, err := v.resolve(d + "/" + name)
			if err != nil {
				continue
			}
			f := confFile{name: name, file: "/" + d + "/" + name, target: target}
			f.mask = target == "dev/null" || !fi.Mode().IsRegular()
			chosen[name] = f
		}
	}
	var out []confFile
	for _, name := range slices.Sorted(maps.Keys(chosen)) {
		if f := chosen[name]; !f.mask && len(out) < maxDropIns {
			out = append(out, f)
		}
	}
	return out
}

// wantsLink returns the path of a link that pulls unit in (a *.wants or
// *.requires directory of the unit directories), "" when there is none.
func wantsLink(v *nsView, unit string) string {
	for _, dir := range unitDirs {
		entries, err := v.readDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			n := e.Name()
			if !strings.HasSuffix(n, ".wants") && !strings.HasSuffix(n, ".requires") {
				continue
			}
			link := dir + "/" + n + "/" + unit
			if _, err := fs.Lstat(v.fsys, link); err == nil {
				return "/" + link
			}
		}
	}
	return ""
}

// unitSettings are the settings of a unit's [Service] section that say what
// it restores and saves.
type unitSettings struct {
	execStart, execStop []string
	stdin, stdout       string // StandardInput=, StandardOutput=
}

// parseUnit reads the [Service] section of a unit and its drop-ins, in
// order, as systemd does for the settings it needs: a later value of
// StandardInput= or StandardOutput= replaces an earlier one, ExecStart= and
// ExecStop= add a command, and an empty ExecStart= or ExecStop= drops the
// commands before it. A line ending in a backslash goes on in the next one.
func parseUnit(texts []string) unitSettings {
	var u unitSettings
	for _, text := range texts {
		section := ""
		lines := strings.Split(text, "\n")
		for i := 0; i < len(lines); i++ {
			line := strings.TrimSpace(lines[i])
			for strings.HasSuffix(line, "\\") && i+1 < len(lines) {
				i++
				next := strings.TrimSpace(lines[i])
				if strings.HasPrefix(next, "#") || strings.HasPrefix(next, ";") {
					continue
				}
				line = strings.TrimSuffix(line, "\\") + " " + next
			}
			if line == "" || line[0] == '#' || line[0] == ';' {
				continue
			}
			if line[0] == '[' {
				section = strings.Trim(line, "[] \t")
				continue
			}
			if section != "Service" {
				continue
			}
			key, value, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			value = strings.TrimSpace(value)
			switch strings.TrimSpace(key) {
			case "ExecStart":
				u.execStart = appendExec(u.execStart, value)
			case "ExecStop":
				u.execStop = appendExec(u.execStop, value)
			case "StandardInput":
				u.stdin = value
			case "StandardOutput":
				u.stdout = value
			}
		}
	}
	return u
}

func appendExec(list []string, cmd string) []string {
	if cmd == "" {
		return nil
	}
	if len(list) >= maxExecs {
		return list
	}
	return append(list, cmd)
}

var (
	// restoreCmd finds ipvsadm-restore (or ipvsadm -R) reading a file on its
	// standard input, as in RHEL's
	//   /bin/bash -c "exec /sbin/ipvsadm-restore < /etc/sysconfig/ipvsadm".
	restoreCmd = regexp.MustCompile(`(?:ipvsadm-restore|ipvsadm\s+(?:-R|--restore))\b[^<|;&]*<\s*([^\s"'<>|;&]+)`)
	restoreRun = regexp.MustCompile(`ipvsadm-restore\b|ipvsadm\s+(?:-R|--restore)\b`)
	// saveCmd finds ipvsadm-save (or ipvsadm -S) writing a file, as in
	//   /bin/bash -c "exec /sbin/ipvsadm-save -n > /etc/sysconfig/ipvsadm".
	saveCmd = regexp.MustCompile(`(?:ipvsadm-save|ipvsadm\s+(?:-[A-Za-z]*S[A-Za-z]*|--save))\b[^>|;&]*>>?\s*([^\s"'<>|;&]+)`)
	saveRun = regexp.MustCompile(`ipvsadm-save\b|ipvsadm\s+(?:-[A-Za-z]*S[A-Za-z]*|--save)\b`)
)

// restoredFile returns the file the unit's ExecStart feeds to
// ipvsadm-restore, "" when it names none.
func restoredFile(u unitSettings) string {
	for _, c := range u.execStart {
		if m := restoreCmd.FindStringSubmatch(c); m != nil {
			return m[1]
		}
		if f, ok := strings.CutPrefix(u.stdin, "file:"); ok && restoreRun.MatchString(c) {
			return f
		}
	}
	return ""
}

// savedFiles returns the files the unit's ExecStop saves the table into.
func savedFiles(u unitSettings) []string {
	var out []string
	for _, c := range u.execStop {
		if m := saveCmd.FindStringSubmatch(c); m != nil {
			out = append(out, m[1])
			continue
		}
		if saveRun.MatchString(c) {
			for _, p := range []string{"file:", "truncate:", "append:"} {
				if f, ok := strings.CutPrefix(u.stdout, p); ok {
					out = append(out, f)
				}
			}
		}
	}
	return out
}

// findIpvsadmScript reports Debian's /etc/init.d/ipvsadm. shadow, when not
// "", says why systemd does not run the script: a unit of its name exists.
func findIpvsadmScript(v *nsView, systemd bool, shadow string) (state.Restorer, bool) {
	const name = "/" + ipvsadmScript
	r := state.Restorer{Name: name, RulesFile: debianRules}
	target, fi, err := v.resolve(ipvsadmScript)
	if err != nil || target == "dev/null" || !fi.Mode().IsRegular() {
		return r, false
	}
	script, err := v.readRegular(target, maxScriptSize)
	if err != nil {
		r.Why = fmt.Sprintf("%s is installed but could not be read (%v)", name, err)
		r.Enabled = runsAtBoot(v, systemd, shadow) == ""
		return r, true
	}
	vars := shellAssignments(string(script))
	defaults := debianDefaults
	if c := vars["IPVSADM_CONFIG"]; strings.HasPrefix(c, "/") {
		defaults = c
	}
	if b, err := v.readRegular(strings.TrimPrefix(defaults, "/"), maxScriptSize); err == nil {
		for k, val := range shellAssignments(string(b)) {
			vars[k] = val // the script sources it after its own defaults
		}
	}
	if f := vars["IPVSADM_RULES"]; strings.HasPrefix(f, "/") {
		r.RulesFile = f
	}
	// Debian's script restores only with AUTO="true"; a script that does
	// not look at AUTO is taken to restore whenever it starts.
	gated := strings.Contains(string(script), "$AUTO") || strings.Contains(string(script), "${AUTO}")
	auto := !gated || vars["AUTO"] == "true"
	notAtBoot := runsAtBoot(v, systemd, shadow)
	r.Enabled = auto && notAtBoot == ""
	switch {
	case notAtBoot != "":
		r.Why = fmt.Sprintf("%s is installed but does not run at boot: %s", name, notAtBoot)
	case !auto:
		r.Why = fmt.Sprintf("%s runs at boot but restores nothing: AUTO is not \"true\" in %s", name, defaults)
	case gated:
		r.Why = fmt.Sprintf("%s runs at boot with AUTO=\"true\" in %s: it clears the IPVS table and restores %s", name, defaults, r.RulesFile)
	default:
		r.Why = fmt.Sprintf("%s runs at boot and restores %s", name, r.RulesFile)
	}
	return r, true
}

// runsAtBoot returns why /etc/init.d/ipvsadm does not run at the next boot,
// "" when it does.
func runsAtBoot(v *nsView, systemd bool, shadow string) string {
	links := rcStartLink(v, []string{"etc/rc2.d", "etc/rc3.d", "etc/rc4.d", "etc/rc5.d"})
	if systemd {
		switch {
		case shadow != "":
			return shadow
		case !isFile(v.fsys, "usr/lib/systemd/system-generators/systemd-sysv-generator") &&
			!isFile(v.fsys, "lib/systemd/system-generators/systemd-sysv-generator"):
			return "this host's systemd has no systemd-sysv-generator, so it runs no init scripts"
		case links == "":
			return "no S link to it in /etc/rc2.d to /etc/rc5.d"
		}
		return ""
	}
	if links != "" || rcStartLink(v, []string{"etc/rcS.d"}) != "" {
		return ""
	}
	for _, level := range []string{"sysinit", "boot", "default"} {
		if _, err := fs.Lstat(v.fsys, "etc/runlevels/"+level+"/ipvsadm"); err == nil {
			return ""
		}
	}
	return "no S link to it in /etc/rc2.d to /etc/rc5.d or /etc/rcS.d, and no OpenRC runlevel holds it"
}

// rcStartLink returns the path of a start link of ipvsadm (S01ipvsadm) in
// one of dirs, "" when there is none.
func rcStartLink(v *nsView, dirs []string) string {
	for _, dir := range dirs {
		entries, err := v.readDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			n := e.Name()
			if len(n) == len("S01ipvsadm") && n[0] == 'S' && isDigit(n[1]) && isDigit(n[2]) && n[3:] == "ipvsadm" {
				return "/" + dir + "/" + n
			}
		}
	}
	return ""
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

// shellAssignments returns the plain assignments (NAME=value, NAME="value",
// NAME='value') at the start of the lines of a shell script, the last one of
// a name winning. It runs nothing and expands nothing: a value with "$" or
// "`" is taken as written.
func shellAssignments(script string) map[string]string {
	vars := map[string]string{}
	for _, line := range strings.Split(script, "\n") {
		m := shellAssign.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if _, seen := vars[m[1]]; !seen && len(vars) >= 256 {
			continue
		}
		val := m[2]
		switch {
		case strings.HasPrefix(val, `"`):
			val, _, _ = strings.Cut(val[1:], `"`)
		case strings.HasPrefix(val, `'`):
			val, _, _ = strings.Cut(val[1:], `'`)
		default:
			if i := strings.IndexAny(val, " \t;#"); i >= 0 {
				val = val[:i]
			}
		}
		vars[m[1]] = val
	}
	return vars
}

var shellAssign = regexp.MustCompile(`^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$`)

func isDir(fsys fs.FS, name string) bool {
	fi, err := fs.Stat(fsys, name)
	return err == nil && fi.IsDir()
}

func isFile(fsys fs.FS, name string) bool {
	fi, err := fs.Stat(fsys, name)
	return err == nil && !fi.IsDir()
}
