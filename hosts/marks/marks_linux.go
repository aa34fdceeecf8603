package marks

import (
	"errors"
	"fmt"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/lvsctl/lvsctl/internal/state"
	"golang.org/x/sys/unix"
)

var (
	table = &nftables.Table{Name: Table, Family: nftables.TableFamilyINet}
	chain = &nftables.Chain{
		Name:     Chain,
		Table:    table,
		Type:     nftables.ChainTypeFilter,
		Hooknum:  nftables.ChainHookPrerouting,
		Priority: nftables.ChainPriorityMangle,
		Policy:   ptr(nftables.ChainPolicyAccept),
	}
)

func ptr[T any](v T) *T { return &v }

// EnsureTable creates lvsctl's table and chain when they are missing. Running
// it again changes nothing.
func EnsureTable() error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("table inet %s: %w", Table, errnoOf(err))
	}
	c.AddTable(table)
	c.AddChain(chain)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("table inet %s: %w", Table, errnoOf(err))
	}
	return nil
}

// DeleteTable deletes lvsctl's table with everything in it. A missing table
// is an error wrapping ENOENT.
func DeleteTable() error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("delete table inet %s: %w", Table, errnoOf(err))
	}
	c.DelTable(table)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("delete table inet %s: %w", Table, errnoOf(err))
	}
	return nil
}

// live is one rule of lvsctl's shape found in the chain.
type live struct {
	rule   state.MarkRule
	handle uint64
}

// Read returns the mark rules in lvsctl's chain, in chain order, parsed from
// their expressions, with sorted ports; and, in words, everything else in the
// table: rules of another shape, a second rule for the same (family, address,
// protocol, ports), chains other than lvsctl's, a chain hooked otherwise than
// lvsctl makes it, named sets. No table means no rules and no error.
func Read() ([]state.MarkRule, []string, error) {
	c, err := nftables.New()
	if err != nil {
		return nil, nil, fmt.Errorf("read table inet %s: %w", Table, errnoOf(err))
	}
	rules, foreign, err := read(c)
	if err != nil {
		return nil, nil, err
	}
	var out []state.MarkRule
	for _, r := range rules {
		out = append(out, r.rule)
	}
	return out, foreign, nil
}

func read(c *nftables.Conn) ([]live, []string, error) {
	fail := func(err error) ([]live, []string, error) {
		return nil, nil, fmt.Errorf("read table inet %s: %w", Table, errnoOf(err))
	}
	if _, err := c.ListTableOfFamily(Table, nftables.TableFamilyINet); errors.Is(err, unix.ENOENT) {
		return nil, nil, nil
	} else if err != nil {
		return fail(err)
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return fail(err)
	}
	var foreign []string
	ours := false
	for _, ch := range chains {
		switch {
		case ch.Table.Name != Table:
		case ch.Name != Chain:
			foreign = append(foreign, fmt.Sprintf("table inet %s has a chain %s that lvsctl did not make", Table, ch.Name))
		default:
			ours = true
			if d := chainDrift(ch); d != "" {
				foreign = append(foreign, d)
			}
		}
	}
	sets, err := c.GetSets(table)
	if err != nil {
		return fail(err)
	}
	byName := map[string]*nftables.Set{}
	for _, s := range sets {
		byName[s.Name] = s
		if !s.Anonymous {
			foreign = append(foreign, fmt.Sprintf("table inet %s has a set %s that lvsctl did not make", Table, s.Name))
		}
	}
	if !ours {
		return nil, foreign, nil
	}
	rs, err := c.GetRules(table, chain)
	if err != nil {
		return fail(err)
	}
	lookup := func(name string) ([]uint16, bool) {
		s := byName[name]
		if s == nil || !s.Anonymous || !s.Constant || s.Interval || s.IsMap || s.KeyType.Name != nftables.TypeInetService.Name {
			return nil, false
		}
		elems, err := c.GetSetElements(s)
		if err != nil {
			return nil, false
		}
		var ports []uint16
		for _, e := range elems {
			if len(e.Key) != 2 {
				return nil, false
			}
			ports = append(ports, binaryutil.BigEndian.Uint16(e.Key))
		}
		return ports, true
	}
	var found []live
	for _, r := range rs {
		mr, ok := parse(r.Exprs, lookup)
		if !ok {
			foreign = append(foreign, fmt.Sprintf("chain %s rule handle %d is not one of lvsctl's mark rules: %s", Chain, r.Handle, describeExprs(r.Exprs)))
			continue
		}
		if i := slices.IndexFunc(found, func(l live) bool { return sameIdentity(l.rule, mr) }); i >= 0 {
			foreign = append(foreign, fmt.Sprintf("chain %s rule handle %d repeats handle %d for %s with mark %d, and the last one to run wins", Chain, r.Handle, found[i].handle, describe(mr), mr.Mark))
			continue
		}
		found = append(found, live{rule: mr, handle: r.Handle})
	}
	return found, foreign, nil
}

// chainDrift describes how lvsctl's chain differs from what lvsctl makes, or
// returns "".
func chainDrift(ch *nftables.Chain) string {
	if ch.Type == chain.Type && ch.Hooknum != nil && *ch.Hooknum == *chain.Hooknum &&
		ch.Priority != nil && *ch.Priority == *chain.Priority && ch.Policy != nil && *ch.Policy == *chain.Policy {
		return ""
	}
	hook, prio, policy := "with no hook", "", ""
	if ch.Hooknum != nil {
		names := []string{"prerouting", "input", "forward", "output", "postrouting", "ingress"}
		if h := int(*ch.Hooknum); h < len(names) {
			hook = "hook " + names[h]
		} else {
			hook = fmt.Sprintf("hook %d", h)
		}
	}
	if ch.Priority != nil {
		prio = fmt.Sprintf(" priority %d", *ch.Priority)
	}
	if ch.Policy != nil && *ch.Policy == nftables.ChainPolicyDrop {
		policy = " policy drop"
	}
	return fmt.Sprintf("chain %s is type %s %s%s%s, not type filter hook prerouting priority mangle (-150) policy accept", Chain, ch.Type, hook, prio, policy)
}

// Add adds r, creating lvsctl's table and chain when they are missing, in one
// batch. A rule for the same (family, address, protocol, ports) is an error
// wrapping EEXIST, whatever its mark.
func Add(r state.MarkRule) error {
	r, err := normalize(r)
	if err != nil {
		return err
	}
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("add %s: %w", describe(r), errnoOf(err))
	}
	rules, _, err := read(c)
	if err != nil {
		return fmt.Errorf("add %s: %w", describe(r), err)
	}
	for _, l := range rules {
		if sameIdentity(l.rule, r) {
			return fmt.Errorf("add %s: chain %s has it already with mark %d (rule handle %d): %w", describe(r), Chain, l.rule.Mark, l.handle, unix.EEXIST)
		}
	}
	c.AddTable(table)
	c.AddChain(chain)
	if err := addRule(c, r, 0); err != nil {
		return fmt.Errorf("add %s: %w", describe(r), err)
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("add %s: %w", describe(r), errnoOf(err))
	}
	return nil
}

// addRule queues r (and its set of ports) on c; with a handle it replaces the
// rule of that handle in place.
func addRule(c *nftables.Conn, r state.MarkRule, handle uint64) error {
	set, elems := portSet(table, r)
	if set != nil {
		if err := c.AddSet(set, elems); err != nil {
			return err
		}
	}
	rule := &nftables.Rule{Table: table, Chain: chain, Exprs: exprs(r, set)}
	if handle != 0 {
		rule.Handle = handle
		c.ReplaceRule(rule)
	} else {
		c.AddRule(rule)
	}
	return nil
}

// Delete deletes the rule for r's (family, address, protocol, ports) with
// r's mark. None there, or one with another mark, is an error wrapping
// ENOENT.
func Delete(r state.MarkRule) error {
	r, err := normalize(r)
	if err != nil {
		return err
	}
	c, l, err := find(r)
	if err != nil {
		return fmt.Errorf("delete %w", err)
	}
	if l.rule.Mark != r.Mark {
		return fmt.Errorf("delete %s: chain %s has it with mark %d: %w", describe(r), Chain, l.rule.Mark, unix.ENOENT)
	}
	// The last of lvsctl's rules takes lvsctl's table with it, in the same
	// batch, so deleting undoes Add exactly: the host is left as it was
	// before lvsctl's first rule, not with an empty table.
	rules, foreign, err := read(c)
	if err != nil {
		return fmt.Errorf("delete %s: %w", describe(r), err)
	}
	if len(rules) == 1 && len(foreign) == 0 {
		c.DelTable(table)
	} else if err := c.DelRule(&nftables.Rule{Table: table, Chain: chain, Handle: l.handle}); err != nil {
		return fmt.Errorf("delete %s: %w", describe(r), err)
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("delete %s: %w", describe(r), errnoOf(err))
	}
	return nil
}

// Replace gives the rule for r's (family, address, protocol, ports) r's mark,
// replacing it in place in one batch: packets never pass unmarked. None there
// is an error wrapping ENOENT.
func Replace(r state.MarkRule) error {
	r, err := normalize(r)
	if err != nil {
		return err
	}
	c, l, err := find(r)
	if err != nil {
		return fmt.Errorf("replace %w", err)
	}
	if err := addRule(c, r, l.handle); err != nil {
		return fmt.Errorf("replace %s: %w", describe(r), err)
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("replace %s: %w", describe(r), errnoOf(err))
	}
	return nil
}

// find returns the live rule with r's identity; its error starts with r's
// description, for the caller to prefix with the operation.
func find(r state.MarkRule) (*nftables.Conn, live, error) {
	c, err := nftables.New()
	if err != nil {
		return nil, live{}, fmt.Errorf("%s: %w", describe(r), errnoOf(err))
	}
	rules, _, err := read(c)
	if err != nil {
		return nil, live{}, fmt.Errorf("%s: %w", describe(r), err)
	}
	for _, l := range rules {
		if sameIdentity(l.rule, r) {
			return c, l, nil
		}
	}
	return nil, live{}, fmt.Errorf("%s: no rule for it in table inet %s: %w", describe(r), Table, unix.ENOENT)
}

// errnoOf returns the errno inside a netlink error, whose own text
// ("conn.Receive: netlink receive: ...") says nothing to an operator; other
// errors come back as they are.
func errnoOf(err error) error {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}
