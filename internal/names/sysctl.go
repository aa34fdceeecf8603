package names

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
)

// The sysctl policy: the keys below are the only ones lvsctl reads or writes,
// in a configuration and again on the host. A cluster repository is untrusted
// input that CI applies as root on every host, so it may change LVS state and
// nothing else: each group says which LVS feature needs its keys. README.md's
// "Sysctl policy" section is generated from these lists (a test holds the two
// equal).
//
// In a pattern, "*" stands for one interface name (as CheckInterfaceName
// admits it), or all or default. Keys are written as sysctl(8) writes them:
// dots between components, and "/" for a dot inside an interface name, so
// the VLAN eth0.100's arp_ignore is net.ipv4.conf.eth0/100.arp_ignore (the
// file /proc/sys/net/ipv4/conf/eth0.100/arp_ignore). procps's sysctl and
// systemd-sysctl both read such a key by swapping dots and slashes when its
// first separator is a dot (SysctlProcPath).

type sysctlGroup struct {
	why  string   // the LVS need, for the README
	keys []string // patterns
}

var sysctlPolicy = []sysctlGroup{
	{
		why: "DR and TUN real servers hold the VIP but must not answer or announce ARP for it (arp_ignore, arp_announce: lvsctl sets these itself; arp_filter on multi-homed hosts); directors announce a VIP they take over (arp_notify) and learn a peer's from gratuitous ARP (arp_accept)",
		keys: []string{
			"net.ipv4.conf.*.arp_ignore",
			"net.ipv4.conf.*.arp_announce",
			"net.ipv4.conf.*.arp_filter",
			"net.ipv4.conf.*.arp_notify",
			"net.ipv4.conf.*.arp_accept",
		},
	},
	{
		why: "a TUN real server receives packets whose source is not routed back through the tunnel, so rp_filter is 0 or 2 there (lvsctl sets it itself on all and the tunnel device); a director that is also a real server accepts packets from its own addresses (accept_local); rp_filter honours firewall marks with src_valid_mark",
		keys: []string{
			"net.ipv4.conf.*.rp_filter",
			"net.ipv4.conf.*.accept_local",
			"net.ipv4.conf.*.src_valid_mark",
		},
	},
	{
		why: "a NAT director forwards (ip_forward, and all.forwarding for IPv6: lvsctl sets these itself); a director must not redirect real servers' replies around itself (send_redirects), nor real servers follow such redirects (accept_redirects); an IPv6 host that forwards keeps router advertisements only with accept_ra 2",
		keys: []string{
			"net.ipv4.ip_forward",
			"net.ipv4.conf.*.forwarding",
			"net.ipv4.conf.*.send_redirects",
			"net.ipv4.conf.*.accept_redirects",
			"net.ipv6.conf.*.forwarding",
			"net.ipv6.conf.*.accept_ra",
			"net.ipv6.conf.*.accept_redirects",
		},
	},
	{
		why: "keepalived and health checkers bind VIPs the host does not hold yet, as on the backup director of a VRRP pair (ip_nonlocal_bind); removing one VIP from an interface keeps the others there (promote_secondaries)",
		keys: []string{
			"net.ipv4.ip_nonlocal_bind",
			"net.ipv6.ip_nonlocal_bind",
			"net.ipv4.conf.*.promote_secondaries",
		},
	},
	{
		why: "IPVS itself, as the kernel's Documentation/networking/ipvs-sysctl.rst describes it: connection handling, defences against floods, connection synchronisation between directors, rate estimation; and the lblc and lblcr schedulers' expiry",
		keys: []string{
			"net.ipv4.vs.am_droprate",
			"net.ipv4.vs.amemthresh",
			"net.ipv4.vs.backup_only",
			"net.ipv4.vs.cache_bypass",
			"net.ipv4.vs.conn_reuse_mode",
			"net.ipv4.vs.conntrack",
			"net.ipv4.vs.drop_entry",
			"net.ipv4.vs.drop_packet",
			"net.ipv4.vs.est_cpulist",
			"net.ipv4.vs.est_nice",
			"net.ipv4.vs.expire_nodest_conn",
			"net.ipv4.vs.expire_quiescent_template",
			"net.ipv4.vs.ignore_tunneled",
			"net.ipv4.vs.lblc_expiration",
			"net.ipv4.vs.lblcr_expiration",
			"net.ipv4.vs.nat_icmp_send",
			"net.ipv4.vs.pmtu_disc",
			"net.ipv4.vs.run_estimation",
			"net.ipv4.vs.schedule_icmp",
			"net.ipv4.vs.secure_tcp",
			"net.ipv4.vs.sloppy_sctp",
			"net.ipv4.vs.sloppy_tcp",
			"net.ipv4.vs.snat_reroute",
			"net.ipv4.vs.sync_persist_mode",
			"net.ipv4.vs.sync_ports",
			"net.ipv4.vs.sync_qlen_max",
			"net.ipv4.vs.sync_refresh_period",
			"net.ipv4.vs.sync_retries",
			"net.ipv4.vs.sync_sock_size",
			"net.ipv4.vs.sync_threshold",
			"net.ipv4.vs.sync_version",
		},
	},
	{
		why: "a director with net.ipv4.vs.conntrack 1, or behind a stateful firewall, tracks every IPVS connection, and a full table drops new ones: connection-tracking limits and timeouts",
		keys: []string{
			"net.netfilter.nf_conntrack_max",
			"net.netfilter.nf_conntrack_buckets",
			"net.netfilter.nf_conntrack_expect_max",
			"net.netfilter.nf_conntrack_generic_timeout",
			"net.netfilter.nf_conntrack_icmp_timeout",
			"net.netfilter.nf_conntrack_icmpv6_timeout",
			"net.netfilter.nf_conntrack_tcp_timeout_close",
			"net.netfilter.nf_conntrack_tcp_timeout_close_wait",
			"net.netfilter.nf_conntrack_tcp_timeout_established",
			"net.netfilter.nf_conntrack_tcp_timeout_fin_wait",
			"net.netfilter.nf_conntrack_tcp_timeout_last_ack",
			"net.netfilter.nf_conntrack_tcp_timeout_max_retrans",
			"net.netfilter.nf_conntrack_tcp_timeout_syn_recv",
			"net.netfilter.nf_conntrack_tcp_timeout_syn_sent",
			"net.netfilter.nf_conntrack_tcp_timeout_time_wait",
			"net.netfilter.nf_conntrack_tcp_timeout_unacknowledged",
			"net.netfilter.nf_conntrack_udp_timeout",
			"net.netfilter.nf_conntrack_udp_timeout_stream",
			"net.netfilter.nf_conntrack_sctp_timeout_closed",
			"net.netfilter.nf_conntrack_sctp_timeout_cookie_echoed",
			"net.netfilter.nf_conntrack_sctp_timeout_cookie_wait",
			"net.netfilter.nf_conntrack_sctp_timeout_established",
			"net.netfilter.nf_conntrack_sctp_timeout_heartbeat_sent",
			"net.netfilter.nf_conntrack_sctp_timeout_shutdown_ack_sent",
			"net.netfilter.nf_conntrack_sctp_timeout_shutdown_recd",
			"net.netfilter.nf_conntrack_sctp_timeout_shutdown_sent",
			"net.netfilter.nf_conntrack_gre_timeout",
			"net.netfilter.nf_conntrack_gre_timeout_stream",
		},
	},
	{
		why: "a director receives every client packet, and the per-CPU backlog bounds the bursts it absorbs before IPVS sees them (netdev_max_backlog); rmem_max and wmem_max cap the buffers of the IPVS synchronisation sockets (net.ipv4.vs.sync_sock_size)",
		keys: []string{
			"net.core.netdev_max_backlog",
			"net.core.rmem_max",
			"net.core.wmem_max",
		},
	},
}

