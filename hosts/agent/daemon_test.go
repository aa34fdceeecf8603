package agent

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/lvsctl/lvsctl/internal/state"
)

// Sync daemon operations are checked like every other before they reach
// the kernel.
func TestCheckDaemonOps(t *testing.T) {
	ok := state.SyncDaemon{State: "master", Interface: "eth1", SyncID: 7, Group: netip.MustParseAddr("239.1.2.3"), Port: 8848, TTL: 1}
	if err := checkOp(Op{Kind: StartDaemon, Daemon: &ok}); err != nil {
		t.Errorf("a good daemon: %v", err)
	}
	for _, tc := range []struct {
		op   Op
		want string
	}{
		{Op{Kind: StartDaemon}, "needs daemon"},
		{Op{Kind: StopDaemon, Daemon: &state.SyncDaemon{State: "primary", Interface: "eth1"}}, "neither master nor backup"},
		{Op{Kind: StartDaemon, Daemon: &state.SyncDaemon{State: "master", Interface: "../../etc"}}, "interface"},
		{Op{Kind: StartDaemon, Daemon: &state.SyncDaemon{State: "master", Interface: "eth1", SyncID: 300}}, "above 255"},
		{Op{Kind: StartDaemon, Daemon: &state.SyncDaemon{State: "master", Interface: "eth1", Group: netip.MustParseAddr("10.0.0.1")}}, "not a multicast"},
		{Op{Kind: StartDaemon, Daemon: &state.SyncDaemon{State: "backup", Interface: "eth1", MaxLength: 512}}, "outside the kernel's 1024-65507"},
	} {
		err := checkOp(tc.op)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.op, err, tc.want)
		}
	}
}

// What a host says about its daemons is held to what a kernel runs.
func TestCheckGatheredDaemons(t *testing.T) {
	good := state.SyncDaemon{State: "backup", Interface: "eth1", SyncID: 1, Group: state.DefaultSyncGroup}
	for _, tc := range []struct {
		req  GatherRequest
		ds   []state.SyncDaemon
		want string
	}{
		{GatherRequest{IPVS: true}, []state.SyncDaemon{good}, ""},
		{GatherRequest{}, []state.SyncDaemon{good}, "not asked for"},
		{GatherRequest{IPVS: true}, []state.SyncDaemon{good, good}, "two backup sync daemons"},
		{GatherRequest{IPVS: true}, []state.SyncDaemon{{State: "boss", Interface: "eth1"}}, "state"},
		{GatherRequest{IPVS: true}, []state.SyncDaemon{{State: "master", Interface: "a/b"}}, "sync daemon master"},
		{GatherRequest{IPVS: true}, []state.SyncDaemon{{State: "master", Interface: "eth1", Group: netip.MustParseAddr("10.1.1.1")}}, "group"},
	} {
		err := checkGathered(tc.req, &Gathered{Host: &state.Host{Daemons: tc.ds}, IPVSAvailable: tc.req.IPVS})
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: got %v, want %q", tc.ds, err, tc.want)
		}
	}
	if err := checkInventory(&state.Inventory{Daemons: []string{"master", "evil"}}); err == nil {
		t.Error("an inventory with an unknown daemon was believed")
	}
}

// Starting a daemon records it in the inventory ahead of the change, once;
// stopping one needs nothing written.
func TestWriteAheadDaemons(t *testing.T) {
	d := state.SyncDaemon{State: "master", Interface: "eth1"}
	ops := []Op{{Kind: StartDaemon, Daemon: &d}, {Kind: StartDaemon, Daemon: &d}}
	got, news, err := writeAhead(&state.Inventory{}, ops, nil)
	if err != nil || !slices.Equal(got.Daemons, []string{"master"}) || !slices.Equal(news, []string{"sync daemon master"}) {
		t.Errorf("got %+v, %q, %v", got, news, err)
	}
	if needsWriteAhead([]Op{{Kind: StopDaemon, Daemon: &d}}) {
		t.Error("a stop needs the inventory written ahead")
	}
	if _, news, _ := writeAhead(&state.Inventory{Daemons: []string{"master"}}, ops, nil); len(news) != 0 {
		t.Errorf("an owned daemon recorded again: %q", news)
	}
	if got := RequestFor(&state.Host{}, &state.Inventory{Daemons: []string{"backup"}}); !got.IPVS {
		t.Error("an owned daemon does not ask for IPVS")
	}
}
