package scenario

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lvsctl/lvsctl/internal/vmlab"
)

// sshTrustRS1 starts rs1's sshd (argument: the agent's hash path) in a mount
// namespace of its own, with a /var/lib that only rs1 sees, where a script
// that leaves /out/planted-ran if it ever runs sits at the agent's hash
// path; the other hosts share the guest's /var/lib. The sshd, like the
// others, runs under the script's umask 077.
const sshTrustRS1 = `set -e
mount -t tmpfs -o mode=0755 tmpfs /var/lib
(umask 022; mkdir -p /var/lib/lvsctl/bin)
printf '#!/bin/sh\ntouch /out/planted-ran\n' > "$1"
chmod 0755 "$1"
exec /sbin/ip netns exec rs1 /usr/sbin/sshd -f /etc/ssh/sshd_config -o HostKey=/etc/ssh/key-rs1 -o ListenAddress=192.168.0.101 -E /tmp/sshd-rs1.log
`

// The host is untrusted. Over real OpenSSH, the director's and rs2's bin
// folders, created by the upload under a remote umask of 077, are 0755 and
// root's. rs1 has a script at the path where this lvsctl's agent would be
// (named by its hash): plan refuses rs1 with the file's hash and this
// lvsctl's, and the script does not run. With that file gone but rs1's bin
// folder writable by everyone, plan refuses rs1 again, uploads nothing and
// changes no mode. Fixed as the message says, plan works. An agentPath in a
// folder everyone can write to is refused without running; in a sound folder
// it runs.
func TestSSHTrust(t *testing.T) {
	vmlab.Require(t)
	dr, err := os.ReadFile("../../examples/direct-routing/cluster.cue")
	if err != nil {
		t.Fatal(err)
	}
	withAgentPath := strings.Replace(string(dr), `ssh: address: "192.168.0.101"`, `ssh: address: "192.168.0.101"
		agentPath: "/opt/open/lvsctl"`, 1)
	if withAgentPath == string(dr) {
		t.Fatal("could not give rs1 an agentPath")
	}
	bins := binaries(t)
	exe, err := os.ReadFile(bins["lvsctl"])
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(exe)
	sum := hex.EncodeToString(h[:])
	agent := "/var/lib/lvsctl/bin/lvsctl-" + sum[:24]
	planted := sha256.Sum256([]byte("#!/bin/sh\ntouch /out/planted-ran\n"))
	r, err := vmlab.Run(context.Background(), vmlab.Scenario{
		Name:     "sshtrust",
		Binaries: bins,
		Files: map[string][]byte{"/lab/dr/cluster.cue": dr, "/lab/agentpath/cluster.cue": []byte(withAgentPath),
			"/lab/rs1-sshd.sh": []byte(sshTrustRS1)},
		Script: Topology + DRNetwork + sshSetup + `
set -e
# The guest's / is the initramfs's tmpfs, mode 1777; a real host's is 0755,
# and lvsctl refuses an agent under a folder that others can write to.
chmod 0755 /
mkdir -p /var/lib
A=/var/lib/lvsctl/bin/lvsctl-$(sha256sum /bin/lvsctl | cut -c1-24)
mk ops eth0 192.168.0.3/24
ip -n ops route add 222.117.155.123/32 dev eth0
ip -n rs2 route add 192.168.0.3/32 dev eth0 2>/dev/null || true
umask 077
sshd director 192.168.0.1
ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/key-rs1
echo "192.168.0.101 $(cat /etc/ssh/key-rs1.pub)" >> /root/.ssh/known_hosts
unshare -m sh /lab/rs1-sshd.sh $A
sshd rs2 222.117.155.123
umask 022
sleep 1
cd /lab
ops() { ip netns exec ops "$@"; }
r1() { ip netns exec ops ssh -o BatchMode=yes 192.168.0.101 "$@"; }
plan() { o=/out/$1; shift; c=0; ops lvsctl plan --detailed-exitcode "$@" > $o 2>&1 || c=$?; echo $c > $o.code; }
r1 umask > /out/umask

# 0. The director and rs2 share the guest's /var/lib, where nothing is yet.
plan shared dr --target director --target rs2
stat -c '%a %u %n' /var/lib/lvsctl /var/lib/lvsctl/bin $A > /out/shared.modes || true

# 1. A script at rs1's agent path.
plan planted dr
r1 sha256sum $A > /out/planted.sum

# 2. Gone, but rs1's bin folder is writable by everyone.
r1 "rm $A && chmod 0777 /var/lib/lvsctl/bin"
plan open dr
r1 "ls -A /var/lib/lvsctl/bin; stat -c '%a %u %n' /var/lib/lvsctl/bin" > /out/open.after

# 3. Fixed as the message says.
r1 chmod go-w /var/lib/lvsctl/bin
plan fixed dr
r1 "stat -c '%a %u %n' /var/lib/lvsctl /var/lib/lvsctl/bin $A; sha256sum $A" > /out/fixed.after

# 4. rs1's agentPath, in a folder everyone can write to, then in a sound one.
mkdir -p /opt/open
chmod 0777 /opt/open
printf '#!/bin/sh\ntouch /out/agentpath-ran\n' > /opt/open/lvsctl
chmod 0755 /opt/open/lvsctl
plan agentpath agentpath
chmod 0755 /opt/open
cp /bin/lvsctl /opt/open/lvsctl
plan agentpath-fixed agentpath
ls /out > /out/ls
`,
		Timeout: 420 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	f := func(name string) string { return string(r.Files[name]) }
	if r.ExitCode != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.ExitCode, r.Stderr, r.Stdout)
	}
	t.Logf("VM run %v; remote umask %s", r.Duration, strings.TrimSpace(f("umask")))
	if strings.TrimSpace(f("umask")) != "0077" {
		t.Errorf("rs1's sessions run under umask %q, want 0077 (the test would prove less)", f("umask"))
	}
	ran := f("ls")
	if f("shared.code") != "2\n" {
		t.Errorf("the director and rs2 alone: exit %s, want 2 (changes)\n%s", f("shared.code"), f("shared"))
	}
	if want := "755 0 /var/lib/lvsctl\n755 0 /var/lib/lvsctl/bin\n755 0 " + agent + "\n"; f("shared.modes") != want {
		t.Errorf("the director's and rs2's upload under umask 077:\n%s\nwant\n%s", f("shared.modes"), want)
	}
	otherHosts := regexp.MustCompile(`host (director|rs2)\b`)

	t.Logf("--- 1. planted file ---\n%s", f("planted"))
	want := "host rs1: the agent went away while reading the answer to gather; agent said: lvsctl refused to run the agent " + agent +
		": its SHA-256 is " + hex.EncodeToString(planted[:]) + ", not " + sum + " (the SHA-256 of this lvsctl)"
	if f("planted.code") != "1\n" || !strings.Contains(f("planted"), want) || otherHosts.MatchString(f("planted")) {
		t.Errorf("planted file: exit %s, want 1 and rs1 alone refused with %q", f("planted.code"), want)
	}
	if strings.Contains(ran, "planted-ran") {
		t.Error("the planted file ran")
	}
	if !strings.HasPrefix(f("planted.sum"), hex.EncodeToString(planted[:])+" ") {
		t.Errorf("the planted file was changed: %s", f("planted.sum"))
	}

	t.Logf("--- 2. bin folder writable by everyone ---\n%s", f("open"))
	want = "host rs1 (192.168.0.101): lvsctl refused to run the agent " + agent +
		": /var/lib/lvsctl/bin is writable by group or others (mode 777), who could replace the agent: fix: chmod go-w /var/lib/lvsctl/bin"
	if f("open.code") != "1\n" || !strings.Contains(f("open"), want) || otherHosts.MatchString(f("open")) {
		t.Errorf("open bin folder: exit %s, want 1 and rs1 alone refused with %q", f("open.code"), want)
	}
	if f("open.after") != "777 0 /var/lib/lvsctl/bin\n" {
		t.Errorf("after the refusal rs1's bin folder is (want empty, mode unchanged):\n%s", f("open.after"))
	}

	t.Logf("--- 3. fixed ---\n%s", f("fixed"))
	if f("fixed.code") != "2\n" || !strings.Contains(f("fixed"), "Plan: ") {
		t.Errorf("fixed: exit %s, want 2 (changes)", f("fixed.code"))
	}
	if want := "755 0 /var/lib/lvsctl\n755 0 /var/lib/lvsctl/bin\n755 0 " + agent + "\n" + sum + "  " + agent + "\n"; f("fixed.after") != want {
		t.Errorf("rs1's agent after the fix:\n%s\nwant\n%s", f("fixed.after"), want)
	}

	t.Logf("--- 4. agentPath in a folder everyone can write to ---\n%s", f("agentpath"))
	want = "host rs1: the agent went away while reading the answer to gather; agent said: lvsctl refused to run the agent /opt/open/lvsctl: /opt/open is writable by group or others (mode 777)"
	if f("agentpath.code") != "1\n" || !strings.Contains(f("agentpath"), want) || otherHosts.MatchString(f("agentpath")) {
		t.Errorf("agentPath: exit %s, want 1 and rs1 alone refused with %q", f("agentpath.code"), want)
	}
	if strings.Contains(ran, "agentpath-ran") {
		t.Error("the agentPath in an open folder ran")
	}
	if f("agentpath-fixed.code") != "2\n" {
		t.Errorf("agentPath in a sound folder: exit %s\n%s", f("agentpath-fixed.code"), f("agentpath-fixed"))
	}
}
