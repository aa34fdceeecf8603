package sysctl

import (
	"errors"
	"github.com/lvsctl/lvsctl/internal/netnstest"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/lvsctl/lvsctl/internal/state"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func TestPath(t *testing.T) {
	for key, want := range map[string]string{
		"net.ipv4.ip_forward":              "net/ipv4/ip_forward",
		"net.ipv4.conf.eth0.rp_filter":     "net/ipv4/conf/eth0/rp_filter",
		"net.ipv4.conf.all.arp_announce":   "net/ipv4/conf/all/arp_announce",
		"net.ipv6.conf.ens33-1.forwarding": "net/ipv6/conf/ens33-1/forwarding",
		// A VLAN: sysctl(8) writes the dot of its name as "/".
		"net.ipv4.conf.eth0/100.arp_ignore":    "net/ipv4/conf/eth0.100/arp_ignore",
		"net.ipv6.conf.bond0/10/20.forwarding": "net/ipv6/conf/bond0.10.20/forwarding",
	} {
		if got := path(key); got != want {
			t.Errorf("path(%q) = %q, want %q", key, got, want)
		}
	}
}

// Refused keys and values never reach the filesystem: openProcSys, the only
// way in, is replaced by one that records being called.
func TestRefusedBeforeTheFilesystem(t *testing.T) {
	opened := 0
	saved := openProcSys
	t.Cleanup(func() { openProcSys = saved })
	openProcSys = func() (*os.Root, error) {
		opened++
		return nil, errors.New("the filesystem was reached")
	}
	for _, tc := range []struct {
		key, value string
		want       string // part of the message
	}{
		{key: "../../etc/passwd", want: `empty component`},
		{key: "net/ipv4/ip_forward", want: `contains "/"`},
		{key: "net.ipv4.conf.eth0/../arp_ignore", want: `empty component`},
		{key: "net.ipv4.conf.eth0/.arp_ignore", want: `empty component`},
		{key: "net.ipv4.conf.//.arp_ignore", want: `contains "/"`},
		{key: "net.ipv4.conf.a//b.arp_ignore", want: `contains "/"`},
		{key: "net.ipv4.vs/x.am_droprate", want: `contains "/" outside an interface name`},
		{key: "net.ipv4.conf.eth0/100", want: `contains "/" outside an interface name`},
		{key: "net.ipv4..ip_forward", want: `empty component`},
		{key: "net.ipv4.conf.lo.arp_ignore.", want: `empty component`},
		{key: "kernel.core_pattern", value: "|/bin/sh", want: `"kernel.core_pattern" is not one lvsctl manages`},
		{key: "fs.suid_dumpable", want: `is not one lvsctl manages`},
		{key: "", want: `sysctl key is empty`},
		{key: "net.core.bpf_jit_harden", value: "0", want: `kernel-hardening setting`},
		// Reading is checked by shape only (an old inventory may name such a
		// key); writing needs the policy.
		{key: "net.ipv4.ip_local_port_range", value: "1024 65000", want: `is not one lvsctl manages`},
		{key: "net.ipv4.conf.lo", value: "1", want: `is not one lvsctl manages`},
		{key: "net.ipv4.conf.lo.arp_ignore", value: "1\nkernel.core_pattern=|/bin/sh", want: "control or non-ASCII"},
		{key: "net.ipv4.conf.lo.arp_ignore", value: strings.Repeat("1", 257), want: "longer than 256"},
	} {
		var err error
		if tc.value == "" {
			_, err = Read(tc.key)
		} else {
			err = Write(tc.key, tc.value)
		}
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("key %q value %q: error %v, want one wrapping ErrInvalid and saying %q", tc.key, tc.value, err, tc.want)
		}
		if tc.value == "" {
			if err := Write(tc.key, "1"); !errors.Is(err, ErrInvalid) {
				t.Errorf("Write(%q): error %v, want one wrapping ErrInvalid", tc.key, err)
			}
		}
	}
	if _, errs := ReadMany([]string{"kernel.core_pattern", "net.ipv4.../x"}); len(errs) != 2 {
		t.Errorf("ReadMany of two refused keys: errors %v, want two", errs)
	}
	if opened != 0 {
		t.Errorf("/proc/sys was opened %d times for refused keys", opened)
	}
}

