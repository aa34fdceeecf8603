package scenario

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lvsctl/lvsctl/internal/vmlab"
)

// tunnel6Cluster is an IPv6 service whose real servers are IPv4 hosts
// reached through IPv6-in-IPv4 tunnels: on each, lvsctl brings sit0 up with
// the VIP/128 on it (no ARP or rp_filter sysctls: the VIP is IPv6).
const tunnel6Cluster = `package cluster

hosts: {
	director: netns: "director"
	rs1: netns: "rs1"
	rs2: netns: "rs2"
}

directors: director: {
	vips: "fd00:1::80": interface: "eth0"
	services: web6: {
		address:   "fd00:1::80"
		port:      80
		scheduler: "wrr"
		realServers: {
			rs1: {address: "10.0.0.11", forward: "tun", weight: 1, host: "rs1"}
			rs2: {address: "10.0.0.12", forward: "tun", weight: 3, host: "rs2"}
		}
	}
}
`

// An IPv6 VIP in front of two IPv4 real servers: IPVS sends each IPv6
// request inside IPv4 (protocol 41) to a real server's sit0, which answers
// the client directly over IPv6. plan and apply from the real binary; 40
// requests from an IPv6 client split 10 / 30 by weight; the mixed-family
// destinations read back from the kernel as written (No changes).
func TestTunnelIPv6InIPv4(t *testing.T) {
	vmlab.Require(t)
	r, err := vmlab.Run(context.Background(), vmlab.Scenario{
		Name:     "tunnel6in4",
		Binaries: binaries(t),
		Modules:  append(append([]string{}, vmlab.DefaultModules...), "sit"),
		Files:    map[string][]byte{"/lab/t6/cluster.cue": []byte(tunnel6Cluster)},
		Script: Topology + `
set -e
mk client eth0 10.0.1.2/24
mk director eth0 10.0.0.1/24
mk rs1 eth0 10.0.0.11/24
mk rs2 eth0 10.0.0.12/24
ip -n client addr add fd00:1::2/64 dev eth0 nodad
for h in rs1 rs2; do
	ip -n $h addr add fd00:1::${h#rs}1/64 dev eth0 nodad
	ip netns exec $h namesrv $h &
done
sleep 1
cd /lab
lvsctl plan t6 > /out/plan 2>/out/plan.err
lvsctl apply --auto-approve t6 > /out/apply 2>/out/apply.err
ip netns exec director ipvsadm -S -n > /out/save
ip -n rs1 -o addr show dev sit0 > /out/rs1-sit0
ip -n rs1 -o link show dev sit0 >> /out/rs1-sit0
ip netns exec client hits -url 'http://[fd00:1::80]/' -n 40 > /out/hits
lvsctl plan --detailed-exitcode t6 > /out/plan2 2>&1 || echo "exit $?" >> /out/plan2
`,
		Timeout: 120 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	f := func(name string) string { return string(r.Files[name]) }
	if r.ExitCode != 0 {
		t.Fatalf("exit %d\n%s\n%s\n%s", r.ExitCode, r.Stderr, f("plan.err"), f("apply.err"))
	}
	t.Logf("VM run %v\n--- plan ---\n%s\n--- ipvsadm -S -n ---\n%s--- rs1 sit0 ---\n%s--- hits ---\n%s\n--- plan after apply ---\n%s",
		r.Duration, f("plan"), f("save"), f("rs1-sit0"), f("hits"), f("plan2"))
	for _, want := range []string{"+ address fd00:1::80/128 dev eth0", "~ link sit0: state down → up",
		"+ address fd00:1::80/128 dev sit0",
		"+ destination TCP [fd00:1::80]:80 -> 10.0.0.11:80 (tun, weight 1, ipip)", "+ destination TCP [fd00:1::80]:80 -> 10.0.0.12:80 (tun, weight 3, ipip)"} {
		if !strings.Contains(f("plan"), want) {
			t.Errorf("plan lacks %q", want)
		}
	}
	if strings.Contains(f("plan"), "rp_filter") || strings.Contains(f("plan"), "arp_") {
		t.Errorf("plan sets IPv4 sysctls for an IPv6 VIP:\n%s", f("plan"))
	}
	for _, want := range []string{"-A -t [fd00:1::80]:80 -s wrr", "-a -t [fd00:1::80]:80 -r 10.0.0.11:80 -i -w 1", "-a -t [fd00:1::80]:80 -r 10.0.0.12:80 -i -w 3"} {
		if !strings.Contains(f("save"), want) {
			t.Errorf("ipvsadm -S lacks %q:\n%s", want, f("save"))
		}
	}
	if !strings.Contains(f("rs1-sit0"), "fd00:1::80/128") || !strings.Contains(f("rs1-sit0"), ",UP") {
		t.Errorf("rs1's sit0, want it up with the VIP:\n%s", f("rs1-sit0"))
	}
	if c := counts(t, r.Files["hits"]); c["rs1"] != 10 || c["rs2"] != 30 || c["errors"] != 0 {
		t.Errorf("40 requests over IPv6 in IPv4, weights 1:3: %v", c)
	}
	if !strings.Contains(f("plan2"), "No changes.") || strings.Contains(f("plan2"), "exit ") {
		t.Errorf("plan after apply:\n%s", f("plan2"))
	}
}
