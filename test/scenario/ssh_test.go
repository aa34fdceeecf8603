package scenario

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lvsctl/lvsctl/internal/vmlab"
)

// sshSetup gives the guest a root account with a key, an sshd
// configuration, and sshd HOST ADDRESS: a real sshd in the host's namespace
// with its own host key, recorded in root's known_hosts.
const sshSetup = `
mkdir -p /etc/ssh /run/sshd /root/.ssh
echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd
echo 'sshd:x:100:65534::/run/sshd:/bin/false' >> /etc/passwd
printf 'root:x:0:\nnogroup:x:65534:\n' > /etc/group
chmod 700 /root /root/.ssh
ssh-keygen -q -t ed25519 -N '' -f /root/.ssh/id_ed25519
cp /root/.ssh/id_ed25519.pub /root/.ssh/authorized_keys
printf 'PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPidFile none\n' > /etc/ssh/sshd_config
printf 'Host lvs-director\n\tHostName 192.168.0.1\n' > /root/.ssh/config
sshd() {
	ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/key-$1
	ip netns exec $1 /usr/sbin/sshd -f /etc/ssh/sshd_config -o HostKey=/etc/ssh/key-$1 -o ListenAddress=$2 -E /tmp/sshd-$1.log
	echo "$2 $(cat /etc/ssh/key-$1.pub)" >> /root/.ssh/known_hosts
}
`

// The guide's DR example exactly as written, hosts reached over SSH from a
// separate namespace that has no other way in: applied and proven with
// traffic; then a host key that does not match, and a host that cannot be
// reached, each refused with a clear message and nothing changed.
func TestOverSSH(t *testing.T) {
	vmlab.Require(t)
	dr, err := os.ReadFile("../../examples/direct-routing/cluster.cue")
	if err != nil {
		t.Fatal(err)
	}
	unreachable := strings.Replace(string(dr), `address: "222.117.155.123"
		interface`, `address: "192.168.0.250"
		interface`, 1)
	if unreachable == string(dr) {
		t.Fatal("could not make rs2 unreachable")
	}
	r, err := vmlab.Run(context.Background(), vmlab.Scenario{
		Name:     "ssh",
		Binaries: binaries(t),
		Files:    map[string][]byte{"/lab/dr/cluster.cue": dr, "/lab/unreachable/cluster.cue": []byte(unreachable)},
		Script: Topology + DRNetwork + sshSetup + `
set -e
mk ops eth0 192.168.0.3/24
ip -n ops route add 222.117.155.123/32 dev eth0
ip -n rs2 route add 192.168.0.3/32 dev eth0 2>/dev/null || true
sshd director 192.168.0.1
sshd rs1 192.168.0.101
sshd rs2 222.117.155.123
sleep 1
cd /lab
ops() { ip netns exec ops "$@"; }
code ops lvsctl plan --detailed-exitcode dr > /out/plan.code
ops lvsctl plan dr > /out/plan 2>/out/plan.err || true
ops lvsctl apply --auto-approve dr > /out/apply 2>/out/apply.err
ip netns exec client hits -url http://192.168.0.10/ -from 192.168.0.150 -sources 30 -per 2 > /out/hits
ls /var/lib/lvsctl/bin/ > /out/agents
ops lvsctl plan dr > /out/plan2 2>/dev/null

# rs1's host key is not the one known_hosts has.
ssh-keygen -q -t ed25519 -N '' -f /tmp/other
grep -v '^192.168.0.101 ' /root/.ssh/known_hosts > /tmp/kh
echo "192.168.0.101 $(cat /tmp/other.pub)" >> /tmp/kh
cp /root/.ssh/known_hosts /tmp/kh.good
cp /tmp/kh /root/.ssh/known_hosts
ip netns exec director ipvsadm -S -n > /out/table-before
code ops lvsctl apply --auto-approve dr > /out/mismatch.code
ops lvsctl apply --auto-approve dr > /out/mismatch 2>&1 || true
ip netns exec director ipvsadm -S -n > /out/table-after
cp /tmp/kh.good /root/.ssh/known_hosts

# rs2 cannot be reached.
code ops lvsctl plan unreachable > /out/unreachable.code
ops lvsctl plan unreachable > /out/unreachable 2>&1 || true
`,
		Timeout: 240 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	f := func(name string) string { return string(r.Files[name]) }
	if r.ExitCode != 0 {
		t.Fatalf("exit %d\n%s\nplan.err: %s\napply.err: %s", r.ExitCode, r.Stderr, f("plan.err"), f("apply.err"))
	}
	t.Logf("VM run %v\n--- plan over SSH ---\n%s\n%s", r.Duration, f("plan"), f("plan.err"))
	if f("plan.code") != "2\n" || !strings.Contains(f("apply"), "Apply complete! 6 added, 17 changed, 0 destroyed.") {
		t.Fatalf("plan exit %s; apply:\n%s\n%s", f("plan.code"), f("apply"), f("apply.err"))
	}
	if c := counts(t, r.Files["hits"]); c["rs1"] != 20 || c["rs2"] != 40 || c["errors"] != 0 {
		t.Errorf("requests by real server, weights 5:10: %v", c)
	}
	if agents := strings.Fields(f("agents")); len(agents) != 1 || !strings.HasPrefix(agents[0], "lvsctl-") {
		t.Errorf("uploaded agents: %q (want one, named by its hash)", agents)
	}
	if !strings.Contains(f("plan2"), "No changes.") {
		t.Errorf("plan after apply:\n%s", f("plan2"))
	}
	t.Logf("--- changed host key ---\n%s", f("mismatch"))
	if f("mismatch.code") != "1\n" || !strings.Contains(f("mismatch"), "host rs1") || !strings.Contains(f("mismatch"), "host key") {
		t.Errorf("changed host key: exit %s\n%s", f("mismatch.code"), f("mismatch"))
	}
	if f("table-before") != f("table-after") {
		t.Errorf("the table changed although a host was refused:\n%s\n%s", f("table-before"), f("table-after"))
	}
	t.Logf("--- unreachable host ---\n%s", f("unreachable"))
	if f("unreachable.code") != "1\n" || !strings.Contains(f("unreachable"), "host rs2: cannot reach 192.168.0.250 over SSH") {
		t.Errorf("unreachable host: exit %s\n%s", f("unreachable.code"), f("unreachable"))
	}
}
