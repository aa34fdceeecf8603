// Package agent is the program lvsctl runs on every host it manages, and the
// client that talks to it. The agent reads the host's live state and changes
// it, speaking versioned JSON, one message per line, on stdin and stdout; it
// never listens on a socket. Transports (a local child process, optionally in
// a network namespace, or ssh) only carry those lines.
//
// The agent trusts no request: every operation is checked against the strict
// name patterns again before it reaches the kernel, and a request it does not
// understand is refused whole.
package agent

import (
	"maps"
	"slices"

	"github.com/lvsctl/lvsctl/internal/keepalived"
	"github.com/lvsctl/lvsctl/internal/op"
	"github.com/lvsctl/lvsctl/internal/state"
)

// Version is the protocol version; an agent refuses requests of another.
const Version = 1

// Request is one line from the client.
type Request struct {
	V      int            `json:"v"`
	ID     int            `json:"id"`
	Kind   string         `json:"kind"` // gather, apply, lock, unlock
	Gather *GatherRequest `json:"gather,omitempty"`
	Apply  []Op           `json:"apply,omitempty"`
}

// GatherRequest names what to read; a host is asked only for what the
// configuration (and its inventory) makes relevant.
type GatherRequest struct {
	IPVS bool `json:"ipvs,omitempty"` // services, destinations, timeouts, sync daemons
	// IPVSLoaded is IPVS, but only when the kernel already has it: reading
	// IPVS through netlink loads the ip_vs module, and lvsctl import reads
	// hosts that may be no director without changing them.
	IPVSLoaded bool     `json:"ipvsLoaded,omitempty"`
	Links      []string `json:"links,omitempty"`     // devices by name
	Addresses  []string `json:"addresses,omitempty"` // interfaces whose addresses to list
	AllAddrs   bool     `json:"allAddrs,omitempty"`  // every interface's addresses
	Routes     bool     `json:"routes,omitempty"`    // default routes
	Sysctls    []string `json:"sysctls,omitempty"`   // keys
	Marks      bool     `json:"marks,omitempty"`     // lvsctl's nftables table
	Inventory  bool     `json:"inventory,omitempty"` // what lvsctl owns here
	Boot       bool     `json:"boot,omitempty"`      // the files kept for boot, and what else acts at boot
	// Keepalived: the keepalived configuration lvsctl keeps for a pair.
	Keepalived *KeepalivedRequest `json:"keepalived,omitempty"`
}

// KeepalivedRequest names keepalived's configuration file and pid file.
type KeepalivedRequest struct {
	Config  string `json:"config"`
	PidFile string `json:"pidFile"`
}

// Response is one line from the agent.
type Response struct {
	V       int       `json:"v"`
	ID      int       `json:"id"`
	Error   *Error    `json:"error,omitempty"`   // the request as a whole failed
	Gather  *Gathered `json:"gather,omitempty"`  // for gather
	Results []Result  `json:"results,omitempty"` // for apply: one per operation run
	// Progress, alone in a line, is a heartbeat while a request runs: a
	// count of the work done so far. A client bounds a request's silence,
	// and only a heartbeat whose count grew counts as progress.
	Progress int64 `json:"progress,omitempty"`
}

// Gathered is a host's live state as a gather request asked for it.
type Gathered struct {
	Host          *state.Host      `json:"host"`
	IPVSAvailable bool             `json:"ipvsAvailable"`
	IPVSVersion   string           `json:"ipvsVersion,omitempty"`
	MissingSysctl []string         `json:"missingSysctls,omitempty"` // keys this kernel does not have
	ForeignMarks  []string         `json:"foreignMarks,omitempty"`   // rules in lvsctl's table not of its shape
	Inventory     *state.Inventory `json:"inventory,omitempty"`
	Boot          *state.Boot      `json:"boot,omitempty"`
	// Keepalived is keepalived's configuration file, when asked for.
	Keepalived *state.KeepalivedFile `json:"keepalived,omitempty"`
}

