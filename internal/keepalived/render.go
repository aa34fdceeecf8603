package keepalived

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/lvsctl/lvsctl/internal/names"
	"github.com/lvsctl/lvsctl/internal/state"
)

// Render writes the keepalived configuration lvsctl keeps on a director of a
// pair: global_defs, the pair's vrrp_instance, and a virtual_server for each
// service whose real servers keepalived checks. It is the one place that
// text is made: the planner renders to compare with what a director has,
// and the agent renders again from the same fields after checking them, so
// nothing but this function's output reaches the file.
//
// Every field is checked first (names, ranges, the checkers' URL paths), and
// a value that keepalived's parser would read as anything but itself (a
// space, a quote, a brace, a comment or definition character) is refused.
func Render(k *state.Keepalived) ([]byte, error) {
	if err := Check(k); err != nil {
		return nil, err
	}
	var b strings.Builder
	w := func(indent int, format string, args ...any) {
		b.WriteString(strings.Repeat("    ", indent))
		fmt.Fprintf(&b, format, args...)
		b.WriteByte('\n')
	}
	pair := k.Pair
	if pair == "" {
		pair = k.VRRP.Name
	}
	w(0, "# Written by lvsctl for pair %s. lvsctl plan shows a change made here, and lvsctl apply puts its own back.", pair)
	w(0, "global_defs {")
	w(1, "router_id %s", k.RouterName)
	w(0, "}")
	v := k.VRRP
	w(0, "vrrp_instance %s {", v.Name)
	if v.Master {
		w(1, "state MASTER")
	} else {
		w(1, "state BACKUP")
	}
	w(1, "interface %s", v.Interface)
	w(1, "virtual_router_id %d", v.RouterID)
	w(1, "priority %d", v.Priority)
	w(1, "advert_int 1")
	w(1, "virtual_ipaddress {")
	for _, p := range v.VIPs {
		w(2, "%s dev %s", p, v.Interface)
	}
	w(1, "}")
	w(0, "}")
	for _, cs := range k.Services {
		s := &cs.Service
		if s.Key.FWMark != 0 {
			w(0, "virtual_server fwmark %d {", s.Key.FWMark)
		} else {
			w(0, "virtual_server %s %d {", s.Key.Addr, s.Key.Port)
		}
		if s.Key.FWMark != 0 && s.Key.Family == state.IPv6 {
			w(1, "ip_family inet6")
		}
		w(1, "delay_loop %d", cs.DelayLoop)
		w(1, "lb_algo %s", s.Scheduler)
		for _, f := range s.SchedFlags {
			w(1, "%s", f)
		}
		if s.OnePacket {
			w(1, "ops")
		}
		fwd := state.DR
		if len(s.Dests) > 0 {
			fwd = s.Dests[0].Forward
		}
		w(1, "lb_kind %s", method(fwd))
		if s.Persistent {
			w(1, "persistence_timeout %d", s.Timeout)
			switch {
			case s.Key.Family == state.IPv6 && s.NetmaskBits > 0 && s.NetmaskBits < 128:
				w(1, "persistence_granularity %d", s.NetmaskBits)
			case s.Key.Family == state.IPv4 && s.IPv4Mask() != 0 && s.IPv4Mask() != ^uint32(0):
				m := s.IPv4Mask()
				w(1, "persistence_granularity %d.%d.%d.%d", m>>24, m>>16&255, m>>8&255, m&255)
			}
			if s.PE != "" {
				w(1, "persistence_engine %s", s.PE)
			}
		}
		if s.Key.FWMark == 0 {
			w(1, "protocol %s", strings.ToUpper(s.Key.Protocol.String()))
		}
		if cs.Inhibit {
			w(1, "inhibit_on_failure")
		}
		if cs.Quorum != 0 {
			w(1, "quorum %d", cs.Quorum)
			if cs.Hysteresis != 0 {
				w(1, "hysteresis %d", cs.Hysteresis)
			}
		}
		if cs.Sorry.IsValid() {
			w(1, "sorry_server %s %d", cs.Sorry.Addr(), cs.Sorry.Port())
		}
		for i, d := range s.Dests {
			w(1, "real_server %s %d {", d.Addr.Addr(), d.Addr.Port())
			w(2, "weight %d", d.Weight)
			if d.Forward != fwd || d.Forward == state.TUN {
				w(2, "lvs_method %s", tunnelMethod(d))
			}
			if d.UpperThreshold != 0 {
				w(2, "uthreshold %d", d.UpperThreshold)
			}
			if d.LowerThreshold != 0 {
				w(2, "lthreshold %d", d.LowerThreshold)
			}
			c := cs.Checks[i]
			switch c.Type {
			case "tcp":
				w(2, "TCP_CHECK {")
			case "http":
				w(2, "HTTP_GET {")
			case "https":
				w(2, "SSL_GET {")
			}
			if c.Type != "" {
				if c.Type != "tcp" {
					w(3, "url {")
					w(4, "path %s", c.Path)
					w(4, "status_code %d", c.Status)
					w(3, "}")
				}
				if c.Port != 0 {
					w(3, "connect_port %d", c.Port)
				}
				w(3, "connect_timeout %d", c.Timeout)
				w(3, "retry %d", c.Retry)
				w(2, "}")
			}
			w(1, "}")
		}
		w(0, "}")
	}
	return []byte(b.String()), nil
}

