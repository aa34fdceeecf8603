package importer

import (
	"bytes"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"cuelang.org/go/cue/format"
	"cuelang.org/go/cue/literal"

	"github.com/lvsctl/lvsctl/internal/names"
	"github.com/lvsctl/lvsctl/internal/state"
)

// Render writes d as one CUE file of package pkg, formatted as `cue fmt`
// formats it.
func Render(d *Definition, pkg string) ([]byte, error) {
	w := &writer{}
	w.comment(d.Header)
	if len(d.Header) > 0 {
		w.line("")
	}
	w.line("package " + pkg)
	w.line("")
	w.open("hosts")
	for i, h := range d.Hosts {
		if i > 0 {
			w.line("")
		}
		w.host(h)
	}
	w.close()
	w.line("")
	w.open("directors")
	for i, dir := range d.Directors {
		if i > 0 {
			w.line("")
		}
		w.director(dir)
	}
	w.close()
	out, err := format.Source([]byte(w.b.String()), format.Simplify())
	if err != nil {
		return nil, fmt.Errorf("writing the definition: %w\n%s", err, w.b.String())
	}
	if !bytes.HasSuffix(out, []byte("\n")) {
		out = append(out, '\n')
	}
	return out, nil
}

type writer struct {
	b      strings.Builder
	indent int
}

func (w *writer) line(s string) {
	if s != "" {
		w.b.WriteString(strings.Repeat("\t", w.indent))
	}
	w.b.WriteString(s)
	w.b.WriteByte('\n')
}

// comment writes lines as // comments, cleaned of control characters and
// split where they hold line breaks.
func (w *writer) comment(lines []string) {
	width := max(48, 77-8*w.indent)
	for _, l := range lines {
		for _, part := range strings.Split(l, "\n") {
			part = strings.TrimRight(names.Clean(part), " \t")
			if part == "" {
				w.line("//")
				continue
			}
			for _, wrapped := range wrap(part, width) {
				w.line("// " + wrapped)
			}
		}
	}
}

// wrap breaks s into lines of at most width bytes at spaces (a longer word
// stays whole).
func wrap(s string, width int) []string {
	var out []string
	cur := ""
	for _, word := range strings.Fields(s) {
		switch {
		case cur == "":
			cur = word
		case len(cur)+1+len(word) <= width:
			cur += " " + word
		default:
			out = append(out, cur)
			cur = word
		}
	}
	return append(out, cur)
}

func (w *writer) open(label string) {
	w.line(Label(label) + ": {")
	w.indent++
}

func (w *writer) close() {
	w.indent--
	w.line("}")
}

func (w *writer) field(label string, v string) { w.line(Label(label) + ": " + v) }

func (w *writer) host(h *Host) {
	w.comment(h.Comment)
	w.open(h.Name)
	if h.SSH != nil {
		w.open("ssh")
		w.field("address", Quote(h.SSH.Address))
		if h.SSH.Port != 0 && h.SSH.Port != 22 {
			w.field("port", strconv.Itoa(h.SSH.Port))
		}
		if h.SSH.User != "" {
			w.field("user", Quote(h.SSH.User))
		}
		w.close()
	}
	if h.Local {
		w.field("local", "true")
	}
	if h.Netns != "" {
		w.field("netns", Quote(h.Netns))
	}
	if h.AgentPath != "" {
		w.field("agentPath", Quote(h.AgentPath))
	}
	if h.Interface != "" {
		w.field("interface", Quote(h.Interface))
	}
	w.sysctls(h.Sysctls)
	if h.DefaultRoute != "" {
		w.field("defaultRoute", Quote(h.DefaultRoute))
	}
	if h.Boot != "" {
		w.field("boot", Quote(h.Boot))
	}
	w.close()
}

func (w *writer) sysctls(s []Sysctl) {
	if len(s) == 0 {
		return
	}
	w.open("sysctls")
	for _, c := range s {
		w.comment(c.Comment)
		w.field(c.Key, sysctlValue(c.Value))
	}
	w.close()
}

var plainInt = regexp.MustCompile(`^-?(0|[1-9][0-9]{0,17})$`)

func sysctlValue(v string) string {
	if plainInt.MatchString(v) {
		return v
	}
	return Quote(v)
}

