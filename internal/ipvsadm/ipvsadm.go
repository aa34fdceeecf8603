// Package ipvsadm reads and writes ipvsadm's text formats, so tests can use
// ipvsadm as an independent second reader of the IPVS table (and a baseline
// for speed). ParseSave reads `ipvsadm -S -n`; ParseList adds what -S drops
// (thresholds, tunnel settings) from `ipvsadm -Ln --thresholds` and
// `ipvsadm -Ln --tun-info`; Save writes rules for `ipvsadm -R`.
//
// Parsing is strict: an option it does not know is an error, so a format
// change shows up as a failing test rather than a silent difference.
package ipvsadm

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/lvsctl/lvsctl/internal/state"
)

// ParseSave reads the output of `ipvsadm -S -n`.
func ParseSave(out string) ([]*state.Service, error) {
	var svcs []*state.Service
	byKey := map[state.ServiceKey]*state.Service{}
	for n, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		fail := func(format string, args ...any) error {
			return fmt.Errorf("ipvsadm -S line %d %q: %s", n+1, line, fmt.Sprintf(format, args...))
		}
		switch f[0] {
		case "-A":
			s := &state.Service{}
			rest, err := parseServiceKey(f[1:], &s.Key)
			if err != nil {
				return nil, fail("%v", err)
			}
			for i := 0; i < len(rest); i++ {
				arg := func() (string, error) { return value(rest, &i) }
				var v string
				switch rest[i] {
				case "-s":
					if s.Scheduler, err = arg(); err != nil {
						return nil, fail("%v", err)
					}
				case "-p":
					if v, err = arg(); err != nil {
						return nil, fail("%v", err)
					}
					t, err := strconv.ParseUint(v, 10, 32)
					if err != nil {
						return nil, fail("timeout %q", v)
					}
					s.Persistent, s.Timeout = true, uint32(t)
				case "-M":
					if v, err = arg(); err != nil {
						return nil, fail("%v", err)
					}
					if err = setMask(s, v); err != nil {
						return nil, fail("%v", err)
					}
				case "--pe":
					if s.PE, err = arg(); err != nil {
						return nil, fail("%v", err)
					}
				case "-b":
					if v, err = arg(); err != nil {
						return nil, fail("%v", err)
					}
					s.SchedFlags = strings.Split(v, ",")
					slices.Sort(s.SchedFlags)
				case "-o":
					s.OnePacket = true
				default:
					return nil, fail("unknown option %q", rest[i])
				}
			}
			if s.Persistent && s.NetmaskBits == 0 && !s.Netmask.IsValid() && !slices.Contains(rest, "-M") {
				s.NetmaskBits = 32
				if s.Key.Family == state.IPv6 {
					s.NetmaskBits = 128
				}
			}
			svcs = append(svcs, s)
			byKey[s.Key] = s
		case "-a":
			var k state.ServiceKey
			rest, err := parseServiceKey(f[1:], &k)
			if err != nil {
				return nil, fail("%v", err)
			}
			s := byKey[k]
			if s == nil {
				return nil, fail("destination of an unknown service")
			}
			d := &state.Destination{}
			for i := 0; i < len(rest); i++ {
				arg := func() (string, error) { return value(rest, &i) }
				var v string
				switch rest[i] {
				case "-r":
					if v, err = arg(); err != nil {
						return nil, fail("%v", err)
					}
					if d.Addr, err = parseAddrPort(v); err != nil {
						return nil, fail("%v", err)
					}
				case "-g":
					d.Forward = state.DR
				case "-m":
					d.Forward = state.NAT
				case "-i":
					d.Forward = state.TUN
				case "-w", "-x", "-y", "--tun-port":
					opt := rest[i]
					if v, err = arg(); err != nil {
						return nil, fail("%v", err)
					}
					u, err := strconv.ParseUint(v, 10, 32)
					if err != nil {
						return nil, fail("%s %q", opt, v)
					}
					switch opt {
					case "-w":
						d.Weight = uint32(u)
					case "-x":
						d.UpperThreshold = uint32(u)
					case "-y":
						d.LowerThreshold = uint32(u)
					default:
						d.TunnelPort = uint16(u)
					}
				case "--tun-type":
					if d.TunnelType, err = arg(); err != nil {
						return nil, fail("%v", err)
					}
				case "--tun-nocsum":
					d.TunnelChecksum = "none"
				case "--tun-csum":
					d.TunnelChecksum = "csum"
				case "--tun-remcsum":
					d.TunnelChecksum = "remcsum"
				default:
					return nil, fail("unknown option %q", rest[i])
				}
			}
			if d.Forward == state.TUN && d.TunnelType == "" {
				d.TunnelType = "ipip" // the default, which -S leaves out
			}
			if d.Forward == state.TUN && d.TunnelChecksum == "" {
				d.TunnelChecksum = "none"
			}
			s.Dests = append(s.Dests, d)
		default:
			return nil, fail("not a rule")
		}
	}
	return svcs, nil
}

