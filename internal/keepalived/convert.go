package keepalived

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/lvsctl/lvsctl/internal/state"
)

// keepalived's constants (keepalived/include/*.h).
const (
	lvsMaxTimeout      = 86400 * 31 // global_data.h LVS_MAX_TIMEOUT
	persistentDefault  = 6 * 60     // libipvs.h IPVS_SVC_PERSISTENT_TIMEOUT
	weightLimit        = 1<<31 - 1  // ip_vs.h IPVS_WEIGHT_LIMIT (INT32_MAX)
	defaultScheduler   = "wlc"      // ipvswrapper.h IPVS_DEF_SCHED
	granularityUnset   = 0xffffffff
	maxUint            = 1<<32 - 1
	persistenceEngine0 = 16 // IP_VS_PENAME_MAXLEN: pe_name holds 15 characters
)

// check_parser.c lvs_schedulers.
var schedulers = []string{"rr", "wrr", "lc", "wlc", "lblc", "sh", "mh", "dh", "fo", "ovf", "lblcr", "sed", "nq", "twos"}

type afamily int

const (
	afUnspec afamily = iota
	afInet
	afInet6
)

func afOf(a netip.Addr) afamily {
	if a.Is4() {
		return afInet
	}
	return afInet6
}

func (f afamily) state() state.Family {
	if f == afInet6 {
		return state.IPv6
	}
	return state.IPv4
}

type fwd int

const (
	fwdUnset fwd = iota // keepalived's IP_VS_CONN_F_FWD_MASK: "not set yet"
	fwdNAT
	fwdDR
	fwdTUN
)

type tunnel struct {
	typ  string // ipip, gue, gre
	port uint16
	csum string // none, csum, remcsum
}

// scheduler flag bits, as the kernel has them (IP_VS_SVC_F_*).
const (
	flagOnePacket = 1 << iota
	flagSched1    // sh-fallback, mh-fallback
	flagSched2    // sh-port, mh-port
	flagSched3
)

type vserver struct {
	pos      pos
	af       afamily
	isFwmark bool
	fwmark   uint32
	group    string
	addr     netip.Addr
	port     uint16
	sched    string
	flags    int
	fwd      fwd
	tun      tunnel
	ptimeout uint32
	gran     uint32 // IPv4: the mask as 4 bytes (big endian); IPv6: a prefix length
	granAF   afamily
	granPos  pos
	pe       string
	proto    state.Protocol
	weight   uint32
	haSusp   bool
	rs       []*rserver
	notes    []string
	counts   [][2]string // kinds for the summary, counted when the service is made
}

type rserver struct {
	pos     pos
	addr    netip.Addr
	port    uint16
	fwd     fwd
	tun     tunnel
	weight  int64 // -1: not set, the virtual server's weight
	uth     uint32
	lth     uint32
	notes   []string
	counts  [][2]string
	skipped bool
}

type vsgroup struct {
	pos     pos
	name    string
	entries []vsgEntry
	have4   bool
	have6   bool
	noFam   bool
}

type vsgEntry struct {
	pos      pos
	isFwmark bool
	fwmark   uint32
	fam      afamily
	start    netip.Addr
	end      netip.Addr
	port     uint16
}

// readUnsigned is keepalived's read_unsigned_func (base 10): leading
// blanks are skipped; with ignoreErr, a number with trailing junk still
// counts when the part read is in range (keepalived warns and uses it).
func readUnsigned(s string, min, max uint64, ignoreErr bool) (uint64, bool, string) {
	t := strings.TrimLeft(s, " \t\n\v\f\r")
	neg := strings.HasPrefix(t, "-")
	u := t
	if strings.HasPrefix(u, "+") || strings.HasPrefix(u, "-") {
		u = u[1:]
	}
	n := 0
	var v uint64
	over := false
	for n < len(u) && isDigit(u[n]) {
		d := uint64(u[n] - '0')
		if v > (1<<64-1-d)/10 {
			over = true
		}
		v = v*10 + d
		n++
	}
	if n == 0 {
		v, u = 0, t // nothing read: strtoul's end is the start
	} else {
		u = u[n:]
		if neg && v != 0 {
			v = -v // strtoul negates: a huge number
		}
	}
	inRange := !over && v >= min && v <= max && v <= maxUint
	var msg string
	switch {
	case neg:
		msg = fmt.Sprintf("negative number %q", s)
	case u != "":
		msg = fmt.Sprintf("invalid number %q", s)
	case over || v > maxUint:
		msg = fmt.Sprintf("number %q outside unsigned integer range", s)
	case v < min || v > max:
		msg = fmt.Sprintf("number %q outside range [%d, %d]", s, min, max)
	default:
		return v, true, ""
	}
	return v, ignoreErr && inRange, msg
}

// parseAddrPort is keepalived's inet_stosockaddr(ip, port) as alloc_vs,
// alloc_rs and alloc_vsg_entry call it: a port of 0 (or 00...) is no port;
// anything from a '-' or, failing that, a '/' on is not part of the
// address; the family is IPv6 when the text has a ':'.
func parseAddrPort(ip, port string) (netip.Addr, uint16, bool, string) {
	var p uint16
	if port != "" && strings.Trim(port, "0") != "" {
		v, ok, msg := readUnsigned(port, 1, 65535, true)
		if !ok {
			return netip.Addr{}, 0, false, "port: " + msg
		}
		p = uint16(v)
	}
	a := ip
	if i := strings.IndexByte(a, '-'); i >= 0 {
		a = a[:i]
	} else if i := strings.IndexByte(a, '/'); i >= 0 {
		a = a[:i]
	}
	addr, err := netip.ParseAddr(a)
	if err != nil || addr.Zone() != "" || addr.Is4() == strings.Contains(ip, ":") {
		return netip.Addr{}, 0, false, fmt.Sprintf("%q is not an IP address", ip)
	}
	return addr, p, true, ""
}

