package applier_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lvsctl/lvsctl/internal/fakehost"
	"github.com/lvsctl/lvsctl/internal/keepalived"
	"github.com/lvsctl/lvsctl/internal/op"
	"github.com/lvsctl/lvsctl/internal/state"
	"github.com/lvsctl/lvsctl/planner"
	"github.com/lvsctl/lvsctl/schema"
)

const kaPairCluster = `package c

hosts: {
	d1: netns: "d1"
	d2: netns: "d2"
	rs1: {netns: "rs1", interface: "eth0"}
}
pairs: lvs: {
	directors: ["d1", "d2"]
	interface: "eth0"
	vips: "192.168.0.10": {}
	routerID: 51
	sync: false
	keepalived: {}
	services: web: {
		protocol: "tcp", address: "192.168.0.10", port: 80
		scheduler: "wrr"
		realServers: rs1: {address: "192.168.0.101", weight: WEIGHT, host: "rs1", check: type: "tcp"}
	}
}
`

func kaSetup(t *testing.T, weight int, live cluster) (map[string]*state.Host, cluster) {
	t.Helper()
	dir := t.TempDir()
	src := strings.Replace(kaPairCluster, "WEIGHT", fmt.Sprint(weight), 1)
	if err := os.WriteFile(filepath.Join(dir, "c.cue"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := schema.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if live != nil {
		return l.Hosts, live
	}
	c := cluster{}
	for name, d := range l.Hosts {
		c[name] = fakehost.New(name)
		for _, s := range d.Sysctls {
			c[name].State.Sysctls = append(c[name].State.Sysctls, state.Sysctl{Key: s.Key, Value: "0"})
		}
		if d.Keepalived != nil {
			c[name].Keepalived = &state.KeepalivedFile{Path: keepalived.DefaultConfig, Running: true}
		}
	}
	return l.Hosts, c
}

func (c cluster) kaLive() map[string]*planner.Live {
	out := c.live()
	for name, h := range c {
		if h.Keepalived != nil {
			k := *h.Keepalived
			out[name].Keepalived = &k
		}
	}
	return out
}

func (c cluster) kaSnapshot() string {
	m := map[string]any{}
	for n, h := range c {
		m[n] = []any{h.State, h.Inventory, h.Keepalived}
	}
	b, _ := json.MarshalIndent(m, "", " ")
	return string(b)
}

// A pair with keepalived: the first apply writes each director's
// configuration after the IPVS changes; a weight change is one write per
// director, each a reload; and a failure at any step of either plan puts
// every host back as it was, keepalived's files included.
func TestKeepalivedApplyAndRollback(t *testing.T) {
	desired, c := kaSetup(t, 1, nil)
	p, err := planner.Make(desired, c.kaLive())
	if err != nil {
		t.Fatal(err)
	}
	if r := c.applier(nil).Apply(context.Background(), p); !r.OK() {
		t.Fatalf("report: %+v", r)
	}
	for _, d := range []string{"d1", "d2"} {
		tr := c[d].Transcript()
		if !strings.Contains(tr, "ipvsadm -a -t 192.168.0.10:80 -r 192.168.0.101:80 -g -w 1\nwrite /etc/keepalived/keepalived.conf; kill -HUP keepalived") {
			t.Errorf("%s transcript:\n%s", d, tr)
		}
	}
	if p, _ := planner.Make(desired, c.kaLive()); len(p.Changes) != 0 {
		t.Errorf("a second plan changes %d objects", len(p.Changes))
	}

	for _, weight := range []int{1, 4} {
		var base cluster
		var d map[string]*state.Host
		if weight == 1 {
			d, base = kaSetup(t, 1, nil)
		} else {
			d, base = kaSetup(t, weight, c)
		}
		p, err := planner.Make(d, base.kaLive())
		if err != nil {
			t.Fatal(err)
		}
		steps := len(p.Inventories)
		kaChanges := 0
		for _, ch := range p.Changes {
			steps += len(ch.Steps)
			if ch.Kind == planner.KindKeepalived {
				kaChanges++
			}
		}
		if kaChanges != 2 {
			t.Fatalf("weight %d: %d keepalived changes", weight, kaChanges)
		}
		for k := 1; k <= steps; k++ {
			t.Run(fmt.Sprintf("weight %d step %d", weight, k), func(t *testing.T) {
				var c cluster
				if weight == 1 {
					_, c = kaSetup(t, 1, nil)
				} else {
					_, c = kaSetup(t, 1, nil)
					c.applier(nil).Apply(context.Background(), func() *planner.Plan { p, _ := planner.Make(desired, c.kaLive()); return p }())
				}
				before := c.kaSnapshot()
				n := 0
				for _, h := range c {
					h.Fail = func(o op.Op) error {
						n++
						if n == k {
							return fmt.Errorf("injected: %w", syscall.ENOENT)
						}
						return nil
					}
				}
				r := c.applier(nil).Apply(context.Background(), p)
				if r.OK() || len(r.NotUndone) != 0 {
					t.Fatalf("failure at step %d: %+v", k, r)
				}
				if diff := cmp.Diff(before, c.kaSnapshot()); diff != "" {
					t.Errorf("hosts after rollback (-before +after):\n%s", diff)
				}
			})
		}
	}
}

// keepalived taken out of the pair: each director's file lvsctl wrote is
// removed (no reload), the inventory releases it, and a failure at any step
// puts every host back, file included.
func TestKeepalivedRemoved(t *testing.T) {
	without := func(t *testing.T) map[string]*state.Host {
		dir := t.TempDir()
		src := strings.Replace(strings.Replace(kaPairCluster, "\tkeepalived: {}\n", "", 1), `, check: type: "tcp"`, "", 1)
		src = strings.Replace(src, "WEIGHT", "1", 1)
		if strings.Contains(src, "keepalived") || strings.Contains(src, "check") {
			t.Fatal("could not take keepalived out")
		}
		os.WriteFile(filepath.Join(dir, "c.cue"), []byte(src), 0o644)
		l, err := schema.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		return l.Hosts
	}
	applied := func(t *testing.T) cluster {
		desired, c := kaSetup(t, 1, nil)
		p, _ := planner.Make(desired, c.kaLive())
		if r := c.applier(nil).Apply(context.Background(), p); !r.OK() {
			t.Fatalf("report: %+v", r)
		}
		for _, h := range c {
			h.Log, h.Reloads = nil, 0
		}
		return c
	}
	c := applied(t)
	if !c["d1"].Inventory.HasKeepalived(keepalived.DefaultConfig) {
		t.Fatalf("the inventory does not own the file: %+v", c["d1"].Inventory)
	}
	d := without(t)
	p, err := planner.Make(d, c.kaLive())
	if err != nil {
		t.Fatal(err)
	}
	var gone []string
	for _, ch := range p.Changes {
		if ch.Kind == planner.KindKeepalived {
			gone = append(gone, ch.Host+" "+string(ch.Action)+" "+ch.Object)
			if ch.Warning == "" {
				t.Errorf("no warning on %s", ch.Object)
			}
		}
	}
	if strings.Join(gone, ", ") != "d1 - /etc/keepalived/keepalived.conf, d2 - /etc/keepalived/keepalived.conf" {
		t.Errorf("keepalived changes: %v", gone)
	}
	steps := len(p.Inventories)
	for _, ch := range p.Changes {
		steps += len(ch.Steps)
	}
	for k := 1; k <= steps; k++ {
		t.Run(fmt.Sprint(k), func(t *testing.T) {
			c := applied(t)
			before := c.kaSnapshot()
			n := 0
			for _, h := range c {
				h.Fail = func(o op.Op) error {
					n++
					if n == k {
						return fmt.Errorf("injected: %w", syscall.ENOENT)
					}
					return nil
				}
			}
			r := c.applier(nil).Apply(context.Background(), p)
			if r.OK() || len(r.NotUndone) != 0 {
				t.Fatalf("failure at step %d: %+v", k, r)
			}
			if diff := cmp.Diff(before, c.kaSnapshot()); diff != "" {
				t.Errorf("hosts after rollback (-before +after):\n%s", diff)
			}
		})
	}
	if r := c.applier(nil).Apply(context.Background(), p); !r.OK() {
		t.Fatalf("report: %+v", r)
	}
	for _, n := range []string{"d1", "d2"} {
		h := c[n]
		if h.Keepalived.Exists || h.Reloads != 0 || h.Inventory.HasKeepalived(keepalived.DefaultConfig) {
			t.Errorf("%s after the removal: %+v, %d reloads, inventory %v", n, h.Keepalived, h.Reloads, h.Inventory.Keepalived)
		}
	}
	if p, _ := planner.Make(d, c.kaLive()); !p.Empty() {
		t.Errorf("a second plan: %+v %+v", p.Changes, p.Inventories)
	}
}
