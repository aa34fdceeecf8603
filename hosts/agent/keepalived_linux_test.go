package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lvsctl/lvsctl/internal/keepalived"
	"github.com/lvsctl/lvsctl/internal/netnstest"
	"github.com/lvsctl/lvsctl/internal/op"
	"github.com/lvsctl/lvsctl/internal/state"
)

// fakeKeepalived is a program named keepalived: with -t it refuses a file
// that names interface eth9 (as keepalived does an interface the host
// lacks), and otherwise it runs as a daemon that writes its pid where the
// agent maps pidFile and counts the SIGHUPs it gets.
const fakeKeepalived = `#!/bin/sh
if [ "$1" = "-t" ]; then
	if grep -q "interface eth9" "$3"; then
		printf '(%s: Line 7) WARNING - interface eth9 for vrrp_instance lvs doesn'"'"'t exist\033[2J\nNon-existent interface specified in configuration\n' "$3"
		exit 5
	fi
	exit 0
fi
trap 'echo hup >> "$HUPS"' HUP
echo $$ > "$PIDFILE"
while :; do sleep 0.05; done
`

func kaSpec(program string, weight uint32) *state.Keepalived {
	return &state.Keepalived{Config: "/etc/keepalived/keepalived.conf", PidFile: "/etc/keepalived/keepalived.pid", Program: program,
		RouterName: "d1", Pair: "lvs",
		VRRP: state.VRRPInstance{Name: "lvs", Master: true, Interface: "eth0", RouterID: 51, Priority: 150,
			VIPs: []netip.Prefix{netip.MustParsePrefix("192.168.0.10/32")}},
		Services: []state.CheckedService{{DelayLoop: 1, Checks: []state.Check{{Type: "tcp", Timeout: 1, Retry: 1}},
			Service: state.Service{Key: state.ServiceKey{Family: state.IPv4, Protocol: state.TCP, Addr: netip.MustParseAddr("192.168.0.10"), Port: 80},
				Scheduler: "wrr", Dests: []*state.Destination{{Addr: netip.MustParseAddrPort("192.168.0.101:80"), Weight: weight, Forward: state.DR}}}}},
	}
}

func writeOp(k *state.Keepalived) Op {
	return Op{Kind: op.WriteKeepalived, Keepalived: &op.Keepalived{Spec: k, Path: k.Config, PidFile: k.PidFile, Program: k.Program}}
}

