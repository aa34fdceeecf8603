package state

import "net/netip"

// Keepalived is the keepalived configuration lvsctl keeps on one director of
// a pair: where the file is and how keepalived is checked and reloaded, and
// the structured data the file is rendered from (package keepalived's
// Render). The agent renders the file itself from these fields, after
// checking them; it never writes text it was sent.
type Keepalived struct {
	// Config is the file lvsctl owns (under /etc/keepalived/); PidFile is
	// keepalived's main pid file, to which a reload sends SIGHUP; Program
	// is keepalived, run as `Program -t -f Config` to check the file.
	Config  string `json:"config"`
	PidFile string `json:"pidFile"`
	Program string `json:"program"`
	// RouterName is global_defs' router_id: the director's host name.
	RouterName string `json:"routerName"`
	// VRRP is the pair's vrrp_instance as this director runs it.
	VRRP VRRPInstance `json:"vrrp"`
	// Services are the pair's services whose real servers keepalived
	// checks, each a virtual_server.
	Services []CheckedService `json:"services,omitempty"`
	// Pair names the pair, for the plan's reasons.
	Pair string `json:"pair,omitempty"`
}

// VRRPInstance is one vrrp_instance.
type VRRPInstance struct {
	Name      string         `json:"name"`   // the instance's name: the pair's
	Master    bool           `json:"master"` // state MASTER, else BACKUP
	Interface string         `json:"interface"`
	RouterID  int            `json:"routerID"` // virtual_router_id, 1 to 255
	Priority  int            `json:"priority"` // 1 to 254
	VIPs      []netip.Prefix `json:"vips"`     // virtual_ipaddress, each "dev Interface"
}

// CheckedService is a virtual_server: the IPVS service as declared (with
// its destinations), and what keepalived's checkers do with it.
type CheckedService struct {
	Service Service `json:"service"`
	// DelayLoop is the seconds between two checks of a real server.
	DelayLoop int `json:"delayLoop"`
	// Inhibit: a failed real server gets weight 0 instead of being removed
	// (inhibit_on_failure).
	Inhibit bool `json:"inhibit,omitempty"`
	// Quorum is the least total weight of the live real servers for the
	// service to be up (0: keepalived's default, 1); Hysteresis is how far
	// past it the total must move before keepalived changes its mind.
	Quorum     uint32 `json:"quorum,omitempty"`
	Hysteresis uint32 `json:"hysteresis,omitempty"`
	// Sorry is the sorry_server, added when every real server has failed.
	Sorry netip.AddrPort `json:"sorry,omitzero"`
	// Checks are the real servers' checkers, in the order of
	// Service.Dests; a zero Check (Type "") is a real server with none.
	Checks []Check `json:"checks"`
}

// Check is one real server's checker.
type Check struct {
	Type    string `json:"type"`           // tcp, http, https
	Port    uint16 `json:"port,omitempty"` // connect_port; 0: the real server's
	Path    string `json:"path,omitempty"` // http and https: the url's path
	Status  int    `json:"status,omitempty"`
	Timeout int    `json:"timeout"` // connect_timeout, seconds
	Retry   int    `json:"retry"`
}

// KeepalivedFile is keepalived's configuration file as a director has it.
type KeepalivedFile struct {
	Path    string `json:"path"`
	Exists  bool   `json:"exists"`
	Content string `json:"content,omitempty"`
	// Running: the pid file names a keepalived process in this network
	// namespace, which a reload signals.
	Running bool `json:"running,omitempty"`
}