func TestReadWrite(t *testing.T) {
	netnstest.Enter(t)
	const key = "net.ipv4.conf.lo.arp_ignore"
	if got, err := Read(key); err != nil || got != "0" {
		t.Fatalf("Read(%s) in a fresh namespace = %q, %v; want \"0\", nil", key, got, err)
	}
	for _, v := range []string{"1", "2", "8", "0"} {
		if err := Write(key, v); err != nil {
			t.Fatalf("Write(%s, %s): %v", key, v, err)
		}
		if got, err := Read(key); err != nil || got != v {
			t.Errorf("after Write(%s, %s), Read = %q, %v", key, v, got, err)
		}
	}
}

// A VLAN's key in sysctl(8)'s form (net.ipv4.conf.eth0/100.arp_ignore)
// reaches /proc/sys/net/ipv4/conf/eth0.100 and no other interface's file:
// the namespace holds eth0 too, and its value stays as it was.
func TestDottedInterface(t *testing.T) {
	netnstest.Enter(t)
	// The host kernel has neither VLANs nor dummies: a veth pair carries
	// the names (the kernel's conf directory is named by the device alone).
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0"}, PeerName: "eth0.100"}); err != nil {
		t.Fatalf("add veth eth0 and eth0.100: %v", err)
	}
	const key = "net.ipv4.conf.eth0/100.arp_ignore"
	if err := Write(key, "1"); err != nil {
		t.Fatalf("Write(%s, 1): %v", key, err)
	}
	if got, err := Read(key); err != nil || got != "1" {
		t.Errorf("Read(%s) = %q, %v; want \"1\"", key, got, err)
	}
	b, err := os.ReadFile("/proc/sys/net/ipv4/conf/eth0.100/arp_ignore")
	if err != nil || string(b) != "1\n" {
		t.Errorf("/proc/sys/net/ipv4/conf/eth0.100/arp_ignore = %q, %v; want \"1\\n\"", b, err)
	}
	if got, err := Read("net.ipv4.conf.eth0.arp_ignore"); err != nil || got != "0" {
		t.Errorf("eth0's own arp_ignore = %q, %v; want it left at \"0\"", got, err)
	}
	// The same name written with a dot is refused, naming sysctl(8)'s form.
	if err := Write("net.ipv4.conf.eth0.100.arp_ignore", "1"); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "net.ipv4.conf.eth0/100.arp_ignore") {
		t.Errorf("Write with the dotted name: %v, want a refusal naming net.ipv4.conf.eth0/100.arp_ignore", err)
	}
}

