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
	// differs from the live one; the applier writes them last.
	Inventories map[string]*InventoryUpdate `json:"inventories,omitempty"`
}

// InventoryUpdate replaces a host's inventory; Before puts it back.
type InventoryUpdate struct {
	After  *state.Inventory `json:"after"`
	Before *state.Inventory `json:"before"`
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
	Steps  []Step   `json:"steps"`

	order sortKey
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
// replacement counts as one added and one destroyed, as in Terraform.
func (p *Plan) Counts() (add, change, destroy int) {
	for _, c := range p.Changes {
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

// Empty reports whether applying the plan would change nothing but
// inventories.
func (p *Plan) Empty() bool { return len(p.Changes) == 0 }

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
