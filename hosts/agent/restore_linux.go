package agent

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/lvsctl/lvsctl/internal/boot"
	"github.com/lvsctl/lvsctl/internal/state"
	"github.com/lvsctl/lvsctl/planner"
)

// Restore puts back, on this host or in the namespace o names, what the
// state file lvsctl kept for boot declares: the sysctls first, then links,
// addresses, routes and mark rules, then the IPVS table, in the order an
// apply uses (planned against the live state, so what is already in place is
// left alone, and a real server's ARP sysctls come before its VIP). It is what
// lvsctl-restore.service runs at boot.
//
// A step that fails stops the attempt there, so nothing after it runs
// without what it needs; Restore then reads the host again and tries anew
// once a second until wait has passed (an interface or a route the
// distribution sets up may come a little later), and returns the last
// failure. What it did goes to out, one line per change.
func Restore(out io.Writer, o BackendOptions, wait time.Duration) error {
	l, err := newLinux(o)
	if err != nil {
		return err
	}
	if l.unnamed != "" {
		return errors.New(l.unnamed)
	}
	p := l.diskPath(boot.StateFile)
	data, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("reading the state kept for boot: %w", err)
	}
	desired, err := boot.ParseState(data)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	if err := checkPersisted(desired); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	where := "this host"
	if l.where.Netns != "" {
		where = "network namespace " + l.where.Netns
	}
	fmt.Fprintf(out, "lvsctl restore: %s, from %s\n", where, l.where.StatePath())
	deadline := time.Now().Add(wait)
	for {
		n, err := l.restoreOnce(out, desired)
		if err == nil {
			if n == 0 {
				fmt.Fprintln(out, "lvsctl restore: everything was in place")
			} else {
				fmt.Fprintf(out, "lvsctl restore: done, %d changed\n", n)
			}
			return nil
		}
		if !time.Now().Before(deadline) {
			return err
		}
		fmt.Fprintf(out, "lvsctl restore: %v; trying again in 1s\n", err)
		time.Sleep(time.Second)
	}
}

// restoreOnce plans the host from its live state to desired and runs the
// plan, stopping at the first failure; it returns how many changes it made.
func (l *Linux) restoreOnce(out io.Writer, desired *state.Host) (int, error) {
	if err := l.Lock(); err != nil {
		return 0, err
	}
	inv, err := l.readInventory()
	if err != nil {
		return 0, err
	}
	g, err := l.Gather(RequestFor(desired, inv))
	if err != nil {
		return 0, err
	}
	const name = "boot"
	d := *desired
	d.Name = name
	live := &planner.Live{Host: g.Host, Inventory: inv, IPVSAvailable: g.IPVSAvailable, MissingSysctls: g.MissingSysctl}
	plan, err := planner.Make(map[string]*state.Host{name: &d}, map[string]*planner.Live{name: live})
	if err != nil {
		return 0, err
	}
	for _, n := range plan.Notes {
		fmt.Fprintf(out, "note: %s\n", n.Text)
	}
	done := 0
	for _, c := range plan.Changes {
		for _, s := range c.Steps {
			if s.Op == nil {
				continue // a drain: nothing is connected yet at boot
			}
			if err := checkOp(*s.Op); err != nil {
				return done, err
			}
			if err := l.WriteAhead([]Op{*s.Op}); err != nil {
				return done, err
			}
			if err := l.Apply(*s.Op); err != nil {
				return done, fmt.Errorf("%s %s %s: %w", c.Action, c.Kind, c.Object, err)
			}
		}
		done++
		fmt.Fprintf(out, "%s %s %s%s\n", c.Action, c.Kind, c.Object, fieldsText(c))
	}
	if u := plan.Inventories[name]; u != nil {
		if err := l.writeInventory(u.After); err != nil {
			return done, err
		}
	}
	return done, nil
}

func fieldsText(c *planner.Change) string {
	if c.Detail != "" {
		return " (" + c.Detail + ")"
	}
	var parts []string
	for _, f := range c.Fields {
		parts = append(parts, fmt.Sprintf("%s %s -> %s", f.Name, f.Before, f.After))
	}
	if len(parts) == 0 {
		return ""
	}
	return ": " + strings.Join(parts, ", ")
}