// The agent renders keepalived's configuration itself, checks it with the
// program's -t under a temporary name, keeps a copy, reloads keepalived
// with SIGHUP, refuses what -t refuses with the file untouched, and puts
// back only its own copy of what the plan read.
func TestKeepalivedWriteCheckReloadRevert(t *testing.T) {
	netnstest.RequireRoot(t) // the program must be root's
	root, stateDir := t.TempDir(), t.TempDir()
	// The program's folder: root's and writable by no one else, and not
	// under /tmp, as the agent requires.
	bin, err := os.MkdirTemp("/var/lib", "lvsctl-katest-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(bin)
	os.Chmod(bin, 0o755)
	prog := filepath.Join(bin, "keepalived")
	if err := os.WriteFile(prog, []byte(fakeKeepalived), 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := newLinux(BackendOptions{StateDir: stateDir, Netns: "d1", Root: root})
	if err != nil {
		t.Fatal(err)
	}
	confDir := filepath.Join(root, "etc/netns/d1/keepalived")
	conf := filepath.Join(confDir, "keepalived.conf")
	req := &KeepalivedRequest{Config: "/etc/keepalived/keepalived.conf", PidFile: "/etc/keepalived/keepalived.pid"}
	g, err := l.gatherKeepalived(req)
	if err != nil || g.Exists || g.Running {
		t.Fatalf("before anything: %+v, %v", g, err)
	}

	// Not running: the file is written, nothing is signalled.
	v1 := kaSpec(prog, 1)
	if err := checkOp(writeOp(v1)); err != nil {
		t.Fatal(err)
	}
	if err := l.Apply(writeOp(v1)); err != nil {
		t.Fatal(err)
	}
	want1, _ := keepalived.Render(v1)
	if b, _ := os.ReadFile(conf); string(b) != string(want1) {
		t.Fatalf("written:\n%s\nwant:\n%s", b, want1)
	}

	// keepalived runs (its pid file where ip netns exec d1 shows
	// /etc/keepalived): gather sees it, a write reloads it.
	hups := filepath.Join(bin, "hups")
	daemon := exec.Command(prog)
	daemon.Env = append(os.Environ(), "HUPS="+hups, "PIDFILE="+filepath.Join(confDir, "keepalived.pid"))
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { daemon.Process.Kill(); daemon.Wait() }()
	waitFor(t, func() bool { g, _ := l.gatherKeepalived(req); return g != nil && g.Running }, "the fake keepalived to run")
	g, _ = l.gatherKeepalived(req)
	if !g.Exists || g.Content != string(want1) {
		t.Errorf("gathered %+v", g)
	}
	v2 := kaSpec(prog, 5)
	if err := l.Apply(writeOp(v2)); err != nil {
		t.Fatal(err)
	}
	want2, _ := keepalived.Render(v2)
	if b, _ := os.ReadFile(conf); string(b) != string(want2) {
		t.Errorf("after the second write:\n%s", b)
	}
	waitFor(t, func() bool { b, _ := os.ReadFile(hups); return strings.Count(string(b), "hup") == 1 }, "one SIGHUP")

	// keepalived -t refuses: the file stays, nothing is signalled, no
	// temporary file is left, and the message is keepalived's, cleaned.
	bad := kaSpec(prog, 5)
	bad.VRRP.Interface = "eth9"
	err = l.Apply(writeOp(bad))
	if err == nil || !strings.Contains(err.Error(), "keepalived -t refused the new configuration") ||
		!strings.Contains(err.Error(), "(/etc/keepalived/keepalived.conf: Line 7) WARNING - interface eth9") || strings.Contains(err.Error(), "\x1b") {
		t.Errorf("a refused configuration: %v", err)
	}
	if b, _ := os.ReadFile(conf); string(b) != string(want2) {
		t.Errorf("the refused write changed the file:\n%s", b)
	}
	if entries, _ := os.ReadDir(confDir); len(entries) != 2 {
		t.Errorf("the folder holds %v", entries)
	}

	// Revert to what the plan read before the second write.
	sum := sha256.Sum256(want1)
	wrong := Op{Kind: op.RevertKeepalived, Keepalived: &op.Keepalived{Path: v1.Config, PidFile: v1.PidFile, Existed: true, SHA256: strings.Repeat("0", 64)}}
	if err := l.Apply(wrong); err == nil || !strings.Contains(err.Error(), "not what the plan read") {
		t.Errorf("a revert with another hash: %v", err)
	}
	revert := Op{Kind: op.RevertKeepalived, Keepalived: &op.Keepalived{Path: v1.Config, PidFile: v1.PidFile, Existed: true, SHA256: hex.EncodeToString(sum[:])}}
	if err := checkOp(revert); err != nil {
		t.Fatal(err)
	}
	if err := l.Apply(revert); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(conf); string(b) != string(want1) {
		t.Errorf("reverted:\n%s", b)
	}
	waitFor(t, func() bool { b, _ := os.ReadFile(hups); return strings.Count(string(b), "hup") == 2 }, "a second SIGHUP")

	// Removed (keepalived is not reloaded), then put back by a revert.
	rm := Op{Kind: op.RemoveKeepalived, Keepalived: &op.Keepalived{Path: v1.Config, PidFile: v1.PidFile}}
	if err := checkOp(rm); err != nil {
		t.Fatal(err)
	}
	if err := l.Apply(rm); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(conf); err == nil {
		t.Error("the file is still there")
	}
	time.Sleep(200 * time.Millisecond)
	if b, _ := os.ReadFile(hups); strings.Count(string(b), "hup") != 2 {
		t.Errorf("a removal reloaded keepalived: %q", b)
	}
	if err := l.Apply(revert); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(conf); string(b) != string(want1) {
		t.Errorf("put back after the removal:\n%s", b)
	}
	waitFor(t, func() bool { b, _ := os.ReadFile(hups); return strings.Count(string(b), "hup") == 3 }, "a third SIGHUP")

	// The write is recorded ahead in the inventory.
	if !needsWriteAhead([]Op{writeOp(v1)}) {
		t.Error("a keepalived write needs no write-ahead")
	}
	next, news, err := writeAhead(&state.Inventory{}, []Op{writeOp(v1)}, nil)
	if err != nil || !next.HasKeepalived(v1.Config) || len(news) != 1 {
		t.Errorf("write-ahead: %+v %v %v", next, news, err)
	}

	// A pid file naming a process that is not keepalived: not running, not
	// signalled.
	os.WriteFile(filepath.Join(confDir, "keepalived.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644)
	if g, _ := l.gatherKeepalived(req); g.Running {
		t.Error("the test process counts as keepalived")
	}

	// What the agent refuses before anything runs.
	for name, o := range map[string]Op{
		"another program":    writeOp(kaSpec("/bin/sh", 1)),
		"a program in /tmp":  writeOp(kaSpec("/tmp/keepalived", 1)),
		"a config elsewhere": {Kind: op.WriteKeepalived, Keepalived: &op.Keepalived{Spec: func() *state.Keepalived { k := kaSpec(prog, 1); k.Config = "/etc/passwd"; return k }(), Path: "/etc/passwd", PidFile: v1.PidFile}},
		"paths that differ":  {Kind: op.WriteKeepalived, Keepalived: &op.Keepalived{Spec: kaSpec(prog, 1), Path: "/etc/keepalived/other.conf", PidFile: v1.PidFile}},
		"a misc check": writeOp(func() *state.Keepalived {
			k := kaSpec(prog, 1)
			k.Services[0].Checks[0] = state.Check{Type: "misc", Timeout: 1}
			return k
		}()),
		"a pid file in /etc": {Kind: op.RevertKeepalived, Keepalived: &op.Keepalived{Path: v1.Config, PidFile: "/etc/shadow"}},
		"no spec":            {Kind: op.WriteKeepalived, Keepalived: &op.Keepalived{Path: v1.Config, PidFile: v1.PidFile}},
	} {
		if err := checkOp(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A program someone else could replace.
	os.Chmod(bin, 0o777)
	if err := l.Apply(writeOp(kaSpec(prog, 7))); err == nil || !strings.Contains(err.Error(), "written by group or others") {
		t.Errorf("a program in a folder others can write: %v", err)
	}
	os.Chmod(bin, 0o755)
	if b, _ := os.ReadFile(conf); string(b) != string(want1) {
		t.Errorf("a refused write changed the file")
	}
}

func waitFor(t *testing.T, ok func() bool, what string) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if ok() {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("waited 5 s for %s", what)
}

// What a host says about keepalived's configuration is held to what was
// asked: the file asked for, bounded, and nothing unasked.
func TestKeepalivedAnswerChecked(t *testing.T) {
	req := GatherRequest{Keepalived: &KeepalivedRequest{Config: "/etc/keepalived/keepalived.conf", PidFile: "/run/keepalived.pid"}}
	ok := &state.KeepalivedFile{Path: "/etc/keepalived/keepalived.conf", Exists: true, Content: "global_defs {}\n", Running: true}
	if err := checkGathered(req, &Gathered{Host: &state.Host{}, Keepalived: ok}); err != nil {
		t.Errorf("a good answer: %v", err)
	}
	for name, tc := range map[string]struct {
		req GatherRequest
		k   *state.KeepalivedFile
	}{
		"missing":            {req, nil},
		"another file":       {req, &state.KeepalivedFile{Path: "/etc/passwd", Exists: true}},
		"too large":          {req, &state.KeepalivedFile{Path: ok.Path, Exists: true, Content: strings.Repeat("x", maxKeepalivedFile+1)}},
		"content of nothing": {req, &state.KeepalivedFile{Path: ok.Path, Content: "x"}},
		"not asked":          {GatherRequest{}, ok},
	} {
		if err := checkGathered(tc.req, &Gathered{Host: &state.Host{}, Keepalived: tc.k}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
