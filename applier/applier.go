// Package applier carries out a plan: host by host as the plan's order
// demands, draining destinations before it removes them, and writing each
// host's inventory last. When a step fails, or the context is cancelled
// (SIGINT, SIGTERM), it undoes every completed step in reverse order, and its
// Report says what failed, what was undone, and anything that could not be.
package applier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/lvsctl/lvsctl/internal/op"
	"github.com/lvsctl/lvsctl/internal/state"
	"github.com/lvsctl/lvsctl/planner"
)

// Host runs operations on one host.
type Host interface {
	Do(o op.Op) error
	// Conns returns the active connections of a destination, for draining.
	Conns(k state.ServiceKey, d netip.AddrPort) (uint32, error)
}

// Batcher is a Host that runs several operations in one exchange: in order,
// stopping at the first failure, returning how many succeeded and, when one
// failed, its error. The applier sends consecutive steps for one host as one
// batch; rollback stays exact because it knows which succeeded.
type Batcher interface {
	DoBatch(ops []op.Op) (int, error)
}

// ErrOutcomeUnknown marks a failure after which the host may or may not have
// run the operations it was sent: its answer was lost (the session was cut,
// the agent died) or broken. A Host wraps its error with it; the report then
// lists those operations as not undone, since nobody knows whether they ran.
var ErrOutcomeUnknown = errors.New("the host's answer was lost or broken, so whether it ran the operations sent is unknown")

// maxBatch bounds a batch, so progress shows and an interrupt is heard.
const maxBatch = 500

// Applier carries out plans.
type Applier struct {
	Hosts        map[string]Host
	DrainTimeout time.Duration // how long to wait for a destination to drain; 0 means do not wait
	DrainPoll    time.Duration // how often to look; 1s when zero
	// DrainGrace is the least a drain waits after its destination went to
	// weight 0: IPVS counts a connection as active only once its handshake
	// completes, so one scheduled just before the weight changed is still
	// "inactive" for a moment, and deleting the destination then would cut it.
	// 2s when zero.
	DrainGrace time.Duration
	Progress   io.Writer // one line per step; nil for none
	// Stop, when done, ends a rollback early (lvsctl apply's second signal):
	// the steps not yet undone are reported as not undone. Nil: a rollback
	// always runs to its end.
	Stop context.Context
}

// Report is what an apply did.
type Report struct {
	Done      []string       `json:"done"`                // steps done, in order
	Failed    *Failure       `json:"failed,omitempty"`    // the step that failed, if one did
	Undone    []string       `json:"undone,omitempty"`    // steps put back, in the order they were undone
	NotUndone []Failure      `json:"notUndone,omitempty"` // steps that could not be put back
	Drained   []string       `json:"drained,omitempty"`   // drains that ended by timeout with connections left
	Writes    map[string]int `json:"writes"`              // operations sent, per host
}

// Failure is a step that failed.
type Failure struct {
	Host  string `json:"host"`
	Step  string `json:"step"`
	Error string `json:"error"`
}

// OK reports whether everything in the plan was done.
func (r *Report) OK() bool { return r.Failed == nil }

type done struct {
	host string
	what string
	undo []op.Op
}