func method(f state.Forward) string {
	switch f {
	case state.NAT:
		return "NAT"
	case state.TUN:
		return "TUN"
	}
	return "DR"
}

// tunnelMethod is a real server's lvs_method with its tunnel options.
func tunnelMethod(d *state.Destination) string {
	if d.Forward != state.TUN {
		return method(d.Forward)
	}
	s := "TUN"
	typ := d.TunnelType
	if typ == "" {
		typ = "ipip"
	}
	s += " type " + typ
	if d.TunnelPort != 0 {
		s += " port " + strconv.Itoa(int(d.TunnelPort))
	}
	switch d.TunnelChecksum {
	case "csum", "remcsum":
		s += " " + d.TunnelChecksum
	}
	return s
}

// urlPath is what a checker's path may hold: no space, quote, brace,
// backslash, and none of keepalived's comment (# !), definition ($), sequence
// (~) or conditional (@) characters.
var urlPath = regexp.MustCompile(`^/[A-Za-z0-9/._%&=?+,;:*-]{0,254}$`)

// CheckTypes are the checkers lvsctl renders. MISC_CHECK is not one: it runs
// a program as root on the director, and a cluster definition may change
// LVS state and nothing else.
var CheckTypes = []string{"tcp", "http", "https"}

// Check holds every field Render writes to what keepalived reads as that
// value, within keepalived's ranges.
func Check(k *state.Keepalived) error {
	if k == nil {
		return errors.New("no keepalived configuration")
	}
	if err := checkWord(k.RouterName); err != nil {
		return fmt.Errorf("router_id: %w", err)
	}
	if k.Pair != "" {
		if err := checkWord(k.Pair); err != nil {
			return fmt.Errorf("pair: %w", err)
		}
	}
	v := k.VRRP
	if err := checkWord(v.Name); err != nil {
		return fmt.Errorf("vrrp_instance: %w", err)
	}
	if err := names.CheckInterfaceName(v.Interface); err != nil {
		return fmt.Errorf("vrrp_instance %s: %w", v.Name, err)
	}
	if v.RouterID < 1 || v.RouterID > 255 {
		return fmt.Errorf("vrrp_instance %s: virtual_router_id %d is not 1 to 255", v.Name, v.RouterID)
	}
	if v.Priority < 1 || v.Priority > 254 {
		return fmt.Errorf("vrrp_instance %s: priority %d is not 1 to 254", v.Name, v.Priority)
	}
	if len(v.VIPs) == 0 {
		return fmt.Errorf("vrrp_instance %s: no VIP", v.Name)
	}
	for _, p := range v.VIPs {
		if !p.IsValid() || p.Addr().Zone() != "" || !p.Addr().IsGlobalUnicast() {
			return fmt.Errorf("vrrp_instance %s: VIP %s is not a unicast address with a prefix", v.Name, p)
		}
	}
	for _, cs := range k.Services {
		s := &cs.Service
		if err := checkVS(s); err != nil {
			return fmt.Errorf("virtual_server %s: %w", s.Key, err)
		}
		if cs.DelayLoop < 1 || cs.DelayLoop > 86400 {
			return fmt.Errorf("virtual_server %s: delay_loop %d is not 1 to 86400 seconds", s.Key, cs.DelayLoop)
		}
		if cs.Sorry.IsValid() && (cs.Sorry.Addr().Zone() != "" || cs.Sorry.Addr().Is4() != (s.Key.Family == state.IPv4)) {
			return fmt.Errorf("virtual_server %s: sorry_server %s is not of the service's family", s.Key, cs.Sorry)
		}
		if cs.Hysteresis != 0 && cs.Hysteresis >= cs.Quorum {
			return fmt.Errorf("virtual_server %s: hysteresis %d is not below quorum %d", s.Key, cs.Hysteresis, cs.Quorum)
		}
		if cs.Quorum > 2147483647 {
			return fmt.Errorf("virtual_server %s: quorum %d is too large", s.Key, cs.Quorum)
		}
		if len(cs.Checks) != len(s.Dests) {
			return fmt.Errorf("virtual_server %s: %d checkers for %d real servers", s.Key, len(cs.Checks), len(s.Dests))
		}
		for i, c := range cs.Checks {
			if err := CheckChecker(c); err != nil {
				return fmt.Errorf("virtual_server %s: real_server %s: %w", s.Key, s.Dests[i].Addr, err)
			}
		}
	}
	return nil
}

