// Package state holds the value types that describe what a host has or should
// have: IPVS services and destinations, addresses, links, sysctls, routes,
// firewall-mark rules and global timeouts.
//
// Desired state (derived from the configuration) and live state (read from a
// host) are the same types, so the planner can compare them field by field.
// Desired objects carry Why: the reasons the configuration implies them. The
// package does no I/O.
package state

import (
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"strings"
)

// Host is everything lvsctl manages on one machine.
type Host struct {
	Name      string `json:"name"`
	Exclusive bool   `json:"exclusive,omitempty"` // lvsctl owns the whole IPVS table
	Retired   bool   `json:"retired,omitempty"`   // leaving the cluster: nothing desired, lvsctl removes what it owns there
	// Boot is what lvsctl keeps on the host for its next boot: BootSystemd
	// (the default), BootFiles or BootNone.
	Boot      string     `json:"boot,omitempty"`
	Services  []*Service `json:"services,omitempty"`
	Addresses []Address  `json:"addresses,omitempty"`
	Links     []Link     `json:"links,omitempty"`
	Sysctls   []Sysctl   `json:"sysctls,omitempty"`
	Routes    []Route    `json:"routes,omitempty"`
	MarkRules []MarkRule `json:"markRules,omitempty"`
	Timeouts  *Timeouts  `json:"timeouts,omitempty"`
	// Daemons are the IPVS connection synchronisation daemons: at most one
	// master and one backup.
	Daemons []SyncDaemon `json:"daemons,omitempty"`
	Notes   []string     `json:"notes,omitempty"` // things lvsctl leaves to the operator
	// Pair is the pair of directors this director belongs to, if any.
	Pair *Pair `json:"pair,omitempty"`
	// Keepalived is the keepalived configuration lvsctl keeps on this
	// director of a pair (desired state only; the live file is gathered
	// apart).
	Keepalived *Keepalived `json:"keepalived,omitempty"`
}

// Pair is two or more directors that stand in for each other: VRRP
// (keepalived) moves VIPs to whichever is master, and lvsctl keeps the same
// services and mark rules on every one of them. A plan changes one director of
// a pair at a time where a service could otherwise be missing on all of them
// at once.
type Pair struct {
	Name      string         `json:"name"`
	Directors []string       `json:"directors"` // in VRRP priority order: the first is the usual master
	Interface string         `json:"interface"` // where VRRP adverts and sync messages go
	VIPs      []netip.Prefix `json:"vips"`      // what VRRP moves; lvsctl never adds or removes them
	RouterID  int            `json:"routerID"`  // VRRP's virtual_router_id
}

// Protocol is an IP protocol number as IPVS uses it.
type Protocol uint16

// The protocols a virtual service can have.
const (
	TCP  Protocol = 6
	UDP  Protocol = 17
	SCTP Protocol = 132
)

func (p Protocol) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	case SCTP:
		return "sctp"
	case 0:
		return "any"
	}
	return fmt.Sprintf("proto-%d", uint16(p))
}

// MarshalText writes the protocol's name.
func (p Protocol) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText reads a protocol's name.
func (p *Protocol) UnmarshalText(b []byte) error {
	if string(b) == "any" {
		*p = 0
		return nil
	}
	v, ok := ParseProtocol(string(b))
	if !ok {
		return fmt.Errorf("unknown protocol %q", b)
	}
	*p = v
	return nil
}

// ParseProtocol is the inverse of Protocol.String for tcp, udp and sctp.
func ParseProtocol(s string) (Protocol, bool) {
	switch s {
	case "tcp":
		return TCP, true
	case "udp":
		return UDP, true
	case "sctp":
		return SCTP, true
	}
	return 0, false
}

// Family is an address family: "ipv4" or "ipv6".
type Family string

// The two address families.
const (
	IPv4 Family = "ipv4"
	IPv6 Family = "ipv6"
)

// FamilyOf returns the family of a.
func FamilyOf(a netip.Addr) Family {
	if a.Is4() {
		return IPv4
	}
	return IPv6
}