// inetAton is inet_aton(3), which getaddrinfo(AI_NUMERICHOST) uses for
// IPv4: a, a.b, a.b.c or a.b.c.d, each part decimal, octal (0...) or hex
// (0x...). The result is the address in network order.
func inetAton(s string) ([4]byte, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 || s == "" {
		return [4]byte{}, false
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		if p == "" {
			return [4]byte{}, false
		}
		base := 10
		q := p
		if len(q) > 1 && q[0] == '0' && (q[1] == 'x' || q[1] == 'X') {
			base, q = 16, q[2:]
		} else if len(q) > 1 && q[0] == '0' {
			base, q = 8, q[1:]
		}
		var v uint64
		for j := 0; j < len(q); j++ {
			d := digitVal(q[j])
			if d < 0 || d >= base {
				return [4]byte{}, false
			}
			v = v*uint64(base) + uint64(d)
			if v > maxUint {
				return [4]byte{}, false
			}
		}
		vals[i] = v
	}
	var v uint32
	last := vals[len(vals)-1]
	for i := 0; i < len(vals)-1; i++ {
		if vals[i] > 255 {
			return [4]byte{}, false
		}
		v |= uint32(vals[i]) << (24 - 8*i)
	}
	if last > maxUint>>(8*(len(vals)-1)) {
		return [4]byte{}, false
	}
	v |= uint32(last)
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return b, true
}

// args checks that n has at least want words after its keyword: keepalived
// stops with "missing a parameter" otherwise.
func needArgs(n *node, want int) error {
	if len(n.words) <= want {
		return errAt(n.pos, "%s is missing a parameter (keepalived stops here)", n.key())
	}
	return nil
}

func (c *conv) vsgroup(n *node) error {
	if err := needArgs(n, 1); err != nil {
		return err
	}
	g := &vsgroup{pos: n.pos, name: n.arg(1)}
	// vsg_handler: the entries are the block's lines (alloc_value_block).
	for _, e := range n.kids {
		if e.block {
			c.warn(e.pos, "virtual_server_group %s: entry %s has a block: keepalived reads its lines as entries", g.name, e.key())
		}
		if err := c.vsgEntry(g, e); err != nil {
			return err
		}
		for _, k := range e.kids {
			if err := c.vsgEntry(g, k); err != nil {
				return err
			}
		}
	}
	if len(g.entries) == 0 {
		c.warn(n.pos, "virtual server group %s has no entries: keepalived removes it", g.name)
		return nil
	}
	if g.have4 && g.have6 && g.noFam {
		c.warn(n.pos, "virtual server group %s cannot have IPv4, IPv6 and fwmark without family: keepalived removes it", g.name)
		return nil
	}
	if _, dup := c.groups[g.name]; dup {
		c.warn(n.pos, "virtual server group %s is defined again: lvsctl uses the first definition", g.name)
		return nil
	}
	c.groups[g.name] = g
	return nil
}

