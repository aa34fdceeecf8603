package agent

import (
	"errors"
	"fmt"

	"github.com/lvsctl/lvsctl/hosts/sysctl"
	"github.com/lvsctl/lvsctl/internal/op"
	"github.com/lvsctl/lvsctl/internal/state"
)

// The write-ahead inventory.
//
// Before an apply request changes anything, the agent records in the
// inventory, durably, what the request is about to make lvsctl own, and the
// value each sysctl has before lvsctl first changes it. Then a kill -9 of
// lvsctl or the agent, a power loss or a cut SSH session in the middle of an
// apply cannot lose either: the next plan sees lvsctl's new objects as
// lvsctl's, and a sysctl's original value is the one from before lvsctl,
// never lvsctl's own.
//
// The intents come from the operations that create or take over something:
//
//	sysctl.set          the key, with its live value read before any change
//	                    (only when the inventory has no original for it yet)
//	ipvs.add-service    the service key
//	addr.add            the address
//	link.ensure         the link name
//	mark.add/.replace   the rule (without Why, as the planner keeps it)
//	route.replace       the route, when it is managed (Route.Manage)
//	ipvs.start-daemon   the sync daemon's state (master, backup)
//
// Deletes and in-place updates need none: what they touch is owned already,
// or is not lvsctl's. The intents of a whole request are merged into the
// inventory with state.MergeInventory and written once, atomically and with
// fsync of file and directory, after every operation passed checkOp and
// before the first runs; when they add nothing (a weight change, a second run
// of the same change) nothing is written. When the write fails, the request
// is refused and nothing is done.
//
// A write-ahead inventory can hold more than what ended up existing: an
// object whose creation then failed, or one a rollback removed again. That
// is safe for values (an original stays the original) and for the planner
// (an owned object that is not there is not deleted). The applier's final
// inventory.write, and its rollback's restore of the inventory it read,
// still replace the inventory whole.

// needsWriteAhead reports whether any of ops may create or take over
// something, so the inventory needs to be read at all.
func needsWriteAhead(ops []Op) bool {
	for _, o := range ops {
		switch o.Kind {
		case SetSysctl, AddService, AddAddress, EnsureLink, AddMark, ReplaceMark, StartDaemon, op.WriteKeepalived:
			return true
		case ReplaceRoute:
			if o.Route != nil && o.Route.Manage {
				return true
			}
		}
	}
	return false
}

// writeAhead returns cur with the intents of ops merged in, and what that
// adds, for people (nothing: there is nothing to write before ops run).
// readSysctl reads a sysctl's live value; it is called only for keys cur has
// no original for, once each, before anything changes. A key this kernel does
// not have is not recorded: its operation fails and changes nothing.
func writeAhead(cur *state.Inventory, ops []Op, readSysctl func(key string) (string, error)) (*state.Inventory, []string, error) {
	intents := &state.Inventory{}
	var news []string
	for _, o := range ops {
		switch o.Kind {
		case SetSysctl:
			key := o.Sysctl.Key
			if cur.HasSysctl(key) || intents.HasSysctl(key) {
				continue
			}
			v, err := readSysctl(key)
			if errors.Is(err, sysctl.ErrNoSuchSysctl) {
				continue
			}
			if err != nil {
				return nil, nil, fmt.Errorf("reading %s to record its value from before lvsctl: %w", key, err)
			}
			if intents.Sysctls == nil {
				intents.Sysctls = map[string]string{}
			}
			intents.Sysctls[key] = v
			news = append(news, fmt.Sprintf("sysctl %s (was %q)", key, v))
		case AddService:
			if k := o.Service.Key; !cur.HasService(k) && !intents.HasService(k) {
				intents.Services = append(intents.Services, k)
				news = append(news, "service "+k.String())
			}
		case AddAddress:
			if a := *o.Address; !cur.HasAddress(a) && !intents.HasAddress(a) {
				intents.Addresses = append(intents.Addresses, a)
				news = append(news, fmt.Sprintf("address %s dev %s", a.Prefix, a.Interface))
			}
		case EnsureLink:
			if n := o.Link.Name; !cur.HasLink(n) && !intents.HasLink(n) {
				intents.Links = append(intents.Links, n)
				news = append(news, "link "+n)
			}
		case AddMark, ReplaceMark:
			if m := *o.Mark; !cur.HasMark(m) && !intents.HasMark(m) {
				intents.Marks = append(intents.Marks, m)
				news = append(news, fmt.Sprintf("mark rule %d for %s %s %v", m.Mark, m.Addr, m.Protocol, m.Ports))
			}
		case StartDaemon:
			if st := o.Daemon.State; !cur.HasDaemon(st) && !intents.HasDaemon(st) {
				intents.Daemons = append(intents.Daemons, st)
				news = append(news, "sync daemon "+st)
			}
		case op.WriteKeepalived:
			if p := o.Keepalived.Spec.Config; !cur.HasKeepalived(p) && !intents.HasKeepalived(p) {
				intents.Keepalived = append(intents.Keepalived, p)
				news = append(news, "keepalived config "+p)
			}
		case ReplaceRoute:
			if r := *o.Route; r.Manage && !cur.HasRoute(r) && !intents.HasRoute(r) {
				intents.Routes = append(intents.Routes, r)
				news = append(news, fmt.Sprintf("route %s via %s", r.Dst, r.Gateway))
			}
		}
	}
	next, _ := state.MergeInventory(cur, intents)
	return next, news, nil
}
