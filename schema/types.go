package schema

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
)

// The Go types below mirror the CUE definitions in lvsctl.cue field for field.
// The loader fills them from the evaluated configuration (with the schema's
// defaults applied); validation then fills the parsed fields tagged json:"-".

// Cluster is a validated cluster definition.
type Cluster struct {
	Hosts     map[string]*Host     `json:"hosts"`
	Directors map[string]*Director `json:"directors"`
	Pairs     map[string]*Pair     `json:"pairs"`
}

// Pair is #Pair.
type Pair struct {
	Name      string                `json:"-"`
	Directors []string              `json:"directors"`
	Interface string                `json:"interface"`
	VIPs      map[string]*PairVIP   `json:"vips"`
	RouterID  int                   `json:"routerID"`
	Sync      bool                  `json:"sync"`
	SyncID    *int                  `json:"syncID,omitempty"`
	Marks     map[string]*MarkGroup `json:"marks"`
	Services  map[string]*Service   `json:"services"`
	// Keepalived: lvsctl writes keepalived's configuration on every
	// director of the pair.
	Keepalived *Keepalived `json:"keepalived,omitempty"`

	vips []netip.Prefix // VIPs, parsed, sorted
}

// Keepalived is #Keepalived.
type Keepalived struct {
	Config  string `json:"config"`
	PidFile string `json:"pidFile"`
	Program string `json:"program"`
}

// Check is #Check.
type Check struct {
	Type    string  `json:"type"`
	Port    *uint16 `json:"port,omitempty"`
	Path    *string `json:"path,omitempty"`
	Status  int     `json:"status"`
	Timeout int     `json:"timeout"`
	Retry   int     `json:"retry"`
}

// SorryServer is #Service.sorryServer.
type SorryServer struct {
	Address string  `json:"address"`
	Port    *uint16 `json:"port,omitempty"`

	addr netip.Addr
}

// PairVIP is one of #Pair.vips; its address is the key in Pair.VIPs.
type PairVIP struct {
	Prefix *int `json:"prefix,omitempty"`
}

// Host is #Host.
type Host struct {
	Name         string                 `json:"-"`
	SSH          *SSH                   `json:"ssh,omitempty"`
	Local        bool                   `json:"local,omitempty"`
	Netns        string                 `json:"netns,omitempty"`
	AgentPath    string                 `json:"agentPath,omitempty"`
	Interface    string                 `json:"interface,omitempty"`
	Sysctls      map[string]SysctlValue `json:"sysctls"`
	DefaultRoute string                 `json:"defaultRoute"`
	Retired      bool                   `json:"retired"`
	Boot         string                 `json:"boot"`

	written map[string]bool // the fields the configuration sets, before defaults
}

// SSH is #SSH.
type SSH struct {
	Address string `json:"address"`
	Port    int    `json:"port"`
	User    string `json:"user,omitempty"`
}

// SysctlValue is a sysctl value written as a CUE int or string, kept as the
// text the kernel reads and prints.
type SysctlValue string

// UnmarshalJSON accepts a JSON number or string.
func (s *SysctlValue) UnmarshalJSON(b []byte) error {
	var str string
	if err := json.Unmarshal(b, &str); err == nil {
		*s = SysctlValue(str)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("sysctl value %s is neither a number nor a string", b)
	}
	*s = SysctlValue(n.String())
	return nil
}

// Director is #Director.
type Director struct {
	Name       string                 `json:"-"`
	VIPs       map[string]*VIP        `json:"vips"`
	Sysctls    map[string]SysctlValue `json:"sysctls"`
	Timeouts   *Timeouts              `json:"timeouts,omitempty"`
	NATGateway []string               `json:"natGateway,omitempty"`
	Ownership  string                 `json:"ownership"`
	Marks      map[string]*MarkGroup  `json:"marks"`
	Services   map[string]*Service    `json:"services"`
	Sync       *Sync                  `json:"sync,omitempty"`

	natGateways []netip.Addr
}

// Sync is #Director.sync.
type Sync struct {
	Master *SyncDaemon `json:"master,omitempty"`
	Backup *SyncDaemon `json:"backup,omitempty"`
}

