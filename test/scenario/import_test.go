package scenario

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lvsctl/lvsctl/internal/vmlab"
)

// handDR builds the guide's DR setup by hand, as its commands say: the VIP
// on the director, the IPVS table with ipvsadm, the real servers' ARP
// sysctls and then the VIP on lo.
const handDR = `
ip -n director addr add 192.168.0.10/32 dev ens33
ip netns exec director ipvsadm -A -t 192.168.0.10:80 -s wrr -p 300
ip netns exec director ipvsadm -a -t 192.168.0.10:80 -r 192.168.0.101:80 -g -w 5
ip netns exec director ipvsadm -a -t 192.168.0.10:80 -r 222.117.155.123:80 -g -w 10
for rs in rs1 rs2; do
	for i in lo all default eth0; do
		ip netns exec $rs sh -c "echo 1 > /proc/sys/net/ipv4/conf/$i/arp_ignore; echo 2 > /proc/sys/net/ipv4/conf/$i/arp_announce"
	done
	ip -n $rs addr add 192.168.0.10/32 dev lo
done
`

// handNAT builds the guide's NAT setup by hand.
const handNAT = `
ip -n director addr add 211.47.13.234/32 dev eth0
ip netns exec director sh -c "echo 1 > /proc/sys/net/ipv4/ip_forward"
ip netns exec director ipvsadm -A -t 211.47.13.234:80 -s wlc
ip netns exec director ipvsadm -a -t 211.47.13.234:80 -r 10.0.0.101:8080 -m -w 1
ip netns exec director ipvsadm -a -t 211.47.13.234:80 -r 10.0.0.102:8080 -m -w 2
`

// drKeepalived is the guide's DR service as keepalived.conf writes it,
// with a health checker and a VRRP instance lvsctl keeps as comments.
const drKeepalived = `vrrp_instance VI_1 {
    state MASTER
    interface ens33
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        192.168.0.10/32
    }
}
$WEB=192.168.0.10 80
virtual_server $WEB {
    delay_loop 6
    lb_algo wrr
    lb_kind DR
    persistence_timeout 300
    protocol TCP
    real_server 192.168.0.101 80 {
        weight 5
        TCP_CHECK {
            connect_timeout 3
        }
    }
    real_server 222.117.155.123 80 {
        weight 10
        HTTP_GET {
            url {
                path /
                status_code 200
            }
        }
    }
}
`

// importSteps imports the cluster of hosts/ as it runs into $1/, plans it,
// imports the director's ipvsadm -S -n into $1-ipvsadm/ and plans that;
// then applies $1/ (lvsctl records what it now owns), plans and checks
// drift again, and saves the table.
const importSteps = `
importit() {
	mkdir -p $1 $1-ipvsadm
	ip netns exec director ipvsadm -S -n > /out/$1-save-before
	lvsctl import live $1-hosts > $1/cluster.cue 2> /out/$1-import.err
	cp $1/cluster.cue /out/$1-imported.cue
	code lvsctl plan --detailed-exitcode $1 > /out/$1-plan1.code
	lvsctl plan $1 > /out/$1-plan1 2>/dev/null
	ip netns exec director ipvsadm -S -n | lvsctl import ipvsadm --director director --netns director - > $1-ipvsadm/cluster.cue 2>/out/$1-ipvsadm.err
	cp $1-ipvsadm/cluster.cue /out/$1-ipvsadm.cue
	lvsctl plan $1-ipvsadm > /out/$1-plan-ipvsadm 2>/out/$1-plan-ipvsadm.err
	if [ -f $1-keepalived.conf ]; then
		mkdir -p $1-keepalived
		lvsctl import keepalived --netns director $1-keepalived.conf > $1-keepalived/cluster.cue 2>/out/$1-keepalived.err
		cp $1-keepalived/cluster.cue /out/$1-keepalived.cue
		lvsctl plan $1-keepalived > /out/$1-plan-keepalived 2>/out/$1-plan-keepalived.err
	fi
	lvsctl apply --auto-approve $1 > /out/$1-apply 2>/out/$1-apply.err
	code lvsctl plan --detailed-exitcode $1 > /out/$1-plan2.code
	lvsctl plan $1 > /out/$1-plan2 2>/dev/null
	code lvsctl drift $1 > /out/$1-drift.code
	ip netns exec director ipvsadm -S -n > /out/$1-save-after
}
`