// Result is the outcome of one operation.
type Result struct {
	OK    bool   `json:"ok"`
	Error *Error `json:"error,omitempty"`
}

// Error is a failure as the agent reports it: what failed, the errno by name
// (EEXIST, ENOENT, ...) when the kernel gave one, and a message that says what
// it means.
type Error struct {
	Op      string `json:"op,omitempty"`
	Errno   string `json:"errno,omitempty"`
	Message string `json:"message"`
}

func (e *Error) Error() string {
	if e.Op != "" {
		return e.Op + ": " + e.Message
	}
	return e.Message
}

// Op is one change to a host (see package op).
type Op = op.Op

// Boot is a boot file operation's data (see package op).
type Boot = op.Boot

// OpKind names an operation.
type OpKind = op.Kind

// The operations an agent performs.
const (
	AddService     = op.AddService
	UpdateService  = op.UpdateService
	DeleteService  = op.DeleteService
	AddDest        = op.AddDest
	UpdateDest     = op.UpdateDest
	DeleteDest     = op.DeleteDest
	SetTimeouts    = op.SetTimeouts
	StartDaemon    = op.StartDaemon
	StopDaemon     = op.StopDaemon
	AddAddress     = op.AddAddress
	DeleteAddress  = op.DeleteAddress
	EnsureLink     = op.EnsureLink
	LinkDown       = op.LinkDown
	DeleteLink     = op.DeleteLink
	SetSysctl      = op.SetSysctl
	ReplaceRoute   = op.ReplaceRoute
	DeleteRoute    = op.DeleteRoute
	AddMark        = op.AddMark
	DeleteMark     = op.DeleteMark
	ReplaceMark    = op.ReplaceMark
	WriteInventory = op.WriteInventory
	WriteBoot      = op.WriteBoot
	RemoveBoot     = op.RemoveBoot
	RevertBoot     = op.RevertBoot
)

// RequestFor asks for what the desired state d and the inventory inv make
// relevant on a host: what d declares and what lvsctl owns there.
func RequestFor(d *state.Host, inv *state.Inventory) GatherRequest {
	if d == nil {
		d = &state.Host{}
	}
	if inv == nil {
		inv = &state.Inventory{}
	}
	req := GatherRequest{
		IPVS: len(d.Services) > 0 || d.Timeouts != nil || len(inv.Services) > 0 || d.Exclusive ||
			len(d.Daemons) > 0 || len(inv.Daemons) > 0,
		Marks:  len(d.MarkRules) > 0 || len(inv.Marks) > 0,
		Routes: len(d.Routes) > 0 || len(inv.Routes) > 0,
		// A pair director's addresses say which director VRRP made master.
		AllAddrs: len(d.Addresses) > 0 || len(inv.Addresses) > 0 || d.Pair != nil,
	}
	if k := d.Keepalived; k != nil {
		req.Keepalived = &KeepalivedRequest{Config: k.Config, PidFile: k.PidFile}
	} else if len(inv.Keepalived) > 0 {
		// A file lvsctl wrote that the definition no longer asks for: read
		// it, to remove it.
		req.Keepalived = &KeepalivedRequest{Config: inv.Keepalived[0], PidFile: keepalived.DefaultPidFile}
	}
	for _, l := range d.Links {
		req.Links = append(req.Links, l.Name)
	}
	req.Links = appendNew(req.Links, inv.Links...)
	for _, s := range d.Sysctls {
		req.Sysctls = append(req.Sysctls, s.Key)
	}
	req.Sysctls = appendNew(req.Sysctls, slices.Sorted(maps.Keys(inv.Sysctls))...)
	return req
}

func appendNew(list []string, items ...string) []string {
	for _, s := range items {
		if !slices.Contains(list, s) {
			list = append(list, s)
		}
	}
	return list
}