// sysctlRefused are keys someone might expect lvsctl to set, refused with a
// reason of their own. Every other key outside sysctlPolicy is refused with
// the general reason.
var sysctlRefused = []struct{ key, why string }{
	{"net.core.bpf_jit_enable", "bpf_jit_enable is a kernel-hardening setting (whether BPF programs are compiled to native code); lvsctl never changes it"},
	{"net.core.bpf_jit_harden", "bpf_jit_harden is a kernel-hardening setting (it blinds constants in JIT-compiled BPF); lvsctl never changes it"},
	{"net.core.bpf_jit_kallsyms", "bpf_jit_kallsyms is a kernel-hardening setting (it shows the addresses of JIT-compiled BPF in /proc/kallsyms); lvsctl never changes it"},
	{"net.core.bpf_jit_limit", "bpf_jit_limit is a kernel-hardening setting (it caps the memory of unprivileged JIT-compiled BPF); lvsctl never changes it"},
	{"net.ipv4.ip_unprivileged_port_start", "ip_unprivileged_port_start is a security setting (below it, binding a port needs privilege); lvsctl never changes it"},
	{"net.ipv4.ping_group_range", "ping_group_range is a security setting (it lets groups open ICMP sockets without privilege); lvsctl never changes it"},
	{"net.ipv4.tcp_syncookies", "tcp_syncookies is a hardening setting for the host's own TCP sockets; lvsctl never changes it (IPVS has defences of its own: net.ipv4.vs.drop_entry, drop_packet and secure_tcp)"},
	{"net.ipv4.conf.*.accept_source_route", "accept_source_route is a hardening setting (it lets senders choose the route of their packets); lvsctl never changes it"},
	{"net.ipv6.conf.*.accept_source_route", "accept_source_route is a hardening setting (it lets senders choose the route of their packets); lvsctl never changes it"},
	{"net.ipv4.conf.*.route_localnet", "route_localnet is a security setting (it routes 127.0.0.0/8, which exposes services bound to localhost); lvsctl never changes it"},
	{"net.ipv4.conf.*.proxy_arp", "proxy_arp makes the host answer ARP for other hosts' addresses; no LVS forwarding method needs it, and lvsctl never changes it"},
	{"net.ipv4.vs.debug_level", "debug_level makes IPVS log up to every packet; it is for debugging by hand, and lvsctl never changes it"},
	{"net.netfilter.nf_conntrack_tcp_be_liberal", "nf_conntrack_tcp_be_liberal loosens the stateful firewall's TCP window checks; it belongs to the firewall, and lvsctl never changes it"},
	{"net.netfilter.nf_conntrack_tcp_loose", "nf_conntrack_tcp_loose lets the stateful firewall pick up connections in mid-stream; it belongs to the firewall, and lvsctl never changes it"},
	{"net.core.somaxconn", "somaxconn bounds the listen queues of the host's own applications; IPVS forwards connections without a listening socket, so lvsctl does not manage it"},
}