// SyncDaemon is #SyncDaemon.
type SyncDaemon struct {
	Interface string  `json:"interface"`
	SyncID    uint32  `json:"syncID"`
	MaxLength *uint16 `json:"maxLength,omitempty"`
	Group     string  `json:"group,omitempty"`
	Port      *uint16 `json:"port,omitempty"`
	TTL       *uint8  `json:"ttl,omitempty"`

	group netip.Addr // Group, parsed; the kernel's default when left out
}

// VIP is #VIP; its address is the key in Director.VIPs.
type VIP struct {
	Interface string `json:"interface"`
	Prefix    *int   `json:"prefix,omitempty"`

	addr netip.Addr
}

// Timeouts is #Timeouts; 0 means "leave the kernel's value".
type Timeouts struct {
	TCP    uint32 `json:"tcp,omitempty"`
	TCPFin uint32 `json:"tcpfin,omitempty"`
	UDP    uint32 `json:"udp,omitempty"`
}

// MarkGroup is #MarkGroup.
type MarkGroup struct {
	Name     string   `json:"-"`
	Mark     uint32   `json:"mark"`
	Address  string   `json:"address"`
	Protocol string   `json:"protocol"`
	Ports    []uint16 `json:"ports"`

	addr netip.Addr
}

// Service is #Service.
type Service struct {
	Name        string                 `json:"-"`
	Protocol    string                 `json:"protocol,omitempty"`
	Address     string                 `json:"address,omitempty"`
	Port        uint16                 `json:"port,omitempty"`
	FWMark      uint32                 `json:"fwmark,omitempty"`
	Family      string                 `json:"family,omitempty"`
	Scheduler   string                 `json:"scheduler"`
	Flags       []string               `json:"flags"`
	Persistence *Persistence           `json:"persistence,omitempty"`
	OnePacket   bool                   `json:"onePacket"`
	RealServers map[string]*RealServer `json:"realServers"`

	// ExternallyManaged: "weight", "presence": what of its real servers a
	// health checker owns (see state.Service.ExternallyManaged).
	ExternallyManaged []string `json:"externallyManaged"`

	// keepalived's checkers (a pair's service with checks).
	CheckInterval    int          `json:"checkInterval"`
	SorryServer      *SorryServer `json:"sorryServer,omitempty"`
	InhibitOnFailure bool         `json:"inhibitOnFailure"`
	Quorum           *uint32      `json:"quorum,omitempty"`
	Hysteresis       *uint32      `json:"hysteresis,omitempty"`

	addr netip.Addr // the VIP; invalid for a firewall-mark service
}

// Persistence is #Persistence.
type Persistence struct {
	Timeout uint32 `json:"timeout"`
	Netmask string `json:"netmask,omitempty"`
	Prefix  *int   `json:"prefix,omitempty"`
	Engine  string `json:"engine,omitempty"`

	mask uint32 // Netmask, parsed
}

// RealServer is #RealServer.
type RealServer struct {
	Name           string  `json:"-"`
	Address        string  `json:"address"`
	Port           *uint16 `json:"port,omitempty"`
	Weight         uint32  `json:"weight"`
	Forward        string  `json:"forward"`
	Tunnel         *Tunnel `json:"tunnel,omitempty"`
	UpperThreshold uint32  `json:"upperThreshold"`
	LowerThreshold uint32  `json:"lowerThreshold"`
	Host           string  `json:"host,omitempty"`
	Check          *Check  `json:"check,omitempty"`

	addr netip.Addr
}

// Tunnel is #Tunnel.
type Tunnel struct {
	Type     string `json:"type"`
	Port     uint16 `json:"port,omitempty"`
	Checksum string `json:"checksum"`
}

// Family names the address family of a service: "ipv4" or "ipv6".
func familyOf(a netip.Addr) string {
	if a.Is4() {
		return "ipv4"
	}
	return "ipv6"
}

// quote renders a map key as it appears in a CUE path.
func quote(s string) string {
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return strconv.Quote(s)
		}
	}
	if s == "" {
		return `""`
	}
	return s
}
