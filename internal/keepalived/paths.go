package keepalived

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/lvsctl/lvsctl/internal/names"
)

// The files and the program a pair's keepalived block names. The cluster
// repository is untrusted input, so each is held to a strict shape here (the
// schema and the agent both check them): lvsctl writes only a .conf file
// directly under /etc/keepalived, reads a pid file under /run (or beside the
// configuration), and runs only a program named keepalived, which the agent
// further requires to be root's and writable by no one else.
var (
	configPath  = regexp.MustCompile(`^/etc/keepalived/[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}\.conf$`)
	pidPath     = regexp.MustCompile(`^(/run|/var/run)(/[A-Za-z0-9_][A-Za-z0-9_.-]{0,63})?/[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}\.pid$|^/etc/keepalived/[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}\.pid$`)
	programPath = regexp.MustCompile(`^(/[A-Za-z0-9_][A-Za-z0-9_.+-]{0,63}){0,8}/keepalived$`)
)

// Defaults of a pair's keepalived block.
const (
	DefaultConfig  = "/etc/keepalived/keepalived.conf"
	DefaultPidFile = "/run/keepalived.pid"
	DefaultProgram = "/usr/sbin/keepalived"
)

// CheckConfigPath admits a .conf file directly under /etc/keepalived.
func CheckConfigPath(p string) error {
	if !configPath.MatchString(p) {
		return fmt.Errorf("keepalived config %q is not allowed: lvsctl writes only a file NAME.conf directly under /etc/keepalived/ (letters, digits, _ . -)", names.Clean(p))
	}
	return nil
}

// CheckPidPath admits NAME.pid under /run or /var/run (or one folder below
// them), or under /etc/keepalived.
func CheckPidPath(p string) error {
	if !pidPath.MatchString(p) || strings.Contains(p, "..") {
		return fmt.Errorf("keepalived pidFile %q is not allowed: use NAME.pid under /run/ (or /run/FOLDER/) or /etc/keepalived/", names.Clean(p))
	}
	return nil
}

// CheckProgramPath admits an absolute, clean path whose file is named
// keepalived, outside the folders where anyone can create files: lvsctl runs
// it as root (`PROGRAM -t -f CONFIG`), so it must not name another program
// (/bin/sh would read the configuration as a script).
func CheckProgramPath(p string) error {
	if !programPath.MatchString(p) || strings.Contains(p, "..") {
		return fmt.Errorf("keepalived program %q is not allowed: an absolute path to a file named keepalived, such as /usr/sbin/keepalived", names.Clean(p))
	}
	if err := names.CheckAgentPath(p); err != nil {
		return fmt.Errorf("keepalived program: %s", strings.TrimPrefix(err.Error(), "agent path "))
	}
	return nil
}
