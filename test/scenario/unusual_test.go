package scenario

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/lvsctl/lvsctl/internal/ipvsadm"
	"github.com/lvsctl/lvsctl/internal/vmlab"
)

// unusualCluster is what real configurations hold and the kernel takes
// (issue 13, item 5): a firewall-mark service whose mark iptables would set
// (no mark group), real servers on the director's loopback and on its own
// address, persistence netmasks that are not contiguous, and direct-routing
// and tunnel real servers on another port than the service's.
const unusualCluster = `package lab

hosts: {
	director: {netns: "director", boot: "files"}
	rs1: {netns: "rs1", interface: "eth0", boot: "none"}
}
directors: director: {
	vips: "192.168.0.10": interface: "ens33"
	services: {
		web: {
			address: "192.168.0.10"
			port:    80
			scheduler: "wrr"
			persistence: {timeout: 300, netmask: "255.255.0.255"}
			realServers: {
				rs1: {address: "192.168.0.101", port: 8080, host: "rs1"}
				lo: {address: "127.0.0.11", weight: 0}
				own: {address: "192.168.0.1", weight: 0}
				tun: {address: "192.168.0.102", port: 8080, forward: "tun", weight: 0}
			}
		}
		marked: {
			fwmark: 9
			scheduler: "rr"
			persistence: netmask: "255.0.255.0"
			realServers: {
				a: {address: "192.168.0.101", port: 8080}
				lo: {address: "127.0.0.12"}
				nat: {address: "192.168.0.103", port: 8080, forward: "nat"}
			}
		}
		dns6: {
			protocol: "udp"
			address: "2001:db8::10"
			port:    53
			realServers: lo: address: "::1"
		}
	}
}
`

