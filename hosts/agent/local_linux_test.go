package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

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
	g, err := c.Gather(GatherRequest{IPVS: true, Addresses: []string{"lo"}, Sysctls: []string{"net.ipv4.conf.all.arp_ignore", "net.ipv4.conf.all.arp_announce", "net.ipv4.conf.all.no_such_thing"}})
	if err != nil {
		t.Fatal(err)
	}
	wantSysctls := []state.Sysctl{{Key: "net.ipv4.conf.all.arp_ignore", Value: "1"}, {Key: "net.ipv4.conf.all.arp_announce", Value: "2"}}
	if diff := cmp.Diff(wantSysctls, g.Host.Sysctls); diff != "" {
		t.Errorf("sysctls (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"net.ipv4.conf.all.no_such_thing"}, g.MissingSysctl); diff != "" {
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

// Without root the agent cannot change anything, and says why.
func TestLocalAgentNotRoot(t *testing.T) {
	netnstest.RequireRoot(t)
	exe := lvsctlBinary(t)
	if err := os.Chmod(filepath.Dir(exe), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "agent", "--state-dir", t.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	c := NewClient("rs1", stdin, stdout, cmd.Wait)
	cmd.Stderr = c.Stderr()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := c.Apply([]Op{{Kind: SetSysctl, Sysctl: &state.Sysctl{Key: "net.ipv4.ip_forward", Value: "1"}}})
	if err != nil || len(res) != 1 || res[0].OK {
		t.Fatalf("got %v %+v", err, res)
	}
	t.Logf("as nobody: %s", res[0].Error.Message)
	if msg := res[0].Error.Message; !strings.Contains(msg, "net.ipv4.ip_forward") || !strings.Contains(msg, "permission denied") || !strings.Contains(msg, "must run as root") {
		t.Errorf("message %q does not say it needs root", msg)
	}
}
