// Package ipvsadm reads and writes ipvsadm's text formats: for lvsctl
// import (ReadIPVSRules reads saved rules and rules files, with errors that
// name the line), and so that tests can use ipvsadm as an independent second
// reader of the IPVS table (and a baseline for speed). ParseSave reads
// `ipvsadm -S -n`; ParseList adds what -S drops
// (thresholds, tunnel settings) from `ipvsadm -Ln --thresholds` and
// `ipvsadm -Ln --tun-info`; Save writes rules for `ipvsadm -R`.
//
// Parsing is strict: an option it does not know is an error, so a format
// change shows up as a failing test rather than a silent difference.
package ipvsadm

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/lvsctl/lvsctl/internal/state"
)

// ParseSave reads the output of `ipvsadm -S -n`, with the reader lvsctl
// import uses: an option it does not know is an error.
func ParseSave(out string) ([]*state.Service, error) {
	r, err := ReadIPVSRules(strings.NewReader(out), "ipvsadm -S", nil)
	if err != nil {
		return nil, err
	}
	return r.Services, nil
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
