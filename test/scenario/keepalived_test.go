package scenario

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lvsctl/lvsctl/internal/vmlab"
)

// kaCluster is a pair whose keepalived configuration lvsctl writes: the
// VRRP instance for the VIP, and HTTP checkers on the service's real
// servers. keepalived's pid file is under /etc/keepalived, so that each
// director's keepalived (started with ip netns exec, which shows
// /etc/netns/NAME/keepalived as /etc/keepalived) has its own, where the
// agent for that namespace reads it.
const kaCluster = `package cluster

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
	sync: false
	keepalived: pidFile: "/etc/keepalived/keepalived.pid"
	services: web: {
		protocol: "tcp", address: "192.168.0.10", port: 80
		scheduler: "wrr"
		checkInterval: 1
		quorum: 1
		realServers: {
			rs1: {address: "192.168.0.101", weight: 1, host: "rs1", check: {type: "http", timeout: 1, retry: 0}}
			rs2: {address: "192.168.0.102", weight: 3, host: "rs2", check: {type: "http", timeout: 1, retry: 0}}
		}
	}
}
`

// TestKeepalivedRendered (issue 14): lvsctl writes keepalived's
// configuration for a pair and keepalived runs it. The first apply writes
// it on both directors while keepalived is not running (a note says so);
// keepalived started on that file makes d1 master with the VIP, and its HTTP
// checkers take out a real server that stops answering, which drift and
// plan leave to them. A weight changed in the definition is one change of
// the file per director, checked with keepalived -t and reloaded: the
// table takes the new weight and keepalived still holds the failed real
// server out. A definition keepalived -t refuses (an interface the
// directors do not have) is rolled back: the file and the running
// keepalived stay as they were.
func TestKeepalivedRendered(t *testing.T) {
	vmlab.Require(t)
	weighted := strings.Replace(kaCluster, `weight: 1, host: "rs1"`, `weight: 2, host: "rs1"`, 1)
	broken := strings.Replace(weighted, `interface: "eth0"`+"\n\tvips", `interface: "eth9"`+"\n\tvips", 1)
	plain := strings.NewReplacer("\tkeepalived: pidFile: \"/etc/keepalived/keepalived.pid\"\n", "", "\t\tcheckInterval: 1\n", "", "\t\tquorum: 1\n", "",
		`, check: {type: "http", timeout: 1, retry: 0}`, "").Replace(weighted)
	if weighted == kaCluster || broken == weighted || strings.Contains(plain, "keepalived") || strings.Contains(plain, "check") || strings.Contains(plain, "quorum") {
		t.Fatal("could not edit the definition")
	}
	r, err := vmlab.Run(context.Background(), vmlab.Scenario{
		Name:     "keepalived",
		Binaries: binaries(t),
		Tools:    []string{"keepalived"},
		Files: map[string][]byte{
			"/lab/pair/cluster.cue":     []byte(kaCluster),
			"/lab/weighted/cluster.cue": []byte(weighted),
			"/lab/broken/cluster.cue":   []byte(broken),
			"/lab/plain/cluster.cue":    []byte(plain),
		},
		Script: topology + `
set -e
mkdir -p /etc/keepalived /run/k1 /run/k2
mk client eth0 192.168.0.2/24
for i in $(seq 150 169); do echo "addr add 192.168.0.$i/24 dev eth0"; done | ip -n client -batch -
mk d1 eth0 192.168.0.3/24
mk d2 eth0 192.168.0.4/24
mk rs1 eth0 192.168.0.101/24
mk rs2 eth0 192.168.0.102/24
ip netns exec rs1 namesrv rs1 &
ip netns exec rs2 namesrv rs2 &
cd /lab
lvsctl plan pair > /out/plan0 2>&1 || true
code lvsctl apply --auto-approve pair > /out/apply.code 2>/out/apply.err
cp /etc/netns/d1/keepalived/keepalived.conf /out/d1.conf
cp /etc/netns/d2/keepalived/keepalived.conf /out/d2.conf
ka() { ip netns exec $1 /usr/sbin/keepalived -I -f /etc/keepalived/keepalived.conf -p /etc/keepalived/keepalived.pid -r /run/$2/vrrp.pid -c /run/$2/check.pid; }
ka d1 k1
ka d2 k2
has_vip() { ip -n $1 -o addr show dev eth0 | grep -q ' 192.168.0.10/32'; }
i=0; until has_vip d1; do i=$((i+1)); [ $i -lt 300 ] || { echo "d1 never took the VIP" >&2; exit 1; }; sleep 0.2; done
has_vip d2 && echo "d2 has the VIP too" > /out/d2-vip || true
code lvsctl plan --detailed-exitcode pair > /out/plan1.code
ip netns exec client hits -url http://192.168.0.10/ -from 192.168.0.150 -sources 10 -per 2 > /out/hits 2>/out/hits.err

# rs2 stops answering HTTP: keepalived's checker takes it out.
in_table() { ip netns exec $1 ipvsadm -Ln | grep -q "$2"; }
for p in $(ip netns pids rs2); do kill $p; done
i=0; while in_table d1 192.168.0.102:80; do i=$((i+1)); [ $i -lt 300 ] || { echo "the checker never took rs2 out" >&2; exit 1; }; sleep 0.1; done
code lvsctl drift pair > /out/drift-down.code
lvsctl plan pair > /out/plan-down 2>/dev/null || true

# A weight changed in the definition: one change of each director's file.
pid1=$(cat /etc/netns/d1/keepalived/keepalived.pid)
lvsctl plan weighted > /out/plan-weight 2>/dev/null || true
code lvsctl apply --auto-approve weighted > /out/apply-weight.code 2>/out/apply-weight.err
i=0; until ip netns exec d1 ipvsadm -Ln | grep -q '192.168.0.101:80 *Route *2 '; do i=$((i+1)); [ $i -lt 100 ] || break; sleep 0.1; done
ip netns exec d1 ipvsadm -Ln > /out/table-weight
ip netns exec d2 ipvsadm -Ln >> /out/table-weight
[ "$(cat /etc/netns/d1/keepalived/keepalived.pid)" = "$pid1" ] && kill -0 $pid1 && echo "same keepalived" > /out/same-pid
code lvsctl drift weighted > /out/drift-weight.code

# keepalived -t refuses a definition with an interface the directors lack.
cp /etc/netns/d1/keepalived/keepalived.conf /tmp/d1.before
c=0; lvsctl apply --auto-approve broken > /out/apply-broken.err 2>&1 || c=$?; echo $c > /out/apply-broken.code
cmp /tmp/d1.before /etc/netns/d1/keepalived/keepalived.conf && echo same > /out/d1-after-broken
kill -0 $pid1 && has_vip d1 && echo "keepalived runs on d1 with the VIP" > /out/d1-alive
ls -a /etc/netns/d1/keepalived/ > /out/d1-dir
code lvsctl drift weighted > /out/drift-broken.code

# rs2 answers again: the checker puts it back at its weight.
ip netns exec rs2 namesrv rs2 &
i=0; until in_table d1 '192.168.0.102:80 *Route *3 '; do i=$((i+1)); [ $i -lt 300 ] || { echo "the checker never put rs2 back" >&2; exit 1; }; sleep 0.1; done
ip netns exec client hits -url http://192.168.0.10/ -from 192.168.0.160 -sources 10 -per 4 > /out/hits-up 2>/out/hits-up.err
code lvsctl drift weighted > /out/drift-up.code

# keepalived out of the definition: lvsctl removes the files it wrote, and
# leaves keepalived running.
lvsctl plan plain > /out/plan-plain 2>/dev/null || true
code lvsctl apply --auto-approve plain > /out/apply-plain.code 2>/out/apply-plain.err
[ -e /etc/netns/d1/keepalived/keepalived.conf ] && echo present > /out/d1-conf-plain || true
kill -0 $pid1 && has_vip d1 && echo alive > /out/d1-alive-plain
code lvsctl plan --detailed-exitcode plain > /out/plan-plain2.code
`,
		Timeout: 240 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	f := func(name string) string { return string(r.Files[name]) }
	if r.ExitCode != 0 {
		t.Fatalf("guest script exit %d:\n%s\n%s", r.ExitCode, r.Stderr, f("apply.err"))
	}
	t.Logf("VM run %v\nfirst plan:\n%s\nd1's keepalived.conf:\n%s", r.Duration, f("plan0"), f("d1.conf"))

	if !strings.Contains(f("d1.conf"), "    quorum 1\n") {
		t.Errorf("d1's keepalived.conf has no quorum")
	}

	// The first apply writes the file on both directors; keepalived is not
	// running yet, so the plan says the file waits for its start.
	if f("apply.code") != "0\n" {
		t.Errorf("apply exits %s:\n%s", f("apply.code"), f("apply.err"))
	}
	for _, want := range []string{"+ keepalived config /etc/keepalived/keepalived.conf", "vrrp_instance lvs MASTER priority 150 on eth0", "vrrp_instance lvs BACKUP priority 100 on eth0", "keepalived is not running here"} {
		if !strings.Contains(f("plan0"), want) {
			t.Errorf("the first plan lacks %q:\n%s", want, f("plan0"))
		}
	}
	for _, want := range []string{"state MASTER", "priority 150", "router_id d1", "192.168.0.10/32 dev eth0", "virtual_server 192.168.0.10 80", "HTTP_GET", "weight 3"} {
		if !strings.Contains(f("d1.conf"), want) {
			t.Errorf("d1's file lacks %q", want)
		}
	}
	if !strings.Contains(f("d2.conf"), "state BACKUP") || !strings.Contains(f("d2.conf"), "priority 100") || !strings.Contains(f("d2.conf"), "router_id d2") {
		t.Errorf("d2's file:\n%s", f("d2.conf"))
	}

	// keepalived runs it: d1 is master, both real servers serve.
	c := counts(t, r.Files["hits"])
	if f("d2-vip") != "" || f("plan1.code") != "0\n" || c["rs1"] == 0 || c["rs2"] == 0 || c["errors"] != 0 {
		t.Errorf("with keepalived running: %s plan exits %s; requests %v", f("d2-vip"), f("plan1.code"), c)
	}

	// The checker took rs2 out: no drift, a note.
	if f("drift-down.code") != "0\n" || !strings.Contains(f("plan-down"), "No changes") || !strings.Contains(f("plan-down"), "managed elsewhere") {
		t.Errorf("rs2 taken out by keepalived: drift exits %s; plan:\n%s", f("drift-down.code"), f("plan-down"))
	}

	// The weight change: one change per director, the file only.
	t.Logf("weight plan:\n%s\ntables after:\n%s", f("plan-weight"), f("table-weight"))
	if strings.Count(f("plan-weight"), "~ keepalived config /etc/keepalived/keepalived.conf") != 2 ||
		!strings.Contains(f("plan-weight"), "virtual_server 192.168.0.10 80 / real_server 192.168.0.101 80 / weight 1 → 2") ||
		!strings.Contains(f("plan-weight"), "Plan: 0 to add, 2 to change, 0 to destroy.") {
		t.Errorf("the weight change's plan:\n%s", f("plan-weight"))
	}
	if f("apply-weight.code") != "0\n" || f("drift-weight.code") != "0\n" || f("same-pid") == "" {
		t.Errorf("weight change: apply exits %s, drift %s, keepalived kept its pid: %q\n%s", f("apply-weight.code"), f("drift-weight.code"), f("same-pid"), f("apply-weight.err"))
	}
	if strings.Count(f("table-weight"), "192.168.0.101:80") != 2 || strings.Contains(f("table-weight"), "192.168.0.102") ||
		!strings.Contains(f("table-weight"), "192.168.0.101:80             Route   2") {
		t.Errorf("after the reload, keepalived's table (rs1 at weight 2, rs2 still out):\n%s", f("table-weight"))
	}

	// keepalived -t refused the broken definition; everything stayed.
	t.Logf("broken apply:\n%s", f("apply-broken.err"))
	if f("apply-broken.code") != "1\n" || !strings.Contains(f("apply-broken.err"), "keepalived -t refused the new configuration") ||
		!strings.Contains(f("apply-broken.err"), "eth9") {
		t.Errorf("the broken definition: apply exits %s:\n%s", f("apply-broken.code"), f("apply-broken.err"))
	}
	if f("d1-after-broken") == "" || f("d1-alive") == "" || f("drift-broken.code") != "0\n" || strings.Contains(f("d1-dir"), ".lvsctl-") {
		t.Errorf("after the refused apply: file unchanged %q, keepalived %q, drift %s, folder %q", f("d1-after-broken"), f("d1-alive"), f("drift-broken.code"), f("d1-dir"))
	}

	// rs2 back.
	up := counts(t, r.Files["hits-up"])
	if up["rs2"] == 0 || up["errors"] != 0 || f("drift-up.code") != "0\n" {
		t.Errorf("rs2 back: requests %v, drift exits %s", up, f("drift-up.code"))
	}

	// keepalived out of the definition.
	t.Logf("without keepalived:\n%s", f("plan-plain"))
	if strings.Count(f("plan-plain"), "- keepalived config /etc/keepalived/keepalived.conf") != 2 || f("apply-plain.code") != "0\n" ||
		f("d1-conf-plain") != "" || f("d1-alive-plain") == "" || f("plan-plain2.code") != "0\n" {
		t.Errorf("keepalived taken out: apply exits %s, file %q, keepalived %q, next plan exits %s\n%s\n%s",
			f("apply-plain.code"), f("d1-conf-plain"), f("d1-alive-plain"), f("plan-plain2.code"), f("plan-plain"), f("apply-plain.err"))
	}
}
