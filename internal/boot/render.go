// Package boot is what lvsctl keeps on a host for its next boot, so that what
// it applied comes back after a restart without lvsctl: where the files are,
// what they hold, and what else on the host acts on the same objects at boot.
//
// Three files per host (or per named network namespace on a host):
//
//   - the sysctls, in lvsctl's own file under /etc/sysctl.d, which
//     systemd-sysctl applies early at boot;
//   - a state file under /var/lib/lvsctl: everything else lvsctl applied
//     there (links, addresses, managed routes, mark rules, the IPVS table and
//     its timeouts), and the sysctls again so that the restore can keep the
//     order a real server needs (ARP sysctls before the VIP);
//   - a systemd unit that runs `lvsctl restore` from the agent lvsctl uses on
//     the host, after the sysctls and the distribution's network setup and
//     before the network is online, enabled in multi-user.target.
//
// The package renders and parses those files and reads the host's other boot
// configuration; it does no writing. The planner renders the files a host
// should have and compares them with what its agent read; the agent checks
// that a file it is asked to write is exactly what the package renders, so
// no other content reaches /etc from a cluster repository.
package boot

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/lvsctl/lvsctl/internal/names"
	"github.com/lvsctl/lvsctl/internal/state"
)

// The modes of a host's boot setting.
const (
	Systemd = "systemd" // files and the unit (the default)
	Files   = "files"   // files only: the host's own boot scripts run lvsctl restore
	None    = "none"    // nothing
)

// The files, by the names operations use.
const (
	SysctlFile = "sysctl"
	StateFile  = "state"
	UnitFile   = "unit"
)

// DefaultStateDir is where agents keep their files unless told otherwise.
const DefaultStateDir = "/var/lib/lvsctl"

// Where names a scope's files: the host itself (Netns "") or a named network
// namespace on it.
type Where struct {
	Netns    string // "" for the host itself
	StateDir string // "" for DefaultStateDir
}

func (w Where) stateDir() string {
	if w.StateDir == "" {
		return DefaultStateDir
	}
	return w.StateDir
}

// Scope is the name the agent's inventory and lock use: "host" or
// "netns-NAME".
func (w Where) Scope() string {
	if w.Netns == "" {
		return "host"
	}
	return "netns-" + w.Netns
}

// SysctlPath is lvsctl's sysctl file. A namespace's is under /etc/netns/NAME,
// which `ip netns exec NAME` binds over /etc, so sysctl --system run there
// reads it.
func (w Where) SysctlPath() string {
	if w.Netns == "" {
		return "/etc/sysctl.d/90-lvsctl.conf"
	}
	return "/etc/netns/" + w.Netns + "/sysctl.d/90-lvsctl.conf"
}

// StatePath is the state file the unit restores.
func (w Where) StatePath() string {
	return path.Join(w.stateDir(), "boot-"+w.Scope()+".json")
}

// UnitName is the unit's name.
func (w Where) UnitName() string {
	if w.Netns == "" {
		return "lvsctl-restore.service"
	}
	return "lvsctl-restore-netns-" + w.Netns + ".service"
}

// UnitPath is where the unit is written.
func (w Where) UnitPath() string { return "/etc/systemd/system/" + w.UnitName() }

// UnitLink is the link that enables the unit, as systemctl enable makes it.
func (w Where) UnitLink() string {
	return "/etc/systemd/system/multi-user.target.wants/" + w.UnitName()
}

// Path returns the path of one of the files by its operation name.
func (w Where) Path(file string) string {
	switch file {
	case SysctlFile:
		return w.SysctlPath()
	case StateFile:
		return w.StatePath()
	case UnitFile:
		return w.UnitPath()
	}
	return ""
}

// BackupPath is where the agent keeps a file's content from before its last
// write or removal, so that a rollback can put it back.
func (w Where) BackupPath(file string) string {
	return path.Join(w.stateDir(), "boot-prev-"+w.Scope()+"-"+file)
}

const sysctlHeader = `# Written by lvsctl apply: the sysctls lvsctl keeps on this host, set at boot
# by systemd-sysctl. A "-" before a key means it may not exist that early
# (an IPVS or conntrack key before the module loads, an interface not yet
# there); lvsctl restore sets those once it can. lvsctl drift reports edits,
# and the next lvsctl apply undoes them: change the cluster definition instead.
`

