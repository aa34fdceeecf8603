package hosts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lvsctl/lvsctl/applier"
	"github.com/lvsctl/lvsctl/hosts/agent"
	"github.com/lvsctl/lvsctl/internal/op"
	"github.com/lvsctl/lvsctl/internal/state"
	"github.com/lvsctl/lvsctl/planner"
	"github.com/lvsctl/lvsctl/schema"
)

// Options say how to start agents.
type Options struct {
	Exe string // lvsctl binary for agents; this program when empty
	// ExeFor, when set and not "", names the local agent program for one
	// host (test builds only).
	ExeFor      func(host string) string
	StateDir    string    // agents' inventory and lock folder; the agent's default when empty
	PersistRoot string    // where agents write the files kept for boot; "/" when empty
	Parallelism int       // hosts contacted at once; 10 when zero
	ReadOnly    bool      // refuse every change (plan, drift)
	Progress    io.Writer // per-host progress and failures, as they happen; nil for none
	// ConnectTimeout bounds reaching a host and its agent's first answer;
	// Timeout bounds every later request's silence. The agent package's
	// defaults when zero.
	ConnectTimeout, Timeout time.Duration
}

// Cluster is an open agent on every host that could be reached.
type Cluster struct {
	Clients map[string]*agent.Client
	// Failed holds the hosts that could not be opened or read, with why;
	// each was reported on Options.Progress the moment it failed.
	Failed map[string]error

	mu sync.Mutex
	o  Options
}

// Open starts an agent for each named host (every host when names is nil), up
// to the parallelism at once: this machine or a namespace through the local
// transport, others through SSH. A host that cannot be reached does not hold
// back the others; it goes into Failed. The agents live until Close or until
// ctx is done.
func Open(ctx context.Context, hostCfg map[string]*schema.Host, names []string, o Options) *Cluster {
	if names == nil {
		names = slices.Sorted(maps.Keys(hostCfg))
	}
	c := &Cluster{Clients: map[string]*agent.Client{}, Failed: map[string]error{}, o: o}
	c.each(names, func(name string) error {
		h := hostCfg[name]
		if h == nil {
			return fmt.Errorf("host %s is not in the configuration", name)
		}
		exe := o.Exe
		var cl *agent.Client
		var err error
		if h.SSH != nil {
			c.progress("%s: connecting over SSH to %s", name, h.SSH.Address)
			cl, err = agent.SSH{Address: h.SSH.Address, Port: h.SSH.Port, User: h.SSH.User, AgentPath: h.AgentPath,
				Netns: h.Netns, StateDir: o.StateDir, Root: o.PersistRoot, Exe: exe, ConnectTimeout: o.ConnectTimeout, Timeout: o.Timeout}.Start(ctx, name)
		} else {
			if o.ExeFor != nil {
				if e := o.ExeFor(name); e != "" {
					exe = e
				}
			}
			cl, err = agent.Local{Netns: h.Netns, Exe: exe, StateDir: o.StateDir, Root: o.PersistRoot, ConnectTimeout: o.ConnectTimeout, Timeout: o.Timeout}.Start(ctx, name)
		}
		if err != nil {
			return err
		}
		cl.ReadOnly = o.ReadOnly
		c.mu.Lock()
		c.Clients[name] = cl
		c.mu.Unlock()
		return nil
	})
	return c
}

// each runs f for every host, up to the parallelism at once; a host whose f
// fails is reported at once, closed, and moved to Failed.
func (c *Cluster) each(names []string, f func(name string) error) {
	par := c.o.Parallelism
	if par <= 0 {
		par = 10
	}
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for _, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := f(name); err != nil {
				c.fail(name, err)
			}
		}()
	}
	wg.Wait()
}

func (c *Cluster) fail(name string, err error) {
	c.progress("%s: FAILED: %v", name, err)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Failed[name] = err
	if cl := c.Clients[name]; cl != nil {
		delete(c.Clients, name)
		go cl.Kill(err)
	}
}

func (c *Cluster) progress(format string, args ...any) {
	if c.o.Progress != nil {
		c.mu.Lock()
		fmt.Fprintf(c.o.Progress, format+"\n", args...)
		c.mu.Unlock()
	}
}

// Err joins the failures of every host that could not be opened or read, in
// host order; nil when every host answered.
func (c *Cluster) Err() error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(c.Failed)) {
		errs = append(errs, c.Failed[name])
	}
	return errors.Join(errs...)
}

// Close ends every agent, each within its bound.
func (c *Cluster) Close() error {
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, cl := range c.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := cl.Close(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

// Kill ends every agent at once.
func (c *Cluster) Kill(why error) {
	for _, cl := range c.Clients {
		cl.Kill(why)
	}
}

// Lock takes every host's lock. A lock another lvsctl holds is tried again,
// every half second, until wait has passed (0: not at all).
func (c *Cluster) Lock(ctx context.Context, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for _, name := range slices.Sorted(maps.Keys(c.Clients)) {
		said := false
		for {
			err := c.Clients[name].Lock()
			var he *agent.HostError
			held := errors.As(err, &he) && he.Err.Errno == "EWOULDBLOCK"
			if !held || !time.Now().Before(deadline) {
				return err
			}
			if !said {
				c.progress("%s: another lvsctl holds the lock; waiting up to %v", name, time.Until(deadline).Round(time.Second))
				said = true
			}
			select {
			case <-ctx.Done():
				return context.Cause(ctx)
			case <-time.After(min(500*time.Millisecond, time.Until(deadline))):
			}
		}
	}
	return nil
}

// Gather reads, from every open host at once (up to the parallelism), what
// the desired state and the host's inventory make relevant. A host that fails
// moves to Failed; the others are read regardless.
func (c *Cluster) Gather(desired map[string]*state.Host) map[string]*planner.Live {
	out := map[string]*planner.Live{}
	var mu sync.Mutex
	clients := maps.Clone(c.Clients) // a failing host leaves c.Clients meanwhile
	c.each(slices.Sorted(maps.Keys(clients)), func(name string) error {
		c.progress("%s: reading live state", name)
		live, err := gatherOne(clients[name], desired[name])
		if err != nil {
			return err
		}
		mu.Lock()
		out[name] = live
		mu.Unlock()
		return nil
	})
	return out
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
	req := agent.RequestFor(d, inv)
	req.Boot = true
	g, err := cl.Gather(req)
	if err != nil {
		return nil, err
	}
	return &planner.Live{Host: g.Host, Inventory: inv, IPVSAvailable: g.IPVSAvailable, MissingSysctls: g.MissingSysctl, Boot: g.Boot,
		Keepalived: g.Keepalived}, nil
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

// unknownOutcome marks a failure after which the host may have run what it
// was sent: anything but the agent's own refusal of the whole request.
func unknownOutcome(err error) error {
	var he *agent.HostError
	if errors.As(err, &he) {
		return err
	}
	return fmt.Errorf("%w (%w)", err, applier.ErrOutcomeUnknown)
}

func (e executor) Do(o op.Op) error {
	res, err := e.c.Apply([]op.Op{o})
	if err != nil {
		return unknownOutcome(err)
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
		return n, unknownOutcome(err)
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