// Apply carries out p.
func (a *Applier) Apply(ctx context.Context, p *planner.Plan) *Report {
	r := &Report{Writes: map[string]int{}}
	var stack []done
	// Hosts that were sent a change: their agents wrote ahead what they were
	// about to create and the values they were about to change, so a rollback
	// puts their inventories back too.
	sent := map[string]bool{}
	fail := func(host, what string, err error) *Report {
		r.Failed = &Failure{Host: host, Step: what, Error: err.Error()}
		a.progress("FAILED on %s: %s: %v", host, what, err)
		a.rollback(stack, r)
		a.restoreInventories(p, sent, r)
		return r
	}
	type item struct {
		ch *planner.Change
		s  planner.Step
	}
	var items []item
	for _, ch := range p.Changes {
		if _, ok := a.Hosts[ch.Host]; !ok {
			return fail(ch.Host, ch.Object, errors.New("no connection to this host"))
		}
		for _, s := range ch.Steps {
			items = append(items, item{ch, s})
		}
	}
	for i := 0; i < len(items); {
		ch, s := items[i].ch, items[i].s
		if err := ctx.Err(); err != nil {
			return fail(ch.Host, s.String(ch), fmt.Errorf("interrupted before this step: %w", context.Cause(ctx)))
		}
		if s.Drain != nil {
			if err := a.drain(ctx, ch.Host, a.Hosts[ch.Host], s.Drain, r); err != nil {
				return fail(ch.Host, "drain "+s.Drain.Dest.String(), err)
			}
			i++
			continue
		}
		// A batch: this and the following operations on the same host.
		j := i + 1
		for j < len(items) && j-i < maxBatch && items[j].ch.Host == ch.Host && items[j].s.Drain == nil {
			j++
		}
		ops := make([]op.Op, j-i)
		for k := range ops {
			ops[k] = *items[i+k].s.Op
		}
		sent[ch.Host] = true
		n, err := a.do(ctx, a.Hosts[ch.Host], ops)
		r.Writes[ch.Host] += n
		for k := range n {
			it := items[i+k]
			stack = append(stack, done{ch.Host, it.s.Op.String(), it.s.Undo})
			r.Done = append(r.Done, ch.Host+": "+it.s.Op.String())
			// The operation, and the plan's line it belongs to.
			a.progress("%s: %s   [%s %s %s]", ch.Host, it.s.Op, it.ch.Action, it.ch.Kind, it.ch.Object)
		}
		i += n
		if err == nil {
			continue
		}
		r.Writes[ch.Host]++
		failed := items[i].s.Op
		if errors.Is(err, ErrOutcomeUnknown) {
			for _, it := range items[i:j] {
				r.NotUndone = append(r.NotUndone, Failure{Host: ch.Host, Step: it.s.Op.String(),
					Error: "sent, but the answer was lost: it may have been done; the next plan shows the live state"})
			}
			return fail(ch.Host, failed.String(), err)
		}
		if !alreadySo(failed.Kind, err) {
			return fail(ch.Host, failed.String(), err)
		}
		// The live state already matches: nothing was changed, so there is
		// nothing to undo.
		a.progress("%s: %s (already so)", ch.Host, failed)
		r.Done = append(r.Done, ch.Host+": "+failed.String())
		i++
	}
	for _, host := range sortedHosts(p.Inventories) {
		u := p.Inventories[host]
		h := a.Hosts[host]
		if h == nil {
			return fail(host, "write inventory", errors.New("no connection to this host"))
		}
		r.Writes[host]++
		sent[host] = true
		if err := h.Do(op.Op{Kind: op.WriteInventory, Inventory: u.After}); err != nil {
			return fail(host, "write inventory", err)
		}
		stack = append(stack, done{host, "write inventory", []op.Op{{Kind: op.WriteInventory, Inventory: u.Before}}})
		r.Done = append(r.Done, host+": write inventory")
	}
	return r
}

// do runs ops on h: as one batch when h can, else one at a time. It returns
// how many succeeded and the error of the one that failed.
func (a *Applier) do(ctx context.Context, h Host, ops []op.Op) (int, error) {
	if b, ok := h.(Batcher); ok {
		return b.DoBatch(ops)
	}
	for n, o := range ops {
		if n > 0 && ctx.Err() != nil {
			return n, nil // the caller sees the interrupt before the next step
		}
		if err := h.Do(o); err != nil {
			return n, err
		}
	}
	return len(ops), nil
}

// alreadySo reports whether err says the operation's effect is already in
// place: adding what exists, deleting what is gone.
func alreadySo(k op.Kind, err error) bool {
	switch k {
	case op.AddAddress, op.AddMark:
		return errors.Is(err, syscall.EEXIST)
	case op.DeleteService, op.DeleteDest, op.DeleteAddress, op.DeleteMark, op.DeleteRoute:
		return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ESRCH) || errors.Is(err, syscall.EADDRNOTAVAIL)
	}
	return false
}

