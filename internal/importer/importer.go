// Package importer turns a cluster that already exists (an ipvsadm save
// file, a keepalived.conf, the live hosts) into an lvsctl cluster definition
// and writes it as CUE that `cue fmt` leaves as it is.
//
// A Definition is ordered data: hosts, directors, services and real servers
// come out in the order they were added, each with the comments that go
// beside it. Names are readable and stable: a service is named by its VIP
// and port (ServiceName), a real server by its address (RealServerName).
// Every comment is cleaned of control characters: what an import reads is
// untrusted input, and it ends up on an operator's terminal.
package importer

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/lvsctl/lvsctl/internal/state"
)

// Definition is a cluster definition to be written as CUE.
type Definition struct {
	Header    []string // comment lines at the top of the file
	Hosts     []*Host
	Directors []*Director
}

// Host is one entry of hosts.
type Host struct {
	Name      string
	Comment   []string
	SSH       *SSH
	Local     bool
	Netns     string
	AgentPath string
	Interface string
	Sysctls   []Sysctl
	// DefaultRoute is written when not "" ("manage"; "check" is the default).
	DefaultRoute string
	// Boot is written when not "" (lvsctl's default is "systemd").
	Boot string
}

// SSH is how a host is reached over SSH.
type SSH struct {
	Address string
	Port    int // 0 or 22: not written
	User    string
}

// Sysctl is a sysctl a host or director declares.
type Sysctl struct {
	Key, Value string
	Comment    []string
}

// Director is one entry of directors.
type Director struct {
	Name       string
	Comment    []string
	VIPs       []VIP
	Sysctls    []Sysctl
	Timeouts   *state.Timeouts
	NATGateway []netip.Addr
	Marks      []Mark
	Services   []*Service
}

// VIP is an address lvsctl keeps on a director.
type VIP struct {
	Prefix    netip.Prefix // written without prefix when it is the address's full length
	Interface string
	Comment   []string
}

// Mark is a firewall-mark group.
type Mark struct {
	Name    string
	Rule    state.MarkRule
	Comment []string
}

// Service is a virtual service with its real servers.
type Service struct {
	Name     string
	Comment  []string
	Svc      *state.Service // Dests are ignored: RealServers says them
	Reals    []*RealServer
	Defaults bool // the service came from a source without scheduler etc.
}

// RealServer is one real server of a service.
type RealServer struct {
	Name    string
	Comment []string
	Dest    *state.Destination
	Host    string // the host in hosts that is this real server, or ""
}

// Director returns the director named name, adding it when it is new.
func (d *Definition) Director(name string) *Director {
	for _, dir := range d.Directors {
		if dir.Name == name {
			return dir
		}
	}
	dir := &Director{Name: name}
	d.Directors = append(d.Directors, dir)
	return dir
}

// AddService adds s to the director with readable names for it and its
// destinations, and returns it. A service whose key the director already has
// is not added again: the earlier one is returned, and ok is false.
func (dir *Director) AddService(s *state.Service) (svc *Service, ok bool) {
	for _, have := range dir.Services {
		if have.Svc.Key == s.Key {
			return have, false
		}
	}
	svc = &Service{Name: dir.uniqueName(ServiceName(s.Key)), Svc: s}
	for _, d := range s.Dests {
		svc.Reals = append(svc.Reals, &RealServer{Dest: d})
	}
	svc.nameReals()
	dir.Services = append(dir.Services, svc)
	return svc, true
}

func (dir *Director) uniqueName(name string) string {
	taken := func(n string) bool {
		return slices.ContainsFunc(dir.Services, func(s *Service) bool { return s.Name == n })
	}
	if !taken(name) {
		return name
	}
	for i := 2; ; i++ {
		if n := name + "-" + strconv.Itoa(i); !taken(n) {
			return n
		}
	}
}

// nameReals names each real server by its address, or by address and port
// where the service has one address on several ports.
func (s *Service) nameReals() {
	count := map[netip.Addr]int{}
	for _, r := range s.Reals {
		count[r.Dest.Addr.Addr()]++
	}
	used := map[string]bool{}
	for _, r := range s.Reals {
		a := r.Dest.Addr
		name := addrName(a.Addr())
		if count[a.Addr()] > 1 {
			name = addrPortName(a.Addr(), a.Port())
		}
		for n := 2; used[name]; n++ {
			name = addrPortName(a.Addr(), a.Port()) + "-" + strconv.Itoa(n)
		}
		used[name] = true
		r.Name = name
	}
}

// ServiceName names a service by its VIP and port as people write them:
// "192.168.0.10:80" for TCP, "udp@192.168.0.10:53" for UDP (and SCTP),
// "2001:db8::1.80" for IPv6 (tcpdump's form: lvsctl's names have no
// brackets), "fwmark-7" and "fwmark-7-ipv6" for firewall marks.
func ServiceName(k state.ServiceKey) string {
	if k.FWMark != 0 {
		n := "fwmark-" + strconv.FormatUint(uint64(k.FWMark), 10)
		if k.Family == state.IPv6 {
			n += "-ipv6"
		}
		return n
	}
	n := addrPortName(k.Addr, k.Port)
	if k.Protocol != state.TCP {
		n = k.Protocol.String() + "@" + n
	}
	return n
}

// RealServerName names a real server by its address alone.
func RealServerName(a netip.Addr) string { return addrName(a) }

func addrName(a netip.Addr) string {
	s := a.WithZone("").String()
	if strings.HasPrefix(s, ":") {
		s = "0" + s // "::1" is "0::1": a name starts with a letter or digit
	}
	return s
}

func addrPortName(a netip.Addr, port uint16) string {
	sep := ":"
	if a.Is6() {
		sep = "."
	}
	return addrName(a) + sep + strconv.Itoa(int(port))
}
