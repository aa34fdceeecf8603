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