// ServiceKey is a virtual service's identity: (family, protocol, VIP, port)
// or (family, firewall mark). It is comparable and usable as a map key.
type ServiceKey struct {
	Family   Family     `json:"family"`
	Protocol Protocol   `json:"protocol,omitempty"`
	Addr     netip.Addr `json:"address,omitzero"`
	Port     uint16     `json:"port,omitempty"`
	FWMark   uint32     `json:"fwmark,omitempty"`
}

// String renders the key the way ipvsadm -Ln does: "TCP 192.168.0.10:80",
// "UDP [2001:db8::53]:53", "FWM 7 IPv6".
func (k ServiceKey) String() string {
	if k.FWMark != 0 {
		if k.Family == IPv6 {
			return fmt.Sprintf("FWM %d IPv6", k.FWMark)
		}
		return fmt.Sprintf("FWM %d", k.FWMark)
	}
	return strings.ToUpper(k.Protocol.String()) + " " + netip.AddrPortFrom(k.Addr, k.Port).String()
}

// Service is an IPVS virtual service and its destinations.
type Service struct {
	Key        ServiceKey `json:"key"`
	Scheduler  string     `json:"scheduler"`
	SchedFlags []string   `json:"schedFlags,omitempty"` // sh-fallback, sh-port, mh-fallback, mh-port
	// Persistent services keep a client on one destination for Timeout seconds;
	// clients are grouped by NetmaskBits (a prefix length in either family),
	// or, for an IPv4 netmask that is not contiguous (255.255.0.255, which
	// the kernel and ipvsadm -M accept), by Netmask. Netmask is set only
	// then, and NetmaskBits is 0 beside it: use IPv4Mask, SetIPv4Mask and
	// MaskText rather than either field alone.
	Persistent  bool           `json:"persistent,omitempty"`
	Timeout     uint32         `json:"timeout,omitempty"`
	NetmaskBits int            `json:"netmaskBits,omitempty"`
	Netmask     netip.Addr     `json:"netmask,omitzero"`
	PE          string         `json:"pe,omitempty"`
	OnePacket   bool           `json:"onePacket,omitempty"`
	Dests       []*Destination `json:"destinations,omitempty"`
	Why         []string       `json:"why,omitempty"`

	// ExternallyManaged says what of the service's destinations another
	// program (a health checker) owns, sorted: "presence" (which
	// destinations are there: a missing declared one is not added unless the
	// service itself is new, a live undeclared one is not deleted) and
	// "weight" (a live weight that differs from the declared one is left).
	// Desired state only; the planner never sends it to a host.
	ExternallyManaged []string `json:"externallyManaged,omitempty"`
}

// IPv4Mask is an IPv4 service's persistence netmask as the kernel keeps it
// (IPVS_SVC_ATTR_NETMASK, here in host byte order): Netmask when set,
// otherwise NetmaskBits leading ones.
func (s *Service) IPv4Mask() uint32 {
	if s.Netmask.Is4() {
		b := s.Netmask.As4()
		return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	}
	if s.NetmaskBits <= 0 {
		return 0
	}
	if s.NetmaskBits >= 32 {
		return ^uint32(0)
	}
	return ^uint32(0) << (32 - s.NetmaskBits)
}

// SetIPv4Mask sets an IPv4 persistence netmask: NetmaskBits when the mask is
// contiguous, Netmask (and NetmaskBits 0) when it is not.
func (s *Service) SetIPv4Mask(m uint32) {
	n := bits.LeadingZeros32(^m)
	if m<<n == 0 { // n may be 32, and then the shift gives 0
		s.NetmaskBits, s.Netmask = n, netip.Addr{}
		return
	}
	s.NetmaskBits = 0
	s.Netmask = netip.AddrFrom4([4]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)})
}

// MaskText says how a persistent service groups clients: "/24", or
// "/255.255.0.255" for a netmask that is not contiguous.
func (s *Service) MaskText() string {
	if s.Netmask.IsValid() {
		return "/" + s.Netmask.String()
	}
	return fmt.Sprintf("/%d", s.NetmaskBits)
}

// Forward is a destination's forwarding method.
type Forward string

