package names

import (
	"strings"
	"testing"
)

// Agent paths: absolute, clean, plain characters, and outside the folders
// where other users can write or that hold no programs. want is a part of the
// error; "" means the path is admitted.
func TestCheckAgentPath(t *testing.T) {
	for _, c := range []struct{ path, want string }{
		{"/usr/local/bin/lvsctl", ""},
		{"/var/lib/lvsctl/bin", ""},
		{"/var/lib/lvsctl-lab", ""},
		{"/opt/lvsctl+1.2/bin/lvsctl_x-y", ""},
		{"/tmpfoo/lvsctl", ""}, // only /tmp itself and what is under it
		{"/devices/lvsctl", ""},
		{"/usr/lib/tmp/lvsctl", ""},
		{"bin/lvsctl", "use an absolute path"},
		{"/opt/../tmp/lvsctl", "without \"..\""},
		{"/usr/bin/", "use an absolute path"},
		{"/", "use an absolute path"},
		{"/usr/bin/lvsctl;id", "use an absolute path"},
		{"/usr/bin/$(id)", "use an absolute path"},
		{"/usr/bin/lvsctl id", "use an absolute path"},
		{"/usr//bin/lvsctl", `without "//" or "/./" (as /usr/bin/lvsctl)`},
		{"/usr/./bin/lvsctl", `without "//" or "/./"`},
		{"/tmp", "under /tmp, where every user can create files"},
		{"/tmp/x", "under /tmp, where every user can create files; lvsctl runs the agent as root"},
		{"/tmp/a/b/lvsctl", "under /tmp,"},
		{"/var/tmp/lvsctl", "under /var/tmp,"},
		{"/dev/shm/x", "under /dev/shm,"},
		{"/run/shm/x", "under /run/shm,"},
		{"/run/lock/x", "under /run/lock,"},
		{"/var/lock/x", "under /var/lock,"},
		{"/run/user/1000/lvsctl", "under /run/user, which belongs to logged-in users"},
		{"/proc/self/exe", "under /proc, a kernel file system"},
		{"/sys/x", "under /sys,"},
		{"/dev/x", "under /dev, the device file system"},
	} {
		err := CheckAgentPath(c.path)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q refused: %v", c.path, err)
		case c.want != "" && err == nil:
			t.Errorf("%q admitted", c.path)
		case c.want != "" && !strings.Contains(err.Error(), c.want):
			t.Errorf("%q: got %q, want it to contain %q", c.path, err, c.want)
		case c.want != "" && !strings.HasPrefix(err.Error(), `agent path "`+c.path+`" is not allowed: `):
			t.Errorf("%q: got %q, want it to name the path", c.path, err)
		}
	}
}

// SSH addresses: host names, aliases and IP addresses; an IPv6 zone only
// when it is an interface name (no shell metacharacters, no "@").
func TestCheckSSHAddress(t *testing.T) {
	for _, c := range []struct{ addr, want string }{
		{"rs1.example.com", ""},
		{"lvs-director", ""},
		{"192.168.0.1", ""},
		{"2001:db8::1", ""},
		{"fe80::1%eth0", ""},
		{"fe80::1%2", ""},
		{"fe80::1%br-lan.10", ""},
		{"fe80::1%$(id)", `has IPv6 zone "$(id)", which is not an interface name`},
		{"::1%`id`", "which is not an interface name"},
		{"fe80::1%eth0;id", "which is not an interface name"},
		{"fe80::1%a b", "which is not an interface name"},
		{"fe80::1%e@evil.io", `zone "e@evil.io", which is not an interface name`}, // ssh would read evil.io as the host
		{"fe80::1%abcdefghijklmnop", "which is not an interface name"},            // 16 bytes
		{"fe80::1%a:b", "which is not an interface name"},
		{"fe80::1%é", "which is not an interface name"},
		{"fe80::1%", "neither an IP address nor a host name"},
		{"-oProxyCommand=x", "neither an IP address nor a host name"},
		{"root@rs1", "neither an IP address nor a host name"},
		{"rs1 -v", "neither an IP address nor a host name"},
		{"", "neither an IP address nor a host name"},
	} {
		err := CheckSSHAddress(c.addr)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q refused: %v", c.addr, err)
		case c.want != "" && err == nil:
			t.Errorf("%q admitted", c.addr)
		case c.want != "" && !strings.Contains(err.Error(), c.want):
			t.Errorf("%q: got %q, want it to contain %q", c.addr, err, c.want)
		}
	}
}

func TestCheckAgentBinary(t *testing.T) {
	for _, ok := range []string{"/usr/local/bin/lvsctl", "/opt/lvsctl/bin/lvsctl-1.2.3", "/usr/bin/lvsctl.real"} {
		if err := CheckAgentBinary(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"/bin/sh", "/usr/bin/python3", "/usr/local/bin/my-lvsctl", "/usr/bin/lvsctl/", "/tmp/lvsctl"} {
		if err := CheckAgentBinary(bad); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
	if err := CheckAgentBinary("/bin/sh"); err == nil || !strings.Contains(err.Error(), `must be an lvsctl binary whose name starts with "lvsctl"`) {
		t.Errorf("/bin/sh: %v", err)
	}
}
