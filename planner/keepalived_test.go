package planner_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"

	"github.com/lvsctl/lvsctl/internal/keepalived"
	"github.com/lvsctl/lvsctl/internal/op"
	"github.com/lvsctl/lvsctl/internal/state"
	"github.com/lvsctl/lvsctl/planner"
)

func kaDesired(weight uint32) *state.Keepalived {
	return &state.Keepalived{Config: keepalived.DefaultConfig, PidFile: keepalived.DefaultPidFile, Program: keepalived.DefaultProgram,
		RouterName: "d1", Pair: "lvs",
		VRRP: state.VRRPInstance{Name: "lvs", Master: true, Interface: "eth0", RouterID: 51, Priority: 150,
			VIPs: []netip.Prefix{netip.MustParsePrefix("192.168.0.10/32")}},
		Services: []state.CheckedService{{DelayLoop: 6, Checks: []state.Check{{Type: "tcp", Timeout: 3, Retry: 3}},
			Service: state.Service{Key: state.ServiceKey{Family: state.IPv4, Protocol: state.TCP, Addr: netip.MustParseAddr("192.168.0.10"), Port: 80},
				Scheduler: "wrr", Dests: []*state.Destination{{Addr: netip.MustParseAddrPort("192.168.0.101:80"), Weight: weight, Forward: state.DR}}}}},
	}
}

