package scenario

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lvsctl/lvsctl/internal/vmlab"
)

// pairCluster is one DR service on two directors, written once under pairs:
// keepalived's VRRP moves the VIP between them (it is in neither director's
// vips), and lvsctl keeps the service on both with the sync daemons (master
// and backup on each, sync ID 51 from routerID), so whichever holds the VIP,
// the other knows its connections.
const pairCluster = `package cluster

hosts: {
	d1: netns: "d1"
	d2: netns: "d2"
	rs1: {netns: "rs1", interface: "eth0"}
	rs2: {netns: "rs2", interface: "eth0"}
}

pairs: lvs: {
	directors: ["d1", "d2"]
	interface: "eth0"
	vips: "192.168.0.10": {}
	routerID: 51
	services: web: {
		protocol:  "tcp"
		address:   "192.168.0.10"
		port:      80
		scheduler: "wrr"
		persistence: timeout: 300
		realServers: {
			rs1: {address: "192.168.0.101", weight: 1, host: "rs1"}
			rs2: {address: "192.168.0.102", weight: 3, host: "rs2"}
		}
	}
}
`

// keepalivedConf is keepalived's configuration for one director: VRRP for
// the VIP, and TCP checkers for the service's real servers, which remove a
// real server that stops answering and add it back when it answers again.
// The virtual_server repeats what lvsctl keeps (keepalived finds it there
// and leaves it); the service says externallyManaged, so lvsctl leaves the
// checkers' changes alone. keepalived runs with -I (--dont-release-ipvs),
// so that its exit leaves the table lvsctl keeps.
func keepalivedConf(name, state string, priority int) string {
	return `global_defs {
    router_id ` + name + `
}
vrrp_instance VI_1 {
    state ` + state + `
    interface eth0
    virtual_router_id 51
    priority ` + strconv.Itoa(priority) + `
    advert_int 1
    virtual_ipaddress {
        192.168.0.10/32 dev eth0
    }
}
virtual_server 192.168.0.10 80 {
    delay_loop 1
    lb_algo wrr
    lb_kind DR
    persistence_timeout 300
    protocol TCP
    real_server 192.168.0.101 80 {
        weight 1
        TCP_CHECK {
            connect_timeout 1
            retry 1
        }
    }
    real_server 192.168.0.102 80 {
        weight 3
        TCP_CHECK {
            connect_timeout 1
            retry 1
        }
    }
}
`
}