// vsgEntry is check_data.c alloc_vsg_entry: "fwmark N [inet|inet6]", or
// ADDRESS [PORT] where ADDRESS is an address, a range A-B (B the last byte,
// or the last 16 bits in hexadecimal for IPv6), a range A-FULLADDRESS, or
// a network A/LEN.
func (c *conv) vsgEntry(g *vsgroup, e *node) error {
	w := e.words
	if w[0] == "fwmark" {
		if err := needArgs(e, 1); err != nil {
			return err
		}
		v, ok, msg := readUnsigned(w[1], 0, maxUint, true)
		if !ok {
			c.warn(e.pos, "(%s): fwmark %s: %s: ignored", g.name, w[1], msg)
			return nil
		}
		ent := vsgEntry{pos: e.pos, isFwmark: true, fwmark: uint32(v)}
		if len(w) > 2 {
			switch w[2] {
			case "inet":
				ent.fam = afInet
				g.have4 = true
			case "inet6":
				ent.fam = afInet6
				g.have6 = true
			default:
				c.warn(e.pos, "(%s): fwmark %d family %s unknown: ignored", g.name, v, w[2])
				return nil
			}
		} else {
			g.noFam = true
		}
		g.entries = append(g.entries, ent)
		return nil
	}
	port := ""
	if len(w) >= 2 {
		port = w[1]
	}
	start, p, ok, msg := parseAddrPort(w[0], port)
	if !ok {
		c.warn(e.pos, "invalid virtual server group address %s %s (%s): skipped", w[0], port, msg)
		return nil
	}
	ent := vsgEntry{pos: e.pos, start: start, end: start, port: p}
	addr := w[0]
	if i := strings.IndexByte(addr, '/'); i >= 0 {
		bitsStr := addr[i+1:]
		m, ok, _ := readUnsigned(bitsStr, 1, uint64(start.BitLen()), false)
		if !ok || bitsStr == "" {
			c.warn(e.pos, "invalid netmask %s: skipped", addr)
			return nil
		}
		pfx := netip.PrefixFrom(start, int(m))
		if pfx.Masked().Addr() != start {
			c.warn(e.pos, "address mask bits not empty - %s: skipped", addr)
			return nil
		}
		ent.end = lastOf(pfx)
	} else if i := strings.IndexByte(addr, '-'); i >= 0 && ((start.Is4() && strings.Contains(addr[i+1:], ".")) || (!start.Is4() && strings.Contains(addr[i+1:], ":"))) {
		end, err := netip.ParseAddr(addr[i+1:])
		if err != nil || end.Zone() != "" {
			c.warn(e.pos, "invalid range end %s: skipped", addr)
			return nil
		}
		if end.Is4() != start.Is4() {
			c.warn(e.pos, "range address families do not match %s: skipped", addr)
			return nil
		}
		if end.Less(start) {
			c.warn(e.pos, "address range end is less than address range start - %s: skipped", addr)
			return nil
		}
		ent.end = end
	} else if i >= 0 {
		// utils.c inet_stor: the last byte (decimal), or for IPv6 the last
		// 16 bits (hexadecimal).
		base, max := 10, uint64(255)
		if !start.Is4() {
			base, max = 16, 0xffff
		}
		tail := addr[i+1:]
		v, rest := strtoulBase(tail, base)
		if rest != "" {
			c.warn(e.pos, "virtual server group range %s has extra characters at end %q", addr, rest)
		}
		if v > max {
			c.warn(e.pos, "virtual server group range %s end %s too large: skipped", addr, tail)
			return nil
		}
		b := start.AsSlice()
		var first uint64
		if start.Is4() {
			first = uint64(b[3])
			b[3] = byte(v)
		} else {
			first = uint64(b[14])<<8 | uint64(b[15])
			b[14], b[15] = byte(v>>8), byte(v)
		}
		if first >= v {
			c.warn(e.pos, "address range end is not greater than address range start - %s: skipped", addr)
			return nil
		}
		ent.end, _ = netip.AddrFromSlice(b)
	}
	if start.Is4() {
		g.have4 = true
	} else {
		g.have6 = true
	}
	g.entries = append(g.entries, ent)
	return nil
}

func strtoulBase(s string, base int) (uint64, string) {
	t := strings.TrimLeft(s, " \t")
	if base == 16 && (strings.HasPrefix(t, "0x") || strings.HasPrefix(t, "0X")) && len(t) > 2 && isHex(t[2]) {
		t = t[2:]
	}
	n := 0
	var v uint64
	for n < len(t) {
		d := digitVal(t[n])
		if d < 0 || d >= base {
			break
		}
		if v < 1<<40 {
			v = v*uint64(base) + uint64(d)
		}
		n++
	}
	if n == 0 {
		return 0, s
	}
	return v, t[n:]
}

