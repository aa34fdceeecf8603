package planner

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/lvsctl/lvsctl/internal/state"
)

// Director pairs. VRRP sends a pair's traffic to one director at a time, and
// the others stand in for it; lvsctl keeps the same services and mark rules on
// each. A plan that removes or replaces one of those on every director of the
// pair must not take it from all of them at once: each director's IPVS work
// (its mark rules, services, destinations and sync daemons, created, updated
// and removed) runs as one block, one director after another, the last in
// VRRP priority order (the usual backup) first and the first (the usual
// master) last. What real servers need is still prepared before every block
// and cleaned up after every block.

// blockPhase is where the pair directors' blocks run: after the other hosts'
// IPVS additions and updates, before their removals.
const blockPhase = phaseIPVS

// orderKey is a change's place in the plan: the phase, then for a pair
// director's block its pair, its place in the order and its sub-phase, then
// the rank, host and sequence within.
type orderKey struct {
	major     int    // 2*phase, or 2*blockPhase+1 for a pair director's block
	pair      string // the pair, for a block
	slot      int    // the director's place in the blocks' order
	sub       int    // the change's phase within the block
	rank, seq int
	host      string
}

func compareOrder(a, b orderKey) int {
	return cmp.Or(cmp.Compare(a.major, b.major), strings.Compare(a.pair, b.pair), cmp.Compare(a.slot, b.slot),
		cmp.Compare(a.sub, b.sub), cmp.Compare(a.rank, b.rank), strings.Compare(a.host, b.host), cmp.Compare(a.seq, b.seq))
}

// orderOf places c. A pair director's mark rules (set in prepare, removed in
// cleanup), IPVS additions, updates and removals, timeouts and daemons make
// its block.
func orderOf(c *Change, desired map[string]*state.Host) orderKey {
	o := c.order
	k := orderKey{major: 2 * o.phase, rank: o.rank, host: o.host, seq: o.seq}
	d := desired[c.Host]
	if d == nil || d.Pair == nil {
		return k
	}
	i := slices.Index(d.Pair.Directors, c.Host)
	inBlock := o.phase == phaseIPVS || o.phase == phaseIPVSRemove || c.Kind == "mark rule"
	if i < 0 || !inBlock {
		return k
	}
	k.major, k.pair, k.slot, k.sub = 2*blockPhase+1, d.Pair.Name, len(d.Pair.Directors)-1-i, o.phase
	if o.phase == phaseCleanup {
		k.rank = -o.rank // as add() keeps it: the reverse of prepare
	}
	return k
}

// sortChanges puts the plan's changes in execution order.
func (p *Plan) sortChanges(desired map[string]*state.Host) {
	slices.SortStableFunc(p.Changes, func(a, b *Change) int {
		return compareOrder(orderOf(a, desired), orderOf(b, desired))
	})
}

// notePairVIPs says, for each VIP of each pair, which director has it now
// (VRRP's master), from the addresses gathered on the pair's directors. None
// is a real problem: the pair's services take no traffic for that VIP. More
// than one is too: VRRP's instances do not hear each other.
func (p *Plan) notePairVIPs(desired map[string]*state.Host, live map[string]*Live) {
	seen := map[string]bool{}
	for _, name := range sortedNames(desired) {
		pr := desired[name].Pair
		if pr == nil || seen[pr.Name] {
			continue
		}
		seen[pr.Name] = true
		var unread []string
		for _, dn := range pr.Directors {
			if l := live[dn]; l == nil || l.Host == nil {
				unread = append(unread, dn)
			}
		}
		for _, vip := range pr.VIPs {
			var has []string
			for _, dn := range pr.Directors {
				if l := live[dn]; l != nil && l.Host != nil && slices.ContainsFunc(l.Host.Addresses, func(a state.Address) bool { return a.Prefix.Addr() == vip.Addr() }) {
					has = append(has, dn)
				}
			}
			p.Notes = append(p.Notes, pairVIPNote(pr, vip.Addr(), has, unread))
		}
	}
}

func pairVIPNote(pr *state.Pair, vip netip.Addr, has, unread []string) Note {
	pair := "pair " + pr.Name + ": VIP " + vip.String()
	switch {
	case len(has) == 1 && len(unread) == 0:
		role := "its usual master"
		if has[0] != pr.Directors[0] {
			role = "not its usual master " + pr.Directors[0] + ": VRRP has moved it"
		}
		return Note{Host: has[0], Text: pair + " is on " + has[0] + " (" + role + ")"}
	case len(has) == 1:
		return Note{Host: has[0], Text: pair + " is on " + has[0] + " (" + hostsAre(unread) + " not read in this plan)"}
	case len(has) > 1:
		return Note{Host: has[0], Text: pair + " is on " + strings.Join(has, " and ") + " at once: their VRRP instances do not hear each other (interface " + pr.Interface + ", virtual_router_id " + strconv.Itoa(pr.RouterID) + "), and clients' packets reach either"}
	case len(unread) > 0:
		return Note{Host: pr.Directors[0], Text: pair + " is on none of the directors read in this plan (" + hostsAre(unread) + " not read)"}
	}
	return Note{Host: pr.Directors[0], Text: pair + " is on none of its directors (" + strings.Join(pr.Directors, ", ") + "): no director takes its traffic; is keepalived's VRRP running for it (virtual_router_id " + strconv.Itoa(pr.RouterID) + " on " + pr.Interface + ")?"}
}
