package planner_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lvsctl/lvsctl/internal/op"
	"github.com/lvsctl/lvsctl/internal/state"
	"github.com/lvsctl/lvsctl/planner"
)

func syncDaemon(st, iface string, id uint32) state.SyncDaemon {
	return state.SyncDaemon{State: st, Interface: iface, SyncID: id, Group: state.DefaultSyncGroup,
		Port: state.DefaultSyncPort, TTL: state.DefaultSyncTTL, Why: []string{"declared in directors.director.sync." + st}}
}

func daemonChanges(p *planner.Plan) []*planner.Change {
	var out []*planner.Change
	for _, c := range p.Changes {
		if c.Kind == "sync daemon" {
			out = append(out, c)
		}
	}
	return out
}

// A director's daemons start after its services and destinations, the
// next plan is empty (the kernel's filled-in maximum length is not a
// change), a changed sync ID is one replacement (stop, then start, each
// undoable), and leaving the configuration stops them.
func TestSyncDaemonLifecycle(t *testing.T) {
	desired := load(t, "direct-routing")
	desired["director"].Daemons = []state.SyncDaemon{syncDaemon("master", "ens33", 7), syncDaemon("backup", "ens33", 7)}
	c := newCluster(desired)
	p := plan(t, desired, c)
	got := c.apply(t, p)
	lines := strings.Split(got, "\n")
	if n := len(lines); n < 2 || lines[n-2] != "director: ipvsadm --start-daemon master --mcast-interface ens33 --syncid 7" ||
		lines[n-1] != "director: ipvsadm --start-daemon backup --mcast-interface ens33 --syncid 7" {
		t.Errorf("daemons do not start last:\n%s", got)
	}
	if dc := daemonChanges(p); len(dc) != 2 || dc[0].Action != planner.Create || dc[0].Detail != "ens33, syncid 7" {
		t.Errorf("daemon changes: %+v", dc)
	}
	if inv := c["director"].Inventory; !slices.Equal(inv.Daemons, []string{"master", "backup"}) {
		t.Errorf("inventory daemons: %v", inv.Daemons)
	}
	if p := plan(t, desired, c); !p.Empty() {
		t.Fatalf("second plan: %s", summary(p))
	}

	desired["director"].Daemons[0].SyncID = 8
	p = plan(t, desired, c)
	dc := daemonChanges(p)
	if len(p.Changes) != 1 || len(dc) != 1 {
		t.Fatalf("sync ID change: %s", summary(p))
	}
	ch := dc[0]
	if ch.Action != planner.Replace || ch.Object != "master" || !strings.Contains(ch.Warning, "cannot change a running sync daemon") ||
		!cmp.Equal(ch.Fields, []planner.Field{{Name: "syncid", Before: "7", After: "8"}}) {
		t.Errorf("change: %+v", ch)
	}
	if a, _, d := p.Counts(); a != 1 || d != 1 {
		t.Errorf("counts: %d add, %d destroy", a, d)
	}
	if len(ch.Steps) != 2 || ch.Steps[0].Op.Kind != op.StopDaemon || ch.Steps[0].Undo[0].Kind != op.StartDaemon ||
		ch.Steps[0].Undo[0].Daemon.SyncID != 7 || ch.Steps[1].Op.Kind != op.StartDaemon || ch.Steps[1].Op.Daemon.SyncID != 8 ||
		ch.Steps[1].Undo[0].Kind != op.StopDaemon {
		t.Errorf("steps: %+v", ch.Steps)
	}
	if got := c.apply(t, p); got != "director: ipvsadm --stop-daemon master\ndirector: ipvsadm --start-daemon master --mcast-interface ens33 --syncid 8" {
		t.Errorf("transcript:\n%s", got)
	}

	desired["director"].Daemons = nil
	p = plan(t, desired, c)
	dc = daemonChanges(p)
	if len(dc) != 2 || dc[0].Action != planner.Delete || dc[1].Action != planner.Delete || len(p.Changes) != 2 {
		t.Fatalf("removal: %s", summary(p))
	}
	c.apply(t, p)
	if len(c["director"].State.Daemons) != 0 || len(c["director"].Inventory.Daemons) != 0 {
		t.Errorf("after removal: %v, inventory %v", c["director"].State.Daemons, c["director"].Inventory.Daemons)
	}
}

// A daemon lvsctl did not start is a note, unless the director is
// exclusive; one declared is taken over (replaced when it differs).
func TestSyncDaemonOwnership(t *testing.T) {
	desired, c := applied(t, "direct-routing")
	hand := state.SyncDaemon{State: "backup", Interface: "eth9", SyncID: 3, MaxLength: 1472, Group: state.DefaultSyncGroup, Port: 8848, TTL: 1}
	c["director"].State.Daemons = []state.SyncDaemon{hand}
	p := plan(t, desired, c)
	if len(p.Changes) != 0 || !slices.ContainsFunc(p.Notes, func(n planner.Note) bool {
		return strings.Contains(n.Text, "unmanaged backup sync daemon (eth9, syncid 3, maxlen 1472)")
	}) {
		t.Errorf("unmanaged daemon: %s, notes %v", summary(p), p.Notes)
	}
	desired["director"].Exclusive = true
	p = plan(t, desired, c)
	if dc := daemonChanges(p); len(dc) != 1 || dc[0].Action != planner.Delete || !strings.Contains(dc[0].Why[0], "exclusive") {
		t.Errorf("exclusive: %s", summary(p))
	}
	desired["director"].Exclusive = false
	want := syncDaemon("backup", "eth9", 3)
	want.Group = netip.MustParseAddr("239.0.0.9")
	desired["director"].Daemons = []state.SyncDaemon{want}
	p = plan(t, desired, c)
	if dc := daemonChanges(p); len(dc) != 1 || dc[0].Action != planner.Replace ||
		!cmp.Equal(dc[0].Fields, []planner.Field{{Name: "group", Before: "224.0.0.81", After: "239.0.0.9"}}) {
		t.Errorf("takeover: %s", summary(p))
	}
	if u := p.Inventories["director"]; u == nil || !slices.Equal(u.After.Daemons, []string{"backup"}) {
		t.Errorf("inventory update: %+v", u)
	}
}

// A retired director stops its daemon before it removes any service.
func TestSyncDaemonStopsFirstOnRetiredDirector(t *testing.T) {
	desired := load(t, "direct-routing")
	desired["director"].Daemons = []state.SyncDaemon{syncDaemon("master", "ens33", 1)}
	c := newCluster(desired)
	c.apply(t, plan(t, desired, c))
	desired["director"] = &state.Host{Name: "director", Retired: true}
	got := c.apply(t, plan(t, desired, c))
	stop := strings.Index(got, "--stop-daemon master")
	del := strings.Index(got, "ipvsadm -D")
	if stop < 0 || del < 0 || stop > del {
		t.Errorf("stop at %d, service delete at %d:\n%s", stop, del, got)
	}
	if !c["director"].Inventory.Empty() {
		t.Errorf("inventory left: %+v", c["director"].Inventory)
	}
}

// A director with daemons needs IPVS.
func TestSyncDaemonNeedsIPVS(t *testing.T) {
	d := &state.Host{Name: "d", Daemons: []state.SyncDaemon{syncDaemon("master", "eth0", 0)}}
	_, err := planner.Make(map[string]*state.Host{"d": d}, map[string]*planner.Live{"d": {Host: &state.Host{}, Inventory: &state.Inventory{}}})
	if err == nil || !strings.Contains(err.Error(), "IPVS is not available") {
		t.Errorf("got %v", err)
	}
}
