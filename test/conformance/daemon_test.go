package conformance

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lvsctl/lvsctl/hosts/agent"
	"github.com/lvsctl/lvsctl/internal/state"
)

// The sync daemons, in TestConformance's VM after its table is empty: a
// veth pair s0/s1 carries them. Phase 4 starts a master with every setting
// and a backup with the kernel's defaults through the agent (after a start
// on a missing interface, which fails), and a second master (which fails);
// phase 5 stops both (and a stop of what no longer runs fails); then
// ipvsadm --start-daemon starts a master with defaults and an IPv6 backup
// with every setting, and phase 6 gathers them. ipvsadm -L --daemon reads
// each phase back.
var (
	fullMaster = state.SyncDaemon{State: "master", Interface: "s0", SyncID: 7, MaxLength: 1400,
		Group: netip.MustParseAddr("239.1.2.3"), Port: 9000, TTL: 3}
	plainBackup = state.SyncDaemon{State: "backup", Interface: "s0", SyncID: 9}
)

func daemonPhases() (phase4, phase5 []agent.Request) {
	start := func(d state.SyncDaemon) agent.Request {
		return agent.Request{Kind: "apply", Apply: []agent.Op{{Kind: agent.StartDaemon, Daemon: &d}}}
	}
	stop := func(st string) agent.Op {
		return agent.Op{Kind: agent.StopDaemon, Daemon: &state.SyncDaemon{State: st, Interface: "s0"}}
	}
	gather := agent.Request{Kind: "gather", Gather: &agent.GatherRequest{IPVS: true}}
	nosuch := plainBackup
	nosuch.State, nosuch.Interface = "master", "nosuch0"
	phase4 = []agent.Request{start(nosuch),
		{Kind: "apply", Apply: []agent.Op{{Kind: agent.StartDaemon, Daemon: &fullMaster}, {Kind: agent.StartDaemon, Daemon: &plainBackup}}},
		start(fullMaster), gather}
	phase5 = []agent.Request{{Kind: "apply", Apply: []agent.Op{stop("master"), stop("backup")}},
		{Kind: "apply", Apply: []agent.Op{stop("master")}}, gather}
	return phase4, phase5
}

const daemonScript = `
ip link add s0 type veth peer name s1
ip link set s0 up
ip link set s1 up
ip addr add 10.9.0.1/24 dev s0
ip addr add 10.9.0.2/24 dev s1
ip addr add 2001:db8:9::2/64 dev s1 nodad
for p in 4 5; do
	lvsctl agent --state-dir /tmp/lvsctl < /req/$p.jsonl > /out/agent-$p
	ipvsadm -L --daemon > /out/daemon-$p
done
ipvsadm --start-daemon master --mcast-interface s0 --syncid 42
ipvsadm --start-daemon backup --mcast-interface s1 --syncid 5 --sync-maxlen 2000 --mcast-group ff05::1:81 --mcast-port 7000 --mcast-ttl 2
lvsctl agent --state-dir /tmp/lvsctl < /req/6.jsonl > /out/agent-6
ipvsadm -L --daemon > /out/daemon-6
ipvsadm --stop-daemon master
ipvsadm --stop-daemon backup
`

var daemonLine = regexp.MustCompile(`^(master|backup) sync daemon \((.*)\)$`)

// parseDaemons reads ipvsadm -L --daemon: "master sync daemon (mcast=s0,
// syncid=7, maxlen=1400, group=239.1.2.3, port=9000, ttl=3)".
func parseDaemons(out string) ([]state.SyncDaemon, error) {
	var ds []state.SyncDaemon
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		m := daemonLine.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("ipvsadm line %q", line)
		}
		d := state.SyncDaemon{State: m[1]}
		for _, kv := range strings.Split(m[2], ", ") {
			k, v, _ := strings.Cut(kv, "=")
			n, _ := strconv.ParseUint(v, 10, 32)
			switch k {
			case "mcast":
				d.Interface = v
			case "syncid":
				d.SyncID = uint32(n)
			case "maxlen":
				d.MaxLength = uint16(n)
			case "group":
				g, err := netip.ParseAddr(v)
				if err != nil {
					return nil, err
				}
				d.Group = g
			case "port":
				d.Port = uint16(n)
			case "ttl":
				d.TTL = uint8(n)
			default:
				return nil, fmt.Errorf("ipvsadm field %q in %q", k, line)
			}
		}
		ds = append(ds, d)
	}
	return ds, nil
}