// The forwarding methods.
const (
	NAT Forward = "nat" // masquerading, ipvsadm -m
	DR  Forward = "dr"  // direct routing (gatewaying), ipvsadm -g
	TUN Forward = "tun" // tunnelling, ipvsadm -i
	// Local is what some kernels report for a destination whose address is
	// the director's own (IP_VS_CONN_F_LOCALNODE, "Local" in ipvsadm -L):
	// packets are delivered to the director itself, whatever method was
	// asked for. Live state only: the planner takes it as equal to any
	// declared method. (Debian 12's 6.1 kernel keeps the declared method.)
	Local Forward = "local"
)

// Describe names the method for people.
func (f Forward) Describe() string {
	switch f {
	case NAT:
		return "NAT"
	case DR:
		return "direct routing"
	case TUN:
		return "tunnel"
	case Local:
		return "local node"
	}
	return string(f)
}

// Externally managed aspects of a service's destinations
// (Service.ExternallyManaged).
const (
	ExternalWeight   = "weight"
	ExternalPresence = "presence"
)

// External reports whether another program owns this aspect of the
// service's destinations (ExternalWeight, ExternalPresence).
func (s *Service) External(aspect string) bool {
	return slices.Contains(s.ExternallyManaged, aspect)
}

// Destination is an IPVS real server of one service.
type Destination struct {
	Addr           netip.AddrPort `json:"address"`
	Weight         uint32         `json:"weight"`
	Forward        Forward        `json:"forward"`
	TunnelType     string         `json:"tunnelType,omitempty"` // ipip, gue, gre (tun only)
	TunnelPort     uint16         `json:"tunnelPort,omitempty"` // gue only
	TunnelChecksum string         `json:"tunnelChecksum,omitempty"`
	UpperThreshold uint32         `json:"upperThreshold,omitempty"`
	LowerThreshold uint32         `json:"lowerThreshold,omitempty"`
	// Host names the host in the configuration that is this real server
	// (realServers.NAME.host); desired state only. The kernel knows nothing
	// of it: live destinations have "", and the planner never compares it.
	Host string `json:"host,omitempty"`
	// Conns counts the connections the kernel holds for this destination;
	// live state only, for draining and reports.
	Conns *Conns   `json:"conns,omitempty"`
	Why   []string `json:"why,omitempty"`
}

// Conns are a destination's connection counters as IPVS reports them.
type Conns struct {
	Active     uint32 `json:"active"`
	Inactive   uint32 `json:"inactive"`
	Persistent uint32 `json:"persistent"`
}

// Address is an address with its prefix on an interface; (Interface, Prefix)
// is its identity.
type Address struct {
	Interface string       `json:"interface"`
	Prefix    netip.Prefix `json:"prefix"`
	Why       []string     `json:"why,omitempty"`
}

// Link is a network device lvsctl needs up (lo, tunl0, ...). Kind names the
// device type lvsctl creates when it is missing; "" for devices it only
// expects to exist.
type Link struct {
	Name string   `json:"name"`
	Kind string   `json:"kind,omitempty"`
	Up   bool     `json:"up"`
	Why  []string `json:"why,omitempty"`
}

// Sysctl is a key under /proc/sys in sysctl(8)'s dotted form, with its value.
type Sysctl struct {
	Key   string   `json:"key"`
	Value string   `json:"value"`
	Why   []string `json:"why,omitempty"`
}

// Route is a route lvsctl checks or, with Manage, keeps.
type Route struct {
	Dst     netip.Prefix `json:"destination"`
	Gateway netip.Addr   `json:"gateway"`
	Manage  bool         `json:"manage,omitempty"`
	Why     []string     `json:"why,omitempty"`
}

// MarkRule sets Mark on packets to Addr with Protocol and one of Ports.
type MarkRule struct {
	Family   Family     `json:"family"`
	Addr     netip.Addr `json:"address"`
	Protocol Protocol   `json:"protocol"`
	Ports    []uint16   `json:"ports"`
	Mark     uint32     `json:"mark"`
	Why      []string   `json:"why,omitempty"`
}

// Timeouts are the global IPVS timeouts in seconds; 0 leaves a value alone.
type Timeouts struct {
	TCP    uint32   `json:"tcp,omitempty"`
	TCPFin uint32   `json:"tcpfin,omitempty"`
	UDP    uint32   `json:"udp,omitempty"`
	Why    []string `json:"why,omitempty"`
}

