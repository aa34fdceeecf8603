package conformance

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/lvsctl/lvsctl/hosts/agent"
	"github.com/lvsctl/lvsctl/internal/ipvsadm"
	"github.com/lvsctl/lvsctl/internal/state"
	"github.com/lvsctl/lvsctl/internal/vmlab"
)

// bigTable is services virtual services of dests direct-routing
// destinations each.
func bigTable(services, dests int) []*state.Service {
	out := make([]*state.Service, services)
	for i := range out {
		vip := netip.AddrFrom4([4]byte{10, 100, byte(i / 20 / 250), byte(i/20%250 + 1)})
		s := &state.Service{Key: state.ServiceKey{Family: state.IPv4, Protocol: state.TCP, Addr: vip, Port: uint16(8000 + i%20)}, Scheduler: "wrr"}
		for d := range dests {
			s.Dests = append(s.Dests, &state.Destination{Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 200, 0, byte(d + 1)}), s.Key.Port), Weight: uint32(1 + d%5), Forward: state.DR})
		}
		out[i] = s
	}
	return out
}

// BenchmarkGather5000x20 loads 5,000 services x 20 destinations with
// ipvsadm -R in the VM, then times a full gather through the agent and
// `ipvsadm -S -n` on the same table, in the same VM. Software emulation makes
// absolute times meaningless; the ratio is the result.
func BenchmarkGather5000x20(b *testing.B) {
	vmlab.Require(b)
	lvsctl := vmlab.BuildStatic(b, "github.com/lvsctl/lvsctl/cmd/lvsctl")
	timeit := vmlab.BuildStatic(b, "github.com/lvsctl/lvsctl/test/conformance/testdata/timeit")
	table := bigTable(5000, 20)
	for b.Loop() {
		r, err := vmlab.Run(context.Background(), vmlab.Scenario{
			Name:     "gather-bench",
			Binaries: map[string]string{"lvsctl": lvsctl, "timeit": timeit},
			Files: map[string][]byte{
				"/rules":       []byte(ipvsadm.Save(table)),
				"/gather.json": requests(agent.Request{Kind: "gather", Gather: &agent.GatherRequest{IPVS: true}}),
			},
			Modules: []string{"ip_vs", "ip_vs_wrr"},
			Script: `set -e
ipvsadm -R < /rules
lvsctl agent --state-dir /tmp/l < /gather.json > /out/gathered
timeit -n 5 -in /gather.json lvsctl agent --state-dir /tmp/l > /out/agent
timeit -n 5 ipvsadm -S -n > /out/ipvsadm`,
			Timeout: 600 * time.Second,
		})
		if err != nil {
			b.Fatal(err)
		}
		if r.ExitCode != 0 {
			b.Fatalf("exit %d: %s", r.ExitCode, r.Stderr)
		}
		resp := responses(b, r.Files["gathered"])
		if len(resp) != 1 || resp[0].Gather == nil || len(resp[0].Gather.Host.Services) != 5000 {
			b.Fatalf("gather did not return 5000 services")
		}
		dests := 0
		for _, s := range resp[0].Gather.Host.Services {
			dests += len(s.Dests)
		}
		if dests != 100000 {
			b.Fatalf("gathered %d destinations, want 100000", dests)
		}
		var agentMedian, agentMin, admMedian, admMin float64
		fmt.Sscan(string(r.Files["agent"]), &agentMedian, &agentMin)
		fmt.Sscan(string(r.Files["ipvsadm"]), &admMedian, &admMin)
		b.ReportMetric(agentMedian/1e6, "agent-ms")
		b.ReportMetric(admMedian/1e6, "ipvsadm-ms")
		b.ReportMetric(agentMedian/admMedian, "agent/ipvsadm")
	}
}