func lastOf(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// expand lists the addresses keepalived's ipvswrapper.c
// ipvs_group_range_cmd makes services for: from start, one at a time, to
// end. For IPv6 only the last 16 bits count (as keepalived increments and
// compares them). For IPv4 keepalived adds htonl(1), which on the
// little-endian hosts it runs on increments only the last byte, so a range
// crossing a /24 never reaches its end there; lvsctl expands the whole
// range as written and warns.
func (c *conv) expand(e vsgEntry) ([]netip.Addr, error) {
	var out []netip.Addr
	if e.start.Is4() {
		s := binary.BigEndian.Uint32(e.start.AsSlice())
		t := binary.BigEndian.Uint32(e.end.AsSlice())
		if s>>8 != t>>8 {
			c.warn(e.pos, "range %s-%s crosses a /24 boundary: keepalived increments only the last byte of the address on little-endian hosts, so it would never reach the end; lvsctl expands the whole range", e.start, e.end)
		}
		if uint64(t)-uint64(s)+1 > maxRangeAddrs {
			return nil, errAt(e.pos, "range %s-%s has more than %d addresses", e.start, e.end, maxRangeAddrs)
		}
		for v := uint64(s); v <= uint64(t); v++ {
			var b [4]byte
			binary.BigEndian.PutUint32(b[:], uint32(v))
			out = append(out, netip.AddrFrom4(b))
		}
		return out, nil
	}
	b := e.start.As16()
	end := e.end.As16()
	endLow := uint16(end[14])<<8 | uint16(end[15])
	if [14]byte(b[:14]) != [14]byte(end[:14]) {
		c.warn(e.pos, "range %s-%s differs beyond its last 16 bits: keepalived varies only the last 16 bits, from %s to ...:%x", e.start, e.end, e.start, endLow)
	}
	for {
		out = append(out, netip.AddrFrom16(b))
		low := uint16(b[14])<<8 | uint16(b[15])
		if low == endLow {
			break
		}
		low++
		b[14], b[15] = byte(low>>8), byte(low)
		if len(out) > maxRangeAddrs {
			return nil, errAt(e.pos, "range %s-%s has more than %d addresses", e.start, e.end, maxRangeAddrs)
		}
	}
	return out, nil
}

// vserver reads one virtual_server block (check_parser.c vs_handler, its
// keywords, vs_end_handler).
func (c *conv) vserver(n *node) error {
	if err := needArgs(n, 1); err != nil {
		return err
	}
	vs := &vserver{pos: n.pos, weight: 1, gran: granularityUnset}
	switch n.arg(1) {
	case "group":
		if err := needArgs(n, 2); err != nil {
			return err
		}
		vs.group = n.arg(2)
	case "fwmark":
		if err := needArgs(n, 2); err != nil {
			return err
		}
		v, ok, msg := readUnsigned(n.arg(2), 0, maxUint, true)
		if !ok {
			c.warn(n.pos, "virtual server fwmark %s (%s): keepalived ignores the virtual server", n.arg(2), msg)
			return nil
		}
		vs.isFwmark, vs.fwmark = true, uint32(v)
	default:
		a, p, ok, msg := parseAddrPort(n.arg(1), n.arg(2))
		if !ok {
			c.warn(n.pos, "invalid virtual server address %s %s (%s): keepalived skips the virtual server", n.arg(1), n.arg(2), msg)
			return nil
		}
		vs.addr, vs.port, vs.af = a, p, afOf(a)
	}
	if !n.block {
		c.warn(n.pos, "virtual_server without a '{' block: ignored")
		return nil
	}
	for _, k := range n.kids {
		if err := c.vsKeyword(vs, k); err != nil {
			return err
		}
	}
	// vs_end_handler.
	var live []*rserver
	for _, rs := range vs.rs {
		if !rs.skipped {
			live = append(live, rs)
		}
	}
	vs.rs = live
	if len(vs.rs) == 0 {
		c.warn(n.pos, "virtual server %s has no real servers: keepalived ignores it", vsName(vs))
		return nil
	}
	if vs.af == afUnspec && vs.group == "" {
		// fwmark with only tunnelled real servers.
		mixed := false
		for _, rs := range vs.rs {
			if vs.af == afUnspec {
				vs.af = afOf(rs.addr)
			} else if vs.af != afOf(rs.addr) {
				mixed = true
			}
		}
		if mixed || vs.af == afUnspec {
			vs.af = afInet
		}
	}
	c.vss = append(c.vss, vs)
	return nil
}

func vsName(vs *vserver) string {
	switch {
	case vs.group != "":
		return "group " + vs.group
	case vs.isFwmark:
		return fmt.Sprintf("fwmark %d", vs.fwmark)
	}
	return netip.AddrPortFrom(vs.addr, vs.port).String()
}

// Keywords of virtual_server and real_server lvsctl does not model but
// keeps as comments.
var vsNoteKeys = map[string]bool{
	"retry": true, "delay_before_retry": true, "warmup": true, "connect_timeout": true, "delay_loop": true,
	"inhibit_on_failure": true, "ha_suspend": true, "smtp_alert": true, "virtualhost": true, "snmp_name": true,
	"alpha": true, "omega": true, "quorum_up": true, "quorum_down": true, "quorum": true, "hysteresis": true,
}

var rsNoteKeys = map[string]bool{
	"inhibit_on_failure": true, "notify_up": true, "notify_down": true, "alpha": true, "retry": true,
	"delay_before_retry": true, "warmup": true, "connect_timeout": true, "delay_loop": true, "smtp_alert": true,
	"virtualhost": true, "snmp_name": true,
}

var checkers = map[string]bool{
	"MISC_CHECK": true, "SMTP_CHECK": true, "TCP_CHECK": true, "PING_CHECK": true, "UDP_CHECK": true,
	"HTTP_GET": true, "SSL_GET": true, "DNS_CHECK": true, "FILE_CHECK": true, "BFD_CHECK": true,
}

func (c *conv) vsKeyword(vs *vserver, k *node) error {
	key := k.key()
	switch key {
	case "ip_family":
		if err := needArgs(k, 1); err != nil {
			return err
		}
		var af afamily
		switch k.arg(1) {
		case "inet":
			af = afInet
		case "inet6":
			af = afInet6
		default:
			c.warn(k.pos, "unknown address family %s: ignored", k.arg(1))
			return nil
		}
		if vs.af != afUnspec && vs.af != af {
			c.warn(k.pos, "virtual server specified family %s conflicts with server family: ignored", k.arg(1))
			return nil
		}
		vs.af = af
	case "lb_algo", "lvs_sched":
		if err := needArgs(k, 1); err != nil {
			return err
		}
		if !slices.Contains(schedulers, k.arg(1)) {
			c.warn(k.pos, "invalid lvs_scheduler %q: ignored", k.arg(1))
			return nil
		}
		vs.sched = k.arg(1)
	case "hashed", "ops", "flag-1", "flag-2", "flag-3", "sh-port", "sh-fallback", "mh-port", "mh-fallback":
		// lbflags_handler: sh-* and mh-* count only when the scheduler
		// set so far is sh or mh.
		switch {
		case key == "ops":
			vs.flags |= flagOnePacket
		case key == "flag-1":
			vs.flags |= flagSched1
		case key == "flag-2":
			vs.flags |= flagSched2
		case key == "flag-3":
			vs.flags |= flagSched3
		case vs.sched == "sh":
			switch key {
			case "sh-port":
				vs.flags |= flagSched2
			case "sh-fallback":
				vs.flags |= flagSched1
			}
		case vs.sched == "mh":
			switch key {
			case "mh-port":
				vs.flags |= flagSched2
			case "mh-fallback":
				vs.flags |= flagSched1
			}
		default:
			c.warn(k.pos, "%s only applies to sh scheduler (the scheduler must be set before it): ignored", key)
		}
	case "lb_kind", "lvs_method":
		if err := needArgs(k, 1); err != nil {
			return err
		}
		f, t, ok := c.forwarding(k, "virtual", vs.fwd, vs.tun)
		if ok {
			vs.fwd, vs.tun = f, t
		}
	case "persistence_engine":
		if err := needArgs(k, 1); err != nil {
			return err
		}
		pe := k.arg(1)
		if len(pe) > persistenceEngine0-1 {
			c.warn(k.pos, "persistence_engine name too long, truncated: %s", pe)
			pe = pe[:persistenceEngine0-1]
		}
		vs.pe = pe
	case "persistence_timeout":
		if len(k.words) < 2 {
			vs.ptimeout = persistentDefault
			return nil
		}
		v, ok, msg := readUnsigned(k.arg(1), 1, lvsMaxTimeout, false)
		if !ok {
			c.warn(k.pos, "persistence_timeout invalid (%s): ignored", msg)
			return nil
		}
		vs.ptimeout = uint32(v)
	case "persistence_granularity":
		if err := needArgs(k, 1); err != nil {
			return err
		}
		af := vs.af
		if af == afUnspec {
			af = afInet6
			if strings.Contains(k.arg(1), ".") {
				af = afInet
			}
		}
		if af == afInet6 {
			v, ok, msg := readUnsigned(k.arg(1), 1, 128, false)
			if !ok {
				c.warn(k.pos, "invalid IPv6 persistence_granularity %s (%s): ignored", k.arg(1), msg)
				return nil
			}
			vs.gran = uint32(v)
		} else {
			m, ok := inetAton(k.arg(1))
			if !ok {
				c.warn(k.pos, "invalid IPv4 persistence_granularity %s: ignored", k.arg(1))
				return nil
			}
			vs.gran = binary.BigEndian.Uint32(m[:])
		}
		vs.granAF, vs.granPos = af, k.pos
		if vs.af == afUnspec {
			vs.af = af
		}
		if vs.ptimeout == 0 {
			vs.ptimeout = persistentDefault
		}
	case "protocol":
		if err := needArgs(k, 1); err != nil {
			return err
		}
		switch strings.ToUpper(k.arg(1)) {
		case "TCP":
			vs.proto = state.TCP
		case "UDP":
			vs.proto = state.UDP
		case "SCTP":
			vs.proto = state.SCTP
		default:
			c.warn(k.pos, "unknown protocol %s: ignored", k.arg(1))
		}
	case "weight":
		if err := needArgs(k, 1); err != nil {
			return err
		}
		v, ok, msg := readUnsigned(k.arg(1), 1, weightLimit, true)
		if !ok {
			c.warn(k.pos, "virtual server weight %s (%s): ignored", k.arg(1), msg)
			return nil
		}
		vs.weight = uint32(v)
	case "real_server":
		return c.rserver(vs, k)
	case "sorry_server", "sorry_server_inhibit", "sorry_server_lvs_method":
		vs.counts = append(vs.counts, [2]string{"sorry servers", ""})
		vs.notes = append(vs.notes, render(k, 300)+" (lvsctl does not model sorry servers: keepalived adds it, weight 1, when the quorum is lost)")
	default:
		if vsNoteKeys[key] {
			if key == "ha_suspend" {
				vs.haSusp = true
			}
			vs.counts = append(vs.counts, [2]string{"virtual server settings", key})
			vs.notes = append(vs.notes, render(k, 300))
			return nil
		}
		if checkers[key] {
			c.warn(k.pos, "%s inside virtual_server (outside real_server) is unknown to keepalived: ignored", key)
			return nil
		}
		c.warn(k.pos, "unknown keyword %q in virtual_server: keepalived ignores it", key)
	}
	return nil
}

// forwarding is check_parser.c svr_forwarding_handler: NAT, DR or TUN, and
// for TUN "type ipip|gue|gre", "port N" (gue only, required), and
// "nocsum|csum|remcsum". The method is kept even when an option is wrong
// (keepalived sets it first); the tunnel settings only when all are right.
func (c *conv) forwarding(k *node, who string, old fwd, oldTun tunnel) (fwd, tunnel, bool) {
	var f fwd
	switch k.arg(1) {
	case "NAT":
		f = fwdNAT
	case "DR":
		f = fwdDR
	case "TUN":
		f = fwdTUN
	default:
		c.warn(k.pos, "unknown [%s] routing method for %s server: ignored", k.arg(1), who)
		return old, oldTun, false
	}
	t := tunnel{typ: "ipip", csum: "none"}
	for i := 2; i < len(k.words); i++ {
		switch w := k.words[i]; w {
		case "type":
			if i+1 >= len(k.words) {
				c.warn(k.pos, "missing tunnel type for %s server", who)
				return f, oldTun, true
			}
			switch k.words[i+1] {
			case "ipip", "gue", "gre":
				t.typ = k.words[i+1]
			default:
				c.warn(k.pos, "unknown tunnel type %s for %s server", k.words[i+1], who)
				return f, oldTun, true
			}
			i++
		case "port":
			if i+1 >= len(k.words) {
				c.warn(k.pos, "missing port for %s server gue tunnel", who)
				return f, oldTun, true
			}
			v, ok, msg := readUnsigned(k.words[i+1], 1, 65535, false)
			if !ok {
				c.warn(k.pos, "invalid gue tunnel port %s for %s server (%s)", k.words[i+1], who, msg)
				return f, oldTun, true
			}
			t.port = uint16(v)
			i++
		case "nocsum":
			t.csum = "none"
		case "csum", "remcsum":
			t.csum = w
		default:
			c.warn(k.pos, "invalid tunnel option %s for %s server", w, who)
			return f, oldTun, true
		}
	}
	if (t.typ == "gue") != (t.port != 0) {
		c.warn(k.pos, "gue tunnels require port, otherwise cannot have port")
		return f, oldTun, true
	}
	if t.typ == "ipip" && t.csum != "none" {
		c.warn(k.pos, "ipip tunnels do not support checksum option")
		return f, oldTun, true
	}
	if t.typ == "gre" && t.csum == "remcsum" {
		c.warn(k.pos, "gre tunnels do not support remote checksum option")
		return f, oldTun, true
	}
	return f, t, true
}

// rserver reads a real_server block (alloc_rs, its keywords,
// rs_end_handler).
func (c *conv) rserver(vs *vserver, n *node) error {
	if err := needArgs(n, 1); err != nil {
		return err
	}
	a, p, ok, msg := parseAddrPort(n.arg(1), n.arg(2))
	if !ok {
		c.warn(n.pos, "invalid real server address %s %s (%s): keepalived skips it", n.arg(1), n.arg(2), msg)
		return nil
	}
	rs := &rserver{pos: n.pos, addr: a, port: p, fwd: vs.fwd, tun: vs.tun, weight: -1}
	for _, k := range n.kids {
		key := k.key()
		switch {
		case key == "weight":
			if err := needArgs(k, 1); err != nil {
				return err
			}
			v, ok, msg := readUnsigned(k.arg(1), 0, weightLimit, true)
			if !ok {
				c.warn(k.pos, "real server weight %s is outside range 0-%d (%s): ignored", k.arg(1), weightLimit, msg)
				continue
			}
			rs.weight = int64(v)
		case key == "lvs_method":
			if err := needArgs(k, 1); err != nil {
				return err
			}
			rs.fwd, rs.tun, _ = c.forwarding(k, "real", rs.fwd, rs.tun)
		case key == "uthreshold" || key == "lthreshold":
			if err := needArgs(k, 1); err != nil {
				return err
			}
			v, ok, msg := readUnsigned(k.arg(1), 0, maxUint, true)
			if !ok {
				c.warn(k.pos, "invalid real_server %s %s (%s): ignored", key, k.arg(1), msg)
				continue
			}
			if key == "uthreshold" {
				rs.uth = uint32(v)
			} else {
				rs.lth = uint32(v)
			}
		case checkers[key]:
			rs.counts = append(rs.counts, [2]string{"health checkers", key})
			rs.notes = append(rs.notes, checkerNote(k))
		case rsNoteKeys[key]:
			rs.counts = append(rs.counts, [2]string{"real server settings", key})
			rs.notes = append(rs.notes, render(k, 300))
		case key == "lb_kind":
			c.warn(k.pos, "lb_kind inside real_server is unknown to keepalived (it reads lvs_method there): ignored")
		default:
			c.warn(k.pos, "unknown keyword %q in real_server: keepalived ignores it", key)
		}
	}
	// rs_end_handler: all but tunnelled real servers have the virtual
	// server's family.
	if rs.fwd != fwdTUN {
		if vs.af == afUnspec {
			vs.af = afOf(rs.addr)
		} else if vs.af != afOf(rs.addr) {
			c.warn(n.pos, "address family of virtual server and real server %s don't match: keepalived skips the real server", rs.addr)
			return nil
		}
	}
	vs.rs = append(vs.rs, rs)
	return nil
}

// checkerNote sums up a health checker on one line: its type, then each
// setting; a url block as "url PATH" and its other settings.
func checkerNote(k *node) string {
	var parts []string
	for _, s := range k.kids {
		if s.key() == "url" && s.block {
			u := []string{"url"}
			for _, x := range s.kids {
				if x.key() == "path" {
					u = append(u, x.arg(1))
				}
			}
			for _, x := range s.kids {
				if x.key() != "path" {
					u = append(u, render(x, 120))
				}
			}
			parts = append(parts, strings.Join(u, " "))
			continue
		}
		parts = append(parts, render(s, 120))
	}
	out := render(&node{words: k.words}, 60)
	if len(parts) > 0 {
		out += " " + strings.Join(parts, ", ")
	}
	if len(out) > 400 {
		out = out[:400] + " ..."
	}
	return sanitize(out)
}

// finish is validate_check_config and the services ipvswrapper.c makes.
func (c *conv) finish() error {
	seen := map[state.ServiceKey]*state.Service{}
	for _, vs := range c.vss {
		var g *vsgroup
		if vs.group != "" {
			g = c.groups[vs.group]
			if g == nil {
				c.warn(vs.pos, "virtual server group %s does not exist: keepalived ignores the virtual server", vs.group)
				continue
			}
		}
		hasAddrs, hasMarks := false, false
		if g != nil {
			for _, e := range g.entries {
				if e.isFwmark {
					hasMarks = true
				} else {
					hasAddrs = true
				}
			}
		}
		if vs.haSusp && (vs.isFwmark || hasMarks) {
			c.warn(vs.pos, "virtual server %s: cannot use ha_suspend with fwmarks: keepalived clears ha_suspend", vsName(vs))
		}
		if hasAddrs || (g == nil && !vs.isFwmark) {
			if vs.proto == 0 {
				c.warn(vs.pos, "virtual server %s: no protocol set: keepalived defaults to UDP", vsName(vs))
				vs.proto = state.UDP
			}
			if vs.flags&flagOnePacket != 0 && vs.proto != state.UDP {
				c.warn(vs.pos, "virtual server %s: one packet scheduling requires UDP: keepalived resets it", vsName(vs))
				vs.flags &^= flagOnePacket
			}
			if vs.ptimeout == 0 && g == nil && vs.port == 0 {
				c.warn(vs.pos, "virtual server %s: zero port only valid for persistent services: keepalived makes it persistent (%d s)", vsName(vs), persistentDefault)
				vs.ptimeout = persistentDefault
			}
		}
		if vs.ptimeout == 0 && g != nil {
			for _, e := range g.entries {
				if !e.isFwmark && e.port == 0 {
					c.warn(vs.pos, "virtual server %s: zero port only valid for persistent services: keepalived makes it persistent (%d s)", vsName(vs), persistentDefault)
					vs.ptimeout = persistentDefault
					break
				}
			}
		}
		if vs.proto != 0 && ((g != nil && !hasAddrs && hasMarks) || (g == nil && vs.isFwmark)) {
			c.warn(vs.pos, "virtual server %s: protocol specified for fwmark: keepalived ignores it", vsName(vs))
			vs.proto = 0
		}
		if vs.sched == "" {
			vs.sched = defaultScheduler
		}
		// Real servers: duplicates, forwarding, weights, ports.
		var rss []*rserver
		for _, rs := range vs.rs {
			dup := false
			for _, o := range rss {
				if o.addr == rs.addr && o.port == rs.port {
					c.warn(rs.pos, "virtual server %s: real server %s is duplicated: keepalived removes the second", vsName(vs), netip.AddrPortFrom(rs.addr, rs.port))
					dup = true
					break
				}
			}
			if dup {
				continue
			}
			if rs.fwd == fwdUnset {
				if vs.fwd == fwdUnset {
					c.warn(vs.pos, "virtual server %s: no forwarding method set: keepalived defaults to NAT", vsName(vs))
					vs.fwd = fwdNAT
				}
				rs.fwd, rs.tun = vs.fwd, vs.tun
			}
			if rs.weight < 0 {
				rs.weight = int64(vs.weight)
			}
			rss = append(rss, rs)
		}
		vs.rs = rss
		if g == nil {
			for _, rs := range vs.rs {
				switch {
				case rs.fwd == fwdNAT:
					if !vs.isFwmark && rs.port == 0 {
						rs.port = vs.port
					}
				case vs.isFwmark:
					if rs.port != 0 {
						c.warn(rs.pos, "fwmark virtual server %s, real server %s has port specified: keepalived clears it", vsName(vs), rs.addr)
						rs.port = 0
					}
				default:
					if rs.port != 0 && rs.port != vs.port {
						c.warn(rs.pos, "virtual server %s and real server %s ports don't match: keepalived resets it to %d", vsName(vs), netip.AddrPortFrom(rs.addr, rs.port), vs.port)
					}
					rs.port = vs.port
				}
			}
		}
		svcs, err := c.services(vs, g)
		if err != nil {
			return err
		}
		for _, k := range vs.counts {
			c.count(k[0], k[1])
		}
		for _, rs := range vs.rs {
			for _, k := range rs.counts {
				c.count(k[0], k[1])
			}
		}
		for _, s := range svcs {
			if old := seen[s.Key]; old != nil {
				c.warn(vs.pos, "service %s is defined again: lvsctl adds its real servers to the first one's", s.Key)
				for _, d := range s.Dests {
					if !slices.ContainsFunc(old.Dests, func(o *state.Destination) bool { return o.Addr == d.Addr }) {
						old.Dests = append(old.Dests, d)
					}
				}
				continue
			}
			seen[s.Key] = s
			c.res.Services = append(c.res.Services, s)
			if len(c.res.Services) > maxServices {
				return errAt(vs.pos, "more than %d services", maxServices)
			}
		}
	}
	return nil
}

// services are the IPVS services and destinations one virtual_server
// makes (ipvswrapper.c ipvs_set_srule, ipvs_set_drule, ipvs_group_cmd).
func (c *conv) services(vs *vserver, g *vsgroup) ([]*state.Service, error) {
	type target struct {
		key      state.ServiceKey
		fromPort uint16 // the port non-NAT destinations get
	}
	var targets []target
	why := "keepalived virtual_server " + vsName(vs) + " (" + vs.pos.String() + ")"
	switch {
	case g != nil:
		for _, e := range g.entries {
			if e.isFwmark {
				continue
			}
			addrs, err := c.expand(e)
			if err != nil {
				return nil, err
			}
			if len(targets)+len(addrs) > maxServices {
				return nil, errAt(e.pos, "virtual_server_group %s has more than %d addresses", g.name, maxServices)
			}
			for _, a := range addrs {
				targets = append(targets, target{key: state.ServiceKey{Family: afOf(a).state(), Protocol: vs.proto, Addr: a, Port: e.port}, fromPort: e.port})
			}
		}
		for _, e := range g.entries {
			if !e.isFwmark {
				continue
			}
			af := e.fam
			if af == afUnspec {
				af = vs.af
			}
			if af == afUnspec {
				af = afInet
			}
			targets = append(targets, target{key: state.ServiceKey{Family: af.state(), FWMark: e.fwmark}})
		}
		why += " with virtual_server_group " + g.name
	case vs.isFwmark:
		targets = append(targets, target{key: state.ServiceKey{Family: vs.af.state(), FWMark: vs.fwmark}})
	default:
		targets = append(targets, target{key: state.ServiceKey{Family: vs.af.state(), Protocol: vs.proto, Addr: vs.addr, Port: vs.port}, fromPort: vs.port})
	}
	if len(c.res.Services)+len(targets) > maxServices {
		return nil, errAt(vs.pos, "more than %d services", maxServices)
	}
	if c.dests += len(targets) * len(vs.rs); c.dests > maxDests {
		return nil, errAt(vs.pos, "more than %d real servers in all services", maxDests)
	}
	var out []*state.Service
	for _, t := range targets {
		s := &state.Service{Key: t.key, Scheduler: vs.sched, Why: []string{why}}
		if vs.flags&flagOnePacket != 0 {
			s.OnePacket = true
		}
		if err := c.schedFlags(vs, s); err != nil {
			return nil, err
		}
		if vs.ptimeout != 0 {
			s.Persistent, s.Timeout, s.PE = true, vs.ptimeout, vs.pe
			if err := c.setNetmask(vs, s); err != nil {
				return nil, err
			}
		} else if vs.pe != "" {
			c.notes(s.Key, "persistence_engine "+vs.pe+" (keepalived applies it only to a persistent service: ignored)")
		}
		for _, rs := range vs.rs {
			port := rs.port
			if g != nil && rs.fwd != fwdNAT {
				port = t.fromPort
			}
			d := &state.Destination{
				Addr:           netip.AddrPortFrom(rs.addr, port),
				Weight:         uint32(rs.weight),
				UpperThreshold: rs.uth,
				LowerThreshold: rs.lth,
				Why:            []string{"keepalived real_server " + netip.AddrPortFrom(rs.addr, rs.port).String() + " (" + rs.pos.String() + ")"},
			}
			switch rs.fwd {
			case fwdNAT:
				d.Forward = state.NAT
			case fwdDR:
				d.Forward = state.DR
			case fwdTUN:
				d.Forward = state.TUN
				d.TunnelType, d.TunnelPort, d.TunnelChecksum = rs.tun.typ, rs.tun.port, rs.tun.csum
			}
			if slices.ContainsFunc(s.Dests, func(o *state.Destination) bool { return o.Addr == d.Addr }) {
				c.warn(rs.pos, "real server %s is the same destination as another one of service %s: the kernel refuses the second", d.Addr, s.Key)
				continue
			}
			s.Dests = append(s.Dests, d)
			if len(rs.notes) > 0 {
				m := c.res.DestNotes[s.Key]
				if m == nil {
					m = map[netip.AddrPort][]string{}
					c.res.DestNotes[s.Key] = m
				}
				m[d.Addr] = append(m[d.Addr], rs.notes...)
			}
		}
		if g != nil {
			c.notes(s.Key, fmt.Sprintf("from virtual_server group %s (%s)", g.name, vs.pos))
		}
		for _, n := range vs.notes {
			c.notes(s.Key, n)
		}
		out = append(out, s)
	}
	return out, nil
}

func (c *conv) notes(k state.ServiceKey, n string) {
	c.res.ServiceNotes[k] = append(c.res.ServiceNotes[k], n)
}

// schedFlags names the flag bits for the final scheduler, as the kernel
// reads them: flag-1 is sh-fallback (mh-fallback), flag-2 sh-port
// (mh-port).
func (c *conv) schedFlags(vs *vserver, s *state.Service) error {
	var prefix string
	switch vs.sched {
	case "sh", "mh":
		prefix = vs.sched
	}
	for _, f := range []struct {
		bit  int
		name string
		tail string
	}{{flagSched1, "flag-1", "fallback"}, {flagSched2, "flag-2", "port"}, {flagSched3, "flag-3", ""}} {
		if vs.flags&f.bit == 0 {
			continue
		}
		if prefix != "" && f.tail != "" {
			s.SchedFlags = append(s.SchedFlags, prefix+"-"+f.tail)
			continue
		}
		c.warn(vs.pos, "scheduler flag %s with scheduler %s: the kernel ignores it and lvsctl does not model it", f.name, vs.sched)
		c.notes(s.Key, "scheduler flag "+f.name+" (ignored by the "+vs.sched+" scheduler; not modelled by lvsctl)")
	}
	slices.Sort(s.SchedFlags)
	return nil
}

// setNetmask sets s's persistence netmask from the granularity: /32 or
// /128 when none is given; an IPv4 netmask that is not contiguous (which
// keepalived, ipvsadm and the kernel accept) goes in state.Service.Netmask.
func (c *conv) setNetmask(vs *vserver, s *state.Service) error {
	fam := s.Key.Family
	switch {
	case vs.gran == granularityUnset && fam == state.IPv6:
		s.NetmaskBits = 128
	case vs.gran == granularityUnset:
		s.NetmaskBits = 32
	case fam == state.IPv6:
		if vs.granAF != afInet6 {
			return errAt(vs.granPos, "persistence_granularity is an IPv4 netmask but service %s is IPv6", s.Key)
		}
		s.NetmaskBits = int(vs.gran)
	default:
		if vs.granAF != afInet {
			return errAt(vs.granPos, "persistence_granularity %d is an IPv6 prefix length but service %s is IPv4", vs.gran, s.Key)
		}
		s.SetIPv4Mask(vs.gran)
	}
	return nil
}
