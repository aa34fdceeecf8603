package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lvsctl/lvsctl/internal/vmlab"
)

// swapResult is the part of testdata/swapload's output the benchmark reads.
type swapResult struct {
	Method     string
	Persistent bool
	Service    string
	Swaps      int
	Seconds    float64
	Rate       float64
	Churn      struct {
		OK, Refused, RefusedOutside, Slow, ConnTimeout, Reset, Timeout, Other, PersistMoved int
	}
	Long, Window struct {
		Opened, Failed, Refused, Requests, Broken, BrokenAfterUnrule, BrokenAfterDelete int
		ByServer                                                                        map[string]int
		Failures                                                                        []string
	}
	Steps                         map[string][2]float64
	TempConns, TempActiveAtDelete []int
	Errors                        []string
}

const (
	swapsPerMethod = 8
	swapLong       = 4 // held connections through every change
	swapWindow     = 2 // connections opened at each change, held to the end
)

// swapRuns are the runs of swapload, in order: a name and a method. The
// service is made persistent (-p 60) before "pplain".
var swapRuns = []struct{ name, method string }{
	{"none", "none"}, {"plain", "plain"}, {"fwmark", "fwmark"}, {"syndrop", "syndrop"},
	{"pplain", "plain"}, {"pfwmark", "fwmark"},
}