// SysctlPrefixes lists the subtrees every key of the policy lies under, for
// messages.
const SysctlPrefixes = "net.ipv4., net.ipv6., net.core., net.netfilter."

// sysctlPolicyNote ends every refusal of a key, pointing at the full list.
const sysctlPolicyNote = "(lvsctl writes only the LVS sysctls listed in the README's sysctl policy)"

// sysctlKey admits keys whose components are plain names: letters, digits,
// "_" and "-", and "+" and "@", which interface names may hold; and "/"
// between such names, which checkSysctlShape admits only in the interface of
// a per-interface key, where it stands for a ".".
var sysctlKey = regexp.MustCompile(`^[A-Za-z0-9_+@-]+(/[A-Za-z0-9_+@-]+)*(\.[A-Za-z0-9_+@-]+(/[A-Za-z0-9_+@-]+)*)*$`)

// SysctlInterface is an interface's name as it stands in a sysctl key: each
// "." written "/", as sysctl(8) writes it (eth0.100 is eth0/100). The name
// must pass CheckSysctlInterface.
func SysctlInterface(name string) string { return strings.ReplaceAll(name, ".", "/") }

// CheckSysctlInterface reports why an interface cannot be named in a
// per-interface sysctl key, or nil: it must pass CheckInterfaceName, and its
// dots, each written "/" in the key, must separate non-empty parts, so that
// the key has no empty component (a VLAN such as eth0.100 passes; "eth0."
// does not).
func CheckSysctlInterface(name string) error {
	if err := CheckInterfaceName(name); err != nil {
		return err
	}
	if strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") || strings.Contains(name, "..") {
		return fmt.Errorf("interface name %q cannot be named in a sysctl key: sysctl(8) writes its dots as \"/\", and a leading, trailing or doubled dot leaves an empty component", name)
	}
	return nil
}

// SysctlProcPath is key's file below /proc/sys, as sysctl(8) and
// systemd-sysctl find it: every "." is a directory separator and every "/"
// a "." within a name (net.ipv4.conf.eth0/100.rp_filter is
// net/ipv4/conf/eth0.100/rp_filter). key must have passed CheckSysctlPath or
// CheckSysctlKey, which admit "/" only inside an interface's name.
func SysctlProcPath(key string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '.':
			return '/'
		case '/':
			return '.'
		}
		return r
	}, key)
}

