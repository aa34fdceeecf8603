package vmlab

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Optional tools a scenario asks for by name (Scenario.Tools), beyond those
// every guest has: daemons unpacked from Debian's packages into the lab's
// cache by scripts/vmlab-deps, never installed on this machine. They go into
// the scenario's own part of the initramfs, so a boot that does not ask for
// them does not carry them.
var optionalTools = map[string]struct {
	dir, prog, guest string // the unpacked tree in the cache, the program in it, and where the guest has it
}{
	// keepalived 2.x: VRRP, health checkers and the IPVS sync daemon.
	"keepalived": {"keepalived", "usr/sbin/keepalived", "/usr/sbin/keepalived"},
}

// toolFiles returns, by guest path, the host files tool needs in the guest:
// its program and every library ldd names, those unpacked with it at the
// path they have under its tree.
func toolFiles(tool string) (map[string]string, error) {
	t, ok := optionalTools[tool]
	if !ok {
		return nil, fmt.Errorf("no optional tool %q (there are: keepalived)", tool)
	}
	root := filepath.Join(cacheDir(), t.dir)
	prog := filepath.Join(root, t.prog)
	if _, err := os.Stat(prog); err != nil {
		return nil, fmt.Errorf("%s is not in the lab's cache (%v): run scripts/vmlab-deps", tool, err)
	}
	cmd := exec.Command("ldd", prog)
	cmd.Env = append(os.Environ(), "LD_LIBRARY_PATH="+filepath.Join(root, "usr/lib/x86_64-linux-gnu"))
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %v", prog, err)
	}
	if strings.Contains(string(out), "not found") {
		return nil, fmt.Errorf("%s needs libraries this machine lacks:\n%s", tool, out)
	}
	files := map[string]string{t.guest: prog}
	for _, l := range strings.Split(string(out), "\n") {
		m := lddLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		guest := m[1]
		if rel, err := filepath.Rel(root, m[1]); err == nil && !strings.HasPrefix(rel, "..") {
			guest = "/" + rel
		}
		files[guest] = m[1]
	}
	return files, nil
}