// RenderSysctls is lvsctl's sysctl file for these sysctls, sorted by key; nil
// when there are none.
func RenderSysctls(sysctls []state.Sysctl) []byte {
	if len(sysctls) == 0 {
		return nil
	}
	s := slices.Clone(sysctls)
	slices.SortFunc(s, func(a, b state.Sysctl) int { return strings.Compare(a.Key, b.Key) })
	var b bytes.Buffer
	b.WriteString(sysctlHeader)
	for _, x := range s {
		if mayBeLate(x.Key) {
			b.WriteByte('-')
		}
		fmt.Fprintf(&b, "%s = %s\n", x.Key, x.Value)
	}
	return b.Bytes()
}

// mayBeLate reports whether a key may be missing when systemd-sysctl runs:
// keys of modules (IPVS, conntrack) and of a named interface.
func mayBeLate(key string) bool {
	if strings.HasPrefix(key, "net.ipv4.vs.") || strings.HasPrefix(key, "net.ipv6.vs.") ||
		strings.HasPrefix(key, "net.netfilter.") || strings.HasPrefix(key, "net.nf_conntrack") {
		return true
	}
	for _, p := range []string{"net.ipv4.conf.", "net.ipv6.conf.", "net.ipv4.neigh.", "net.ipv6.neigh."} {
		if rest, ok := strings.CutPrefix(key, p); ok {
			iface, _, _ := strings.Cut(rest, ".")
			return iface != "all" && iface != "default"
		}
	}
	return false
}

// ParseSysctls reads a file in exactly the form RenderSysctls writes, with
// every key in lvsctl's sysctl policy; anything else is an error.
func ParseSysctls(b []byte) ([]state.Sysctl, error) {
	rest, ok := bytes.CutPrefix(b, []byte(sysctlHeader))
	if !ok {
		return nil, errors.New("not lvsctl's sysctl file (its header differs)")
	}
	var out []state.Sysctl
	for i, line := range strings.Split(strings.TrimSuffix(string(rest), "\n"), "\n") {
		key, value, ok := strings.Cut(line, " = ")
		key = strings.TrimPrefix(key, "-")
		if !ok {
			return nil, fmt.Errorf("line %d is not key = value", i+6)
		}
		if err := names.CheckSysctlKey(key); err != nil {
			return nil, fmt.Errorf("line %d: %w", i+6, err)
		}
		if err := names.CheckSysctlValue(value); err != nil {
			return nil, fmt.Errorf("line %d: %w", i+6, err)
		}
		out = append(out, state.Sysctl{Key: key, Value: value})
	}
	if !bytes.Equal(RenderSysctls(out), b) {
		return nil, errors.New("not in the form lvsctl writes")
	}
	return out, nil
}

// stateVersion is the state file's format version; a restore refuses others.
const stateVersion = 1

type stateDoc struct {
	Comment string      `json:"comment"`
	Format  int         `json:"formatVersion"`
	Host    *state.Host `json:"host"`
}

const stateComment = "Written by lvsctl apply: what lvsctl restore puts back at boot. lvsctl drift reports edits, and the next lvsctl apply undoes them."

// Persisted is what of a desired host is kept for boot: every object it
// declares, without reasons, notes, the real servers' host names or routes
// lvsctl only checks. Nil when there is nothing to keep.
func Persisted(h *state.Host) *state.Host {
	if h == nil || h.Retired {
		return nil
	}
	p := &state.Host{Exclusive: h.Exclusive, Timeouts: h.Timeouts}
	if p.Timeouts != nil {
		t := *p.Timeouts
		t.Why = nil
		p.Timeouts = &t
	}
	for _, s := range h.Services {
		c := *s
		c.Why, c.Dests = nil, nil
		for _, d := range s.Dests {
			x := *d
			x.Why, x.Host, x.Conns = nil, "", nil
			c.Dests = append(c.Dests, &x)
		}
		p.Services = append(p.Services, &c)
	}
	for _, a := range h.Addresses {
		a.Why = nil
		p.Addresses = append(p.Addresses, a)
	}
	for _, l := range h.Links {
		l.Why = nil
		p.Links = append(p.Links, l)
	}
	for _, s := range h.Sysctls {
		s.Why = nil
		p.Sysctls = append(p.Sysctls, s)
	}
	for _, r := range h.Routes {
		if r.Manage {
			r.Why = nil
			p.Routes = append(p.Routes, r)
		}
	}
	for _, m := range h.MarkRules {
		m.Why = nil
		p.MarkRules = append(p.MarkRules, m)
	}
	for _, d := range h.Daemons {
		d.Why = nil
		p.Daemons = append(p.Daemons, d)
	}
	if len(p.Services) == 0 && len(p.Addresses) == 0 && len(p.Links) == 0 && len(p.Sysctls) == 0 &&
		len(p.Routes) == 0 && len(p.MarkRules) == 0 && p.Timeouts == nil && len(p.Daemons) == 0 {
		return nil
	}
	return p
}

