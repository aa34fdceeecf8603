package vmlab

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"os"
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
