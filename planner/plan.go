// Package planner works out what must change on each host: a pure function of
// the desired state (from the configuration), the live state and each host's
// inventory. It does no I/O; TestPlannerIsPure holds it to that.
//
// A Plan is plain data. Every change keeps the fields before and after, and
// every step carries its inverse, computed from the live state it was planned
// against, so the applier can put back whatever it did. Changes are in
// execution order across hosts: prepare real servers (sysctls, links,
// addresses, routes, marks), then add and update IPVS objects, then drain and
// remove IPVS objects, then clean up what real servers no longer need.
package planner

import (
	"net/netip"

	"github.com/lvsctl/lvsctl/internal/op"
	"github.com/lvsctl/lvsctl/internal/state"
)

// Action is what a change does to its object, in Terraform's symbols.
type Action string

// The actions.
const (
	Create  Action = "+"
	Update  Action = "~" // in place
	Delete  Action = "-"
	Replace Action = "-/+" // the identity changes: delete, then create
)

// Plan is everything that will change, in order, and what will not but
// deserves a look.
type Plan struct {
	Changes []*Change `json:"changes"`
	Notes   []Note    `json:"notes,omitempty"`
	// Inventories are each host's inventory after the changes, where it
	// differs from the live one. Recording an adoption or a release is a
	// change too: it decides what a later plan may delete.
	Inventories map[string]*InventoryUpdate `json:"inventories,omitempty"`
	// InventoriesBefore is the inventory as gathered on every planned host,
	// whether it changes or not: a rollback puts these back.
	InventoriesBefore map[string]*state.Inventory `json:"inventoriesBefore,omitempty"`
	// Retired names the planned hosts that are retired (leaving the
	// cluster), sorted.
	Retired []string `json:"retired,omitempty"`

	left []leftDest // live destinations lvsctl leaves to a health checker
}

// InventoryUpdate replaces a host's inventory; Before puts it back. Adopt,
// Release and Originals say what differs, for people.
type InventoryUpdate struct {
	After  *state.Inventory `json:"after"`
	Before *state.Inventory `json:"before"`
	// Adopt: members of After that Before lacks; Release: members of Before
	// that After lacks.
	Adopt   []Member `json:"adopt,omitempty"`
	Release []Member `json:"release,omitempty"`
	// Originals are sysctls in both whose recorded value from before lvsctl
	// differs.
	Originals []Field `json:"originals,omitempty"`
}

// Member is one object of an inventory, named as changes name it.
type Member struct {
	Kind   string `json:"kind"`             // ipvs service, address, link, sysctl, route, mark rule
	Object string `json:"object"`           // TCP 192.168.0.10:80, 192.168.0.10/32 dev lo, ...
	Detail string `json:"detail,omitempty"` // a sysctl's original value, a mark rule's mark
}

func (m Member) String() string {
	if m.Detail != "" {
		return m.Kind + " " + m.Object + " (" + m.Detail + ")"
	}
	return m.Kind + " " + m.Object
}

// Change is one object changed on one host.
type Change struct {
	Host   string   `json:"host"`
	Action Action   `json:"action"`
	Kind   string   `json:"kind"`             // ipvs service, destination, address, sysctl, link, route, mark rule, ipvs timeouts
	Object string   `json:"object"`           // TCP 192.168.0.10:80, 192.168.0.10/32 dev lo, net.ipv4.conf.all.arp_ignore, ...
	Detail string   `json:"detail,omitempty"` // the object's settings, for + and -
	Fields []Field  `json:"fields,omitempty"` // every field that changes, for ~
	Why    []string `json:"why,omitempty"`
	// Warning says what clients can notice while the change runs, when
	// that is more than the change itself says.
	Warning string `json:"warning,omitempty"`
	Steps   []Step `json:"steps"`

	order sortKey
	fwd   *forwardChange // a destination's forwarding method or tunnel changes
}

// Field is one changed field.
type Field struct {
	Name   string `json:"name"`
	Before string `json:"before"`
	After  string `json:"after"`
}

// Step is one thing the applier does: an operation on the change's host, or
// a wait for a destination to drain. Undo puts back what the step changed.
type Step struct {
	Op    *op.Op  `json:"op,omitempty"`
	Drain *Drain  `json:"drain,omitempty"`
	Undo  []op.Op `json:"undo,omitempty"`
}

// Drain waits until a destination (already at weight 0) has no active
// connections, or the applier's drain timeout passes.
type Drain struct {
	Service state.ServiceKey `json:"service"`
	Dest    netip.AddrPort   `json:"dest"`
}

// Note is something the plan leaves alone but a person should know.
type Note struct {
	Host string `json:"host"`
	Text string `json:"text"`
}

// Counts returns how many objects the plan adds, changes and destroys; a
// replacement counts as one added and one destroyed, as in Terraform. Files
// kept for boot are counted apart, by BootCounts.
func (p *Plan) Counts() (add, change, destroy int) { return p.count(false) }

// count counts the changes to files kept for boot (boot) or the others.
func (p *Plan) count(boot bool) (add, change, destroy int) {
	for _, c := range p.Changes {
		if c.IsBoot() != boot {
			continue
		}
		switch c.Action {
		case Create:
			add++
		case Update:
			change++
		case Delete:
			destroy++
		case Replace:
			add++
			destroy++
		}
	}
	return add, change, destroy
}

// InventoryCounts returns how many objects the plan's inventory updates
// adopt and release, and on how many hosts.
func (p *Plan) InventoryCounts() (adopt, release, hosts int) {
	for _, u := range p.Inventories {
		adopt += len(u.Adopt)
		release += len(u.Release)
	}
	return adopt, release, len(p.Inventories)
}

// Empty reports whether applying the plan would change nothing at all: no
// object on any host, and no host's inventory.
func (p *Plan) Empty() bool { return len(p.Changes) == 0 && len(p.Inventories) == 0 }

// String names the step for progress and errors.
func (s Step) String(c *Change) string {
	if s.Op != nil {
		return s.Op.String()
	}
	if s.Drain != nil {
		return "drain " + s.Drain.Dest.String()
	}
	return string(c.Action) + " " + c.Kind + " " + c.Object
}