// value returns the option's value after rest[*i] and advances past it.
func value(rest []string, i *int) (string, error) {
	if *i+1 >= len(rest) {
		return "", fmt.Errorf("%s needs a value", rest[*i])
	}
	*i++
	return rest[*i], nil
}

func parseServiceKey(f []string, k *state.ServiceKey) ([]string, error) {
	if len(f) < 2 {
		return nil, fmt.Errorf("no service")
	}
	switch f[0] {
	case "-f":
		m, err := strconv.ParseUint(f[1], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("firewall mark %q", f[1])
		}
		k.FWMark, k.Family = uint32(m), state.IPv4
		rest := f[2:]
		if i := slices.Index(rest, "-6"); i >= 0 {
			k.Family = state.IPv6
			rest = slices.Delete(slices.Clone(rest), i, i+1)
		}
		return rest, nil
	case "-t", "-u", "--sctp-service":
		k.Protocol = map[string]state.Protocol{"-t": state.TCP, "-u": state.UDP, "--sctp-service": state.SCTP}[f[0]]
		ap, err := parseAddrPort(f[1])
		if err != nil {
			return nil, err
		}
		k.Addr, k.Port, k.Family = ap.Addr(), ap.Port(), state.FamilyOf(ap.Addr())
		return f[2:], nil
	}
	return nil, fmt.Errorf("service option %q", f[0])
}

func parseAddrPort(s string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return ap, fmt.Errorf("address %q", s)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// setMask reads -M: a prefix length for an IPv6 service, a netmask (which
// need not be contiguous: 255.255.0.255) for an IPv4 one.
func setMask(s *state.Service, v string) error {
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 || n > 128 {
			return fmt.Errorf("netmask %q", v)
		}
		s.NetmaskBits = n // IPv6: a prefix length
		return nil
	}
	m, err := netip.ParseAddr(v)
	if err != nil || !m.Is4() {
		return fmt.Errorf("netmask %q", v)
	}
	b := m.As4()
	s.SetIPv4Mask(uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]))
	return nil
}

