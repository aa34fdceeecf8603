package conformance

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/lvsctl/lvsctl/hosts/agent"
	"github.com/lvsctl/lvsctl/internal/state"
	"github.com/lvsctl/lvsctl/internal/vmlab"
)

// An agent entered into a namespace changes that namespace's IPVS table and
// nftables marks, and no other: each director in the lab is a namespace.
func TestAgentInNamespace(t *testing.T) {
	vmlab.Require(t)
	lvsctl := vmlab.BuildStatic(t, "github.com/lvsctl/lvsctl/cmd/lvsctl")
	svc := &state.Service{Key: tcp("192.0.2.10", 80), Scheduler: "wrr"}
	mark := &state.MarkRule{Family: state.IPv4, Addr: netip.MustParseAddr("192.0.2.10"), Protocol: state.TCP, Ports: []uint16{80, 443}, Mark: 7}
	r, err := vmlab.Run(context.Background(), vmlab.Scenario{
		Name:     "netns",
		Binaries: map[string]string{"lvsctl": lvsctl},
		Files: map[string][]byte{"/req.jsonl": requests(
			agent.Request{Kind: "apply", Apply: []agent.Op{
				{Kind: agent.AddService, Service: svc},
				{Kind: agent.AddMark, Mark: mark},
			}},
			agent.Request{Kind: "gather", Gather: &agent.GatherRequest{IPVS: true, Marks: true}},
		)},
		Script: `set -e
ip netns add lb1
ip netns add lb2
lvsctl agent --netns lb1 --state-dir /tmp/l < /req.jsonl > /out/agent
ip netns exec lb1 ipvsadm -S -n > /out/lb1
ip netns exec lb2 ipvsadm -S -n > /out/lb2
ipvsadm -S -n > /out/root
ip netns exec lb1 nft list table inet lvsctl > /out/nft-lb1
nft list tables > /out/nft-root`,
		Timeout: 90 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.ExitCode != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	resp := responses(t, r.Files["agent"])
	if len(resp) != 2 || resp[0].Error != nil || len(resp[0].Results) != 2 || !resp[0].Results[0].OK || !resp[0].Results[1].OK {
		t.Fatalf("agent: %+v", resp)
	}
	g := resp[1].Gather
	if len(g.Host.Services) != 1 || len(g.Host.MarkRules) != 1 || g.Host.MarkRules[0].Mark != 7 {
		t.Errorf("gathered in lb1: %+v %+v", g.Host.Services, g.Host.MarkRules)
	}
	if got := string(r.Files["lb1"]); got != "-A -t 192.0.2.10:80 -s wrr\n" {
		t.Errorf("lb1's table: %q", got)
	}
	if got := string(r.Files["lb2"]) + string(r.Files["root"]); got != "" {
		t.Errorf("other namespaces' tables: %q", got)
	}
	if nft := string(r.Files["nft-lb1"]); !strings.Contains(nft, "meta mark set 0x00000007") {
		t.Errorf("lb1's nftables:\n%s", nft)
	}
	if strings.Contains(string(r.Files["nft-root"]), "lvsctl") {
		t.Errorf("lvsctl's table leaked into the root namespace")
	}
}