// Applied on Debian's kernel, the definition plans "No changes" at once:
// the kernel keeps what was sent (the declared forwarding method for local
// addresses, the port of a direct-routing destination, the netmask as
// written), gather reads it back as the definition says, and ipvsadm -S -n
// shows the same. The files kept for boot restore it as it was. Requests to
// the VIP on port 80 reach rs1's server on port 80, though its destination
// says 8080: direct routing ignores the port.
func TestUnusualConfigurations(t *testing.T) {
	vmlab.Require(t)
	r, err := vmlab.Run(context.Background(), vmlab.Scenario{
		Name:     "unusual",
		Binaries: binaries(t),
		Files:    map[string][]byte{"/lab/u/cluster.cue": []byte(unusualCluster)},
		Script: Topology + `
set -e
mk client eth0 192.168.0.2/24
mk director ens33 192.168.0.1/24
mk rs1 eth0 192.168.0.101/24
ip -n director addr add 2001:db8::1/64 dev ens33
ip netns exec rs1 namesrv rs1 :80 &
sleep 1
cd /lab
lvsctl validate u > /out/validate 2>&1
lvsctl apply --auto-approve u > /out/apply 2>&1
echo $(code lvsctl plan --detailed-exitcode u) > /out/plan.code
lvsctl plan u > /out/plan 2>&1 || true
lvsctl plan -o json u > /out/plan.json 2>/dev/null || true
ip netns exec director ipvsadm -S -n > /out/save
ip netns exec director ipvsadm -Ln > /out/list
cat /var/lib/lvsctl/boot-*.json > /out/state
ip netns exec client hits -url http://192.168.0.10/ -n 10 > /out/hits
# The boot state: the table flushed, lvsctl restore puts it back.
ip netns exec director ipvsadm -C
lvsctl restore --netns director > /out/restore 2>&1
ip netns exec director ipvsadm -S -n > /out/save-restored
echo $(code lvsctl plan --detailed-exitcode u) > /out/plan-restored.code
`,
		Timeout: 180 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	f := func(name string) string { return string(r.Files[name]) }
	if r.ExitCode != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s\napply:\n%s", r.ExitCode, r.Stdout, r.Stderr, f("apply"))
	}
	t.Logf("VM run %v", r.Duration)
	for _, w := range []string{
		"warning: director: service marked (FWM 9): no mark group on this director sets mark 9, so lvsctl neither sets nor checks the rules that mark its packets (iptables, another nftables table)",
		"warning: director: service web (TCP 192.168.0.10:80): real server rs1 is 192.168.0.101:8080, but direct routing does not rewrite the destination port",
		"warning: director: service web (TCP 192.168.0.10:80): real server tun is 192.168.0.102:8080, but tunnel does not rewrite the destination port",
	} {
		if !strings.Contains(f("validate"), w) {
			t.Errorf("validate lacks %q:\n%s", w, f("validate"))
		}
	}
	if !strings.Contains(f("apply"), "Apply complete") {
		t.Fatalf("apply:\n%s", f("apply"))
	}
	if code := strings.TrimSpace(f("plan.code")); code != "0" {
		t.Errorf("plan after apply: exit %s, want 0 (no changes)\n%s", code, f("plan"))
	}
	if !strings.Contains(f("plan"), "No changes.") || !strings.Contains(f("plan"), "no mark group on this director sets mark 9") {
		t.Errorf("plan after apply:\n%s", f("plan"))
	}
	var pj struct {
		Notes []struct{ Host, Text string }
	}
	if err := json.Unmarshal(r.Files["plan.json"], &pj); err != nil {
		t.Errorf("plan -o json: %v\n%s", err, f("plan.json"))
	}
	found := false
	for _, n := range pj.Notes {
		found = found || n.Host == "director" && strings.HasPrefix(n.Text, "service marked (FWM 9): no mark group")
	}
	if !found {
		t.Errorf("plan -o json notes: %+v", pj.Notes)
	}

	// What the kernel keeps, as ipvsadm prints it.
	for _, w := range []string{
		"-A -t 192.168.0.10:80 -s wrr -p 300 -M 255.255.0.255\n",
		"-a -t 192.168.0.10:80 -r 192.168.0.101:8080 -g -w 1\n",
		"-a -t 192.168.0.10:80 -r 127.0.0.11:80 -g -w 0\n",
		"-a -t 192.168.0.10:80 -r 192.168.0.1:80 -g -w 0\n",
		"-a -t 192.168.0.10:80 -r 192.168.0.102:8080 -i -w 0",
		"-A -f 9 -s rr -p 300 -M 255.0.255.0\n",
		"-a -f 9 -r 192.168.0.101:8080 -g -w 1\n",
		"-a -f 9 -r 127.0.0.12:0 -g -w 1\n",
		"-a -f 9 -r 192.168.0.103:8080 -m -w 1\n",
		"-a -u [2001:db8::10]:53 -r [::1]:53 -g -w 1\n",
	} {
		if !strings.Contains(f("save"), w) {
			t.Errorf("ipvsadm -S -n lacks %q:\n%s", w, f("save"))
		}
	}
	// Debian 12's kernel keeps the declared method for a local address (no
	// "Local" forwarding, IP_VS_CONN_F_LOCALNODE): a kernel that reports it
	// is matched by the planner as any method (planner tests).
	for line := range strings.Lines(f("list")) {
		if fields := strings.Fields(line); len(fields) > 2 && fields[0] == "->" && fields[2] == "Local" {
			t.Errorf("the kernel reports a local node: %s", line)
		}
	}
	t.Logf("ipvsadm -Ln after apply:\n%s\nplan:\n%s", f("list"), f("plan"))
	// ipvsadm's reading is the definition's too: an import of it is faithful.
	saved, err := ipvsadm.ParseSave(f("save"))
	if err != nil {
		t.Fatal(err)
	}
	masks := map[string]string{}
	for _, s := range saved {
		if s.Persistent {
			masks[s.Key.String()] = s.MaskText()
		}
	}
	if masks["TCP 192.168.0.10:80"] != "/255.255.0.255" || masks["FWM 9"] != "/255.0.255.0" {
		t.Errorf("masks read from ipvsadm -S -n: %v", masks)
	}
	if !strings.Contains(f("state"), `"netmask": "255.255.0.255"`) && !strings.Contains(f("state"), `"netmask":"255.255.0.255"`) {
		t.Errorf("boot state file:\n%s", f("state"))
	}

	// Direct routing ignores the destination's port 8080: rs1 answers on 80.
	if !strings.Contains(f("hits"), `"rs1":10`) {
		t.Errorf("10 requests to the VIP: %s", f("hits"))
	}

	if f("save-restored") != f("save") {
		t.Errorf("restored from the boot state:\n%s\nwant:\n%s\nrestore said:\n%s", f("save-restored"), f("save"), f("restore"))
	}
	if code := strings.TrimSpace(f("plan-restored.code")); code != "0" {
		t.Errorf("plan after restore: exit %s", code)
	}
}