// Save writes services as `ipvsadm -R` input.
func Save(svcs []*state.Service) string {
	var b strings.Builder
	for _, s := range svcs {
		key := serviceOpt(s.Key)
		fmt.Fprintf(&b, "-A %s -s %s", key, s.Scheduler)
		if s.Persistent {
			fmt.Fprintf(&b, " -p %d", s.Timeout)
			if s.Key.Family == state.IPv6 {
				fmt.Fprintf(&b, " -M %d", s.NetmaskBits)
			} else {
				m := s.IPv4Mask()
				fmt.Fprintf(&b, " -M %d.%d.%d.%d", m>>24, m>>16&0xff, m>>8&0xff, m&0xff)
			}
		}
		if s.PE != "" {
			fmt.Fprintf(&b, " --pe %s", s.PE)
		}
		if len(s.SchedFlags) > 0 {
			fmt.Fprintf(&b, " -b %s", strings.Join(s.SchedFlags, ","))
		}
		if s.OnePacket {
			b.WriteString(" -o")
		}
		b.WriteString("\n")
		for _, d := range s.Dests {
			fwd := map[state.Forward]string{state.DR: "-g", state.NAT: "-m", state.TUN: "-i"}[d.Forward]
			fmt.Fprintf(&b, "-a %s -r %s %s -w %d", key, d.Addr, fwd, d.Weight)
			if d.UpperThreshold != 0 || d.LowerThreshold != 0 {
				fmt.Fprintf(&b, " -x %d -y %d", d.UpperThreshold, d.LowerThreshold)
			}
			if d.Forward == state.TUN && d.TunnelType != "" && d.TunnelType != "ipip" {
				fmt.Fprintf(&b, " --tun-type %s", d.TunnelType)
				if d.TunnelPort != 0 {
					fmt.Fprintf(&b, " --tun-port %d", d.TunnelPort)
				}
				if c := d.TunnelChecksum; c != "" {
					fmt.Fprintf(&b, " --tun-%s", map[string]string{"none": "nocsum", "csum": "csum", "remcsum": "remcsum"}[c])
				}
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

func serviceOpt(k state.ServiceKey) string {
	if k.FWMark != 0 {
		if k.Family == state.IPv6 {
			return fmt.Sprintf("-f %d -6", k.FWMark)
		}
		return fmt.Sprintf("-f %d", k.FWMark)
	}
	opt := map[state.Protocol]string{state.TCP: "-t", state.UDP: "-u", state.SCTP: "--sctp-service"}[k.Protocol]
	return opt + " " + netip.AddrPortFrom(k.Addr, k.Port).String()
}

// Thresholds maps a destination, as "SERVICE -> ADDRESS:PORT" (SERVICE as
// state.ServiceKey.String prints it), to its upper and lower thresholds.
type Thresholds map[string][2]uint32

// ParseThresholds reads `ipvsadm -Ln --thresholds`.
func ParseThresholds(out string) (Thresholds, error) {
	th := Thresholds{}
	svc := ""
	for n, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 0 || strings.HasPrefix(line, "IP Virtual Server") || f[0] == "Prot" || (f[0] == "->" && f[1] == "RemoteAddress:Port"):
		case f[0] == "TCP" || f[0] == "UDP" || f[0] == "SCTP":
			svc = f[0] + " " + f[1]
		case f[0] == "FWM":
			svc = "FWM " + f[1]
			if len(f) > 2 && f[2] == "IPv6" {
				svc += " IPv6"
			}
		case f[0] == "->" && len(f) >= 4 && svc != "":
			up, err1 := strconv.ParseUint(f[2], 10, 32)
			low, err2 := strconv.ParseUint(f[3], 10, 32)
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("ipvsadm --thresholds line %d %q: thresholds", n+1, line)
			}
			th[svc+" -> "+f[1]] = [2]uint32{uint32(up), uint32(low)}
		default:
			return nil, fmt.Errorf("ipvsadm --thresholds line %d %q: not understood", n+1, line)
		}
	}
	return th, nil
}

// Apply sets the thresholds of svcs' destinations from th.
func (th Thresholds) Apply(svcs []*state.Service) {
	for _, s := range svcs {
		for _, d := range s.Dests {
			if v, ok := th[s.Key.String()+" -> "+d.Addr.String()]; ok {
				d.UpperThreshold, d.LowerThreshold = v[0], v[1]
			}
		}
	}
}

// ParseTimeouts reads `ipvsadm -L --timeout`.
func ParseTimeouts(out string) (state.Timeouts, error) {
	var t state.Timeouts
	_, rest, ok := strings.Cut(out, "Timeout (tcp tcpfin udp):")
	if !ok {
		return t, fmt.Errorf("ipvsadm --timeout: %q", out)
	}
	_, err := fmt.Sscan(rest, &t.TCP, &t.TCPFin, &t.UDP)
	return t, err
}