// CheckSysctlKey reports why key is not a sysctl lvsctl will write, or nil.
// A key must be on the policy above; a key that could climb out of
// /proc/sys/net (a "/", an empty component) is refused before any matching.
func CheckSysctlKey(key string) error {
	if err := checkSysctlShape(key); err != nil {
		return err
	}
	return checkSysctlPolicy(key)
}

// CheckSysctlPath reports why key cannot name a networking sysctl at all, or
// nil. It is for reading: an inventory written under an older, wider policy
// may hold a key the policy now refuses, and lvsctl must still read it to
// say what it leaves behind. Writing needs CheckSysctlKey.
func CheckSysctlPath(key string) error {
	if err := checkSysctlShape(key); err != nil {
		return err
	}
	if !sysctlKey.MatchString(key) {
		return fmt.Errorf("sysctl key %q is not allowed: use only letters, digits, \"_\" and \"-\" between dots", key)
	}
	if !strings.HasPrefix(key, "net.ipv4.") && !strings.HasPrefix(key, "net.ipv6.") && !strings.HasPrefix(key, "net.core.") && !strings.HasPrefix(key, "net.netfilter.") {
		return notManaged(key, "it is not a networking sysctl, and every LVS sysctl is under one of "+SysctlPrefixes)
	}
	return nil
}

// checkSysctlShape refuses what could climb out of /proc/sys/net or fool a
// terminal, before any matching.
func checkSysctlShape(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("sysctl key is empty")
	case len(key) > 200:
		return fmt.Errorf("sysctl key %q is longer than 200 bytes", key)
	case strings.Contains(key, ".."):
		return fmt.Errorf("sysctl key %q has an empty component (\"..\")", key)
	case strings.HasPrefix(key, ".") || strings.HasSuffix(key, "."):
		return fmt.Errorf("sysctl key %q has an empty component (a leading or trailing \".\")", key)
	case strings.Contains(key, "*"):
		return fmt.Errorf("sysctl key %q contains \"*\"; name one interface, all or default", key)
	}
	for _, r := range key {
		if r > unicode.MaxASCII || !unicode.IsPrint(r) {
			return fmt.Errorf("sysctl key %q contains a control or non-ASCII character", key)
		}
	}
	if strings.Contains(key, "/") {
		return checkSysctlSlashes(key)
	}
	return nil
}

// checkSysctlSlashes admits a "/" only where sysctl(8) writes one: for a "."
// inside the interface name of a per-interface key (net.ipv4.conf.IFACE.NAME
// or net.ipv6.conf.IFACE.NAME), between non-empty parts of a valid name. A
// key in /proc/sys's path form (net/ipv4/ip_forward) is refused: lvsctl
// names every key one way, so that a key is one object.
func checkSysctlSlashes(key string) error {
	const how = "sysctl(8) writes keys with dots, and \"/\" only for a \".\" inside an interface name (net.ipv4.conf.eth0/100.arp_ignore for the VLAN eth0.100)"
	if strings.IndexAny(key, "./") == strings.IndexByte(key, '/') {
		return fmt.Errorf("sysctl key %q contains \"/\" where a dot belongs; %s", key, how)
	}
	parts := strings.Split(key, ".")
	for i, p := range parts {
		if !strings.Contains(p, "/") {
			continue
		}
		if i != 3 || len(parts) < 5 || parts[0] != "net" || parts[1] != "ipv4" && parts[1] != "ipv6" || parts[2] != "conf" {
			return fmt.Errorf("sysctl key %q contains \"/\" outside an interface name; %s", key, how)
		}
		if err := CheckSysctlInterface(strings.ReplaceAll(p, "/", ".")); err != nil {
			return fmt.Errorf("sysctl key %q contains \"/\": %w", key, err)
		}
	}
	return nil
}

func checkSysctlPolicy(key string) error {
	parts := strings.Split(key, ".")
	if r, iface, ok := lookupSysctl(parts); ok {
		if r.refused {
			return notManaged(key, r.why)
		}
		if iface != "" {
			if err := CheckSysctlInterface(strings.ReplaceAll(iface, "/", ".")); err != nil {
				return fmt.Errorf("sysctl key %q: %w", key, err)
			}
		}
		return nil
	}
	if iface, ok := dottedInterface(parts); ok {
		return fmt.Errorf("sysctl key %q: sysctl(8) reads every \".\" of a key as a separator, so the dots of interface %q are written \"/\": %s", key, iface,
			strings.Join(parts[:3], ".")+"."+SysctlInterface(iface)+"."+parts[len(parts)-1])
	}
	if !sysctlKey.MatchString(key) {
		return fmt.Errorf("sysctl key %q is not allowed: use only letters, digits, \"_\" and \"-\" between dots", key)
	}
	if !strings.HasPrefix(key, "net.ipv4.") && !strings.HasPrefix(key, "net.ipv6.") && !strings.HasPrefix(key, "net.core.") && !strings.HasPrefix(key, "net.netfilter.") {
		return notManaged(key, "it is not a networking sysctl, and every LVS sysctl is under one of "+SysctlPrefixes)
	}
	why := "it is not among the sysctls LVS needs"
	if s := nearestSysctl(parts); s != "" {
		why += "; did you mean " + s + "?"
	}
	return notManaged(key, why)
}

func notManaged(key, why string) error {
	return fmt.Errorf("sysctl key %q is not one lvsctl manages: %s %s", key, why, sysctlPolicyNote)
}

// sysctlRule is one pattern of the policy or of the refusals.
type sysctlRule struct {
	why     string
	refused bool
}

var (
	sysctlRules = map[string]sysctlRule{} // by pattern
	sysctlStars []int                     // the positions "*" takes in patterns
)

func init() {
	add := func(pattern string, r sysctlRule) {
		if _, dup := sysctlRules[pattern]; dup {
			panic("names: sysctl pattern " + pattern + " is listed twice")
		}
		sysctlRules[pattern] = r
		parts := strings.Split(pattern, ".")
		star := -1
		for i, p := range parts {
			if p == "*" {
				if star >= 0 {
					panic("names: sysctl pattern " + pattern + " has more than one \"*\"")
				}
				star = i
			}
		}
		if star >= 0 && !slices.Contains(sysctlStars, star) {
			sysctlStars = append(sysctlStars, star)
		}
	}
	for _, g := range sysctlPolicy {
		for _, k := range g.keys {
			add(k, sysctlRule{why: g.why})
		}
	}
	for _, r := range sysctlRefused {
		add(r.key, sysctlRule{why: r.why, refused: true})
	}
}

// lookupSysctl finds the rule for the key split into parts: the key itself,
// or the key with one part replaced by "*", which is then the interface name
// (not checked here).
func lookupSysctl(parts []string) (r sysctlRule, iface string, ok bool) {
	if r, ok := sysctlRules[strings.Join(parts, ".")]; ok {
		return r, "", true
	}
	for _, i := range sysctlStars {
		if i >= len(parts) {
			continue
		}
		p := slices.Clone(parts)
		p[i] = "*"
		if r, ok := sysctlRules[strings.Join(p, ".")]; ok {
			return r, parts[i], true
		}
	}
	return sysctlRule{}, "", false
}

// dottedInterface recognises a per-interface key of the policy whose
// interface name holds dots written as dots (a VLAN such as eth0.100, whose
// key sysctl(8) writes net.ipv4.conf.eth0/100.NAME), and returns that name.
func dottedInterface(parts []string) (string, bool) {
	if len(parts) <= 5 || parts[0] != "net" || parts[2] != "conf" {
		return "", false
	}
	short := []string{parts[0], parts[1], parts[2], "*", parts[len(parts)-1]}
	if r, ok := sysctlRules[strings.Join(short, ".")]; ok && !r.refused {
		return strings.Join(parts[3:len(parts)-1], "."), true
	}
	return "", false
}

// nearestSysctl returns the policy key closest to the key split into parts,
// with the key's own interface name where the pattern has "*", when it is at
// most two edits away; "" otherwise.
func nearestSysctl(parts []string) string {
	key := strings.Join(parts, ".")
	best, bestD := "", 3
	for _, g := range sysctlPolicy {
		for _, p := range g.keys {
			pp := strings.Split(p, ".")
			for i := range pp {
				if pp[i] == "*" {
					pp[i] = "all"
					if i < len(parts) {
						pp[i] = parts[i]
					}
				}
			}
			c := strings.Join(pp, ".")
			if d := editDistance(key, c); d < bestD {
				best, bestD = c, d
			}
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// CheckSysctlValue reports why v cannot be written to a sysctl, or nil.
func CheckSysctlValue(v string) error {
	if len(v) > 256 {
		return fmt.Errorf("sysctl value is longer than 256 bytes")
	}
	for _, r := range v {
		if r > unicode.MaxASCII || !unicode.IsPrint(r) && r != '\t' {
			return fmt.Errorf("sysctl value %q contains a control or non-ASCII character", v)
		}
	}
	return nil
}
