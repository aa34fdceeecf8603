// Package names holds the strict patterns for every configuration string that
// becomes a path, an argument or a kernel name: sysctl keys, interface and
// namespace names, SSH addresses and users, agent paths. The schema applies
// them to configurations; the agent applies them again to every request, so a
// forged request cannot reach outside /proc/sys/net or name a bad device.
package names

import (
	"fmt"
	"net/netip"
	"path"
	"regexp"
	"strings"
	"unicode"
)

// CheckInterfaceName applies Linux's dev_valid_name rules (1 to 15 bytes, not
// "." or "..", no "/", ":" or white space) and then lvsctl's stricter set of
// characters.
func CheckInterfaceName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("interface name is empty")
	case len(name) > 15:
		return fmt.Errorf("interface name %q is %d bytes; Linux allows at most 15", name, len(name))
	case name == "." || name == "..":
		return fmt.Errorf("interface name %q is not allowed", name)
	case strings.Contains(name, ":"):
		return fmt.Errorf("interface name %q contains \":\"; an alias label such as ens33:0 is not an interface, name the interface itself (ens33)", name)
	case strings.Contains(name, "/"):
		return fmt.Errorf("interface name %q contains \"/\"", name)
	}
	for _, r := range name {
		if unicode.IsSpace(r) {
			return fmt.Errorf("interface name %q contains white space", name)
		}
		if r > unicode.MaxASCII || !unicode.IsPrint(r) {
			return fmt.Errorf("interface name %q contains a control or non-ASCII character", name)
		}
	}
	if !ifaceChars.MatchString(name) {
		return fmt.Errorf("interface name %q is not allowed: lvsctl accepts letters, digits, \"_\", \".\", \"-\", \"+\" and \"@\"", name)
	}
	return nil
}

// ifaceChars is stricter than Linux, which allows any printable byte but "/"
// and ":": no device name a person chooses needs shell metacharacters.
var ifaceChars = regexp.MustCompile(`^[A-Za-z0-9_.+@-]+$`)

var netnsName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$`)

// CheckNetnsName admits names `ip netns` can create under /run/netns.
func CheckNetnsName(name string) error {
	if !netnsName.MatchString(name) || name == "." || name == ".." {
		return fmt.Errorf("network namespace name %q is not allowed: use 1 to 64 letters, digits, \"_\", \".\" or \"-\", not starting with \".\" or \"-\"", name)
	}
	return nil
}

var (
	dnsName  = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$`)
	userName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,31}$`)
	absPath  = regexp.MustCompile(`^/[A-Za-z0-9_.+/-]{1,255}$`)
)

// CheckSSHAddress admits a DNS name, an ssh_config Host alias of the same
// shape, or an IP address. Nothing starting with "-" can reach ssh(1).
//
// An IPv6 zone (fe80::1%eth0) must be an interface name that passes
// CheckInterfaceName and has no "@": netip accepts any bytes in a zone, and
// ssh(1) puts the address into ProxyCommand's %h, which a shell runs, and
// reads what follows an "@" as the host.
func CheckSSHAddress(a string) error {
	if ip, err := netip.ParseAddr(a); err == nil {
		if z := ip.Zone(); z != "" && (CheckInterfaceName(z) != nil || strings.Contains(z, "@")) {
			return fmt.Errorf("ssh address %q has IPv6 zone %q, which is not an interface name: a zone must be 1 to 15 letters, digits, \"_\", \".\", \"+\" or \"-\" (such as fe80::1%%eth0)", a, z)
		}
		return nil
	}
	if len(a) > 253 || !dnsName.MatchString(a) {
		return fmt.Errorf("ssh address %q is neither an IP address nor a host name (letters, digits, \"-\" and dots)", a)
	}
	return nil
}

// CheckSSHUser admits POSIX-style user names.
func CheckSSHUser(u string) error {
	if !userName.MatchString(u) {
		return fmt.Errorf("ssh user %q is not allowed: use up to 32 letters, digits, \"_\", \".\" or \"-\", starting with a letter or \"_\"", u)
	}
	return nil
}

// CheckAgentPath admits an absolute, clean path of plain characters with no
// "..", outside the folders of sharedDirs. It is applied to agentPath, the
// agents' state folder and the folder of uploaded agents. Names are only a
// first line: before every start, the host itself checks that the agent and
// every folder above it belong to root and are writable by no one else (see
// hosts/agent).
func CheckAgentPath(p string) error {
	if !absPath.MatchString(p) || strings.Contains(p, "..") || strings.HasSuffix(p, "/") {
		return fmt.Errorf("agent path %q is not allowed: use an absolute path of letters, digits, \"_\", \".\", \"+\", \"-\" and \"/\", without \"..\"", p)
	}
	if path.Clean(p) != p {
		return fmt.Errorf("agent path %q is not allowed: write it without \"//\" or \"/./\" (as %s)", p, path.Clean(p))
	}
	for _, d := range sharedDirs {
		if p == d.dir || strings.HasPrefix(p, d.dir+"/") {
			return fmt.Errorf("agent path %q is not allowed: it is under %s, %s; lvsctl runs the agent as root, so it must live where only root can write, such as /usr/local/bin or /var/lib/lvsctl", p, d.dir, d.why)
		}
	}
	return nil
}

// sharedDirs are folders where other users can create or replace files, or
// that hold no programs at all.
var sharedDirs = []struct{ dir, why string }{
	{"/tmp", "where every user can create files"},
	{"/var/tmp", "where every user can create files"},
	{"/dev/shm", "where every user can create files"},
	{"/run/shm", "where every user can create files"},
	{"/run/lock", "where every user can create files"},
	{"/var/lock", "where every user can create files"},
	{"/run/user", "which belongs to logged-in users"},
	{"/proc", "a kernel file system"},
	{"/sys", "a kernel file system"},
	{"/dev", "the device file system"},
}

// CheckAgentBinary is CheckAgentPath for a program lvsctl runs as its agent
// (hosts.X.agentPath): its file name must also start with "lvsctl", so that
// a definition cannot name another program of the host (/bin/sh, say) to be
// run as root with lvsctl's arguments.
func CheckAgentBinary(p string) error {
	if err := CheckAgentPath(p); err != nil {
		return err
	}
	if base := p[strings.LastIndexByte(p, '/')+1:]; !strings.HasPrefix(base, "lvsctl") {
		return fmt.Errorf("agent path %q is not allowed: the file must be an lvsctl binary whose name starts with \"lvsctl\" (e.g. /usr/local/bin/lvsctl), so that no other program of the host is run as the agent", p)
	}
	return nil
}