// The states of a sync daemon: the identity of a daemon, as the kernel runs
// at most one of each per network namespace.
const (
	SyncMaster = "master"
	SyncBackup = "backup"
)

// The kernel's defaults for a sync daemon's multicast group, port and TTL
// (IP_VS_SYNC_GROUP, IP_VS_SYNC_PORT).
var (
	DefaultSyncGroup = netip.AddrFrom4([4]byte{224, 0, 0, 81})
)

const (
	DefaultSyncPort = 8848
	DefaultSyncTTL  = 1
)

// SyncDaemon is an IPVS connection synchronisation daemon (ipvsadm
// --start-daemon): a master sends the director's connections to a multicast
// group, a backup receives them, so that a backup director knows them when
// it takes over. State is its identity; the kernel cannot change a running
// daemon, so any other difference is a stop, then a start.
type SyncDaemon struct {
	State     string `json:"state"`     // SyncMaster or SyncBackup
	Interface string `json:"interface"` // the multicast interface
	SyncID    uint32 `json:"syncID"`    // 0-255
	// MaxLength is the largest sync message's UDP payload in bytes; 0 in
	// desired state leaves it to the kernel (the interface's MTU), and
	// then it is not compared. Live state has the kernel's value.
	MaxLength uint16     `json:"maxLength,omitempty"`
	Group     netip.Addr `json:"group,omitzero"` // multicast group, IPv4 or IPv6
	Port      uint16     `json:"port,omitempty"`
	TTL       uint8      `json:"ttl,omitempty"`
	Why       []string   `json:"why,omitempty"`
}

// Describe is the daemon's settings as a plan prints them: "eth1, syncid 7",
// then the group, port, TTL and maximum length where they are not the
// kernel's defaults.
func (d SyncDaemon) Describe() string {
	s := fmt.Sprintf("%s, syncid %d", d.Interface, d.SyncID)
	if d.Group.IsValid() && d.Group != DefaultSyncGroup {
		s += ", group " + d.Group.String()
	}
	if d.Port != 0 && d.Port != DefaultSyncPort {
		s += fmt.Sprintf(", port %d", d.Port)
	}
	if d.TTL != 0 && d.TTL != DefaultSyncTTL {
		s += fmt.Sprintf(", ttl %d", d.TTL)
	}
	if d.MaxLength != 0 {
		s += fmt.Sprintf(", maxlen %d", d.MaxLength)
	}
	return s
}

// SyncMaxLengthRange is the range of maximum lengths the kernel keeps as
// asked for a daemon of that state sending to group (IPv4 when invalid): it
// clamps others into it. A backup needs room for 1024 bytes; the upper bound
// is a UDP datagram's largest payload over IPv4 or IPv6.
func SyncMaxLengthRange(daemonState string, group netip.Addr) (lo, hi int) {
	lo, hi = 1, 65535-20-8
	if daemonState == SyncBackup {
		lo = 1024
	}
	if group.Is6() {
		hi = 65535 - 40 - 8
	}
	return lo, hi
}

// Inventory is what lvsctl created or adopted on a host, and the value each
// sysctl had before lvsctl changed it. Only its members may be deleted.
type Inventory struct {
	Services  []ServiceKey      `json:"services,omitempty"`
	Addresses []Address         `json:"addresses,omitempty"`
	Links     []string          `json:"links,omitempty"`
	Sysctls   map[string]string `json:"sysctls,omitempty"` // key -> original value
	Routes    []Route           `json:"routes,omitempty"`
	Marks     []MarkRule        `json:"marks,omitempty"`
	// Daemons are the sync daemons lvsctl started, by state (master,
	// backup).
	Daemons []string `json:"daemons,omitempty"`
	// Keepalived are the keepalived configuration files lvsctl wrote, by
	// path (a pair's keepalived.config).
	Keepalived []string `json:"keepalived,omitempty"`
}

// Empty reports whether the inventory owns nothing.
func (inv *Inventory) Empty() bool {
	return len(inv.Services) == 0 && len(inv.Addresses) == 0 && len(inv.Links) == 0 &&
		len(inv.Sysctls) == 0 && len(inv.Routes) == 0 && len(inv.Marks) == 0 && len(inv.Daemons) == 0 &&
		len(inv.Keepalived) == 0
}