func checkDaemons(t *testing.T, files map[string][]byte) {
	t.Helper()
	filled := func(d state.SyncDaemon, maxLen uint16) state.SyncDaemon {
		if !d.Group.IsValid() {
			d.Group, d.Port, d.TTL = state.DefaultSyncGroup, state.DefaultSyncPort, state.DefaultSyncTTL
		}
		if d.MaxLength == 0 {
			d.MaxLength = maxLen
		}
		return d
	}
	want := map[string][]state.SyncDaemon{
		// A veth's MTU is 1500: the kernel takes 1500 less the IPv4 and
		// UDP headers when no maximum length is given.
		"4": {filled(fullMaster, 0), filled(plainBackup, 1472)},
		"5": nil,
		"6": {
			{State: "master", Interface: "s0", SyncID: 42, MaxLength: 1472, Group: state.DefaultSyncGroup, Port: 8848, TTL: 1},
			{State: "backup", Interface: "s1", SyncID: 5, MaxLength: 2000, Group: netip.MustParseAddr("ff05::1:81"), Port: 7000, TTL: 2},
		},
	}
	for _, phase := range []string{"4", "5", "6"} {
		resp := responses(t, files["agent-"+phase])
		if len(resp) == 0 || resp[len(resp)-1].Gather == nil {
			t.Errorf("phase %s: no gather in %+v", phase, resp)
			continue
		}
		got := resp[len(resp)-1].Gather.Host.Daemons
		if diff := cmp.Diff(want[phase], got, cmpAddrs); diff != "" {
			t.Errorf("phase %s, daemons read through the agent (-want +read):\n%s", phase, diff)
		}
		byIpvsadm, err := parseDaemons(string(files["daemon-"+phase]))
		if err != nil {
			t.Errorf("phase %s: %v", phase, err)
		}
		if diff := cmp.Diff(want[phase], byIpvsadm, cmpAddrs); diff != "" {
			t.Errorf("phase %s, daemons read by ipvsadm -L --daemon (-want +ipvsadm):\n%s\n%s", phase, diff, files["daemon-"+phase])
		}
		t.Logf("phase %s: ipvsadm -L --daemon:\n%s", phase, files["daemon-"+phase])
	}
	resp4 := responses(t, files["agent-4"])
	resp5 := responses(t, files["agent-5"])
	if len(resp4) != 4 || len(resp5) != 3 {
		t.Fatalf("answers: %d to phase 4, %d to phase 5", len(resp4), len(resp5))
	}
	failed := func(what string, res agent.Response, errno string) {
		t.Helper()
		if len(res.Results) != 1 || res.Results[0].OK || res.Results[0].Error == nil || res.Results[0].Error.Errno != errno {
			t.Errorf("%s: want %s, got %+v", what, errno, res.Results)
			return
		}
		t.Logf("%s: %s", what, res.Results[0].Error.Message)
	}
	failed("start on a missing interface", resp4[0], "ENODEV")
	failed("a second master", resp4[2], "EEXIST")
	failed("stop what does not run", resp5[1], "ESRCH")
	for _, res := range []agent.Response{resp4[1], resp5[0]} {
		if len(res.Results) != 2 || !res.Results[0].OK || !res.Results[1].OK {
			t.Errorf("start or stop both: %+v %+v", res.Error, res.Results)
		}
	}
}

var cmpAddrs = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })
