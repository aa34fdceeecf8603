// Package keepalived reads a keepalived.conf as keepalived 2.x reads it and
// returns what lvsctl models of it: the IPVS services and their real
// servers, the global IPVS timeouts, and, as comments, everything else
// (health checkers, sorry servers, quorum, notify scripts, VRRP instances
// and their VIPs, global_defs).
//
// The rules follow keepalived's own source (github.com/acassen/keepalived):
// lib/parser.c for the file syntax (comments, quotes, include, $NAME
// definitions, ~SEQ, ~LST, @ID conditional lines), keepalived/check/
// check_parser.c and check_data.c for what each virtual_server keyword
// means and the defaults keepalived fills in (validate_check_config), and
// keepalived/check/ipvswrapper.c for the IPVS services a
// virtual_server_group becomes. Where keepalived reports a configuration
// error and carries on, so does this package, with a warning in
// Result.Warnings; where it stops, or where lvsctl cannot represent what
// keepalived would do, ParseFile returns an *Error naming file:line.
package keepalived

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/lvsctl/lvsctl/internal/state"
)

// Result is what a keepalived configuration gives lvsctl.
type Result struct {
	// Services in file order, virtual_server_group expanded (ranges
	// included); each with its Dests.
	Services []*state.Service
	// Timeouts from global_defs' lvs_timeouts; nil when there are none.
	Timeouts *state.Timeouts
	// ServiceNotes are comments for beside a service: what lvsctl does not
	// model of its virtual_server.
	ServiceNotes map[state.ServiceKey][]string
	// DestNotes are comments for beside one real server of a service.
	DestNotes map[state.ServiceKey]map[netip.AddrPort][]string
	// Notes are comments for the top of the file: VRRP instances and their
	// VIPs, global_defs, static addresses and routes, scripts.
	Notes []string
	// Summary has one line per kind of thing lvsctl does not model, for
	// stderr.
	Summary []string
	// Warnings are the configuration errors keepalived reports and carries
	// on from (it ignores the setting, or the line), as file:line: message.
	Warnings []string
	// VRRPAddresses are the addresses VRRP instances move between
	// directors (virtual_ipaddress and virtual_ipaddress_excluded): they
	// must not be listed in a director's vips.
	VRRPAddresses []netip.Prefix
}

// Options change how the configuration is read.
type Options struct {
	// Instance is keepalived's config-id (-i, by default the director's
	// host name up to the first dot), against which @ID and @^ID lines are
	// matched and which ${_INSTANCE} is. "" matches no @ID line.
	Instance string
	// Env is the director's environment for ${_ENV NAME}; a name missing
	// from it is replaced by "" with a warning.
	Env map[string]string
}

// ParseFile reads path and everything it includes.
func ParseFile(path string) (*Result, error) {
	return ParseFileOptions(path, Options{})
}

// ParseFileOptions is ParseFile with options.
func ParseFileOptions(path string, opt Options) (*Result, error) {
	c := &conv{
		res: &Result{
			ServiceNotes: map[state.ServiceKey][]string{},
			DestNotes:    map[state.ServiceKey]map[netip.AddrPort][]string{},
		},
		groups: map[string]*vsgroup{},
		kinds:  map[string]int{},
		sub:    map[string]map[string]int{},
	}
	r := newReader(opt, c.warn)
	if err := r.open(pos{file: path}, path); err != nil {
		return nil, err
	}
	tree, err := buildTree(r, c.warn)
	if err != nil {
		return nil, err
	}
	if err := c.top(tree); err != nil {
		return nil, err
	}
	if r.cond.kept+r.cond.dropped > 0 {
		ids := slices.Sorted(func(yield func(string) bool) {
			for id := range r.cond.ids {
				if !yield(id) {
					return
				}
			}
		})
		c.res.Summary = append(c.res.Summary, fmt.Sprintf("conditional lines (@ID): %d kept and %d dropped for config-id %q (ids used: %s)",
			r.cond.kept, r.cond.dropped, opt.Instance, strings.Join(ids, ", ")))
	}
	c.summary()
	return c.res, nil
}

type conv struct {
	res    *Result
	groups map[string]*vsgroup
	vss    []*vserver
	kinds  map[string]int            // kind -> count, for the summary
	sub    map[string]map[string]int // kind -> subkind -> count
	order  []string                  // kinds in first-seen order
	dests  int                       // destinations made so far
}

func (c *conv) warn(p pos, format string, args ...any) {
	c.res.Warnings = append(c.res.Warnings, sanitize(p.String()+": "+fmt.Sprintf(format, args...)))
}

func (c *conv) count(kind, sub string) {
	if _, ok := c.kinds[kind]; !ok {
		c.order = append(c.order, kind)
	}
	c.kinds[kind]++
	if sub != "" {
		if c.sub[kind] == nil {
			c.sub[kind] = map[string]int{}
		}
		c.sub[kind][sub]++
	}
}

// summaryText says where each kind went.
var summaryText = map[string]string{
	"health checkers":         "kept as comments beside their real servers",
	"real server settings":    "kept as comments beside their real servers",
	"virtual server settings": "kept as comments beside their services",
	"sorry servers":           "kept as comments beside their services",
	"VRRP":                    "kept as comments at the top: their VIPs move with VRRP, so lvsctl must not list them in a director's vips",
	"global_defs":             "kept as comments at the top",
	"other top-level blocks":  "kept as comments at the top",
}

func (c *conv) summary() {
	for _, k := range c.order {
		line := fmt.Sprintf("%s: %d", k, c.kinds[k])
		if subs := c.sub[k]; len(subs) > 0 {
			names := make([]string, 0, len(subs))
			for s := range subs {
				names = append(names, s)
			}
			sort.Slice(names, func(i, j int) bool {
				if subs[names[i]] != subs[names[j]] {
					return subs[names[i]] > subs[names[j]]
				}
				return names[i] < names[j]
			})
			var parts []string
			for _, s := range names {
				parts = append(parts, fmt.Sprintf("%s %d", s, subs[s]))
			}
			line += " (" + strings.Join(parts, ", ") + ")"
		}
		if t := summaryText[k]; t != "" {
			line += ", " + t
		}
		c.res.Summary = append(c.res.Summary, line)
	}
	if n := len(c.res.Warnings); n > 0 {
		c.res.Summary = append(c.res.Summary, fmt.Sprintf("configuration errors keepalived reports and carries on from: %d (see the warnings)", n))
	}
}

func (c *conv) top(tree []*node) error {
	for _, n := range tree {
		switch n.key() {
		case "virtual_server_group":
			if err := c.vsgroup(n); err != nil {
				return err
			}
		case "virtual_server":
			if err := c.vserver(n); err != nil {
				return err
			}
		case "global_defs":
			if err := c.globalDefs(n); err != nil {
				return err
			}
		case "vrrp_instance", "vrrp_sync_group":
			c.vrrp(n)
		default:
			c.count("other top-level blocks", n.key())
			c.res.Notes = append(c.res.Notes, render(n, 400))
		}
	}
	return c.finish()
}

func (c *conv) globalDefs(n *node) error {
	for _, k := range n.kids {
		if k.key() != "lvs_timeouts" {
			c.count("global_defs", "")
			c.res.Notes = append(c.res.Notes, "global_defs: "+render(k, 300))
			continue
		}
		// global_parser.c lvs_timeouts: tcp N, tcpfin N, udp N in any
		// order, each 0..LVS_MAX_TIMEOUT (31 days).
		if len(k.words) < 3 {
			c.warn(k.pos, "lvs_timeouts requires at least one option: ignored")
			continue
		}
		for i := 1; i < len(k.words); i++ {
			w := k.words[i]
			if w != "tcp" && w != "tcpfin" && w != "udp" {
				c.warn(k.pos, "unknown option %s for lvs_timeouts: ignored", w)
				continue
			}
			if i == len(k.words)-1 {
				c.warn(k.pos, "no value for lvs_timeouts %s: ignored", w)
				continue
			}
			v, ok, msg := readUnsigned(k.words[i+1], 0, lvsMaxTimeout, false)
			i++
			if !ok {
				c.warn(k.pos, "invalid lvs_timeouts %s %s (%s): ignored", w, k.words[i], msg)
				continue
			}
			if c.res.Timeouts == nil {
				c.res.Timeouts = &state.Timeouts{}
			}
			switch w {
			case "tcp":
				c.res.Timeouts.TCP = uint32(v)
			case "tcpfin":
				c.res.Timeouts.TCPFin = uint32(v)
			case "udp":
				c.res.Timeouts.UDP = uint32(v)
			}
		}
		if c.res.Timeouts != nil {
			c.res.Timeouts.Why = []string{"lvs_timeouts in global_defs (" + k.pos.String() + ")"}
		}
	}
	return nil
}

func (c *conv) vrrp(n *node) {
	c.count("VRRP", n.key())
	note := n.key() + " " + strings.Join(n.words[1:], " ")
	var facts, vips []string
	for _, k := range n.kids {
		switch k.key() {
		case "interface", "state", "virtual_router_id", "priority", "group":
			facts = append(facts, render(k, 200))
		case "virtual_ipaddress", "virtual_ipaddress_excluded":
			for _, a := range k.kids {
				vips = append(vips, a.arg(0))
				if p, ok := vrrpPrefix(a.arg(0)); ok {
					c.res.VRRPAddresses = append(c.res.VRRPAddresses, p)
				}
			}
		}
		if k.key() == "group" && n.key() == "vrrp_sync_group" {
			facts = facts[:len(facts)-1]
			var names []string
			for _, m := range k.kids {
				names = append(names, m.words...)
			}
			facts = append(facts, "group "+strings.Join(names, " "))
		}
	}
	if len(facts) > 0 {
		note += " (" + strings.Join(facts, ", ") + ")"
	}
	if len(vips) > 0 {
		note += ": virtual_ipaddress " + strings.Join(vips, " ") + " (these VIPs move with VRRP: do not list them in a director's vips)"
	}
	c.res.Notes = append(c.res.Notes, sanitize(note))
}

// vrrpPrefix reads a virtual_ipaddress entry's address: ADDR[/LEN].
func vrrpPrefix(s string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p, true
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	return netip.Prefix{}, false
}