// BenchmarkSchedulerSwap measures, in one VM on the direct-routing network,
// what changing the virtual service's scheduler (wrr -> wlc -> wrr ...)
// does to traffic through it, for each way of doing it (testdata/swapload
// drives the director and the client): plain `ipvsadm -E`; the
// temporary-fwmark procedure (a firewall-mark service with the same
// destinations and the new scheduler, an nftables rule marking VIP:80,
// ipvsadm -E, the rule deleted, the temporary service drained for at most
// 0.5s and deleted); and an nftables rule dropping new SYNs to VIP:80 during
// ipvsadm -E (with 1.2s between changes rather than 0.3s, so that a dropped
// SYN's retransmission does not meet the next change's rule).
//
// Meanwhile the client keeps opening short connections (at most 40 a
// second, from 30 source addresses), holds 4 keep-alive connections opened
// before the first change that ask every 100ms, and at each change opens 2
// more ("window" connections; for fwmark, once the mark rule is in, so that
// the temporary service takes them) held until 1.5s after the change. Then
// plain and fwmark again on a persistent service (-p 60). The director runs
// with net.ipv4.vs.expire_nodest_conn=1, as lvsctl sets it.
//
// Metrics, per method: new connections refused per change; connects that
// needed a retransmitted SYN (over 700ms) or timed out (7s) per change;
// short connections and held ones broken after they connected; for fwmark,
// the connections the temporary service held when it was deleted, per
// change, and the window connections broken after the mark rule's deletion
// began and after the temporary service's did; on the persistent service,
// answers per change from another real server than the source's usual one.
//
// What it showed on Debian 12's 6.1 kernel: plain refused about 1 to 3 new
// connections per change at 20 to 30 new connections a second, none on the
// persistent service (clients with a template skip the scheduler); fwmark
// refused none and broke no connection that existed before, nor any when
// the mark rule went, but reset every connection the temporary service had
// taken that was still open when it was deleted (expire_nodest_conn), and
// on the persistent service it ignored the clients' templates.
func BenchmarkSchedulerSwap(b *testing.B) {
	vmlab.Require(b)
	bins, err := Binaries()
	if err != nil {
		b.Fatal(err)
	}
	bins["swapload"] = vmlab.BuildStatic(b, "github.com/lvsctl/lvsctl/test/scenario/testdata/swapload")
	var runs strings.Builder
	for _, r := range swapRuns {
		if r.name == "pplain" {
			runs.WriteString("ip netns exec director ipvsadm -E -t 192.168.0.10:80 -s wrr -p 60\n")
		}
		gap := "300ms"
		if r.method == "syndrop" {
			// Past a dropped SYN's first retransmission (1s), which must
			// not meet the next change's rule.
			gap = "1200ms"
		}
		fmt.Fprintf(&runs, "run %s -method %s -swaps %d -long %d -window %d -gap %s\n", r.name, r.method, swapsPerMethod, swapLong, swapWindow, gap)
	}
	sum := map[string]float64{}
	var order []string
	metric := func(v float64, unit string) {
		if _, ok := sum[unit]; !ok {
			order = append(order, unit)
		}
		sum[unit] += v
	}
	for b.Loop() {
		r, err := vmlab.Run(context.Background(), vmlab.Scenario{
			Name:     "schedswap",
			Binaries: bins,
			Script: Topology + DRNetwork + `
set -e
ip -n director addr add 192.168.0.10/32 dev ens33
for rs in rs1 rs2; do
	ip netns exec $rs sh -c 'echo 1 > /proc/sys/net/ipv4/conf/all/arp_ignore; echo 2 > /proc/sys/net/ipv4/conf/all/arp_announce'
	ip -n $rs addr add 192.168.0.10/32 dev lo
done
ip netns exec director sh -c 'echo 1 > /proc/sys/net/ipv4/vs/expire_nodest_conn'
ip netns exec director ipvsadm -A -t 192.168.0.10:80 -s wrr
ip netns exec director ipvsadm -a -t 192.168.0.10:80 -r 192.168.0.101:80 -g -w 1
ip netns exec director ipvsadm -a -t 192.168.0.10:80 -r 222.117.155.123:80 -g -w 3
ip netns exec client hits -url http://192.168.0.10/ -n 8 > /out/sanity
run() {
	name=$1; shift
	c=0
	ip netns exec client swapload -vip 192.168.0.10:80 -from 192.168.0.150 -sources 30 -long-from 192.168.0.200 "$@" > /out/$name.json 2> /out/$name.err || c=$?
	echo $c > /out/$name.code
}
` + runs.String() + `
ip netns exec director ipvsadm -S -n > /out/save
`,
			Timeout: 240 * time.Second,
		})
		if err != nil {
			b.Fatal(err)
		}
		f := func(name string) string { return string(r.Files[name]) }
		if r.ExitCode != 0 {
			b.Fatalf("exit %d\n%s", r.ExitCode, r.Stderr)
		}
		report, err := os.Create(filepath.Join(os.TempDir(), "lvsctl-schedswap-report.txt"))
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("VM run %v (lab slowdown %.1f); every run's details in %s", r.Duration, vmlab.Slowdown(), report.Name())
		var c map[string]int
		if err := json.Unmarshal(r.Files["sanity"], &c); err != nil || c["rs1"] != 2 || c["rs2"] != 6 || c["errors"] != 0 {
			b.Fatalf("8 requests through wrr 1:3 before any change: %s", f("sanity"))
		}
		for _, run := range swapRuns {
			if f(run.name+".code") != "0\n" {
				b.Fatalf("swapload %s: exit %s\n%s", run.name, f(run.name+".code"), f(run.name+".err"))
			}
			var s swapResult
			if err := json.Unmarshal(r.Files[run.name+".json"], &s); err != nil {
				b.Fatalf("swapload %s: %v\n%s", run.name, err, f(run.name+".json"))
			}
			checkSwapRun(b, report, run.name, &s)
			n := float64(s.Swaps)
			m := run.name
			metric(float64(s.Churn.Refused+s.Window.Refused)/n, m+"-refused/swap")
			if run.name != "none" {
				metric(float64(s.Churn.Slow)/n, m+"-slowSYN/swap")
				metric(float64(s.Churn.ConnTimeout)/n, m+"-connTimeout/swap")
				metric(float64(s.Churn.Reset+s.Churn.Timeout+s.Churn.Other), m+"-shortBroken")
				metric(float64(s.Long.Broken), m+"-longBroken")
				metric(float64(s.Window.Broken), m+"-windowBroken")
			}
			if run.method == "fwmark" {
				t := 0
				for _, c := range s.TempConns {
					t += c
				}
				metric(float64(t)/n, m+"-tempConns/swap")
				metric(float64(s.Window.BrokenAfterUnrule), m+"-windowBrokenAfterUnrule")
				metric(float64(s.Window.BrokenAfterDelete), m+"-windowBrokenAfterDelete")
			}
			if s.Persistent {
				metric(float64(s.Churn.PersistMoved)/n, m+"-persistMoved/swap")
			}
		}
		fmt.Fprintf(report, "table at the end:\n%s", f("save"))
		report.Close()
	}
	for _, unit := range order {
		b.ReportMetric(sum[unit]/float64(b.N), unit)
	}
}

