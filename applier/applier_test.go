package applier_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lvsctl/lvsctl/applier"
	"github.com/lvsctl/lvsctl/internal/fakehost"
	"github.com/lvsctl/lvsctl/internal/op"
	"github.com/lvsctl/lvsctl/internal/state"
	"github.com/lvsctl/lvsctl/planner"
	"github.com/lvsctl/lvsctl/schema"
)

type host struct {
	*fakehost.Host
	conns func() uint32
}

func (h host) Do(o op.Op) error { return h.Apply(o) }
func (h host) Conns(state.ServiceKey, netip.AddrPort) (uint32, error) {
	if h.conns == nil {
		return 0, nil
	}
	return h.conns(), nil
}

type cluster map[string]*fakehost.Host

func setup(t *testing.T, example string) (map[string]*state.Host, cluster) {
	t.Helper()
	l, err := schema.Load(filepath.Join("../examples", example))
	if err != nil {
		t.Fatal(err)
	}
	c := cluster{}
	for name, d := range l.Hosts {
		c[name] = fakehost.New(name)
		// A kernel has every sysctl; these start at the kernel's default.
		for _, s := range d.Sysctls {
			c[name].State.Sysctls = append(c[name].State.Sysctls, state.Sysctl{Key: s.Key, Value: "0"})
		}
	}
	return l.Hosts, c
}

func (c cluster) live() map[string]*planner.Live {
	out := map[string]*planner.Live{}
	for name, h := range c {
		b, _ := json.Marshal(h.State)
		var s state.Host
		json.Unmarshal(b, &s)
		inv := *h.Inventory
		out[name] = &planner.Live{Host: &s, Inventory: &inv, IPVSAvailable: true}
		if h.Boot != nil {
			b := *h.Boot
			out[name].Boot = &b
		}
	}
	return out
}

// snapshot is every host's whole state and inventory.
func (c cluster) snapshot() string {
	b, _ := json.MarshalIndent(map[string]any{"hosts": func() map[string]any {
		m := map[string]any{}
		for n, h := range c {
			m[n] = []any{h.State, h.Inventory}
		}
		return m
	}()}, "", " ")
	return string(b)
}

func (c cluster) applier(conns func() uint32) *applier.Applier {
	a := &applier.Applier{Hosts: map[string]applier.Host{}, DrainTimeout: time.Second, DrainPoll: time.Millisecond, DrainGrace: time.Millisecond}
	for n, h := range c {
		a.Hosts[n] = host{h, conns}
	}
	return a
}

func TestApplyDirectRouting(t *testing.T) {
	desired, c := setup(t, "direct-routing")
	p, err := planner.Make(desired, c.live())
	if err != nil {
		t.Fatal(err)
	}
	r := c.applier(nil).Apply(context.Background(), p)
	if !r.OK() || len(r.Undone) != 0 {
		t.Fatalf("report: %+v", r)
	}
	if got := c["director"].Transcript(); !strings.HasSuffix(got, "ipvsadm -a -t 192.168.0.10:80 -r 222.117.155.123:80 -g -w 10\nwrite inventory") {
		t.Errorf("director transcript:\n%s", got)
	}
	if r.Writes["director"] != 6 {
		t.Errorf("director writes %d, want 6 (sysctl, address, service, 2 destinations, inventory)", r.Writes["director"])
	}
}

// Whichever step fails, every host ends exactly as it began.
func TestRollbackAtEveryStep(t *testing.T) {
	desired, base := setup(t, "direct-routing")
	p, err := planner.Make(desired, base.live())
	if err != nil {
		t.Fatal(err)
	}
	steps := len(p.Inventories)
	for _, ch := range p.Changes {
		steps += len(ch.Steps)
	}
	for k := 1; k <= steps; k++ {
		t.Run(fmt.Sprint(k), func(t *testing.T) {
			_, c := setup(t, "direct-routing")
			before := c.snapshot()
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
			if r.OK() || r.Failed == nil || !strings.Contains(r.Failed.Error, "injected") {
				t.Fatalf("failure at step %d not reported: %+v", k, r)
			}
			if len(r.NotUndone) != 0 {
				t.Fatalf("not undone: %+v", r.NotUndone)
			}
			if len(r.Undone) != k-1 {
				t.Errorf("undone %d steps, want %d", len(r.Undone), k-1)
			}
			if diff := cmp.Diff(before, c.snapshot()); diff != "" {
				t.Errorf("hosts after rollback (-before +after):\n%s", diff)
			}
		})
	}
}