// RenderState is the state file for a persisted host (from Persisted).
func RenderState(p *state.Host) []byte {
	b, err := json.MarshalIndent(stateDoc{Comment: stateComment, Format: stateVersion, Host: p}, "", "  ")
	if err != nil {
		panic(err) // plain data: cannot fail
	}
	return append(b, '\n')
}

// MaxStateSize bounds a state file: 1,000 services of 100 real servers each
// fit several times over.
const MaxStateSize = 64 << 20

// ParseState reads a state file in exactly the form RenderState writes.
func ParseState(b []byte) (*state.Host, error) {
	if len(b) > MaxStateSize {
		return nil, fmt.Errorf("state file is %d bytes, more than lvsctl writes", len(b))
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	var doc stateDoc
	if err := d.Decode(&doc); err != nil {
		return nil, fmt.Errorf("state file: %w", err)
	}
	if doc.Format != stateVersion {
		return nil, fmt.Errorf("state file has format version %d; this lvsctl reads %d", doc.Format, stateVersion)
	}
	if doc.Host == nil {
		return nil, errors.New("state file holds no host")
	}
	if !bytes.Equal(RenderState(doc.Host), b) {
		return nil, errors.New("state file is not in the form lvsctl writes")
	}
	return doc.Host, nil
}

// CheckExe reports whether a program path can stand in a unit's ExecStart
// as it is: absolute, clean, and free of what systemd would expand or split.
func CheckExe(p string) error {
	if !path.IsAbs(p) || path.Clean(p) != p {
		return fmt.Errorf("agent program %q is not an absolute, clean path", names.Clean(p))
	}
	if strings.ContainsFunc(p, func(r rune) bool {
		return r <= ' ' || r >= 0x7f || strings.ContainsRune(`"'\%$;`, r)
	}) {
		return fmt.Errorf("agent program %q has characters a systemd unit would expand or split", names.Clean(p))
	}
	return nil
}

// RenderUnit is the systemd unit that restores w's state at boot by running
// exe (the agent program lvsctl uses on the host).
func RenderUnit(exe string, w Where) []byte {
	what := "this host"
	if w.Netns != "" {
		what = "network namespace " + w.Netns
	}
	return fmt.Appendf(nil, `# Written by lvsctl apply. lvsctl drift reports edits and a disabled unit,
# and the next lvsctl apply undoes them.
[Unit]
Description=lvsctl: restore the LVS state of %s (IPVS, addresses, routes, mark rules)
Documentation=https://github.com/lvsctl/lvsctl#reboots
After=systemd-sysctl.service systemd-modules-load.service network.target ipvsadm.service
Before=network-online.target
ConditionPathExists=%s

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=%s
TimeoutStartSec=5min

[Install]
WantedBy=multi-user.target
`, what, w.StatePath(), RestoreCommand(exe, w))
}

// RestoreCommand is the command line that restores w's state with exe.
func RestoreCommand(exe string, w Where) string {
	args := []string{exe, "restore"}
	if w.Netns != "" {
		args = append(args, "--netns", w.Netns)
	}
	if w.StateDir != "" && w.StateDir != DefaultStateDir {
		args = append(args, "--state-dir", w.StateDir)
	}
	return strings.Join(args, " ")
}

// UnitExe returns the program a unit lvsctl wrote starts, from its ExecStart
// line; "" when there is none.
func UnitExe(unit string) string {
	for line := range strings.Lines(unit) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "ExecStart="); ok {
			exe, _, _ := strings.Cut(rest, " ")
			return exe
		}
	}
	return ""
}