// checkSwapRun fails the benchmark when a run measured nothing; it logs a
// line about the run (a benchmark's log keeps only 10 lines) and writes the
// details to report.
func checkSwapRun(b *testing.B, report io.Writer, name string, s *swapResult) {
	b.Helper()
	c := s.Churn
	b.Logf("%s %.0fs: churn %.0f/s ok %d refused %d slow %d reset %d timeout %d/%d other %d moved %d; held %d/%d broken %d; window %d/%d refused %d broken %d (%d after unrule, %d after delete); temp %v",
		name, s.Seconds, s.Rate, c.OK, c.Refused, c.Slow, c.Reset, c.ConnTimeout, c.Timeout, c.Other, c.PersistMoved,
		s.Long.Opened, swapLong, s.Long.Broken, s.Window.Opened, s.Swaps*swapWindow, s.Window.Refused, s.Window.Broken,
		s.Window.BrokenAfterUnrule, s.Window.BrokenAfterDelete, s.TempConns)
	fmt.Fprintf(report, "== %s (%s, %d changes, %.1fs)\nchurn %.1f/s %+v\nheld: %d opened, %d answers, %d broken, by server %v\nwindow: %d opened, %d refused, %d broken (%d after unrule, %d after delete), by server %v\ntemp conns %v, active at delete %v\nsteps (median, max ms) %v\n",
		name, s.Service, s.Swaps, s.Seconds, s.Rate, s.Churn, s.Long.Opened, s.Long.Requests, s.Long.Broken, s.Long.ByServer,
		s.Window.Opened, s.Window.Refused, s.Window.Broken, s.Window.BrokenAfterUnrule, s.Window.BrokenAfterDelete, s.Window.ByServer,
		s.TempConns, s.TempActiveAtDelete, s.Steps)
	for _, l := range append(s.Long.Failures, s.Window.Failures...) {
		fmt.Fprintf(report, "  %s\n", l)
	}
	for _, l := range s.Errors {
		fmt.Fprintf(report, "  %s\n", l)
	}
	if s.Swaps != swapsPerMethod {
		b.Errorf("%s: %d changes, want %d", name, s.Swaps, swapsPerMethod)
	}
	if s.Churn.OK < 50 {
		b.Errorf("%s: only %d short connections answered: the load measured nothing", name, s.Churn.OK)
	}
	if s.Long.Opened != swapLong || s.Long.Requests < 5*swapLong {
		b.Errorf("%s: held connections: %d of %d opened, %d answers in all: they never worked", name, s.Long.Opened, swapLong, s.Long.Requests)
	}
	if s.Churn.RefusedOutside > 0 {
		b.Errorf("%s: %d refusals away from any change: refusals are not the change's alone", name, s.Churn.RefusedOutside)
	}
	if name == "none" && s.Churn.Refused+s.Window.Refused+s.Churn.Reset+s.Churn.Other > 0 {
		b.Errorf("control run without changes had failures: %+v", s.Churn)
	}
	if strings.HasSuffix(name, "fwmark") {
		t := 0
		for _, c := range s.TempConns {
			t += c
		}
		if s.Window.Opened != swapsPerMethod*swapWindow || t < swapsPerMethod*swapWindow {
			b.Errorf("%s: the temporary service took %d connections (%v), %d of %d window connections opened: the mark rule did not catch them",
				name, t, s.TempConns, s.Window.Opened, swapsPerMethod*swapWindow)
		}
	}
	if (name == "pplain" || name == "pfwmark") != s.Persistent {
		b.Errorf("%s: service %q persistent=%v", name, s.Service, s.Persistent)
	}
}