func checkVS(s *state.Service) error {
	switch {
	case s.Key.FWMark != 0:
		if s.Key.Family != state.IPv4 && s.Key.Family != state.IPv6 {
			return errors.New("no family")
		}
	case !s.Key.Addr.IsValid() || s.Key.Addr.Zone() != "" || s.Key.Port == 0:
		return errors.New("no address and port")
	case s.Key.Protocol != state.TCP && s.Key.Protocol != state.UDP && s.Key.Protocol != state.SCTP:
		return errors.New("not TCP, UDP or SCTP")
	}
	if !slices.Contains(schedulers, s.Scheduler) {
		return fmt.Errorf("scheduler %q is not one keepalived knows", s.Scheduler)
	}
	for _, f := range s.SchedFlags {
		if !slices.Contains([]string{"sh-fallback", "sh-port", "mh-fallback", "mh-port"}, f) || f[:2] != s.Scheduler {
			return fmt.Errorf("flag %q does not go with scheduler %s", f, s.Scheduler)
		}
	}
	if s.PE != "" && s.PE != "sip" {
		return fmt.Errorf("persistence engine %q", s.PE)
	}
	if s.Persistent && (s.Timeout < 1 || s.Timeout > lvsMaxTimeout) {
		return fmt.Errorf("persistence timeout %d", s.Timeout)
	}
	for _, d := range s.Dests {
		if d == nil || !d.Addr.Addr().IsValid() || d.Addr.Addr().Zone() != "" {
			return errors.New("a real server without an address")
		}
		if d.Weight > weightLimit {
			return fmt.Errorf("real server %s: weight %d", d.Addr, d.Weight)
		}
		switch d.Forward {
		case state.DR, state.NAT:
		case state.TUN:
			if !slices.Contains([]string{"", "ipip", "gue", "gre"}, d.TunnelType) || !slices.Contains([]string{"", "none", "csum", "remcsum"}, d.TunnelChecksum) {
				return fmt.Errorf("real server %s: tunnel %s %s", d.Addr, d.TunnelType, d.TunnelChecksum)
			}
		default:
			return fmt.Errorf("real server %s: forwarding %q is not one keepalived sets", d.Addr, d.Forward)
		}
	}
	return nil
}

// CheckChecker holds one real server's checker to what Render writes.
func CheckChecker(c state.Check) error {
	switch c.Type {
	case "":
		return nil
	case "tcp", "http", "https":
	default:
		return fmt.Errorf("checker %q is not one lvsctl writes (%s); MISC_CHECK would run a program as root on the director", c.Type, strings.Join(CheckTypes, ", "))
	}
	if c.Timeout < 1 || c.Timeout > 3600 {
		return fmt.Errorf("connect_timeout %d is not 1 to 3600 seconds", c.Timeout)
	}
	if c.Retry < 0 || c.Retry > 100 {
		return fmt.Errorf("retry %d is not 0 to 100", c.Retry)
	}
	if c.Type == "tcp" {
		if c.Path != "" || c.Status != 0 {
			return errors.New("a TCP checker has no path or status")
		}
		return nil
	}
	if !urlPath.MatchString(c.Path) {
		return fmt.Errorf("path %q: a checker's path starts with / and holds letters, digits and /._%%&=?+,;:*- only", names.Clean(c.Path))
	}
	if c.Status < 100 || c.Status > 599 {
		return fmt.Errorf("status %d is not an HTTP status (100 to 599)", c.Status)
	}
	return nil
}

// word is a name as lvsctl's definitions write hosts and pairs.
var word = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.:+-]{0,127}$`)

func checkWord(s string) error {
	if !word.MatchString(s) {
		return fmt.Errorf("%q is not a name lvsctl writes (letters, digits and _.:+-)", names.Clean(s))
	}
	return nil
}

// VIPText is a VIP as virtual_ipaddress writes it.
func VIPText(p netip.Prefix, dev string) string { return p.String() + " dev " + dev }
