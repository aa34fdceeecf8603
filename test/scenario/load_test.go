package scenario

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lvsctl/lvsctl/internal/vmlab"
)

const loadBase = `package lab

hosts: {
	director: netns: "director"
	rs1: {netns: "rs1", interface: "eth0"}
	rs2: {netns: "rs2", interface: "eth0"}
	rs3: {netns: "rs3", interface: "eth0"}
}
directors: director: {
	vips: "192.168.0.10": interface: "ens33"
	services: web: {
		address:   "192.168.0.10"
		port:      80
		scheduler: "wrr"
		realServers: {
			rs1: {address: "192.168.0.101", weight: 1, host: "rs1"}
			rs2: {address: "192.168.0.102", weight: 1, host: "rs2"}
		}
	}
}
`

// While a client sends requests without pause, one apply adds a real server,
// drains and removes another, and changes a weight: no request fails.
func TestApplyUnderLoad(t *testing.T) {
	vmlab.Require(t)
	next := strings.Replace(loadBase, `			rs1: {address: "192.168.0.101", weight: 1, host: "rs1"}
			rs2: {address: "192.168.0.102", weight: 1, host: "rs2"}`, `			rs2: {address: "192.168.0.102", weight: 2, host: "rs2"}
			rs3: {address: "192.168.0.103", weight: 3, host: "rs3"}`, 1)
	r, err := vmlab.Run(context.Background(), vmlab.Scenario{
		Name:     "load",
		Binaries: binaries(t),
		Files:    map[string][]byte{"/lab/base/cluster.cue": []byte(loadBase), "/lab/next/cluster.cue": []byte(next)},
		Script: Topology + `
set -e
mk client eth0 192.168.0.2/24
mk director ens33 192.168.0.1/24
for i in 1 2 3; do mk rs$i eth0 192.168.0.10$i/24; ip netns exec rs$i namesrv rs$i & done
sleep 1
cd /lab
lvsctl apply --auto-approve base > /out/apply1 2>&1
ip netns exec client hits -url http://192.168.0.10/ -for 20s > /out/load 2>/out/load.err &
load=$!
sleep 4
lvsctl plan next > /out/plan2 2>/dev/null
lvsctl apply --auto-approve --drain-timeout 15s next > /out/apply2 2>/out/apply2.err &
apply=$!
i=0; while kill -0 $apply 2>/dev/null; do sleep 0.2; i=$((i+1)); done
wait $apply
echo "apply took about $((i/5))s, starting 4s after the load" > /out/apply2.time
wait $load
ip netns exec director ipvsadm -S -n > /out/save
ip -n rs1 -o addr show dev lo > /out/rs1-lo
`,
		Timeout: 240 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	f := func(name string) string { return string(r.Files[name]) }
	if r.ExitCode != 0 {
		t.Fatalf("exit %d\n%s\n%s\n%s", r.ExitCode, r.Stderr, f("apply1"), f("apply2.err"))
	}
	t.Logf("VM run %v\n--- plan applied under load ---\n%s\n--- its progress ---\n%s", r.Duration, f("plan2"), f("apply2.err"))
	c := counts(t, r.Files["load"])
	t.Logf("requests answered during the apply: %v; %s\nfailures:\n%s", c, f("apply2.time"), f("load.err"))
	total := c["rs1"] + c["rs2"] + c["rs3"]
	if c["errors"] != 0 || total < 100 || c["rs1"] == 0 || c["rs3"] == 0 {
		t.Errorf("requests under load: %v", c)
	}
	if !strings.Contains(f("apply2"), "Apply complete! 2 added, 17 changed, 2 destroyed.") {
		t.Errorf("apply under load:\n%s", f("apply2"))
	}
	// The order: rs3 ready before its destination; rs1's destination drained
	// and deleted before rs1 lost the VIP.
	order := []string{"rs3: addr.add 192.168.0.10/32 dev lo", "director: ipvs.add-dest TCP 192.168.0.10:80 -> 192.168.0.103:80",
		"director: ipvs.update-dest TCP 192.168.0.10:80 -> 192.168.0.101:80", "drained",
		"director: ipvs.delete-dest TCP 192.168.0.10:80 -> 192.168.0.101:80", "rs1: addr.delete 192.168.0.10/32 dev lo"}
	at := -1
	for _, s := range order {
		i := strings.Index(f("apply2.err"), s)
		if i <= at {
			t.Errorf("%q is not after the step before it in:\n%s", s, f("apply2.err"))
		}
		at = i
	}
	if want := "-A -t 192.168.0.10:80 -s wrr\n-a -t 192.168.0.10:80 -r 192.168.0.102:80 -g -w 2\n-a -t 192.168.0.10:80 -r 192.168.0.103:80 -g -w 3\n"; f("save") != want {
		t.Errorf("table after:\n%s", f("save"))
	}
	if strings.Contains(f("rs1-lo"), "192.168.0.10/32") {
		t.Errorf("rs1 kept the VIP: %s", f("rs1-lo"))
	}
}