func kaPlan(t *testing.T, want *state.Keepalived, cur *state.KeepalivedFile) *planner.Plan {
	t.Helper()
	p, err := planner.Make(map[string]*state.Host{"d1": {Name: "d1", Keepalived: want}},
		map[string]*planner.Live{"d1": {Host: &state.Host{Name: "d1"}, Keepalived: cur}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// keepalived's configuration is an object of the plan: + when missing, ~
// with the settings that differ, nothing when it is lvsctl's; the write
// carries the structured configuration, the undo what the plan read.
func TestKeepalivedConfigPlanned(t *testing.T) {
	v1, _ := keepalived.Render(kaDesired(1))

	p := kaPlan(t, kaDesired(1), &state.KeepalivedFile{Path: keepalived.DefaultConfig})
	if len(p.Changes) != 1 {
		t.Fatalf("changes: %+v", p.Changes)
	}
	c := p.Changes[0]
	if c.Action != planner.Create || c.Kind != planner.KindKeepalived || c.Object != keepalived.DefaultConfig ||
		c.Detail != "vrrp_instance lvs MASTER priority 150 on eth0, 1 virtual server, 1 real server checked" {
		t.Errorf("create: %+v", c)
	}
	w, u := c.Steps[0].Op, c.Steps[0].Undo
	if w.Kind != op.WriteKeepalived || w.Keepalived.Spec == nil || w.Keepalived.Path != keepalived.DefaultConfig ||
		len(u) != 1 || u[0].Kind != op.RevertKeepalived || u[0].Keepalived.Existed {
		t.Errorf("steps: %+v undo %+v", w, u)
	}
	if a, ch, d := p.Counts(); a != 1 || ch != 0 || d != 0 {
		t.Errorf("counts %d %d %d", a, ch, d)
	}
	if !strings.Contains(strings.Join(notes(p), "\n"), "keepalived is not running here") {
		t.Errorf("notes: %s", strings.Join(notes(p), "\n"))
	}

	// The same file, keepalived running: nothing to do, no note.
	p = kaPlan(t, kaDesired(1), &state.KeepalivedFile{Path: keepalived.DefaultConfig, Exists: true, Content: string(v1), Running: true})
	if len(p.Changes) != 0 || strings.Contains(strings.Join(notes(p), "\n"), "keepalived") {
		t.Errorf("no change expected: %+v %s", p.Changes, strings.Join(notes(p), "\n"))
	}

	// Another weight: one field.
	p = kaPlan(t, kaDesired(4), &state.KeepalivedFile{Path: keepalived.DefaultConfig, Exists: true, Content: string(v1), Running: true})
	if len(p.Changes) != 1 {
		t.Fatalf("changes: %+v", p.Changes)
	}
	c = p.Changes[0]
	sum := sha256.Sum256(v1)
	if c.Action != planner.Update || len(c.Fields) != 1 || c.Fields[0] != (planner.Field{Name: "virtual_server 192.168.0.10 80 / real_server 192.168.0.101 80 / weight", Before: "1", After: "4"}) ||
		c.Warning != "" || c.Steps[0].Undo[0].Keepalived.SHA256 != hex.EncodeToString(sum[:]) || !c.Steps[0].Undo[0].Keepalived.Existed {
		t.Errorf("update: %+v", c)
	}
	if !strings.Contains(strings.Join(c.Why, "; "), "keepalived -t, then keepalived reloaded") {
		t.Errorf("why: %q", c.Why)
	}

	// A file lvsctl did not write: replaced, with a warning.
	p = kaPlan(t, kaDesired(1), &state.KeepalivedFile{Path: keepalived.DefaultConfig, Exists: true, Content: "global_defs {\n router_id old\n}\n"})
	if c := p.Changes[0]; c.Warning == "" || c.Fields[0].Name != "written by" {
		t.Errorf("a foreign file: %+v", c)
	}

	// Not read: left alone.
	if p = kaPlan(t, kaDesired(1), nil); len(p.Changes) != 0 {
		t.Errorf("not read, yet planned: %+v", p.Changes)
	}
}

// A file lvsctl wrote that no pair asks for any more is removed, with a
// warning and the undo; one edited since is released with a note.
func TestKeepalivedConfigRemoved(t *testing.T) {
	v1, _ := keepalived.Render(kaDesired(1))
	inv := &state.Inventory{Keepalived: []string{keepalived.DefaultConfig}}
	mk := func(content string) *planner.Plan {
		p, err := planner.Make(map[string]*state.Host{"d1": {Name: "d1"}},
			map[string]*planner.Live{"d1": {Host: &state.Host{Name: "d1"}, Inventory: inv,
				Keepalived: &state.KeepalivedFile{Path: keepalived.DefaultConfig, Exists: true, Content: content, Running: true}}})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := mk(string(v1))
	if len(p.Changes) != 1 {
		t.Fatalf("changes: %+v", p.Changes)
	}
	c := p.Changes[0]
	sum := sha256.Sum256(v1)
	if c.Action != planner.Delete || c.Kind != planner.KindKeepalived || c.Warning == "" || c.Steps[0].Op.Kind != op.RemoveKeepalived ||
		c.Steps[0].Undo[0].Kind != op.RevertKeepalived || c.Steps[0].Undo[0].Keepalived.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("removal: %+v", c)
	}
	if u := p.Inventories["d1"]; u == nil || len(u.Release) != 1 || u.Release[0].Kind != planner.KindKeepalived {
		t.Errorf("inventory: %+v", p.Inventories["d1"])
	}
	p = mk("# mine now\nglobal_defs {}\n")
	if len(p.Changes) != 0 || !strings.Contains(strings.Join(notes(p), "\n"), "no longer starts with lvsctl's header") || p.Inventories["d1"] == nil {
		t.Errorf("an edited file: %+v %v %+v", p.Changes, notes(p), p.Inventories["d1"])
	}
}

// A saved plan made against one keepalived configuration is stale against
// another, and says which file moved.
func TestKeepalivedLiveDiff(t *testing.T) {
	a := &planner.Live{Host: &state.Host{}, Keepalived: &state.KeepalivedFile{Path: keepalived.DefaultConfig, Exists: true, Content: "a", Running: true}}
	b := &planner.Live{Host: &state.Host{}, Keepalived: &state.KeepalivedFile{Path: keepalived.DefaultConfig, Exists: true, Content: "b", Running: false}}
	got := strings.Join(planner.LiveDiff(a, b), "\n")
	if !strings.Contains(got, "keepalived config /etc/keepalived/keepalived.conf: (sha256 ") || !strings.Contains(got, "keepalived running: true → false") {
		t.Errorf("LiveDiff:\n%s", got)
	}
}