func (w *writer) director(d *Director) {
	w.comment(d.Comment)
	w.open(d.Name)
	if len(d.VIPs) > 0 {
		w.open("vips")
	}
	for _, v := range d.VIPs {
		w.comment(v.Comment)
		fields := []string{"interface: " + Quote(v.Interface)}
		if v.Prefix.Bits() != v.Prefix.Addr().BitLen() {
			fields = append(fields, "prefix: "+strconv.Itoa(v.Prefix.Bits()))
		}
		w.field(v.Prefix.Addr().String(), "{"+strings.Join(fields, ", ")+"}")
	}
	if len(d.VIPs) > 0 {
		w.close()
	}
	w.sysctls(d.Sysctls)
	if t := d.Timeouts; t != nil && (t.TCP != 0 || t.TCPFin != 0 || t.UDP != 0) {
		var f []string
		for _, x := range []struct {
			n string
			v uint32
		}{{"tcp", t.TCP}, {"tcpfin", t.TCPFin}, {"udp", t.UDP}} {
			if x.v != 0 {
				f = append(f, x.n+": "+strconv.FormatUint(uint64(x.v), 10))
			}
		}
		w.field("timeouts", "{"+strings.Join(f, ", ")+"}")
	}
	if len(d.NATGateway) > 0 {
		var gw []string
		for _, a := range d.NATGateway {
			gw = append(gw, Quote(a.String()))
		}
		w.field("natGateway", "["+strings.Join(gw, ", ")+"]")
	}
	if len(d.Marks) > 0 {
		w.open("marks")
		for _, m := range d.Marks {
			w.comment(m.Comment)
			var ports []string
			for _, p := range m.Rule.Ports {
				ports = append(ports, strconv.Itoa(int(p)))
			}
			w.open(m.Name)
			w.field("mark", strconv.FormatUint(uint64(m.Rule.Mark), 10))
			w.field("address", Quote(m.Rule.Addr.String()))
			w.field("protocol", Quote(m.Rule.Protocol.String()))
			w.field("ports", "["+strings.Join(ports, ", ")+"]")
			w.close()
		}
		w.close()
	}
	w.open("services")
	for i, s := range d.Services {
		if i > 0 {
			w.line("")
		}
		w.service(s)
	}
	w.close()
	w.close()
}

func (w *writer) service(s *Service) {
	k := s.Svc.Key
	w.comment(s.Comment)
	w.open(s.Name)
	if k.FWMark != 0 {
		w.field("fwmark", strconv.FormatUint(uint64(k.FWMark), 10))
		w.field("family", Quote(string(k.Family)))
	} else {
		w.field("protocol", Quote(k.Protocol.String()))
		w.field("address", Quote(k.Addr.String()))
		w.field("port", strconv.Itoa(int(k.Port)))
	}
	w.field("scheduler", Quote(s.Svc.Scheduler))
	if len(s.Svc.SchedFlags) > 0 {
		var f []string
		for _, x := range s.Svc.SchedFlags {
			f = append(f, Quote(x))
		}
		w.field("flags", "["+strings.Join(f, ", ")+"]")
	}
	if s.Svc.Persistent {
		f := []string{"timeout: " + strconv.FormatUint(uint64(s.Svc.Timeout), 10)}
		f = append(f, persistenceMask(s.Svc)...)
		if s.Svc.PE != "" {
			f = append(f, "engine: "+Quote(s.Svc.PE))
		}
		w.field("persistence", "{"+strings.Join(f, ", ")+"}")
	}
	if s.Svc.OnePacket {
		w.field("onePacket", "true")
	}
	w.open("realServers")
	for _, r := range s.Reals {
		w.realServer(k, r)
	}
	w.close()
	w.close()
}

// persistenceMask says how clients are grouped, when not by whole address.
func persistenceMask(s *state.Service) []string {
	if s.Key.Family == state.IPv6 {
		if s.NetmaskBits == 128 || s.NetmaskBits == 0 {
			return nil
		}
		return []string{"prefix: " + strconv.Itoa(s.NetmaskBits)}
	}
	m := s.IPv4Mask()
	if m == ^uint32(0) || m == 0 {
		return nil
	}
	return []string{"netmask: " + Quote(netip.AddrFrom4([4]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)}).String())}
}

func (w *writer) realServer(svc state.ServiceKey, r *RealServer) {
	d := r.Dest
	w.comment(r.Comment)
	f := []string{"address: " + Quote(d.Addr.Addr().String())}
	if d.Addr.Port() != svc.Port {
		f = append(f, "port: "+strconv.Itoa(int(d.Addr.Port())))
	}
	f = append(f, "weight: "+strconv.FormatUint(uint64(d.Weight), 10), "forward: "+Quote(string(d.Forward)))
	if d.Forward == state.TUN {
		t := []string{"type: " + Quote(orDefault(d.TunnelType, "ipip"))}
		if d.TunnelPort != 0 {
			t = append(t, "port: "+strconv.Itoa(int(d.TunnelPort)))
		}
		if d.TunnelChecksum != "" && d.TunnelChecksum != "none" {
			t = append(t, "checksum: "+Quote(d.TunnelChecksum))
		}
		f = append(f, "tunnel: {"+strings.Join(t, ", ")+"}")
	}
	if d.UpperThreshold != 0 {
		f = append(f, "upperThreshold: "+strconv.FormatUint(uint64(d.UpperThreshold), 10))
	}
	if d.LowerThreshold != 0 {
		f = append(f, "lowerThreshold: "+strconv.FormatUint(uint64(d.LowerThreshold), 10))
	}
	if r.Host != "" {
		f = append(f, "host: "+Quote(r.Host))
	}
	w.field(r.Name, "{"+strings.Join(f, ", ")+"}")
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Quote writes s as a CUE string.
func Quote(s string) string { return literal.String.Quote(s) }

var identifier = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)

// Label writes a field label: an identifier as it is, anything else quoted.
func Label(s string) string {
	if identifier.MatchString(s) && !reserved[s] {
		return s
	}
	return Quote(s)
}

var reserved = map[string]bool{"package": true, "import": true, "for": true, "in": true, "if": true, "let": true, "true": true, "false": true, "null": true, "func": true}