// Values of several fields come back as the kernel prints them, tabs and
// all. The policy's only such key is net.ipv4.vs.sync_threshold, which needs
// IPVS, so a directory stands in for /proc/sys.
func TestReadKeepsTabs(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(dir+"/net/ipv4/vs", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/net/ipv4/vs/sync_threshold", []byte("3\t50\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	saved := openProcSys
	t.Cleanup(func() { openProcSys = saved })
	openProcSys = func() (*os.Root, error) { return os.OpenRoot(dir) }
	if got, err := Read("net.ipv4.vs.sync_threshold"); err != nil || got != "3\t50" {
		t.Errorf("sync_threshold = %q, %v; want \"3\\t50\"", got, err)
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		do      func() error
		msg     string
		targets []error
	}{{
		name:    "read a key this kernel lacks",
		do:      func() error { _, err := Read("net.ipv4.conf.nosuch0.arp_ignore"); return err },
		msg:     "sysctl net.ipv4.conf.nosuch0.arp_ignore does not exist on this kernel",
		targets: []error{ErrNoSuchSysctl, unix.ENOENT},
	}, {
		name:    "write a key this kernel lacks",
		do:      func() error { return Write("net.ipv4.conf.nosuch0.arp_ignore", "1") },
		msg:     "sysctl net.ipv4.conf.nosuch0.arp_ignore does not exist on this kernel",
		targets: []error{ErrNoSuchSysctl, unix.ENOENT},
	}, {
		name:    "an interface this namespace lacks",
		do:      func() error { _, err := Read("net.ipv4.conf.eth0.rp_filter"); return err },
		msg:     "sysctl net.ipv4.conf.eth0.rp_filter does not exist on this kernel",
		targets: []error{ErrNoSuchSysctl},
	}, {
		name:    "a value the kernel rejects",
		do:      func() error { return Write("net.ipv4.conf.lo.arp_ignore", "abc") },
		msg:     "write sysctl net.ipv4.conf.lo.arp_ignore=abc: invalid argument",
		targets: []error{unix.EINVAL},
	}, {
		name:    "a key read-only outside the initial namespace",
		do:      func() error { return Write("net.netfilter.nf_conntrack_buckets", "1") },
		msg:     "write sysctl net.netfilter.nf_conntrack_buckets=1: permission denied",
		targets: []error{unix.EACCES},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			netnstest.Enter(t) // each subtest runs on its own goroutine and thread
			err := tc.do()
			if err == nil || err.Error() != tc.msg {
				t.Errorf("error %v, want %q", err, tc.msg)
			}
			for _, target := range tc.targets {
				if !errors.Is(err, target) {
					t.Errorf("error %v does not wrap %v", err, target)
				}
			}
			if errors.Is(err, ErrInvalid) {
				t.Errorf("error %v wraps ErrInvalid, but the key was allowed", err)
			}
		})
	}
}

func TestReadMany(t *testing.T) {
	netnstest.Enter(t)
	if err := Write("net.ipv4.conf.all.arp_announce", "2"); err != nil {
		t.Fatal(err)
	}
	got, errs := ReadMany([]string{"net.ipv4.conf.all.arp_announce", "net.ipv4.conf.nosuch0.arp_ignore", "net.ipv4.conf.lo.arp_ignore", "kernel.hostname"})
	want := []state.Sysctl{
		{Key: "net.ipv4.conf.all.arp_announce", Value: "2"},
		{Key: "net.ipv4.conf.lo.arp_ignore", Value: "0"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ReadMany values (-want +got):\n%s", diff)
	}
	if len(errs) != 2 || !errors.Is(errs["net.ipv4.conf.nosuch0.arp_ignore"], ErrNoSuchSysctl) || !errors.Is(errs["kernel.hostname"], ErrInvalid) {
		t.Errorf("ReadMany errors = %v, want net.ipv4.conf.nosuch0.arp_ignore: no such sysctl and kernel.hostname: not allowed", errs)
	}
	if got, errs := ReadMany(nil); got != nil || errs != nil {
		t.Errorf("ReadMany(nil) = %v, %v; want nil, nil", got, errs)
	}
}

// /proc/sys/net follows the namespace of the thread that opens it: a write in
// the test's namespace leaves the original namespace's value alone.
func TestNamespaceIsolation(t *testing.T) {
	inOriginal := netnstest.Enter(t)
	const key = "net.ipv4.conf.lo.arp_ignore"
	var before string
	inOriginal(func() {
		var err error
		if before, err = Read(key); err != nil {
			t.Fatal(err)
		}
	})
	v := "1"
	if before == "1" {
		v = "2"
	}
	if err := Write(key, v); err != nil {
		t.Fatal(err)
	}
	if got, err := Read(key); err != nil || got != v {
		t.Fatalf("in the test's namespace %s = %q, %v; want %q", key, got, err, v)
	}
	inOriginal(func() {
		if after, err := Read(key); err != nil || after != before {
			t.Errorf("in the original namespace %s = %q, %v; it was %q before the test's write", key, after, err, before)
		}
	})
}
