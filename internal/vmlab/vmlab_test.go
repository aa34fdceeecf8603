package vmlab

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// run boots one scenario, failing the test if it could not run, and logs
// the boot-run-poweroff time.
func run(t *testing.T, s Scenario) *Result {
	t.Helper()
	Require(t)
	r, err := Run(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("scenario %s: boot-run-poweroff %s, exit %d", s.Name, r.Duration.Round(1e6), r.ExitCode)
	return r
}

func wantExit(t *testing.T, r *Result, code int) {
	t.Helper()
	if r.ExitCode != code {
		t.Fatalf("exit status %d, want %d\nstdout:\n%s\nstderr:\n%s\nconsole:\n%s", r.ExitCode, code, r.Stdout, r.Stderr, r.Console)
	}
}

func TestIPVS(t *testing.T) {
	r := run(t, Scenario{
		Name:    "ipvs",
		Modules: []string{"ip_vs", "ip_vs_wrr"},
		Script: `set -e
head -n 1 /proc/net/ip_vs
ipvsadm -A -t 10.0.0.1:80 -s wrr
ipvsadm -a -t 10.0.0.1:80 -r 10.0.0.2:80 -g -w 3
ipvsadm -S -n > /out/saved
ipvsadm -C
ipvsadm -R < /out/saved
ipvsadm -S -n > /out/restored
nft add table inet vmlab
nft list tables
`,
	})
	wantExit(t, r, 0)
	if !strings.Contains(r.Stdout, "IP Virtual Server version 1.2.1") {
		t.Errorf("/proc/net/ip_vs says %q", r.Stdout)
	}
	saved := string(r.Files["saved"])
	for _, line := range []string{"-A -t 10.0.0.1:80 -s wrr", "-a -t 10.0.0.1:80 -r 10.0.0.2:80 -g -w 3"} {
		if !strings.Contains(saved, line+"\n") {
			t.Errorf("ipvsadm -S -n has no line %q:\n%s", line, saved)
		}
	}
	if restored := string(r.Files["restored"]); restored != saved {
		t.Errorf("after -C and -R, ipvsadm -S -n says\n%s\nwant\n%s", restored, saved)
	}
	if !strings.Contains(r.Stdout, "table inet vmlab") {
		t.Errorf("nft list tables: %q", r.Stdout)
	}
}

func TestFilesComeBackExact(t *testing.T) {
	big := make([]byte, 1<<20)
	rng := rand.NewChaCha8([32]byte{1})
	rng.Read(big)
	r := run(t, Scenario{
		Name:    "files",
		Modules: []string{},
		Files:   map[string][]byte{"/in/big": big, "/in/sub/empty": nil},
		Script: `set -e
cp /in/big /out/big
printf '\000\001\377\r\n\000' > /out/bytes
mkdir -p /out/sub/deeper
: > /out/sub/deeper/empty
head -c 1048576 /dev/urandom > /out/random
sha256sum /out/random | cut -d' ' -f1 > /out/random.sha256
`,
	})
	wantExit(t, r, 0)
	if !bytes.Equal(r.Files["big"], big) {
		t.Errorf("1 MB file: %d bytes back, differs", len(r.Files["big"]))
	}
	if got := r.Files["bytes"]; !bytes.Equal(got, []byte{0, 1, 0xff, '\r', '\n', 0}) {
		t.Errorf("binary bytes: got %q", got)
	}
	if got, ok := r.Files["sub/deeper/empty"]; !ok || len(got) != 0 {
		t.Errorf("empty file in a subfolder: %q, present %v", got, ok)
	}
	sum := sha256.Sum256(r.Files["random"])
	if want := strings.TrimSpace(string(r.Files["random.sha256"])); hex.EncodeToString(sum[:]) != want || len(r.Files["random"]) != 1<<20 {
		t.Errorf("guest-made 1 MB file: %d bytes, sha256 %x, guest says %s", len(r.Files["random"]), sum, want)
	}
}

func TestExitStatusAndOutput(t *testing.T) {
	r := run(t, Scenario{
		Name:    "exit",
		Modules: []string{},
		// A process left running in the background must not hold the run.
		Script: "sleep 600 & echo to stdout; echo to stderr >&2; false || exit 7",
	})
	wantExit(t, r, 7)
	if r.Stdout != "to stdout\n" || r.Stderr != "to stderr\n" {
		t.Errorf("stdout %q, stderr %q", r.Stdout, r.Stderr)
	}
}

func TestFilesWhereInitMountsAreRefused(t *testing.T) {
	Require(t)
	_, err := Run(context.Background(), Scenario{Name: "run", Files: map[string][]byte{"/run/x": nil}})
	if err == nil || !strings.Contains(err.Error(), "mounts over") {
		t.Fatalf("got %v, want a refusal", err)
	}
}

func TestMissingModuleIsAnError(t *testing.T) {
	Require(t)
	_, err := Run(context.Background(), Scenario{Name: "nomodule", Modules: []string{"no_such_module"}, Script: "true"})
	if err == nil || !strings.Contains(err.Error(), "modprobe no_such_module failed") {
		t.Fatalf("got %v, want a modprobe error", err)
	}
}

func TestStaticGoBinaries(t *testing.T) {
	Require(t)
	hello := BuildStatic(t, "./testdata/hello")
	if again := BuildStatic(t, "./testdata/hello"); again != hello {
		t.Errorf("second BuildStatic gave %s, want the cached %s", again, hello)
	}
	r := run(t, Scenario{
		Name:     "binaries",
		Modules:  []string{},
		Binaries: map[string]string{"hello": hello},
		Script:   "set -e\nhello a b c\n",
	})
	wantExit(t, r, 0)
	if !strings.Contains(r.Stdout, "hello from 6.") || !strings.Contains(r.Stdout, "http pong") {
		t.Errorf("hello said %q", r.Stdout)
	}
	if got := string(r.Files["hello.txt"]); got != "a b c" {
		t.Errorf("hello wrote %q", got)
	}
}

func TestNetworkNamespaces(t *testing.T) {
	r := run(t, Scenario{
		Name: "netns",
		Script: `set -e
ip netns add a
ip link add veth0 type veth peer name veth1
ip link set veth1 netns a
ip addr add 10.99.0.1/24 dev veth0
ip link set veth0 up
ip -n a link set lo up
ip -n a addr add 10.99.0.2/24 dev veth1
ip -n a link set veth1 up
ping -c 2 -W 3 10.99.0.2
ip netns exec a ping -c 1 -W 3 10.99.0.1
ip netns exec a ipvsadm -A -u 10.99.0.2:53 -s rr
echo "root: $(ipvsadm -S -n | wc -l) services; a: $(ip netns exec a ipvsadm -S -n | wc -l)"
ip link add br0 type bridge
`,
	})
	wantExit(t, r, 0)
	if !strings.Contains(r.Stdout, "2 packets received") || !strings.Contains(r.Stdout, "1 packets received") {
		t.Errorf("ping across the veth pair:\n%s", r.Stdout)
	}
	if !strings.Contains(r.Stdout, "root: 0 services; a: 1") {
		t.Errorf("each namespace should have its own IPVS table:\n%s", r.Stdout)
	}
}

// fakeTB records what Require does instead of stopping the test.
type fakeTB struct {
	testing.TB
	failed, skipped string
}

func (f *fakeTB) Helper()                        {}
func (f *fakeTB) Fatalf(format string, a ...any) { f.failed = format }
func (f *fakeTB) Skip(a ...any)                  { f.skipped = "skip" }

func TestRequireFailsInCI(t *testing.T) {
	t.Setenv("LVSCTL_VMLAB_CACHE", t.TempDir()) // no kernel there
	err := Available()
	if err == nil || !strings.Contains(err.Error(), "guest kernel") || !strings.Contains(err.Error(), "scripts/vmlab-deps") {
		t.Fatalf("Available with an empty cache: %v", err)
	}
	t.Setenv("CI", "true")
	f := &fakeTB{}
	Require(f)
	if f.failed == "" || f.skipped != "" {
		t.Errorf("with CI=true, Require failed %v, skipped %v; want a failure", f.failed != "", f.skipped != "")
	}
	os.Unsetenv("CI")
	f = &fakeTB{}
	Require(f)
	if f.failed != "" || f.skipped == "" {
		t.Errorf("without CI, Require failed %v, skipped %v; want a skip", f.failed != "", f.skipped != "")
	}
}

func TestTimeoutLeavesATrace(t *testing.T) {
	Require(t)
	_, err := Run(context.Background(), Scenario{
		Name:    "hang",
		Modules: []string{},
		Script:  "echo still here; sleep 600",
		Timeout: 8 * time.Second,
	})
	if err == nil || !strings.Contains(err.Error(), "Timeout 8s × lab slowdown") || !strings.Contains(err.Error(), "still here") {
		t.Fatalf("got %v, want a timeout whose console shows the script's output", err)
	}
	t.Logf("the error:\n%v", err)
}

func TestSlowdownFromTheEnvironment(t *testing.T) {
	for in, want := range map[string]float64{"2.5": 2.5, "1": 1, "0.5": 1} {
		t.Setenv(SlowdownEnv, in)
		if got, why := measureSlowdown(); got != want || !strings.Contains(why, SlowdownEnv) {
			t.Errorf("$%s=%s: slowdown %v (%s), want %v", SlowdownEnv, in, got, why, want)
		}
	}
}

func TestSlowdownIsMeasured(t *testing.T) {
	Require(t)
	f := Slowdown()
	if f < 1 {
		t.Fatalf("slowdown %v, below 1", f)
	}
	if got := Scale(10 * time.Second); got != time.Duration(f*float64(10*time.Second)) {
		t.Errorf("Scale(10s) = %v with slowdown %v", got, f)
	}
	t.Log(SlowdownReport())
}

// A reboot: the first boot formats the persistent disk and writes what
// lvsctl would (sysctl.d files for the root namespace and for namespaces,
// units and their links); the second boot, from the same disk, plays
// systemd's part, and what was written is in force.
func TestPersistentDiskAcrossBoots(t *testing.T) {
	Require(t)
	disk := t.TempDir() + "/disk.img"
	in := map[string][]byte{
		"/in/etc/netns/x/sysctl.d/10-first.conf": []byte("net.ipv4.conf.all.arp_ignore = 2\n"),
		"/in/etc/netns/x/sysctl.d/90-lvsctl.conf": []byte(`# written by hand, as lvsctl would
  net.ipv4.conf.all.arp_ignore = 1
-net.ipv4.conf.all.arp_announce = bogus
net/ipv4/conf/lo/arp_announce=2
net.ipv4.no_such_key = 1
`),
		"/in/etc/netns/z/sysctl.d/90-lvsctl.conf": []byte("net.ipv4.conf.all.arp_ignore = bogus\n"),
		"/in/etc/sysctl.d/90-lvsctl.conf":         []byte("net.ipv4.conf.all.arp_announce = 1\n"),
		"/in/etc/systemd/system/lvsctl-restore-netns-x.service": []byte(`[Unit]
Description=restore x
[Service]
Type=oneshot
ExecStart=/bin/echo restored x "two  words"
ExecStart=-/bin/false
ExecStart=/bin/sh -c 'echo PATH=$PATH; pwd'
ConditionPathExists=/etc/systemd
ConditionPathExists=!/etc/nothing
[Install]
WantedBy=multi-user.target
`),
		"/in/etc/systemd/system/lvsctl-restore.service":         []byte("[Service]\nExecStart=/bin/sh -c 'echo root; exit 3'\nExecStart=/bin/echo not reached\n"),
		"/in/etc/systemd/system/lvsctl-restore-netns-y.service": []byte("[Service]\nExecStart=/bin/echo not enabled\n"),
		"/in/etc/systemd/system/lvsctl-restore-netns-w.service": []byte("[Unit]\nConditionPathExists=/etc/nothing\n[Service]\nExecStart=/bin/echo condition\n"),
	}
	r := run(t, Scenario{
		Name:    "persist-1",
		Modules: []string{},
		Disk:    disk,
		Files:   in,
		Script: BootShell + `set -e
# iproute2 binds /etc/netns/NAME/* over their namesakes in /etc, which must exist.
ip netns add y
mkdir -p /etc/netns/y/sysctl.d
ip netns exec y ls /etc/sysctl.d > /out/nobind 2>&1 || true
rm -r /etc/netns
persist_mount
echo $PERSIST_BOOT > /out/bootno
cp -r /in/etc/. /etc/
w=/etc/systemd/system/multi-user.target.wants
ln -s /etc/systemd/system/lvsctl-restore-netns-x.service $w/
ln -s ../lvsctl-restore.service $w/
ln -s /etc/systemd/system/lvsctl-restore-netns-w.service $w/
ln -s /etc/systemd/system/lvsctl-restore-netns-y.service $w/other.service
persist_umount
grep -c /persist /proc/mounts > /out/mounts || true
`,
	})
	wantExit(t, r, 0)
	if st, err := os.Stat(disk); err != nil || st.Size() != DiskSize {
		t.Fatalf("the disk after the first boot: %v, %v", st, err)
	}
	f := func(name string) string { return strings.TrimSpace(string(r.Files[name])) }
	if f("bootno") != "1" || !strings.Contains(r.Stdout, "formatted now") || f("mounts") != "0" {
		t.Errorf("first boot: boot %q, mounts left %q, output %q", f("bootno"), f("mounts"), r.Stdout)
	}
	if !strings.Contains(f("nobind"), "Bind /etc/netns/y/sysctl.d -> /etc/sysctl.d failed") {
		t.Errorf("ip netns exec without /etc/sysctl.d: %q", f("nobind"))
	}

	r = run(t, Scenario{
		Name:    "persist-2",
		Modules: []string{},
		Disk:    disk,
		Script: BootShell + `set -e
for ns in x y z; do ip netns add $ns; done
persist_mount
echo $PERSIST_BOOT > /out/bootno
c=0; boot_like_systemd > /out/bls || c=$?; echo $c > /out/bls.code
for ns in x y z; do
	ip netns exec $ns sh -c 'cd /proc/sys/net/ipv4/conf; echo $(cat all/arp_ignore all/arp_announce lo/arp_announce)' > /out/$ns
done
(cd /proc/sys/net/ipv4/conf; echo $(cat all/arp_ignore all/arp_announce lo/arp_announce)) > /out/root
persist_umount
`,
	})
	wantExit(t, r, 0)
	f = func(name string) string { return strings.TrimSpace(string(r.Files[name])) }
	if f("bootno") != "2" || strings.Contains(r.Stdout, "formatted") {
		t.Errorf("second boot: boot %q, output %q", f("bootno"), r.Stdout)
	}
	// arp_ignore, arp_announce (all), arp_announce (lo).
	for ns, want := range map[string]string{
		"x":    "1 0 2", // 90-lvsctl.conf after 10-first.conf; the failed "-" line ignored
		"y":    "0 1 0", // no /etc/netns/y/sysctl.d: the root's /etc/sysctl.d
		"z":    "0 0 0", // its one line failed
		"root": "0 1 0",
	} {
		if f(ns) != want {
			t.Errorf("namespace %s: arp_ignore, arp_announce (all, lo): %q, want %q\n%s", ns, f(ns), want, f("boot/sysctl-netns-"+ns+".out"))
		}
	}
	t.Logf("boot_like_systemd:\n%s\n--- x's sysctls ---\n%s", f("bls"), f("boot/sysctl-netns-x.out"))
	if f("bls.code") != "1" || f("boot/sysctl.code") != "0" || f("boot/sysctl-netns-x.code") != "0" || f("boot/sysctl-netns-z.code") != "1" {
		t.Errorf("boot_like_systemd exit %s; sysctl exit: root %s, x %s, z %s (want 1; 0, 0, 1)",
			f("bls.code"), f("boot/sysctl.code"), f("boot/sysctl-netns-x.code"), f("boot/sysctl-netns-z.code"))
	}
	for _, want := range []string{"net.ipv4.no_such_key = 1: no such sysctl, ignored", "-net.ipv4.conf.all.arp_announce = bogus: failed, ignored (-): "} {
		if !strings.Contains(f("boot/sysctl-netns-x.out"), want) {
			t.Errorf("x's sysctl output has no %q:\n%s", want, f("boot/sysctl-netns-x.out"))
		}
	}
	if !strings.Contains(f("boot/sysctl-netns-z.out"), "net.ipv4.conf.all.arp_ignore = bogus: FAILED: ") {
		t.Errorf("z's sysctl output:\n%s", f("boot/sysctl-netns-z.out"))
	}
	x := "boot/lvsctl-restore-netns-x.service"
	if f(x+".code") != "0" || !strings.Contains(f(x+".out"), "restored x two  words\n") ||
		!strings.HasSuffix(f(x+".out"), "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n/") {
		t.Errorf("unit x: exit %s\n%s", f(x+".code"), f(x+".out"))
	}
	root := "boot/lvsctl-restore.service"
	if f(root+".code") != "3" || !strings.Contains(f(root+".out"), "root") || strings.Contains(f(root+".out"), "not reached") {
		t.Errorf("the root unit (through a relative link): exit %s\n%s", f(root+".code"), f(root+".out"))
	}
	if want := regexp.MustCompile(`\nlvsctl-restore-netns-w.service: skipped \(ConditionPathExists=/etc/nothing\)\n` +
		`lvsctl-restore-netns-x.service: exit 0 \([0-9.]+ s\)\nlvsctl-restore.service: exit 3 \([0-9.]+ s\)$`); !want.MatchString(f("boot/log")) {
		t.Errorf("units run: %q, want them in name order, matching %s", f("boot/log"), want)
	}
	for name := range r.Files {
		if strings.Contains(name, "netns-y.service") || strings.Contains(name, "other.service") {
			t.Errorf("a unit that is not enabled, or not lvsctl's, ran: %s", name)
		}
	}
}
