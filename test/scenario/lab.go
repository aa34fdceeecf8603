package scenario

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/lvsctl/lvsctl/internal/vmlab"
)

// LabConfig returns an example's cluster.cue (root is the repository) with
// its hosts block replaced by hosts, so the lab reaches the hosts through its
// network namespaces instead of SSH; everything else is as the example says.
func LabConfig(root, example, hosts string) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, "examples", example, "cluster.cue"))
	if err != nil {
		return "", err
	}
	s := string(b)
	start := strings.Index(s, "\nhosts: {")
	if start < 0 {
		return "", fmt.Errorf("no hosts block in %s", example)
	}
	end := strings.Index(s[start:], "\n}\n")
	if end < 0 {
		return "", fmt.Errorf("hosts block of %s does not end", example)
	}
	return s[:start] + "\nhosts: {\n" + hosts + "\n}\n" + s[start+end+3:], nil
}

// TestHooksTag is the build tag of lvsctl's test hooks (LVSCTL_TEST_FAIL_AT,
// LVSCTL_TEST_PAUSE_AT, LVSCTL_TEST_AGENT_EXE...): the lab's lvsctl has them,
// the shipped binary does not.
const TestHooksTag = "lvsctl_testhooks"

// Binaries builds what the lab's guests run: lvsctl (a test build, with its
// hooks), a server that answers with its name, a client that counts the
// answers, a client that holds one connection open (holder), a listener
// that accepts and never answers (tarpit), and an agent proxy that breaks
// one answer (badagent).
func Binaries() (map[string]string, error) {
	out := map[string]string{}
	p, err := vmlab.BuildTags("github.com/lvsctl/lvsctl/cmd/lvsctl", TestHooksTag)
	if err != nil {
		return nil, err
	}
	out["lvsctl"] = p
	for _, name := range []string{"namesrv", "hits", "holder", "tarpit", "badagent"} {
		p, err := vmlab.Build("github.com/lvsctl/lvsctl/test/scenario/testdata/" + name)
		if err != nil {
			return nil, err
		}
		out[name] = p
	}
	return out, nil
}

// Topology defines, for the guest's shell, mk NAMESPACE IFNAME ADDRESS: a
// namespace on bridge br0 through a veth named as its host's configuration
// expects; and code CMD...: the command's exit status alone.
const Topology = `
ip link add br0 type bridge
ip link set br0 up
mk() {
	ip netns add $1
	ip link add $1-br type veth peer name $2 netns $1
	ip link set $1-br master br0 up
	ip -n $1 link set lo up
	ip -n $1 link set $2 up
	ip -n $1 addr add $3 dev $2
}
code() { c=0; "$@" >/dev/null 2>&1 || c=$?; echo $c; }
`

// DRHosts are the direct-routing example's hosts in the lab.
const DRHosts = `	director: netns: "director"
	rs1: {netns: "rs1", interface: "eth0"}
	rs2: {netns: "rs2", interface: "eth0"}`

// DRNetwork is the guide's DR network: client, director (ens33) and two real
// servers on one segment, rs2 with its public address reachable on-link;
// clients at 192.168.0.150-179 and .200-229; a name server on each real
// server.
const DRNetwork = `
mk client eth0 192.168.0.2/24
mk director ens33 192.168.0.1/24
mk rs1 eth0 192.168.0.101/24
mk rs2 eth0 222.117.155.123/24
ip -n rs2 route add 192.168.0.0/24 dev eth0
ip -n director route add 222.117.155.123/32 dev ens33
for i in $(seq 150 179) $(seq 200 229); do echo "addr add 192.168.0.$i/24 dev eth0"; done | ip -n client -batch -
ip netns exec rs1 namesrv rs1 &
ip netns exec rs2 namesrv rs2 &
sleep 1
`
