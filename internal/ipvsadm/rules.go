package ipvsadm

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lvsctl/lvsctl/internal/names"
	"github.com/lvsctl/lvsctl/internal/state"
)

// IPVSRules is an IPVS table read from ipvsadm's rules: what `ipvsadm -S`,
// `ipvsadm -S -n` and `ipvsadm-save` print, and the rules files that
// distributions restore at boot (Debian's /etc/ipvsadm.rules, RHEL's
// /etc/sysconfig/ipvsadm), which are ipvsadm command lines without the
// command's name.
type IPVSRules struct {
	Services []*state.Service
	Clears   bool     // the rules start by clearing the table (-C)
	Notes    []string // what the reader resolved or left out, for people
}

// Resolver resolves the host and service names of `ipvsadm -S` without -n.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Bounds on a rules file: far above any real table (a 5,000-service table
// with 20 real servers each is 105,000 lines), far below what would exhaust
// memory.
const (
	maxRulesLines = 1_000_000
	maxRuleLine   = 4096
)

// ReadIPVSRules reads ipvsadm rules from r; name names r in errors. Every
// problem names the line and the option. res resolves host names (nil:
// names are an error, as they are best avoided: `ipvsadm -S -n` prints
// addresses).
func ReadIPVSRules(r io.Reader, name string, res Resolver) (*IPVSRules, error) {
	p := &rulesReader{name: name, res: res, byKey: map[state.ServiceKey]*state.Service{}, out: &IPVSRules{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxRuleLine)
	for sc.Scan() {
		p.line++
		if p.line > maxRulesLines {
			return nil, fmt.Errorf("%s: more than %d lines", name, maxRulesLines)
		}
		if err := p.rule(sc.Text()); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, p.line, err)
		}
	}
	if err := sc.Err(); err != nil {
		if err == bufio.ErrTooLong {
			return nil, fmt.Errorf("%s:%d: a line longer than %d bytes is not an ipvsadm rule", name, p.line+1, maxRuleLine)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return p.out, nil
}

type rulesReader struct {
	name  string
	line  int
	res   Resolver
	byKey map[state.ServiceKey]*state.Service
	out   *IPVSRules
}

// longOpts maps ipvsadm's long options to the short ones this reader knows.
var longOpts = map[string]string{
	"--add-service": "-A", "--edit-service": "-E", "--delete-service": "-D", "--clear": "-C",
	"--add-server": "-a", "--edit-server": "-e", "--delete-server": "-d",
	"--tcp-service": "-t", "--udp-service": "-u", "--fwmark-service": "-f", "--ipv6": "-6",
	"--scheduler": "-s", "--persistent": "-p", "--netmask": "-M", "--sched-flags": "-b", "--ops": "-o",
	"--real-server": "-r", "--gatewaying": "-g", "--ipip": "-i", "--masquerading": "-m",
	"--weight": "-w", "--u-threshold": "-x", "--l-threshold": "-y",
}

// withValue are the options that take a value.
var withValue = map[string]bool{"-t": true, "-u": true, "--sctp-service": true, "-f": true, "-s": true, "-M": true, "-b": true,
	"--pe": true, "-r": true, "-w": true, "-x": true, "-y": true, "--tun-type": true, "--tun-port": true}

type ruleOpt struct{ name, value string }

func (p *rulesReader) rule(text string) error {
	text = strings.TrimSpace(text)
	if text == "" || strings.HasPrefix(text, "#") {
		return nil
	}
	fields := strings.Fields(text)
	if fields[0] == "ipvsadm" || strings.HasSuffix(fields[0], "/ipvsadm") {
		fields = fields[1:]
	}
	var opts []ruleOpt
	for i := 0; i < len(fields); i++ {
		f := fields[i]
		if v, ok := strings.CutPrefix(f, "--"); ok && strings.Contains(v, "=") {
			n, val, _ := strings.Cut(f, "=")
			fields = slices.Insert(fields, i+1, val)
			f = n
		}
		if short, ok := longOpts[f]; ok {
			f = short
		}
		o := ruleOpt{name: f}
		switch {
		case withValue[f]:
			if i+1 >= len(fields) {
				return fmt.Errorf("%s needs a value", f)
			}
			i++
			o.value = fields[i]
		case f == "-p":
			// ipvsadm's -p takes an optional timeout (300 s when left out).
			if i+1 < len(fields) && !strings.HasPrefix(fields[i+1], "-") {
				i++
				o.value = fields[i]
			}
		case strings.HasPrefix(f, "-") && len(f) > 2 && !strings.HasPrefix(f, "--"):
			// Short options run together (-6), values glued on (-w5).
			if withValue[f[:2]] {
				o = ruleOpt{name: f[:2], value: f[2:]}
			} else {
				return fmt.Errorf("option %q is not one ipvsadm's rules use", show(f))
			}
		}
		opts = append(opts, o)
	}
	if len(opts) == 0 {
		return nil
	}
	cmd := opts[0].name
	switch cmd {
	case "-C":
		if len(p.byKey) > 0 {
			return fmt.Errorf("-C (clear the table) after rules: only the rules after it would stay; import the table as it is in the kernel (ipvsadm -S -n)")
		}
		p.out.Clears = true
		return nil
	case "-A", "-E":
		return p.service(cmd, opts[1:])
	case "-a", "-e":
		return p.dest(cmd, opts[1:])
	case "-D", "-d", "--set", "--start-daemon", "--stop-daemon":
		return fmt.Errorf("%s is not a rule of an IPVS table: import the table as it is in the kernel (ipvsadm -S -n)", cmd)
	}
	return fmt.Errorf("%q is not an ipvsadm rule (-A or -a)", show(cmd))
}

func (p *rulesReader) key(opts []ruleOpt) (state.ServiceKey, []ruleOpt, error) {
	var k state.ServiceKey
	var rest []ruleOpt
	six := false
	found := 0
	for _, o := range opts {
		switch o.name {
		case "-t", "-u", "--sctp-service":
			found++
			k.Protocol = map[string]state.Protocol{"-t": state.TCP, "-u": state.UDP, "--sctp-service": state.SCTP}[o.name]
			ap, err := p.addrPort(o.value, k.Protocol, true)
			if err != nil {
				return k, nil, fmt.Errorf("%s %s: %w", o.name, show(o.value), err)
			}
			k.Addr, k.Port, k.Family = ap.Addr(), ap.Port(), state.FamilyOf(ap.Addr())
		case "-f":
			found++
			m, err := strconv.ParseUint(o.value, 0, 32)
			if err != nil || m == 0 {
				return k, nil, fmt.Errorf("-f %s: a firewall mark is a number from 1 to 4294967295", show(o.value))
			}
			k.FWMark, k.Family = uint32(m), state.IPv4
		case "-6":
			six = true
		default:
			rest = append(rest, o)
		}
	}
	switch {
	case found == 0:
		return k, nil, fmt.Errorf("no service (-t, -u, --sctp-service or -f)")
	case found > 1:
		return k, nil, fmt.Errorf("more than one service on one line")
	case six && k.FWMark == 0:
		return k, nil, fmt.Errorf("-6 is for firewall-mark services; an address says its own family")
	case six:
		k.Family = state.IPv6
	}
	return k, rest, nil
}

func (p *rulesReader) service(cmd string, opts []ruleOpt) error {
	k, rest, err := p.key(opts)
	if err != nil {
		return err
	}
	s := p.byKey[k]
	switch {
	case cmd == "-A" && s != nil:
		return fmt.Errorf("service %s is added twice", k)
	case cmd == "-E" && s == nil:
		return fmt.Errorf("-E edits service %s, which no earlier line adds", k)
	case s == nil:
		s = &state.Service{Key: k, Scheduler: "wlc"}
	}
	mask := ""
	for _, o := range rest {
		switch o.name {
		case "-s":
			if !schedulers[o.value] {
				return fmt.Errorf("-s %s: not a scheduler the kernel has (%s)", show(o.value), strings.Join(slices.Sorted(keys(schedulers)), ", "))
			}
			s.Scheduler = o.value
		case "-p":
			s.Persistent, s.Timeout = true, 300
			if o.value != "" {
				t, err := strconv.ParseUint(o.value, 10, 32)
				if err != nil || t == 0 {
					return fmt.Errorf("-p %s: a persistence timeout is a number of seconds", show(o.value))
				}
				s.Timeout = uint32(t)
			}
		case "-M":
			mask = o.value
		case "-b":
			s.SchedFlags = nil
			for _, f := range strings.Split(o.value, ",") {
				if !slices.Contains([]string{"sh-fallback", "sh-port", "mh-fallback", "mh-port"}, f) {
					return fmt.Errorf("-b %s: %q is not a scheduler flag (sh-fallback, sh-port, mh-fallback, mh-port)", show(o.value), show(f))
				}
				if !slices.Contains(s.SchedFlags, f) {
					s.SchedFlags = append(s.SchedFlags, f)
				}
			}
			slices.Sort(s.SchedFlags)
		case "--pe":
			if o.value != "sip" {
				return fmt.Errorf("--pe %s: the kernel's only persistence engine is sip", show(o.value))
			}
			s.PE = o.value
		case "-o":
			s.OnePacket = true
		default:
			return fmt.Errorf("option %s does not go with %s", show(o.name), cmd)
		}
	}
	if s.Persistent || mask != "" {
		if err := setMask(s, mask); err != nil {
			return fmt.Errorf("-M %s: %w", show(mask), err)
		}
	}
	if p.byKey[k] == nil {
		p.byKey[k] = s
		p.out.Services = append(p.out.Services, s)
	}
	return nil
}

// setMask sets the persistence netmask: ipvsadm's -M, or the whole address
// when there is none.
func setMask(s *state.Service, mask string) error {
	full := 32
	if s.Key.Family == state.IPv6 {
		full = 128
	}
	if mask == "" {
		if s.NetmaskBits == 0 {
			s.NetmaskBits = full
		}
		return nil
	}
	if n, err := strconv.Atoi(mask); err == nil {
		if n < 0 || n > full {
			return fmt.Errorf("a prefix length is 0 to %d", full)
		}
		s.NetmaskBits = n
		return nil
	}
	if s.Key.Family == state.IPv6 {
		return fmt.Errorf("an IPv6 service groups clients by a prefix length")
	}
	m, err := netip.ParseAddr(mask)
	if err != nil || !m.Is4() {
		return fmt.Errorf("not a netmask")
	}
	return setIPv4Mask(s, m)
}

func (p *rulesReader) dest(cmd string, opts []ruleOpt) error {
	k, rest, err := p.key(opts)
	if err != nil {
		return err
	}
	s := p.byKey[k]
	if s == nil {
		return fmt.Errorf("real server of service %s, which no earlier line adds", k)
	}
	d := &state.Destination{Weight: 1, Forward: state.DR}
	var addr string
	for _, o := range rest {
		switch o.name {
		case "-r":
			addr = o.value
		case "-g":
			d.Forward = state.DR
		case "-m":
			d.Forward = state.NAT
		case "-i":
			d.Forward = state.TUN
		case "-w", "-x", "-y", "--tun-port":
			u, err := strconv.ParseUint(o.value, 10, 32)
			if err != nil || (o.name == "-w" && u > 2147483647) || (o.name == "--tun-port" && (u == 0 || u > 65535)) {
				return fmt.Errorf("%s %s: not a number in range", o.name, show(o.value))
			}
			switch o.name {
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
			if !slices.Contains([]string{"ipip", "gue", "gre"}, o.value) {
				return fmt.Errorf("--tun-type %s: ipip, gue or gre", show(o.value))
			}
			d.TunnelType = o.value
		case "--tun-nocsum":
			d.TunnelChecksum = "none"
		case "--tun-csum":
			d.TunnelChecksum = "csum"
		case "--tun-remcsum":
			d.TunnelChecksum = "remcsum"
		default:
			return fmt.Errorf("option %s does not go with %s", show(o.name), cmd)
		}
	}
	if addr == "" {
		return fmt.Errorf("%s without a real server (-r)", cmd)
	}
	proto := k.Protocol
	if proto == 0 {
		proto = state.TCP
	}
	ap, err := p.addrPort(addr, proto, false)
	if err != nil {
		return fmt.Errorf("-r %s: %w", show(addr), err)
	}
	if ap.Port() == 0 && k.FWMark == 0 && !hasPort(addr) {
		ap = netip.AddrPortFrom(ap.Addr(), k.Port) // ipvsadm: the service's port
	}
	d.Addr = ap
	if d.Forward == state.TUN {
		if d.TunnelType == "" {
			d.TunnelType = "ipip"
		}
		if d.TunnelChecksum == "" {
			d.TunnelChecksum = "none"
		}
	}
	i := slices.IndexFunc(s.Dests, func(x *state.Destination) bool { return x.Addr == d.Addr })
	switch {
	case cmd == "-a" && i >= 0:
		return fmt.Errorf("real server %s of service %s is added twice", d.Addr, k)
	case cmd == "-e" && i < 0:
		return fmt.Errorf("-e edits real server %s of service %s, which no earlier line adds", d.Addr, k)
	case i >= 0:
		s.Dests[i] = d
	default:
		s.Dests = append(s.Dests, d)
	}
	return nil
}

func hasPort(s string) bool {
	if strings.HasPrefix(s, "[") {
		return strings.Contains(s, "]:")
	}
	return strings.Count(s, ":") == 1
}

// addrPort reads ADDR[:PORT], [ADDR6][:PORT] or a bare IPv6 address, with
// host and service names as `ipvsadm -S` without -n prints them.
func (p *rulesReader) addrPort(s string, proto state.Protocol, needPort bool) (netip.AddrPort, error) {
	host, port := s, ""
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.Index(s, "]")
		if end < 0 {
			return netip.AddrPort{}, fmt.Errorf("no closing ]")
		}
		host, port = s[1:end], strings.TrimPrefix(s[end+1:], ":")
		if s[end+1:] != "" && !strings.HasPrefix(s[end+1:], ":") {
			return netip.AddrPort{}, fmt.Errorf("not an address and port")
		}
	case strings.Count(s, ":") == 1:
		host, port, _ = strings.Cut(s, ":")
	}
	addr, err := p.addr(host)
	if err != nil {
		return netip.AddrPort{}, err
	}
	var n uint64
	switch {
	case port == "" && needPort:
		return netip.AddrPort{}, fmt.Errorf("a service needs a port")
	case port == "":
	default:
		if n, err = strconv.ParseUint(port, 10, 16); err != nil {
			pn, lerr := net.LookupPort(proto.String(), port)
			if lerr != nil {
				return netip.AddrPort{}, fmt.Errorf("%q is neither a port number nor a service name in /etc/services", show(port))
			}
			n = uint64(pn)
			p.out.Notes = append(p.out.Notes, fmt.Sprintf("line %d: port %q is %d (/etc/services)", p.line, show(port), n))
		}
	}
	return netip.AddrPortFrom(addr, uint16(n)), nil
}

func (p *rulesReader) addr(host string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Zone() != "" {
			return netip.Addr{}, fmt.Errorf("an address with a zone is not a service or real server address")
		}
		return a.Unmap(), nil
	}
	if err := names.CheckSSHAddress(host); err != nil || p.res == nil {
		return netip.Addr{}, fmt.Errorf("%q is not an address (save the table with ipvsadm -S -n for addresses, not names)", show(host))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	as, err := p.res.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("resolving %s: %v (save the table with ipvsadm -S -n for addresses, not names)", host, err)
	}
	uniq := map[netip.Addr]bool{}
	for _, a := range as {
		uniq[a.Unmap()] = true
	}
	if len(uniq) != 1 {
		return netip.Addr{}, fmt.Errorf("%s resolves to %d addresses, so which one IPVS has is unknown (save the table with ipvsadm -S -n)", host, len(uniq))
	}
	a := as[0].Unmap()
	p.out.Notes = append(p.out.Notes, fmt.Sprintf("line %d: %s is %s (resolved now: check that it is the address IPVS has)", p.line, host, a))
	return a, nil
}

// show is untrusted text for a message: cleaned of control characters, and
// cut short.
func show(s string) string {
	s = names.Clean(s)
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return s
}

var schedulers = map[string]bool{"rr": true, "wrr": true, "lc": true, "wlc": true, "lblc": true, "lblcr": true, "dh": true, "sh": true,
	"sed": true, "nq": true, "fo": true, "ovf": true, "mh": true, "twos": true}

func keys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