// TestImport: the guide's DR and NAT setups, built by hand with ipvsadm, ip
// and sysctl, imported from the live hosts: the first plan changes no object
// (it only records what lvsctl now owns), the director's ipvsadm -S -n
// imported alone plans no change either, nor does the DR service written as
// keepalived.conf, and after the first apply the plan
// says "No changes.", drift finds nothing, the table is as it was and
// requests go by the weights.
func TestImport(t *testing.T) {
	vmlab.Require(t)
	drHosts := "package cluster\n\nhosts: {\n" + DRHosts + "\n\tclient: netns: \"client\"\n}\n"
	natHosts := "package cluster\n\nhosts: {\n" + NATHosts + "\n}\n"
	r, err := vmlab.Run(context.Background(), vmlab.Scenario{
		Name:     "import",
		Binaries: binaries(t),
		Files: map[string][]byte{"/lab/dr-hosts/cluster.cue": []byte(drHosts), "/lab/nat-hosts/cluster.cue": []byte(natHosts),
			"/lab/dr-keepalived.conf": []byte(drKeepalived)},
		Script: topology + DRNetwork + handDR + importSteps + `
set -e
cd /lab
importit dr
ip netns exec client hits -url http://192.168.0.10/ -from 192.168.0.150 -sources 30 -per 2 > /out/dr-hits
# The NAT setup on a fresh network, with a fresh lvsctl state.
for ns in client director rs1 rs2; do
	for p in $(ip netns pids $ns); do kill $p; done
	ip netns del $ns
done
ip link del br0
rm -rf /var/lib/lvsctl
` + NATNetwork + handNAT + `
importit nat
ip netns exec client hits -url http://211.47.13.234/ -n 30 > /out/nat-hits
`,
		Timeout: 240 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	f := func(name string) string { return string(r.Files[name]) }
	if r.ExitCode != 0 {
		t.Fatalf("scenario exit %d\nstderr: %s", r.ExitCode, r.Stderr)
	}
	t.Logf("VM run %v", r.Duration)
	for _, c := range []struct {
		name, hits string
		want       map[string]int
		imported   []string // in the definition import live wrote
	}{
		{"dr", "dr-hits", map[string]int{"rs1": 20, "rs2": 40}, []string{
			`vips: "192.168.0.10": interface: "ens33"`,
			`"192.168.0.101": {address: "192.168.0.101", weight: 5, forward: "dr", host: "rs1"}`,
			`"222.117.155.123": {address: "222.117.155.123", weight: 10, forward: "dr", host: "rs2"}`,
			"persistence: timeout: 300",
			`"net.ipv4.vs.expire_nodest_conn": 0`,
			"lvsctl found no IPVS table here, and no real server of one.",
		}},
		{"nat", "nat-hits", map[string]int{"rs1": 10, "rs2": 20}, []string{
			`vips: "211.47.13.234": interface: "eth0"`,
			`natGateway: ["10.0.0.234"]`,
			`"10.0.0.101": {address: "10.0.0.101", port: 8080, weight: 1, forward: "nat", host: "rs1"}`,
		}},
	} {
		n := c.name
		t.Logf("--- %s: import live ---\n%s%s--- first plan ---\n%s--- ipvsadm import's plan ---\n%s",
			n, f(n+"-imported.cue"), f(n+"-import.err"), f(n+"-plan1"), f(n+"-plan-ipvsadm"))
		for _, want := range c.imported {
			if !strings.Contains(f(n+"-imported.cue"), want) {
				t.Errorf("%s: the imported definition lacks %s", n, want)
			}
		}
		if !strings.Contains(f(n+"-import.err"), "the first plan of this definition changes no object on any host") {
			t.Errorf("%s: import live's own check:\n%s", n, f(n+"-import.err"))
		}
		if !strings.HasPrefix(f(n+"-plan1"), "No changes to any object.") || !strings.Contains(f(n+"-plan1"), "Plan: 0 to add, 0 to change, 0 to destroy.") ||
			strings.Contains(f(n+"-plan1"), "Kept for boot") || f(n+"-plan1.code") != "2\n" {
			t.Errorf("%s: the first plan of the imported definition (exit %s: it records the inventory):\n%s", n, f(n+"-plan1.code"), f(n+"-plan1"))
		}
		if !strings.HasPrefix(f(n+"-plan-ipvsadm"), "No changes to any object.") || !strings.Contains(f(n+"-plan-ipvsadm"), "Plan: 0 to add, 0 to change, 0 to destroy.") {
			t.Errorf("%s: the plan of ipvsadm -S -n imported:\n%s\n%s", n, f(n+"-plan-ipvsadm"), f(n+"-plan-ipvsadm.err"))
		}
		if f(n+"-plan2.code") != "0\n" || !strings.Contains(f(n+"-plan2"), "No changes.") || f(n+"-drift.code") != "0\n" {
			t.Errorf("%s: after the first apply, plan exits %s and drift %s:\n%s\n--- apply ---\n%s%s", n, f(n+"-plan2.code"), f(n+"-drift.code"), f(n+"-plan2"), f(n+"-apply"), f(n+"-apply.err"))
		}
		if f(n+"-save-before") == "" || f(n+"-save-after") != f(n+"-save-before") {
			t.Errorf("%s: the IPVS table moved:\n%s---\n%s", n, f(n+"-save-before"), f(n+"-save-after"))
		}
		if n == "dr" {
			t.Logf("--- keepalived.conf imported ---\n%s%s--- its plan ---\n%s", f("dr-keepalived.cue"), f("dr-keepalived.err"), f("dr-plan-keepalived"))
			if !strings.HasPrefix(f("dr-plan-keepalived"), "No changes to any object.") || !strings.Contains(f("dr-plan-keepalived"), "Plan: 0 to add, 0 to change, 0 to destroy.") {
				t.Errorf("the plan of keepalived.conf imported:\n%s\n%s", f("dr-plan-keepalived"), f("dr-plan-keepalived.err"))
			}
			for _, want := range []string{"TCP_CHECK connect_timeout 3", "HTTP_GET", "192.168.0.10 moves between directors with VRRP", "delay_loop 6"} {
				if !strings.Contains(f("dr-keepalived.cue"), want) {
					t.Errorf("keepalived's %q is in no comment of the definition", want)
				}
			}
		}
		got := counts(t, r.Files[c.hits])
		if got["rs1"] != c.want["rs1"] || got["rs2"] != c.want["rs2"] || got["errors"] != 0 {
			t.Errorf("%s: requests by real server %v, want %v", n, got, c.want)
		}
	}
}
