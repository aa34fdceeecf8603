package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/lvsctl/lvsctl/internal/netnstest"
	"github.com/lvsctl/lvsctl/internal/state"
)

// These tests run the real lvsctl binary as the agent, through the local
// transport, on this machine's kernel (which has no IPVS), in network
// namespaces they create.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func lvsctlBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "lvsctl-agent-test")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "lvsctl")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/lvsctl/lvsctl/cmd/lvsctl").CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("building lvsctl: %v", buildErr)
	}
	return binPath
}

// netns creates a named namespace with lo up, removed when the test ends.
func netns(t *testing.T) string {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	name := "lvsctl-t-" + hex.EncodeToString(b)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v %s", err, out)
	}
	return name
}

func start(t *testing.T, l Local) *Client {
	t.Helper()
	l.Exe = lvsctlBinary(t)
	if l.StateDir == "" {
		l.StateDir = t.TempDir()
	}
	if l.Root == "" {
		l.Root = t.TempDir() // never this machine's /etc
	}
	c, err := l.Start(context.Background(), "rs1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestLocalAgentInNamespace(t *testing.T) {
	netnstest.RequireRoot(t)
	ns := netns(t)
	c := start(t, Local{Netns: ns})
	hostValue, err := os.ReadFile("/proc/sys/net/ipv4/conf/all/arp_announce")
	if err != nil {
		t.Fatal(err)
	}

	vip := state.Address{Interface: "lo", Prefix: netip.MustParsePrefix("192.0.2.10/32")}
	res, err := c.Apply([]Op{
		{Kind: SetSysctl, Sysctl: &state.Sysctl{Key: "net.ipv4.conf.all.arp_ignore", Value: "1"}},
		{Kind: SetSysctl, Sysctl: &state.Sysctl{Key: "net.ipv4.conf.all.arp_announce", Value: "2"}},
		{Kind: AddAddress, Address: &vip},
	})
	if err != nil || len(res) != 3 || !res[2].OK {
		t.Fatalf("apply: %v %+v", err, res)
	}
	g, err := c.Gather(GatherRequest{IPVS: true, Addresses: []string{"lo"}, Sysctls: []string{"net.ipv4.conf.all.arp_ignore", "net.ipv4.conf.all.arp_announce", "net.ipv4.conf.nosuch0.arp_ignore"}})
	if err != nil {
		t.Fatal(err)
	}
	wantSysctls := []state.Sysctl{{Key: "net.ipv4.conf.all.arp_ignore", Value: "1"}, {Key: "net.ipv4.conf.all.arp_announce", Value: "2"}}
	if diff := cmp.Diff(wantSysctls, g.Host.Sysctls); diff != "" {
		t.Errorf("sysctls (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"net.ipv4.conf.nosuch0.arp_ignore"}, g.MissingSysctl); diff != "" {
		t.Errorf("missing sysctls (-want +got):\n%s", diff)
	}
	found := false
	for _, a := range g.Host.Addresses {
		found = found || (a.Interface == "lo" && a.Prefix == vip.Prefix)
	}
	if !found {
		t.Errorf("192.0.2.10/32 not on lo in the namespace: %+v", g.Host.Addresses)
	}
	// The agent changed its namespace, not this one.
	if v, _ := os.ReadFile("/proc/sys/net/ipv4/conf/all/arp_announce"); string(v) != string(hostValue) {
		t.Errorf("the test's own namespace changed: arp_announce %q, was %q", v, hostValue)
	}

	// This kernel has no IPVS: gather says so, and an IPVS change is refused
	// with the sentence a person needs.
	_, statErr := os.Stat("/proc/net/ip_vs")
	if g.IPVSAvailable != (statErr == nil) {
		t.Errorf("IPVSAvailable %v, /proc/net/ip_vs: %v", g.IPVSAvailable, statErr)
	}
	if statErr != nil {
		res, err := c.Apply([]Op{{Kind: DeleteService, ServiceKey: &state.ServiceKey{Family: state.IPv4, FWMark: 1}}})
		if err != nil || len(res) != 1 || res[0].OK || !strings.Contains(res[0].Error.Message, "IPVS is not available in this kernel") {
			t.Errorf("IPVS operation on a kernel without IPVS: %v %+v", err, res)
		}
	}

	// Deleting what is not there keeps its errno, for the applier to judge.
	res, err = c.Apply([]Op{{Kind: DeleteAddress, Address: &state.Address{Interface: "lo", Prefix: netip.MustParsePrefix("192.0.2.99/32")}}})
	if err != nil || res[0].OK || res[0].Error.Errno != "EADDRNOTAVAIL" {
		t.Errorf("delete absent address: %v %+v", err, res)
	}
}

func TestLocalAgentMissingNamespace(t *testing.T) {
	netnstest.RequireRoot(t)
	c := start(t, Local{Netns: "lvsctl-no-such-ns"})
	_, err := c.Gather(GatherRequest{Routes: true})
	if err == nil || !strings.Contains(err.Error(), `network namespace "lvsctl-no-such-ns" does not exist`) || !strings.Contains(err.Error(), "host rs1") {
		t.Fatalf("got %v", err)
	}
}

func TestLocalAgentLock(t *testing.T) {
	netnstest.RequireRoot(t)
	ns := netns(t)
	dir := t.TempDir()
	a := start(t, Local{Netns: ns, StateDir: dir})
	b := start(t, Local{Netns: ns, StateDir: dir})
	if err := a.Lock(); err != nil {
		t.Fatal(err)
	}
	err := b.Lock()
	if err == nil || !strings.Contains(err.Error(), "another lvsctl holds the lock") {
		t.Fatalf("second lock: %v", err)
	}
	if err := a.Close(); err != nil { // the lock goes with the agent
		t.Fatal(err)
	}
	if err := b.Lock(); err != nil {
		t.Fatalf("lock after the holder exited: %v", err)
	}
}

func TestLocalAgentInventory(t *testing.T) {
	netnstest.RequireRoot(t)
	c := start(t, Local{Netns: netns(t)})
	inv := &state.Inventory{Sysctls: map[string]string{"net.ipv4.conf.all.arp_ignore": "0"},
		Addresses: []state.Address{{Interface: "lo", Prefix: netip.MustParsePrefix("192.0.2.10/32")}}}
	if res, err := c.Apply([]Op{{Kind: WriteInventory, Inventory: inv}}); err != nil || !res[0].OK {
		t.Fatalf("write inventory: %v %+v", err, res)
	}
	g, err := c.Gather(GatherRequest{Inventory: true})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(inv, g.Inventory, cmpopts.EquateComparable(netip.Prefix{})); diff != "" {
		t.Errorf("inventory (-want +got):\n%s", diff)
	}
}

// Without root the agent cannot change anything, and says why: when it cannot
// write the inventory ahead, the request is refused with nothing done; when it
// can (a state directory open to it), the change itself fails.
func TestLocalAgentNotRoot(t *testing.T) {
	netnstest.RequireRoot(t)
	exe := lvsctlBinary(t)
	if err := os.Chmod(filepath.Dir(exe), 0o755); err != nil {
		t.Fatal(err)
	}
	asNobody := func(t *testing.T, stateDir string) *Client {
		cmd := exec.Command(exe, "agent", "--state-dir", stateDir)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		c := NewClient("rs1", stdin, stdout, cmd.Wait)
		cmd.Stderr = c.Stderr()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	set := []Op{{Kind: SetSysctl, Sysctl: &state.Sysctl{Key: "net.ipv4.ip_forward", Value: "1"}}}
	needsRoot := func(t *testing.T, msg string) {
		t.Helper()
		t.Logf("as nobody: %s", msg)
		if !strings.Contains(msg, "net.ipv4.ip_forward") || !strings.Contains(msg, "permission denied") || !strings.Contains(msg, "must run as root") {
			t.Errorf("message %q does not say it needs root", msg)
		}
	}

	t.Run("state directory closed", func(t *testing.T) {
		res, err := asNobody(t, t.TempDir()).Apply(set)
		if err == nil || len(res) != 0 || !strings.Contains(err.Error(), "refused, nothing done") {
			t.Fatalf("got %v %+v", err, res)
		}
		needsRoot(t, err.Error())
	})
	t.Run("state directory open", func(t *testing.T) {
		dir, err := os.MkdirTemp("", "lvsctl-nobody")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		if err := os.Chmod(dir, 0o777); err != nil {
			t.Fatal(err)
		}
		res, err := asNobody(t, dir).Apply(set)
		if err != nil || len(res) != 1 || res[0].OK {
			t.Fatalf("got %v %+v", err, res)
		}
		needsRoot(t, res[0].Error.Message)
	})
}

// readInventoryFile reads the agent's inventory for namespace ns from dir, as
// it is on disk; nil when there is none.
func readInventoryFile(t *testing.T, dir, ns string) (*state.Inventory, os.FileInfo) {
	t.Helper()
	path := filepath.Join(dir, "inventory-netns-"+ns+".json")
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	inv := new(state.Inventory)
	if err := json.Unmarshal(b, inv); err != nil {
		t.Fatalf("inventory on disk: %v\n%s", err, b)
	}
	return inv, fi
}

func sysctlIn(t *testing.T, c *Client, key string) string {
	t.Helper()
	g, err := c.Gather(GatherRequest{Sysctls: []string{key}})
	if err != nil || len(g.Host.Sysctls) != 1 {
		t.Fatalf("gather %s: %v %+v", key, err, g)
	}
	return g.Host.Sysctls[0].Value
}

func sameInventory(t *testing.T, want, got *state.Inventory) {
	t.Helper()
	if diff := cmp.Diff(want, got, cmpopts.EquateComparable(netip.Prefix{}, netip.Addr{})); diff != "" {
		t.Errorf("inventory on disk (-want +got):\n%s", diff)
	}
}

// The agent writes the inventory ahead of the changes of each apply request:
// what the request creates, and each sysctl's value from before lvsctl, are
// on disk before the first change, whatever happens after it.
func TestLocalAgentWriteAhead(t *testing.T) {
	netnstest.RequireRoot(t)
	ns := netns(t)
	dir := t.TempDir()
	c := start(t, Local{Netns: ns, StateDir: dir})
	const a = "net.ipv4.conf.all.arp_ignore"
	orig := sysctlIn(t, c, a)
	vip10 := state.Address{Interface: "lo", Prefix: netip.MustParsePrefix("192.0.2.10/32")}
	vip11 := state.Address{Interface: "lo", Prefix: netip.MustParsePrefix("192.0.2.11/32")}

	// (a) A is set, then a sysctl this kernel lacks fails: A's value from
	// before is recorded, and so is every intent of the request, the address
	// that was never added too.
	res, err := c.Apply([]Op{
		{Kind: SetSysctl, Sysctl: &state.Sysctl{Key: a, Value: "1"}},
		{Kind: AddAddress, Address: &vip10},
		{Kind: SetSysctl, Sysctl: &state.Sysctl{Key: "net.ipv4.conf.lvsctl0.arp_ignore", Value: "1"}},
		{Kind: AddAddress, Address: &vip11},
	})
	if err != nil || len(res) != 3 || !res[0].OK || !res[1].OK || res[2].OK {
		t.Fatalf("apply: %v %+v", err, res)
	}
	if v := sysctlIn(t, c, a); v != "1" {
		t.Fatalf("%s is %q after the apply, want 1", a, v)
	}
	want := &state.Inventory{Sysctls: map[string]string{a: orig}, Addresses: []state.Address{vip10, vip11}}
	inv, fi1 := readInventoryFile(t, dir, ns)
	sameInventory(t, want, inv)

	// (b) A set again, to another value: its original stays, and as nothing
	// new is owned, the file is not written.
	if res, err := c.Apply([]Op{{Kind: SetSysctl, Sysctl: &state.Sysctl{Key: a, Value: "2"}}}); err != nil || !res[0].OK {
		t.Fatalf("apply: %v %+v", err, res)
	}
	inv, fi2 := readInventoryFile(t, dir, ns)
	sameInventory(t, want, inv)
	if !os.SameFile(fi1, fi2) || !fi1.ModTime().Equal(fi2.ModTime()) {
		t.Errorf("setting an owned sysctl again rewrote the inventory")
	}

	// (c) Weights, deletes and other updates write nothing (this kernel may
	// lack IPVS: the operations fail, but the write-ahead comes first).
	web := state.ServiceKey{Family: state.IPv4, Protocol: state.TCP, Addr: netip.MustParseAddr("192.0.2.10"), Port: 80}
	dest := &state.Destination{Addr: netip.MustParseAddrPort("192.0.2.101:80"), Weight: 7, Forward: state.DR}
	for _, ops := range [][]Op{
		{{Kind: UpdateDest, ServiceKey: &web, Dest: dest}},
		{{Kind: DeleteAddress, Address: &vip11}},
		{{Kind: AddAddress, Address: &vip10}}, // owned already (and there: EEXIST)
	} {
		if _, err := c.Apply(ops); err != nil {
			t.Fatalf("%s: %v", ops[0], err)
		}
		_, fi3 := readInventoryFile(t, dir, ns)
		if !os.SameFile(fi1, fi3) || !fi1.ModTime().Equal(fi3.ModTime()) {
			t.Errorf("%s rewrote the inventory", ops[0])
		}
	}

	// inventory.write still replaces the inventory whole (the applier's last
	// step, and its rollback's restore), and the next write-ahead merges into
	// what it wrote.
	restored := &state.Inventory{Links: []string{"lo"}}
	if res, err := c.Apply([]Op{{Kind: WriteInventory, Inventory: restored}}); err != nil || !res[0].OK {
		t.Fatalf("write inventory: %v %+v", err, res)
	}
	inv, _ = readInventoryFile(t, dir, ns)
	sameInventory(t, restored, inv)
	if res, err := c.Apply([]Op{{Kind: SetSysctl, Sysctl: &state.Sysctl{Key: a, Value: "1"}}}); err != nil || !res[0].OK {
		t.Fatalf("apply: %v %+v", err, res)
	}
	inv, _ = readInventoryFile(t, dir, ns)
	sameInventory(t, &state.Inventory{Links: []string{"lo"}, Sysctls: map[string]string{a: "2"}}, inv)
}

// With no inventory yet, a request that creates nothing leaves none; a
// damaged inventory refuses requests that create, and only those.
func TestLocalAgentWriteAheadNothingAndDamaged(t *testing.T) {
	netnstest.RequireRoot(t)
	ns := netns(t)
	dir := t.TempDir()
	c := start(t, Local{Netns: ns, StateDir: dir})
	vip := state.Address{Interface: "lo", Prefix: netip.MustParsePrefix("192.0.2.10/32")}
	if _, err := c.Apply([]Op{{Kind: DeleteAddress, Address: &vip}}); err != nil {
		t.Fatal(err)
	}
	if inv, _ := readInventoryFile(t, dir, ns); inv != nil {
		t.Errorf("a delete created an inventory: %+v", inv)
	}
	path := filepath.Join(dir, "inventory-netns-"+ns+".json")
	if err := os.WriteFile(path, []byte(`{"services": [`), 0o600); err != nil {
		t.Fatal(err)
	}
	if res, err := c.Apply([]Op{{Kind: DeleteAddress, Address: &vip}}); err != nil || len(res) != 1 {
		t.Errorf("a delete with a damaged inventory: %v %+v", err, res)
	}
	res, err := c.Apply([]Op{{Kind: AddAddress, Address: &vip}})
	if err == nil || len(res) != 0 || !strings.Contains(err.Error(), "refused, nothing done") || !strings.Contains(err.Error(), "is damaged") {
		t.Fatalf("an add with a damaged inventory: %v %+v", err, res)
	}
	g, err := c.Gather(GatherRequest{Addresses: []string{"lo"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range g.Host.Addresses {
		if a.Prefix == vip.Prefix {
			t.Errorf("the refused request added %s", a.Prefix)
		}
	}
}

var (
	hookedOnce sync.Once
	hookedPath string
	hookedErr  error
)

// hookedBinary is lvsctl built with the test hooks (hook_on.go).
func hookedBinary(t *testing.T) string {
	t.Helper()
	hookedOnce.Do(func() {
		dir, err := os.MkdirTemp("", "lvsctl-agent-test-hooked")
		if err != nil {
			hookedErr = err
			return
		}
		hookedPath = filepath.Join(dir, "lvsctl")
		out, err := exec.Command("go", "build", "-tags", "lvsctl_testhooks", "-o", hookedPath, "github.com/lvsctl/lvsctl/cmd/lvsctl").CombinedOutput()
		if err != nil {
			hookedErr = errors.New(string(out))
		}
	})
	if hookedErr != nil {
		t.Fatalf("building lvsctl with test hooks: %v", hookedErr)
	}
	return hookedPath
}

// (d) An agent killed with SIGKILL after its write-ahead and before its first
// change leaves the inventory with the intents and the originals, and the
// host unchanged; the next agent reads them, and a retry keeps the original.
func TestLocalAgentKilledAfterWriteAhead(t *testing.T) {
	netnstest.RequireRoot(t)
	ns := netns(t)
	dir := t.TempDir()
	pidFile := filepath.Join(t.TempDir(), "paused")
	t.Setenv("LVSCTL_TEST_PAUSE_AFTER_WAL", pidFile)

	plain := start(t, Local{Netns: ns, StateDir: dir})
	const a = "net.ipv4.conf.all.arp_announce"
	orig := sysctlIn(t, plain, a)
	if orig == "2" {
		t.Fatalf("%s is already 2 in a fresh namespace", a)
	}

	exe := hookedBinary(t)
	c, err := Local{Netns: ns, StateDir: dir, Exe: exe}.Start(context.Background(), "rs1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	vip := state.Address{Interface: "lo", Prefix: netip.MustParsePrefix("192.0.2.10/32")}
	done := make(chan error, 1)
	go func() {
		_, err := c.Apply([]Op{
			{Kind: SetSysctl, Sysctl: &state.Sysctl{Key: a, Value: "2"}},
			{Kind: AddAddress, Address: &vip},
		})
		done <- err
	}()
	var pid int
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(pidFile)
		if err == nil {
			if pid, err = strconv.Atoi(string(b)); err != nil {
				t.Fatalf("pid file: %q", b)
			}
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the apply ended without pausing: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the agent did not pause after its write-ahead")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill %d: %v", pid, err)
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "host rs1") {
			t.Errorf("apply to a killed agent: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the apply did not end after its agent was killed")
	}

	inv, _ := readInventoryFile(t, dir, ns)
	sameInventory(t, &state.Inventory{Sysctls: map[string]string{a: orig}, Addresses: []state.Address{vip}}, inv)
	if v := sysctlIn(t, plain, a); v != orig {
		t.Errorf("%s is %q: the killed agent changed it", a, v)
	}

	// The next agent reads the inventory as written ahead; a retry of the
	// apply changes the value and keeps the original.
	next := start(t, Local{Netns: ns, StateDir: dir})
	g, err := next.Gather(GatherRequest{Inventory: true})
	if err != nil {
		t.Fatal(err)
	}
	sameInventory(t, inv, g.Inventory)
	if res, err := next.Apply([]Op{{Kind: SetSysctl, Sysctl: &state.Sysctl{Key: a, Value: "2"}}, {Kind: AddAddress, Address: &vip}}); err != nil || len(res) != 2 || !res[1].OK {
		t.Fatalf("retry: %v %+v", err, res)
	}
	inv2, _ := readInventoryFile(t, dir, ns)
	sameInventory(t, inv, inv2)
}
