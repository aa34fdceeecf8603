package hosts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/lvsctl/lvsctl/applier"
	"github.com/lvsctl/lvsctl/hosts/agent"
	"github.com/lvsctl/lvsctl/internal/op"
	"github.com/lvsctl/lvsctl/internal/state"
	"github.com/lvsctl/lvsctl/planner"
	"github.com/lvsctl/lvsctl/schema"
)

// Options say how to start agents.
type Options struct {
	Exe         string    // lvsctl binary for local agents; this program when empty
	StateDir    string    // agents' inventory and lock folder; the agent's default when empty
	Parallelism int       // hosts gathered at once; 10 when zero
	ReadOnly    bool      // refuse every change (plan, drift)
	Progress    io.Writer // per-host progress; nil for none
}

// Cluster is an open agent on every host.
type Cluster struct {
	Clients map[string]*agent.Client
}

// Open starts an agent for each host, up to the parallelism at once: this
// machine or a namespace through the local transport, others through SSH.
func Open(ctx context.Context, hostCfg map[string]*schema.Host, o Options) (*Cluster, error) {
	exe := o.Exe
	if exe == "" {
		exe = os.Getenv("LVSCTL_AGENT_EXE") // tests: the test binary runs the agent
	}
	par := o.Parallelism
	if par <= 0 {
		par = 10
	}
	sem := make(chan struct{}, par)
	var mu sync.Mutex
	var wg sync.WaitGroup
	var errs []error
	c := &Cluster{Clients: map[string]*agent.Client{}}
	for _, name := range slices.Sorted(maps.Keys(hostCfg)) {
		h := hostCfg[name]
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			var cl *agent.Client
			var err error
			if h.SSH != nil {
				if o.Progress != nil {
					fmt.Fprintf(o.Progress, "%s: connecting over SSH to %s\n", name, h.SSH.Address)
				}
				cl, err = agent.SSH{Address: h.SSH.Address, Port: h.SSH.Port, User: h.SSH.User, AgentPath: h.AgentPath,
					Netns: h.Netns, StateDir: o.StateDir, Exe: exe}.Start(ctx, name)
			} else {
				cl, err = agent.Local{Netns: h.Netns, Exe: exe, StateDir: o.StateDir}.Start(ctx, name)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			cl.ReadOnly = o.ReadOnly
			c.Clients[name] = cl
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		c.Close()
		slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// Close ends every agent.
func (c *Cluster) Close() error {
	var errs []error
	for _, cl := range c.Clients {
		errs = append(errs, cl.Close())
	}
	return errors.Join(errs...)
}

// Lock takes every host's lock.
func (c *Cluster) Lock() error {
	for _, name := range slices.Sorted(maps.Keys(c.Clients)) {
		if err := c.Clients[name].Lock(); err != nil {
			return err
		}
	}
	return nil
}

// Gather reads, from every host at once (up to the parallelism), what the
// desired state and the host's inventory make relevant.
func (c *Cluster) Gather(ctx context.Context, desired map[string]*state.Host, o Options) (map[string]*planner.Live, error) {
	par := o.Parallelism
	if par <= 0 {
		par = 10
	}
	sem := make(chan struct{}, par)
	var mu sync.Mutex
	var errs []error
	out := map[string]*planner.Live{}
	var wg sync.WaitGroup
	for name, cl := range c.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if o.Progress != nil {
				fmt.Fprintf(o.Progress, "%s: reading live state\n", name)
			}
			live, err := gatherOne(cl, desired[name])
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			out[name] = live
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func gatherOne(cl *agent.Client, d *state.Host) (*planner.Live, error) {
	if d == nil {
		d = &state.Host{}
	}
	first, err := cl.Gather(agent.GatherRequest{Inventory: true})
	if err != nil {
		return nil, err
	}
	inv := first.Inventory
	req := agent.GatherRequest{
		IPVS:     len(d.Services) > 0 || d.Timeouts != nil || len(inv.Services) > 0 || d.Exclusive,
		Marks:    len(d.MarkRules) > 0 || len(inv.Marks) > 0,
		Routes:   len(d.Routes) > 0 || len(inv.Routes) > 0,
		AllAddrs: len(d.Addresses) > 0 || len(inv.Addresses) > 0,
	}
	for _, l := range d.Links {
		req.Links = append(req.Links, l.Name)
	}
	req.Links = appendNew(req.Links, inv.Links...)
	for _, s := range d.Sysctls {
		req.Sysctls = append(req.Sysctls, s.Key)
	}
	req.Sysctls = appendNew(req.Sysctls, slices.Sorted(maps.Keys(inv.Sysctls))...)
	g, err := cl.Gather(req)
	if err != nil {
		return nil, err
	}
	return &planner.Live{Host: g.Host, Inventory: inv, IPVSAvailable: g.IPVSAvailable, MissingSysctls: g.MissingSysctl}, nil
}

// Executors adapts the agents for the applier.
func (c *Cluster) Executors() map[string]applier.Host {
	out := map[string]applier.Host{}
	for name, cl := range c.Clients {
		out[name] = executor{cl}
	}
	return out
}

type executor struct{ c *agent.Client }

func (e executor) Do(o op.Op) error {
	res, err := e.c.Apply([]op.Op{o})
	if err != nil {
		return err
	}
	if len(res) != 1 {
		return fmt.Errorf("host %s: %d results for one operation", e.c.Host, len(res))
	}
	if res[0].Error != nil {
		return &agent.HostError{Host: e.c.Host, Err: res[0].Error}
	}
	return nil
}

// DoBatch sends ops as one request; the agent stops at the first failure.
func (e executor) DoBatch(ops []op.Op) (int, error) {
	res, err := e.c.Apply(ops)
	n := 0
	for _, r := range res {
		if !r.OK {
			return n, &agent.HostError{Host: e.c.Host, Err: r.Error}
		}
		n++
	}
	if err != nil {
		return n, err
	}
	if n != len(ops) {
		return n, fmt.Errorf("host %s: %d results for %d operations", e.c.Host, len(res), len(ops))
	}
	return n, nil
}

func (e executor) Conns(k state.ServiceKey, d netip.AddrPort) (uint32, error) {
	g, err := e.c.Gather(agent.GatherRequest{IPVS: true})
	if err != nil {
		return 0, err
	}
	for _, s := range g.Host.Services {
		if s.Key != k {
			continue
		}
		for _, x := range s.Dests {
			if x.Addr == d {
				if x.Conns == nil {
					return 0, nil
				}
				return x.Conns.Active, nil
			}
		}
	}
	return 0, nil // gone: nothing left to drain
}

func appendNew(list []string, items ...string) []string {
	for _, s := range items {
		if !slices.Contains(list, s) {
			list = append(list, s)
		}
	}
	return list
}