func (a *Applier) drain(ctx context.Context, host string, h Host, d *planner.Drain, r *Report) error {
	if a.DrainTimeout <= 0 {
		return nil
	}
	poll := a.DrainPoll
	if poll <= 0 {
		poll = time.Second
	}
	grace := a.DrainGrace
	if grace <= 0 {
		grace = 2 * time.Second
	}
	start := time.Now()
	deadline := start.Add(max(a.DrainTimeout, grace))
	for {
		if wait := grace - time.Since(start); wait > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("interrupted while draining: %w", context.Cause(ctx))
			case <-time.After(wait):
			}
		}
		n, err := h.Conns(d.Service, d.Dest)
		if err != nil {
			return err
		}
		if n == 0 {
			a.progress("%s: %s -> %s drained", host, d.Service, d.Dest)
			return nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			r.Drained = append(r.Drained, fmt.Sprintf("%s: %s -> %s still had %d active connections after %s", host, d.Service, d.Dest, n, a.DrainTimeout))
			a.progress("%s: %s -> %s: drain timeout, %d active connections left", host, d.Service, d.Dest, n)
			return nil
		}
		a.progress("%s: draining %s -> %s: %d active connections, %s left", host, d.Service, d.Dest, n, left.Round(time.Second))
		select {
		case <-ctx.Done():
			return fmt.Errorf("interrupted while draining: %w", context.Cause(ctx))
		case <-time.After(min(poll, left)):
		}
	}
}

// rollback undoes completed steps in reverse, on every host.
func (a *Applier) rollback(stack []done, r *Report) {
	if len(stack) > 0 {
		a.progress("rolling back %d step%s", len(stack), map[bool]string{true: "", false: "s"}[len(stack) == 1])
	}
	for i := len(stack) - 1; i >= 0; i-- {
		d := stack[i]
		if a.Stop != nil && a.Stop.Err() != nil {
			for ; i >= 0; i-- {
				r.NotUndone = append(r.NotUndone, Failure{Host: stack[i].host, Step: stack[i].what,
					Error: fmt.Sprintf("rollback stopped: %v", context.Cause(a.Stop))})
			}
			a.progress("rollback stopped: %v", context.Cause(a.Stop))
			return
		}
		h := a.Hosts[d.host]
		ok := true
		for _, u := range d.undo {
			r.Writes[d.host]++
			if err := h.Do(u); err != nil && !alreadySo(u.Kind, err) {
				r.NotUndone = append(r.NotUndone, Failure{Host: d.host, Step: d.what, Error: fmt.Sprintf("undo %s: %v", u, err)})
				a.progress("could not undo on %s: %s: %v", d.host, d.what, err)
				ok = false
				break
			}
		}
		if ok {
			r.Undone = append(r.Undone, d.host+": "+d.what)
			a.progress("undone on %s: %s, by %s", d.host, d.what, opList(d.undo))
		}
	}
}

// restoreInventories writes back, on every host that was sent a change and
// where every step was undone, the inventory it had when the plan was made:
// the agent's write-ahead records are then no longer true. A host with steps
// left in place keeps them, since they say what lvsctl may own there.
func (a *Applier) restoreInventories(p *planner.Plan, sent map[string]bool, r *Report) {
	left := map[string]bool{}
	for _, n := range r.NotUndone {
		left[n.Host] = true
	}
	for _, host := range sortedHosts(sent) {
		before := p.InventoriesBefore[host]
		if before == nil || left[host] {
			continue
		}
		if a.Stop != nil && a.Stop.Err() != nil {
			r.NotUndone = append(r.NotUndone, Failure{Host: host, Step: "restore inventory",
				Error: fmt.Sprintf("rollback stopped: %v", context.Cause(a.Stop))})
			continue
		}
		r.Writes[host]++
		if err := a.Hosts[host].Do(op.Op{Kind: op.WriteInventory, Inventory: before}); err != nil {
			r.NotUndone = append(r.NotUndone, Failure{Host: host, Step: "restore inventory", Error: err.Error()})
			a.progress("could not restore the inventory on %s: %v", host, err)
			continue
		}
		a.progress("inventory on %s put back", host)
	}
}

func (a *Applier) progress(format string, args ...any) {
	if a.Progress != nil {
		fmt.Fprintf(a.Progress, format+"\n", args...)
	}
}

func sortedHosts[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// opList names operations for people: "a; b".
func opList(ops []op.Op) string {
	if len(ops) == 0 {
		return "nothing (it changed nothing to undo)"
	}
	parts := make([]string, len(ops))
	for i, o := range ops {
		parts[i] = o.String()
	}
	return strings.Join(parts, "; ")
}