// Removing a destination waits for its connections to end.
func TestDrain(t *testing.T) {
	desired, c := setup(t, "direct-routing")
	p, _ := planner.Make(desired, c.live())
	c.applier(nil).Apply(context.Background(), p)
	svc := desired["director"].Services[0]
	svc.Dests = svc.Dests[:1]
	p, err := planner.Make(desired, c.live())
	if err != nil {
		t.Fatal(err)
	}
	left := []uint32{3, 2, 1, 0}
	var progress strings.Builder
	a := c.applier(func() uint32 { n := left[0]; left = left[1:]; return n })
	a.Progress = &progress
	if r := a.Apply(context.Background(), p); !r.OK() || len(r.Drained) != 0 {
		t.Fatalf("report %+v", r)
	}
	if !strings.Contains(progress.String(), "draining TCP 192.168.0.10:80 -> 222.117.155.123:80: 3 active connections") ||
		!strings.Contains(progress.String(), "222.117.155.123:80 drained") {
		t.Errorf("progress:\n%s", progress.String())
	}
	// A drain that never ends stops at the timeout and is reported.
	desired2, c2 := setup(t, "direct-routing")
	p2, _ := planner.Make(desired2, c2.live())
	c2.applier(nil).Apply(context.Background(), p2)
	desired2["director"].Services[0].Dests = desired2["director"].Services[0].Dests[:1]
	p2, _ = planner.Make(desired2, c2.live())
	a2 := c2.applier(func() uint32 { return 5 })
	a2.DrainTimeout = 20 * time.Millisecond
	if r := a2.Apply(context.Background(), p2); !r.OK() || len(r.Drained) != 1 || !strings.Contains(r.Drained[0], "still had 5 active connections") {
		t.Fatalf("report %+v", r)
	}
}

// An interrupt (SIGINT, SIGTERM) between steps rolls back like a failure.
func TestInterruptRollsBack(t *testing.T) {
	desired, c := setup(t, "direct-routing")
	before := c.snapshot()
	p, _ := planner.Make(desired, c.live())
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	n := 0
	for _, h := range c {
		h.Fail = func(op.Op) error {
			if n++; n == 5 {
				cancel(errors.New("SIGINT"))
			}
			return nil
		}
	}
	r := c.applier(nil).Apply(ctx, p)
	if r.OK() || !strings.Contains(r.Failed.Error, "interrupted before this step: SIGINT") || len(r.Undone) != 5 {
		t.Fatalf("report %+v", r)
	}
	for _, h := range c {
		h.Fail = nil
	}
	if diff := cmp.Diff(before, c.snapshot()); diff != "" {
		t.Errorf("(-before +after):\n%s", diff)
	}
}

// Adding what exists, or deleting what is gone, is success with nothing to
// undo.
func TestAlreadySo(t *testing.T) {
	desired, c := setup(t, "direct-routing")
	p, _ := planner.Make(desired, c.live())
	c["rs1"].Apply(op.Op{Kind: op.AddAddress, Address: &state.Address{Interface: "lo", Prefix: netip.MustParsePrefix("192.168.0.10/32")}})
	var progress strings.Builder
	a := c.applier(nil)
	a.Progress = &progress
	if r := a.Apply(context.Background(), p); !r.OK() {
		t.Fatalf("%+v", r.Failed)
	}
	if !strings.Contains(progress.String(), "rs1: addr.add 192.168.0.10/32 dev lo (already so)") {
		t.Errorf("progress:\n%s", progress.String())
	}
}

// batcher sends a host's operations as one batch, and loses the answer to
// the batch that holds operation lose: the host ran them, lvsctl cannot know.
type batcher struct {
	host
	lose string
}

func (b batcher) DoBatch(ops []op.Op) (int, error) {
	for i, o := range ops {
		if err := b.Do(o); err != nil {
			return i, err
		}
	}
	for _, o := range ops {
		if o.String() == b.lose {
			return 0, fmt.Errorf("host: connection closed (%w)", applier.ErrOutcomeUnknown)
		}
	}
	return len(ops), nil
}

// A batch whose answer was lost is reported as possibly done, never as
// undone, and the other hosts are still rolled back.
func TestLostAnswer(t *testing.T) {
	desired, c := setup(t, "direct-routing")
	p, err := planner.Make(desired, c.live())
	if err != nil {
		t.Fatal(err)
	}
	rs1 := func() string { b, _ := json.Marshal([]any{c["rs1"].State, c["rs1"].Inventory}); return string(b) }
	before := rs1()
	a := c.applier(nil)
	lose := "addr.add 192.168.0.10/32 dev lo"
	a.Hosts["rs2"] = batcher{host{c["rs2"], nil}, lose}
	r := a.Apply(context.Background(), p)
	if r.OK() || r.Failed.Host != "rs2" || !strings.Contains(r.Failed.Error, "whether it ran the operations sent is unknown") {
		t.Fatalf("report: %+v", r)
	}
	var possibly []string
	for _, n := range r.NotUndone {
		if n.Host == "rs2" && strings.Contains(n.Error, "it may have been done") {
			possibly = append(possibly, n.Step)
		}
	}
	if len(possibly) == 0 || !slices.Contains(possibly, lose) {
		t.Errorf("the lost batch is not reported as possibly done: %+v", r.NotUndone)
	}
	if got := rs1(); got != before {
		t.Errorf("rs1 not rolled back:\n%s\n%s", before, got)
	}
}
