package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lvsctl/lvsctl/internal/boot"
	"github.com/lvsctl/lvsctl/internal/netnstest"
	"github.com/lvsctl/lvsctl/internal/state"
)

// The agent writes nothing into /etc but lvsctl's own files, whatever a
// client sends: each write must be exactly what package boot renders, and a
// revert puts back only the agent's own copy of what the plan read.
func TestBootWritesAreChecked(t *testing.T) {
	root, stateDir := t.TempDir(), t.TempDir()
	l, err := newLinux(BackendOptions{StateDir: stateDir, Netns: "rs1", Root: root})
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	w := boot.Where{Netns: "rs1", StateDir: stateDir}
	good := string(boot.RenderSysctls([]state.Sysctl{{Key: "net.ipv4.conf.all.arp_ignore", Value: "1"}}))
	for name, o := range map[string]Op{
		"a key outside the policy": {Kind: WriteBoot, Boot: &Boot{File: boot.SysctlFile,
			Content: string(boot.RenderSysctls([]state.Sysctl{{Key: "kernel.core_pattern", Value: "|/bin/sh"}}))}},
		"a line added":          {Kind: WriteBoot, Boot: &Boot{File: boot.SysctlFile, Content: good + "kernel.sysrq = 1\n"}},
		"not lvsctl's header":   {Kind: WriteBoot, Boot: &Boot{File: boot.SysctlFile, Content: "net.ipv4.conf.all.arp_ignore = 1\n"}},
		"another program":       {Kind: WriteBoot, Boot: &Boot{File: boot.UnitFile, Content: string(boot.RenderUnit("/bin/sh", w)), Enable: true}},
		"a unit for another ns": {Kind: WriteBoot, Boot: &Boot{File: boot.UnitFile, Content: string(boot.RenderUnit(exe, boot.Where{Netns: "rs2", StateDir: stateDir}))}},
		"a state file by hand":  {Kind: WriteBoot, Boot: &Boot{File: boot.StateFile, Content: `{"formatVersion":1,"host":{}}`}},
		"a bad object in state": {Kind: WriteBoot, Boot: &Boot{File: boot.StateFile, Content: string(boot.RenderState(&state.Host{
			Addresses: []state.Address{{Interface: "../../etc"}}}))}},
		"an unknown file": {Kind: WriteBoot, Boot: &Boot{File: "passwd", Content: good}},
	} {
		err := checkOp(o)
		if err == nil {
			err = l.Apply(o)
		}
		if err == nil {
			t.Errorf("%s: written", name)
		}
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("refused writes left %v under the root", entries)
	}

	// A good write, then a revert with the wrong hash is refused; with the
	// right one the old content comes back.
	p := filepath.Join(root, w.SysctlPath())
	os.MkdirAll(filepath.Dir(p), 0o755)
	os.WriteFile(p, []byte("# the host's own\n"), 0o644)
	if err := l.Apply(Op{Kind: WriteBoot, Boot: &Boot{File: boot.SysctlFile, Content: good}}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != good {
		t.Fatalf("written:\n%s", b)
	}
	if err := l.Apply(Op{Kind: RevertBoot, Boot: &Boot{File: boot.SysctlFile, Existed: true, SHA256: strings.Repeat("0", 64)}}); err == nil || !strings.Contains(err.Error(), "not what the plan read") {
		t.Errorf("revert with another hash: %v", err)
	}
	sum := sha256.Sum256([]byte("# the host's own\n"))
	if err := l.Apply(Op{Kind: RevertBoot, Boot: &Boot{File: boot.SysctlFile, Existed: true, SHA256: hex.EncodeToString(sum[:])}}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "# the host's own\n" {
		t.Errorf("after revert:\n%s", b)
	}
}

// A host that answers about boot files at paths that are not lvsctl's, or
// with more than an agent reads, is not believed.
func TestBootAnswerIsChecked(t *testing.T) {
	w := boot.Where{}
	good := func() *state.Boot {
		return &state.Boot{Exe: "/var/lib/lvsctl/bin/lvsctl-ab", SysctlFile: state.BootFile{Path: w.SysctlPath()},
			StateFile: state.BootFile{Path: w.StatePath()}, Unit: state.BootFile{Path: w.UnitPath()}, UnitLink: w.UnitLink()}
	}
	if err := checkBoot(good()); err != nil {
		t.Fatalf("a good answer: %v", err)
	}
	for name, change := range map[string]func(b *state.Boot){
		"sysctl file elsewhere": func(b *state.Boot) { b.SysctlFile.Path = "/etc/passwd" },
		"unit link elsewhere":   func(b *state.Boot) { b.UnitLink = "/etc/rc.local" },
		"a relative program":    func(b *state.Boot) { b.Exe = "lvsctl" },
		"a program with spaces": func(b *state.Boot) { b.Exe = "/bin/lvsctl --evil" },
		"content of no file":    func(b *state.Boot) { b.Unit.Content = "x" },
		"a huge file": func(b *state.Boot) {
			b.SysctlFile = state.BootFile{Path: w.SysctlPath(), Exists: true, Content: strings.Repeat("x", 2<<20)}
		},
		"a bad namespace": func(b *state.Boot) { b.Netns = "../x" },
	} {
		b := good()
		change(b)
		if err := checkBoot(b); err == nil {
			t.Errorf("%s: believed", name)
		}
	}
	b := good()
	b.Sysctls = []state.SysctlSetting{{Key: "net.ipv4.ip_forward", Value: "0\x1b[2J", File: "/etc/sysctl.conf\x1b]0;x\a"}}
	if err := checkBoot(b); err != nil || strings.ContainsAny(b.Sysctls[0].Value+b.Sysctls[0].File, "\x1b\a") {
		t.Errorf("control characters kept: %v %+v", err, b.Sysctls[0])
	}
}

// The unit runs the agent as root at every boot: the plan says when someone
// other than root could replace it.
func TestWritableByOthers(t *testing.T) {
	netnstest.RequireRoot(t) // the files must belong to root
	dir := filepath.Join(t.TempDir(), "bin")
	os.Mkdir(dir, 0o755)
	exe := filepath.Join(dir, "lvsctl")
	os.WriteFile(exe, []byte("x"), 0o755)
	if why := writableByOthers(exe); why != "" {
		t.Errorf("root's program in root's folder under the sticky /tmp: %s", why)
	}
	os.Chmod(dir, 0o777)
	if why := writableByOthers(exe); !strings.Contains(why, dir+" can be written by group or others") {
		t.Errorf("a folder anyone may write: %q", why)
	}
	os.Chmod(dir, 0o755)
	os.Chown(exe, 1000, 1000)
	if why := writableByOthers(exe); !strings.Contains(why, exe+" belongs to uid 1000") {
		t.Errorf("another user's program: %q", why)
	}
}
