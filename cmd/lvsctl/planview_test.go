package main

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lvsctl/lvsctl/internal/fakehost"
	"github.com/lvsctl/lvsctl/internal/op"
	"github.com/lvsctl/lvsctl/internal/state"
	"github.com/lvsctl/lvsctl/planner"
	"github.com/lvsctl/lvsctl/schema"
)

// fakes are hosts in memory that plans are made against and applied to.
type fakes map[string]*fakehost.Host

func newFakes(t *testing.T, example string) (map[string]*state.Host, fakes) {
	t.Helper()
	l, err := schema.Load(filepath.Join("../../examples", example))
	if err != nil {
		t.Fatal(err)
	}
	f := fakes{}
	for name := range l.Hosts {
		f[name] = fakehost.New(name)
	}
	return l.Hosts, f
}

// live is what agents would report: every sysctl asked for reads "0" until
// set.
func (f fakes) live(desired map[string]*state.Host) map[string]*planner.Live {
	out := map[string]*planner.Live{}
	for name, h := range f {
		b, _ := json.Marshal(h.State)
		var s state.Host
		json.Unmarshal(b, &s)
		s.Sysctls = nil
		keys := map[string]bool{}
		for _, x := range desired[name].Sysctls {
			keys[x.Key] = true
		}
		for k := range h.Inventory.Sysctls {
			keys[k] = true
		}
		for k := range keys {
			v := "0"
			for _, x := range h.State.Sysctls {
				if x.Key == k {
					v = x.Value
				}
			}
			s.Sysctls = append(s.Sysctls, state.Sysctl{Key: k, Value: v})
		}
		inv := *h.Inventory
		out[name] = &planner.Live{Host: &s, Inventory: &inv, IPVSAvailable: true}
	}
	return out
}

func (f fakes) plan(t *testing.T, desired map[string]*state.Host, o planner.Options) *planner.Plan {
	t.Helper()
	live := f.live(desired)
	if len(o.Targets) > 0 {
		for name := range live {
			if !strings.Contains(" "+strings.Join(o.Targets, " ")+" ", " "+name+" ") {
				delete(live, name)
			}
		}
	}
	p, err := planner.MakeWith(desired, live, o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (f fakes) apply(t *testing.T, p *planner.Plan) {
	t.Helper()
	for _, ch := range p.Changes {
		for _, s := range ch.Steps {
			if s.Op != nil {
				if err := f[ch.Host].Apply(*s.Op); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for name, u := range p.Inventories {
		if err := f[name].Apply(op.Op{Kind: op.WriteInventory, Inventory: u.After}); err != nil {
			t.Fatal(err)
		}
	}
}

// planCases are plans of bad days, each made against fake hosts; their text
// is in testdata/plan/NAME.txt.
var planCases = map[string]func(t *testing.T) *planner.Plan{
	// rs2 leaves the cluster: the director drains it, then rs2 loses what
	// lvsctl set there, and its inventory is emptied.
	"retired": func(t *testing.T) *planner.Plan {
		desired, f := newFakes(t, "direct-routing")
		f.apply(t, f.plan(t, desired, planner.Options{}))
		svc := desired["director"].Services[0]
		svc.Dests = svc.Dests[:1]
		desired["rs2"] = &state.Host{Name: "rs2", Retired: true}
		return f.plan(t, desired, planner.Options{})
	},
	// Objects lvsctl manages are live but not in the inventory (an import,
	// or an inventory lost): nothing changes on the host, but the plan
	// records them.
	"inventory-only": func(t *testing.T) *planner.Plan {
		desired, f := newFakes(t, "direct-routing")
		f.apply(t, f.plan(t, desired, planner.Options{}))
		f["director"].Inventory = &state.Inventory{Sysctls: map[string]string{"net.ipv4.ip_forward": "0"}}
		return f.plan(t, desired, planner.Options{})
	},
	// Changes clients can notice carry a warning.
	"warnings": func(t *testing.T) *planner.Plan {
		desired, f := newFakes(t, "direct-routing")
		f.apply(t, f.plan(t, desired, planner.Options{}))
		desired["director"].Services[0].Scheduler = "wlc"
		desired["director"].Addresses[0].Prefix = netip.MustParsePrefix("192.168.0.10/24")
		return f.plan(t, desired, planner.Options{})
	},
	// The director alone, from empty hosts: its destinations wait for their
	// real servers.
	"targets": func(t *testing.T) *planner.Plan {
		desired, f := newFakes(t, "direct-routing")
		return f.plan(t, desired, planner.Options{Targets: []string{"director", "rs1"}})
	},
}

// TestPlanTextGolden compares the text view of each plan case with
// testdata/plan/NAME.txt; run `go test ./cmd/lvsctl -update` to rewrite them.
func TestPlanTextGolden(t *testing.T) {
	for name, mk := range planCases {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			writePlanText(&out, mk(t), "would")
			golden := filepath.Join("testdata", "plan", name+".txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), out.String()); diff != "" {
				t.Errorf("plan text (-want +got):\n%s", diff)
			}
		})
	}
}

// The JSON view carries what the text view shows: warnings, inventory
// updates with what they adopt and release, retired hosts and the counts.
func TestPlanJSONBadDays(t *testing.T) {
	var v struct {
		Changes []struct {
			Kind, Object, Warning string
		}
		Inventories map[string]struct {
			Adopt, Release []struct{ Kind, Object, Detail string }
		}
		Retired []string
		Summary map[string]int
	}
	decode := func(p *planner.Plan) {
		var out bytes.Buffer
		if err := writePlanJSON(&out, p); err != nil {
			t.Fatal(err)
		}
		v.Changes, v.Inventories, v.Retired, v.Summary = nil, nil, nil, nil
		if err := json.Unmarshal(out.Bytes(), &v); err != nil {
			t.Fatal(err)
		}
	}
	decode(planCases["retired"](t))
	if len(v.Retired) != 1 || v.Retired[0] != "rs2" || len(v.Inventories["rs2"].Release) != 9 || v.Summary["release"] != 9 || v.Summary["inventoryHosts"] != 1 {
		t.Errorf("retired: %+v", v)
	}
	decode(planCases["inventory-only"](t))
	if len(v.Changes) != 0 || v.Summary["adopt"] != 3 || v.Summary["release"] != 1 || v.Inventories["director"].Adopt[2].Detail != "original 1" {
		t.Errorf("inventory only: %+v", v)
	}
	decode(planCases["warnings"](t))
	n := 0
	for _, c := range v.Changes {
		if c.Warning != "" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("warnings: %+v", v.Changes)
	}
}

// validate --show marks a retired host.
func TestShowRetired(t *testing.T) {
	dir := t.TempDir()
	cfg := `package c
hosts: {
	old: {ssh: address: "old.example.com", retired: true}
	rs1: {netns: "x"}
}
`
	if err := os.WriteFile(filepath.Join(dir, "c.cue"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := lvsctl(t, "validate", "--show", dir)
	want := "old (ssh old.example.com, retired)\n  retired: apply removes what lvsctl set here (as its inventory here says); then delete this entry\n\nrs1 (this machine, netns x)\n"
	if code != 0 || out != want {
		t.Errorf("exit %d, stderr %s\n%s", code, errOut, cmp.Diff(want, out))
	}
}
