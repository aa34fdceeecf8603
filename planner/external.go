package planner

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/lvsctl/lvsctl/internal/op"
	"github.com/lvsctl/lvsctl/internal/state"
)

// A service's externallyManaged says what of its destinations a health
// checker (keepalived's, ldirectord, a script) owns. lvsctl then leaves what
// the checker does, instead of undoing it at every apply while the checker
// redoes it:
//
//   - "weight": a live weight that differs from the declared one is no
//     change. Anything else of the destination (method, tunnel, thresholds)
//     is still compared, and an update sends the weight the destination has.
//   - "presence": a declared destination that is not live is not added, and
//     a live one that is not declared is not deleted (not even one lvsctl
//     added once: the definition cannot tell it from a sorry server the
//     checker added).
//
// When the service itself is created by the plan, it gets every declared
// destination with its declared weight. Each thing left gets a note.

// external collects, for one service, what lvsctl leaves to its checker.
type external struct {
	weights [][2]*state.Destination // live, declared
	missing []*state.Destination    // declared, not live
	extra   []*state.Destination    // live, not declared
}

// leftDest is a live destination that is not declared but stays, because
// its service's presence is managed elsewhere.
type leftDest struct {
	director string
	service  string // "service web (TCP 192.168.0.10:80)"
	key      state.ServiceKey
	dest     netip.AddrPort
	vips     []netip.Addr
}

const elsewhere = "managed elsewhere (externallyManaged)"

// noteExternal says what lvsctl leaves to a service's health checker.
func (h *hostPlan) noteExternal(want *state.Service, e external) {
	name := serviceName(want)
	if n := len(e.weights); n > 0 {
		items := make([]string, n)
		for i, x := range e.weights {
			items[i] = fmt.Sprintf("%s weight %d, declared %d", x[0].Addr, x[0].Weight, x[1].Weight)
		}
		what := "1 real server's weight differs"
		if n > 1 {
			what = fmt.Sprintf("%d real servers' weights differ", n)
		}
		h.note("%s: %s (%s); its weights are %s, so lvsctl leaves them", name, what, joinSome(items, 4), elsewhere)
	}
	if n := len(e.missing); n > 0 {
		items := make([]string, n)
		for i, d := range e.missing {
			items[i] = d.Addr.String()
		}
		what, it := "1 declared real server is not live", "it"
		if n > 1 {
			what, it = fmt.Sprintf("%d declared real servers are not live", n), "them"
		}
		h.note("%s: %s (%s); the presence of its real servers is %s, so lvsctl does not add %s", name, what, joinSome(items, 4), elsewhere, it)
	}
	if n := len(e.extra); n > 0 {
		items := make([]string, n)
		for i, d := range e.extra {
			items[i] = fmt.Sprintf("%s %s", d.Addr, destDetail(d))
			h.p.left = append(h.p.left, leftDest{director: h.name, service: name, key: want.Key, dest: d.Addr, vips: h.vipsOf(want.Key)})
		}
		what, it := "1 live real server is not declared", "it"
		if n > 1 {
			what, it = fmt.Sprintf("%d live real servers are not declared", n), "them"
		}
		h.note("%s: %s (%s); the presence of its real servers is %s, so lvsctl does not delete %s: a real server taken out of the definition goes when it is taken out of the checker's configuration",
			name, what, joinSome(items, 4), elsewhere, it)
	}
}

// warnLeftDests warns on a change that takes a service's VIP off a host
// whose address is a destination that stays on a director because its
// service's presence is managed elsewhere: the director still sends that
// real server connections, and they break without the VIP.
func (p *Plan) warnLeftDests(desired map[string]*state.Host, live map[string]*Live) {
	for _, c := range p.Changes {
		if c.order.phase != phaseCleanup || len(c.Steps) == 0 || c.Steps[0].Op == nil || c.Steps[0].Op.Kind != op.DeleteAddress {
			continue
		}
		vip := c.Steps[0].Op.Address.Prefix.Addr()
		if hasAddr(desired[c.Host], vip) {
			continue // it moves to another device on the host
		}
		l := live[c.Host]
		for _, x := range p.left {
			if x.director == c.Host || !slices.Contains(x.vips, vip) || l == nil || l.Host == nil || !hasAddr(l.Host, x.dest.Addr()) {
				continue
			}
			c.Warning = fmt.Sprintf("%s still sends new connections to %s, which is this host (%s keeps it: the presence of its real servers is %s), and they break once %s is gone here; take it out of the checker's configuration first, or put it back in the definition",
				x.director, x.dest, x.service, elsewhere, vip)
			break
		}
	}
}

// serviceName names a desired service for notes: "service web (TCP
// 192.168.0.10:80)", from its reasons (a restore's state file has none).
func serviceName(s *state.Service) string {
	if len(s.Why) == 0 {
		return "service " + s.Key.String()
	}
	return strings.Join(s.Why, ", ") + " (" + s.Key.String() + ")"
}

// joinSome joins up to n items with "; " and counts the rest.
func joinSome(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, "; ")
	}
	return fmt.Sprintf("%s; and %d more", strings.Join(items[:n], "; "), len(items)-n)
}