// TestFailover: a persistent service lvsctl keeps on two directors, with
// keepalived's VRRP moving the VIP between them and lvsctl's sync daemons
// copying each director's connections to the other (issue 14). A client
// holds one connection open through the master; under continuous traffic
// from 30 clients the master's keepalived is killed: the backup takes the
// VIP, the held connection goes on through it (its entry was synced), and
// new connections are served by the same table. lvsctl's plan and drift
// stay silent throughout, since VRRP owns the VIP and lvsctl the tables.
func TestFailover(t *testing.T) {
	vmlab.Require(t)
	checked := strings.Replace(pairCluster, "persistence: timeout: 300", "persistence: timeout: 300\n\texternallyManaged: [\"weight\", \"presence\"]", 1)
	if checked == pairCluster {
		t.Fatal("could not declare the checkers in the definition")
	}
	r, err := vmlab.Run(context.Background(), vmlab.Scenario{
		Name:     "failover",
		Binaries: binaries(t),
		Tools:    []string{"keepalived"},
		Files: map[string][]byte{
			"/lab/pair/cluster.cue": []byte(checked),
			"/lab/d1.conf":          []byte(keepalivedConf("d1", "MASTER", 150)),
			"/lab/d2.conf":          []byte(keepalivedConf("d2", "BACKUP", 100)),
		},
		Script: topology + `
set -e
mk client eth0 192.168.0.2/24
for i in $(seq 150 199) $(seq 200 209); do echo "addr add 192.168.0.$i/24 dev eth0"; done | ip -n client -batch -
mk d1 eth0 192.168.0.3/24
mk d2 eth0 192.168.0.4/24
mk rs1 eth0 192.168.0.101/24
mk rs2 eth0 192.168.0.102/24
ip netns exec rs1 namesrv rs1 &
ip netns exec rs2 namesrv rs2 &
mkdir -p /run/k1 /run/k2
cd /lab
code lvsctl apply --auto-approve pair > /out/apply.code 2>/out/apply.err
ip netns exec d1 /usr/sbin/keepalived -t -f /lab/d1.conf > /out/configtest 2>&1 && echo "config ok" >> /out/configtest
k1() { ip netns exec d1 /usr/sbin/keepalived -I -f /lab/d1.conf -p /run/k1/main.pid -r /run/k1/vrrp.pid -c /run/k1/check.pid; }
k1
ip netns exec d2 /usr/sbin/keepalived -I -f /lab/d2.conf -p /run/k2/main.pid -r /run/k2/vrrp.pid -c /run/k2/check.pid
# seconds: a whole number of tenths, from busybox's uptime
now() { cut -d' ' -f1 /proc/uptime; }
has_vip() { ip -n $1 -o addr show dev eth0 | grep -q ' 192.168.0.10/32'; }
i=0; until has_vip d1; do i=$((i+1)); [ $i -lt 300 ] || { echo "d1 never took the VIP" >&2; exit 1; }; sleep 0.2; done
has_vip d2 && { echo "both directors have the VIP" >&2; exit 1; }
code lvsctl plan --detailed-exitcode pair > /out/plan1.code 2>/dev/null
ip netns exec d1 ipvsadm -L --daemon > /out/daemons
ip netns exec d2 ipvsadm -L --daemon >> /out/daemons
ip netns exec client holder -addr 192.168.0.10:80 -from 192.168.0.200 -sources 10 -want rs2 -ready /tmp/held > /out/holder 2>&1 &
i=0; until [ -e /tmp/held ]; do i=$((i+1)); [ $i -lt 300 ] || { echo "no connection held" >&2; exit 1; }; sleep 0.2; done
holder=$(pidof holder)
ip netns exec client hits -url http://192.168.0.10/ -from 192.168.0.150 -sources 30 -per 12 > /out/hits 2>/out/hits.err &
hits=$!
sleep 8
ip netns exec d2 ipvsadm -Lnc > /out/d2-conns-before
killed=$(now)
kill $(cat /run/k1/main.pid)
i=0; until has_vip d2; do i=$((i+1)); [ $i -lt 300 ] || { echo "d2 never took the VIP" >&2; exit 1; }; sleep 0.1; done
took=$(now)
echo "$killed $took" > /out/takeover
wait $hits
if kill -USR1 $holder; then sleep 3; kill $holder; else echo "holder ended early" >> /out/holder; fi
has_vip d1 && echo "d1 kept the VIP" > /out/d1-vip || true
code lvsctl plan --detailed-exitcode pair > /out/plan2.code 2>/dev/null
lvsctl plan pair > /out/plan2 2>/dev/null
code lvsctl drift pair > /out/drift.code 2>/dev/null
ip netns exec d2 ipvsadm -Ln --stats > /out/d2-stats
ip netns exec d1 ipvsadm -S -n > /out/d1-table

# The checkers: rs2 stops answering; keepalived takes it out on both
# directors, no request reaches it, and lvsctl sees nothing to change.
# rs2 answers again; keepalived puts it back.
in_table() { ip netns exec $1 ipvsadm -Ln | grep -q "$2"; }
for p in $(ip netns pids rs2); do kill $p; done
i=0; while in_table d2 192.168.0.102:80; do i=$((i+1)); [ $i -lt 300 ] || { echo "the checker never took rs2 out" >&2; exit 1; }; sleep 0.1; done
ip netns exec d2 ipvsadm -S -n > /out/down-table
ip netns exec client hits -url http://192.168.0.10/ -from 192.168.0.180 -sources 10 -per 2 > /out/hits-down 2>/out/hits-down.err
code lvsctl drift pair > /out/drift-down.code 2>/dev/null
code lvsctl plan --detailed-exitcode pair > /out/plan-down.code 2>/dev/null
lvsctl plan pair > /out/plan-down 2>/dev/null
ip netns exec rs2 namesrv rs2 &
i=0; until in_table d2 192.168.0.102:80 && in_table d1 192.168.0.102:80; do i=$((i+1)); [ $i -lt 300 ] || { echo "the checker never put rs2 back" >&2; exit 1; }; sleep 0.1; done
ip netns exec client hits -url http://192.168.0.10/ -from 192.168.0.190 -sources 10 -per 2 > /out/hits-up 2>/out/hits-up.err
code lvsctl drift pair > /out/drift-up.code 2>/dev/null

# d1 comes back and takes the VIP again (its priority is higher); then its
# interface goes down: d2 takes over once VRRP adverts stop.
k1
i=0; until has_vip d1; do i=$((i+1)); [ $i -lt 300 ] || { echo "d1 never took the VIP back" >&2; exit 1; }; sleep 0.2; done
ip netns exec client hits -url http://192.168.0.10/ -n 200 > /out/hits-link 2>/out/hits-link.err &
hits=$!
sleep 3
down=$(now)
ip -n d1 link set eth0 down
i=0; until has_vip d2; do i=$((i+1)); [ $i -lt 300 ] || { echo "d2 never took the VIP from a d1 without link" >&2; exit 1; }; sleep 0.1; done
took=$(now)
echo "$down $took" > /out/takeover-link
wait $hits
code lvsctl drift pair > /out/drift-link.code 2>/dev/null
`,
		Timeout: 360 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	f := func(name string) string { return string(r.Files[name]) }
	if r.ExitCode != 0 {
		t.Fatalf("scenario exit %d\nstderr: %s\napply: %s\nholder: %s", r.ExitCode, r.Stderr, f("apply.err"), f("holder"))
	}
	t.Logf("VM run %v\nkeepalived -t: %s", r.Duration, f("configtest"))
	if !strings.HasSuffix(f("configtest"), "config ok\n") {
		t.Errorf("keepalived -t in d1: %s", f("configtest"))
	}
	if f("apply.code") != "0\n" || f("plan1.code") != "0\n" {
		t.Errorf("apply exit %s, plan exit %s:\n%s", f("apply.code"), f("plan1.code"), f("apply.err"))
	}
	var killed, took float64
	if fs := strings.Fields(f("takeover")); len(fs) == 2 {
		killed, _ = strconv.ParseFloat(fs[0], 64)
		took, _ = strconv.ParseFloat(fs[1], 64)
	}
	c := counts(t, r.Files["hits"])
	t.Logf("takeover %.1fs after the master's keepalived was killed; requests %v; failures:\n%s", took-killed, c, f("hits.err"))
	if took <= killed || f("d1-vip") != "" {
		t.Errorf("takeover from %q; d1: %q", f("takeover"), f("d1-vip"))
	}
	if c["rs1"] == 0 || c["rs2"] == 0 || c["rs2"] < 2*c["rs1"] || c["rs1"]+c["rs2"]+c["errors"] != 360 {
		t.Errorf("requests by real server (30 clients, 12 each, persistent; weights 1:3) before and after the takeover: %v", c)
	}
	if !strings.Contains(f("daemons"), "master sync daemon (mcast=eth0, syncid=51,") || !strings.Contains(f("daemons"), "backup sync daemon (mcast=eth0, syncid=51,") {
		t.Errorf("sync daemons:\n%s", f("daemons"))
	}
	// The connection held through d1 was synced to d2 before the takeover,
	// and goes on through d2 after it.
	if !strings.Contains(f("d2-conns-before"), "192.168.0.102:80") || !strings.Contains(f("holder"), "again: rs2") {
		t.Errorf("the held connection: d2's connections before the takeover:\n%s\nholder:\n%s", f("d2-conns-before"), f("holder"))
	}
	// Requests in flight while no director answered for the VIP may fail;
	// each failed request is one dial or read timeout (3 to 5 s), so there
	// can be no more than the takeover time allows.
	if maxFailed := int((took-killed)/3) + 2; c["errors"] > maxFailed {
		t.Errorf("%d requests failed; at most %d can fall in a %.1fs takeover", c["errors"], maxFailed, took-killed)
	}
	if f("plan2.code") != "0\n" || f("drift.code") != "0\n" {
		t.Errorf("after the takeover, plan exits %s and drift %s:\n%s", f("plan2.code"), f("drift.code"), f("plan2"))
	}
	if !strings.Contains(f("d2-stats"), "192.168.0.101:80") {
		t.Errorf("d2's table:\n%s", f("d2-stats"))
	}
	// keepalived -I: the master's keepalived exited and left the table.
	if !strings.Contains(f("d1-table"), "-a -t 192.168.0.10:80 -r 192.168.0.102:80 -g -w 3") {
		t.Errorf("d1's table after its keepalived exited:\n%s", f("d1-table"))
	}

	// The checkers.
	down := counts(t, r.Files["hits-down"])
	t.Logf("rs2 down: table\n%srequests %v; drift %s, plan %s:\n%s", f("down-table"), down, f("drift-down.code"), f("plan-down.code"), f("plan-down"))
	if strings.Contains(f("down-table"), "192.168.0.102") || down["rs2"] != 0 || down["rs1"] != 20 || down["errors"] != 0 {
		t.Errorf("with rs2 down, the checker's table:\n%s\nrequests: %v", f("down-table"), down)
	}
	if f("drift-down.code") != "0\n" || f("plan-down.code") != "0\n" || !strings.Contains(f("plan-down"), "managed elsewhere") {
		t.Errorf("with rs2 taken out by the checker, drift exits %s and plan %s:\n%s", f("drift-down.code"), f("plan-down.code"), f("plan-down"))
	}
	up := counts(t, r.Files["hits-up"])
	if up["rs2"] == 0 || up["errors"] != 0 || f("drift-up.code") != "0\n" {
		t.Errorf("rs2 back: requests %v, drift exits %s", up, f("drift-up.code"))
	}

	// The master's link down.
	var linkDown, linkTook float64
	if fs := strings.Fields(f("takeover-link")); len(fs) == 2 {
		linkDown, _ = strconv.ParseFloat(fs[0], 64)
		linkTook, _ = strconv.ParseFloat(fs[1], 64)
	}
	link := counts(t, r.Files["hits-link"])
	t.Logf("takeover %.1fs after the master's interface went down; requests %v; failures:\n%s", linkTook-linkDown, link, f("hits-link.err"))
	if linkTook <= linkDown {
		t.Errorf("takeover from %q", f("takeover-link"))
	}
	// Requests sent to d1 after its link went down wait for a timeout (3 s
	// to dial, 5 s in all) until the VIP moves.
	if maxFailed := int((linkTook-linkDown)/3) + 2; link["errors"] > maxFailed || link["rs1"]+link["rs2"]+link["errors"] != 200 {
		t.Errorf("%d of 200 requests failed across a %.1fs takeover (at most %d)", link["errors"], linkTook-linkDown, maxFailed)
	}
	if f("drift-link.code") != "0\n" {
		t.Errorf("drift after the link went down exits %s", f("drift-link.code"))
	}
}
