// Package op defines the operations lvsctl performs on a host: plain values
// that the planner produces, the applier sends and the agent executes. It does
// no I/O, so the planner can depend on it and stay pure.
package op

import (
	"fmt"

	"github.com/lvsctl/lvsctl/internal/state"
)

// Op is one change to a host. Kind says which; exactly the fields that kind
// needs are set.
type Op struct {
	Kind       Kind               `json:"kind"`
	Service    *state.Service     `json:"service,omitempty"`
	ServiceKey *state.ServiceKey  `json:"serviceKey,omitempty"`
	Dest       *state.Destination `json:"dest,omitempty"`
	Timeouts   *state.Timeouts    `json:"timeouts,omitempty"`
	Address    *state.Address     `json:"address,omitempty"`
	Link       *state.Link        `json:"link,omitempty"`
	Sysctl     *state.Sysctl      `json:"sysctl,omitempty"`
	Route      *state.Route       `json:"route,omitempty"`
	Mark       *state.MarkRule    `json:"mark,omitempty"`
	Daemon     *state.SyncDaemon  `json:"daemon,omitempty"`
	Inventory  *state.Inventory   `json:"inventory,omitempty"`
	Boot       *Boot              `json:"boot,omitempty"`
	Keepalived *Keepalived        `json:"keepalived,omitempty"`
}

// Keepalived is a keepalived configuration lvsctl keeps on a director of a
// pair. A write carries the structured configuration (Spec), which the
// agent checks and renders itself; a revert names the file, how keepalived
// is reloaded, and what the plan read there (whether the file existed, the
// SHA-256 (hex) of its content).
type Keepalived struct {
	Spec    *state.Keepalived `json:"spec,omitempty"`
	Path    string            `json:"path"`
	PidFile string            `json:"pidFile"`
	Program string            `json:"program,omitempty"`
	Existed bool              `json:"existed,omitempty"`
	SHA256  string            `json:"sha256,omitempty"`
}

// Boot is a file lvsctl keeps for the host's next boot (see package boot):
// which one, and for a write its content; for a revert, what the file held
// before, as the plan read it.
type Boot struct {
	File    string `json:"file"` // sysctl, state, unit
	Content string `json:"content,omitempty"`
	// Enable (unit): the unit is to be enabled.
	Enable bool `json:"enable,omitempty"`
	// For a revert: whether the file existed, the SHA-256 (hex) of its
	// content then, and (unit) whether it was enabled.
	Existed bool   `json:"existed,omitempty"`
	SHA256  string `json:"sha256,omitempty"`
	Enabled bool   `json:"enabled,omitempty"`
}

// Kind names an operation.
type Kind string

// The operations an agent performs.
const (
	AddService    Kind = "ipvs.add-service"
	UpdateService Kind = "ipvs.update-service"
	DeleteService Kind = "ipvs.delete-service"
	AddDest       Kind = "ipvs.add-dest"
	UpdateDest    Kind = "ipvs.update-dest"
	DeleteDest    Kind = "ipvs.delete-dest"
	SetTimeouts   Kind = "ipvs.set-timeouts"
	// A sync daemon: start one (every setting), stop one (the kernel needs
	// its state only; the rest says what is stopped).
	StartDaemon    Kind = "ipvs.start-daemon"
	StopDaemon     Kind = "ipvs.stop-daemon"
	AddAddress     Kind = "addr.add"
	DeleteAddress  Kind = "addr.delete"
	EnsureLink     Kind = "link.ensure"
	LinkDown       Kind = "link.down"
	DeleteLink     Kind = "link.delete"
	SetSysctl      Kind = "sysctl.set"
	ReplaceRoute   Kind = "route.replace"
	DeleteRoute    Kind = "route.delete"
	AddMark        Kind = "mark.add"
	DeleteMark     Kind = "mark.delete"
	ReplaceMark    Kind = "mark.replace"
	WriteInventory Kind = "inventory.write"
	// The files kept for boot: write one (lvsctl's content, which the agent
	// checks), remove one, or put back what one held before (from the
	// agent's own copy, which must match the plan's SHA-256).
	WriteBoot  Kind = "boot.write"
	RemoveBoot Kind = "boot.remove"
	RevertBoot Kind = "boot.revert"
	// keepalived's configuration on a director of a pair: write it (rendered
	// by the agent from the structured configuration, checked with
	// keepalived -t, then keepalived reloaded), or put back what it held.
	WriteKeepalived  Kind = "keepalived.write"
	RevertKeepalived Kind = "keepalived.revert"
	// RemoveKeepalived removes a configuration lvsctl wrote (a copy kept
	// for a revert), without reloading keepalived.
	RemoveKeepalived Kind = "keepalived.remove"
)

// String describes the operation for progress and errors.
func (o Op) String() string {
	switch {
	case o.Service != nil:
		return fmt.Sprintf("%s %s", o.Kind, o.Service.Key)
	case o.Dest != nil && o.ServiceKey != nil:
		return fmt.Sprintf("%s %s -> %s", o.Kind, o.ServiceKey, o.Dest.Addr)
	case o.ServiceKey != nil:
		return fmt.Sprintf("%s %s", o.Kind, o.ServiceKey)
	case o.Address != nil:
		return fmt.Sprintf("%s %s dev %s", o.Kind, o.Address.Prefix, o.Address.Interface)
	case o.Link != nil:
		return fmt.Sprintf("%s %s", o.Kind, o.Link.Name)
	case o.Sysctl != nil:
		return fmt.Sprintf("%s %s=%s", o.Kind, o.Sysctl.Key, o.Sysctl.Value)
	case o.Route != nil:
		return fmt.Sprintf("%s %s via %s", o.Kind, o.Route.Dst, o.Route.Gateway)
	case o.Boot != nil:
		return fmt.Sprintf("%s %s", o.Kind, o.Boot.File)
	case o.Keepalived != nil:
		return fmt.Sprintf("%s %s", o.Kind, o.Keepalived.Path)
	case o.Daemon != nil:
		return fmt.Sprintf("%s %s (%s)", o.Kind, o.Daemon.State, o.Daemon.Describe())
	case o.Mark != nil:
		return fmt.Sprintf("%s mark %d for %s", o.Kind, o.Mark.Mark, o.Mark.Addr)
	}
	return string(o.Kind)
}
