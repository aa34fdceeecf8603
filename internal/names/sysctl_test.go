package names

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// policyNote ends every "not one lvsctl manages" refusal.
const policyNote = "(lvsctl writes only the LVS sysctls listed in the README's sysctl policy)"

func TestCheckSysctlKey(t *testing.T) {
	for _, tc := range []struct {
		key  string
		want string // "" for allowed, else a fragment of the error
	}{
		// What lvsctl derives itself (schema/derive.go, schema/hostbuilder.go)
		// and what the examples and tests declare.
		{"net.ipv4.ip_forward", ""},
		{"net.ipv6.conf.all.forwarding", ""},
		{"net.ipv4.conf.all.arp_ignore", ""},
		{"net.ipv4.conf.default.arp_announce", ""},
		{"net.ipv4.conf.lo.arp_ignore", ""},
		{"net.ipv4.conf.eth0.arp_announce", ""},
		{"net.ipv4.conf.ens33.arp_ignore", ""},
		{"net.ipv4.conf.tunl0.arp_ignore", ""},
		{"net.ipv4.conf.gre0.arp_announce", ""},
		{"net.ipv4.conf.lvsctl0.arp_ignore", ""},
		{"net.ipv4.conf.all.rp_filter", ""},
		{"net.ipv4.conf.tunl0.rp_filter", ""},
		{"net.ipv4.conf.gre0.rp_filter", ""},
		{"net.ipv4.vs.expire_nodest_conn", ""},
		{"net.ipv6.conf.ens33-1.forwarding", ""},
		// The rest of the policy, a sample.
		{"net.ipv4.conf.br-lan_2.arp_filter", ""},
		{"net.ipv4.conf.veth+1@x.accept_local", ""},
		{"net.ipv4.conf.eth0.send_redirects", ""},
		{"net.ipv4.conf.all.accept_redirects", ""},
		{"net.ipv4.conf.eth0.promote_secondaries", ""},
		{"net.ipv6.conf.default.accept_ra", ""},
		{"net.ipv4.ip_nonlocal_bind", ""},
		{"net.ipv6.ip_nonlocal_bind", ""},
		{"net.ipv4.vs.conntrack", ""},
		{"net.ipv4.vs.sync_threshold", ""},
		{"net.ipv4.vs.sloppy_tcp", ""},
		{"net.ipv4.vs.schedule_icmp", ""},
		{"net.netfilter.nf_conntrack_max", ""},
		{"net.netfilter.nf_conntrack_tcp_timeout_established", ""},
		{"net.netfilter.nf_conntrack_udp_timeout_stream", ""},
		{"net.core.netdev_max_backlog", ""},
		{"net.core.wmem_max", ""},

		// Kernel-hardening and unrelated knobs, each with its own reason.
		{"net.core.bpf_jit_harden", `sysctl key "net.core.bpf_jit_harden" is not one lvsctl manages: bpf_jit_harden is a kernel-hardening setting (it blinds constants in JIT-compiled BPF); lvsctl never changes it ` + policyNote},
		{"net.core.bpf_jit_enable", "bpf_jit_enable is a kernel-hardening setting"},
		{"net.core.bpf_jit_kallsyms", "bpf_jit_kallsyms is a kernel-hardening setting"},
		{"net.core.bpf_jit_limit", "bpf_jit_limit is a kernel-hardening setting"},
		{"net.ipv4.ip_unprivileged_port_start", `sysctl key "net.ipv4.ip_unprivileged_port_start" is not one lvsctl manages: ip_unprivileged_port_start is a security setting`},
		{"net.ipv4.ping_group_range", `sysctl key "net.ipv4.ping_group_range" is not one lvsctl manages: ping_group_range is a security setting`},
		{"net.ipv4.tcp_syncookies", "tcp_syncookies is a hardening setting"},
		{"net.ipv4.conf.eth0.accept_source_route", "accept_source_route is a hardening setting"},
		{"net.ipv6.conf.all.accept_source_route", "accept_source_route is a hardening setting"},
		{"net.ipv4.conf.lo.route_localnet", "route_localnet is a security setting"},
		{"net.ipv4.conf.all.proxy_arp", "no LVS forwarding method needs it"},
		{"net.ipv4.vs.debug_level", "for debugging by hand"},
		{"net.netfilter.nf_conntrack_tcp_be_liberal", "belongs to the firewall"},
		{"net.core.somaxconn", "IPVS forwards connections without a listening socket"},

		// Anything else under net.
		{"net.ipv4.tcp_fin_timeout", `sysctl key "net.ipv4.tcp_fin_timeout" is not one lvsctl manages: it is not among the sysctls LVS needs ` + policyNote},
		{"net.ipv4.ip_local_port_range", "it is not among the sysctls LVS needs"},
		{"net.netfilter.nf_conntrack_count", "it is not among the sysctls LVS needs"},
		{"net.ipv6.conf.all.disable_ipv6", "it is not among the sysctls LVS needs"},
		{"net.core.rmem_default", "it is not among the sysctls LVS needs"},
		{"net.ipv4.vs", "it is not among the sysctls LVS needs"},
		{"net.ipv4.conf.all", "it is not among the sysctls LVS needs"},
		{"net.ipv4.conf.all.arp_annouce", "it is not among the sysctls LVS needs; did you mean net.ipv4.conf.all.arp_announce? " + policyNote},
		{"net.ipv4.conf.eth1.arp_ignor", "did you mean net.ipv4.conf.eth1.arp_ignore?"},
		{"net.ipv4.vs.expire_nodest_con", "did you mean net.ipv4.vs.expire_nodest_conn?"},
		{"net.ipv4.ipforward", "did you mean net.ipv4.ip_forward?"},
		{"net.ipv4.conf.all.ARP_IGNORE", "is not one lvsctl manages"},
		// Outside the networking subtrees.
		{"kernel.core_pattern", `sysctl key "kernel.core_pattern" is not one lvsctl manages: it is not a networking sysctl, and every LVS sysctl is under one of net.ipv4., net.ipv6., net.core., net.netfilter. ` + policyNote},
		{"fs.suid_dumpable", "it is not a networking sysctl"},
		{"net", "it is not a networking sysctl"},
		{"net.unix.max_dgram_qlen", "it is not a networking sysctl"},

		// Path tricks.
		{"", "sysctl key is empty"},
		{"/", `sysctl key "/" contains "/"`},
		{"net/ipv4/ip_forward", `contains "/" where a dot belongs; sysctl(8) writes keys with dots`},
		{"net.ipv4.conf.../x", `has an empty component ("..")`},
		{"net.ipv4.conf.all/../../../kernel.core_pattern", `has an empty component ("..")`},
		{"net.ipv4.conf.all/./../kernel.core_pattern", `has an empty component ("..")`},
		{"net.ipv4.conf.x/./x.core_pattern", `contains "/"`},
		{"net.ipv4..ip_forward", `has an empty component ("..")`},
		{"net.ipv4.conf...arp_ignore", `has an empty component ("..")`},
		{"..", `has an empty component ("..")`},
		{".", "has an empty component (a leading or trailing \".\")"},
		{".net.ipv4.ip_forward", "has an empty component (a leading or trailing \".\")"},
		{"net.ipv4.ip_forward.", "has an empty component (a leading or trailing \".\")"},
		{"net.ipv4.conf.*.arp_ignore", `contains "*"; name one interface, all or default`},
		{"net.ipv4.ip_forward\n", "contains a control or non-ASCII character"},
		{"net.ipv4.ip_forward\x00", "contains a control or non-ASCII character"},
		{"net.ipv4.conf.all.arp_ignor\u0435", "contains a control or non-ASCII character"}, // Cyrillic e
		{"net.ipv4.\u200bip_forward", "contains a control or non-ASCII character"},         // zero-width space
		{"net.ipv4.ip_forward\u2024x", "contains a control or non-ASCII character"},        // one dot leader
		{"net.ipv4.conf.all.arp_ignore x", `is not allowed: use only letters, digits, "_" and "-" between dots`},
		{"net.ipv4.ip_forward=1", `is not allowed: use only letters, digits`},
		{"net.ipv4." + strings.Repeat("a", 200), "is longer than 200 bytes"},

		// Interface names in the "*" position.
		{"net.ipv4.conf.eth0;rm.arp_ignore", `sysctl key "net.ipv4.conf.eth0;rm.arp_ignore": interface name "eth0;rm" is not allowed`},
		{"net.ipv4.conf.$(id).rp_filter", `interface name "$(id)" is not allowed`},
		{"net.ipv4.conf.`id`.rp_filter", "is not allowed: lvsctl accepts letters"},
		{"net.ipv4.conf.eth 0.arp_ignore", `interface name "eth 0" contains white space`},
		{"net.ipv4.conf.eth0\t.arp_ignore", "contains a control or non-ASCII character"},
		{"net.ipv4.conf.ens33:0.arp_ignore", `interface name "ens33:0" contains ":"`},
		{"net.ipv4.conf.abcdefghijklmnop.arp_ignore", `interface name "abcdefghijklmnop" is 16 bytes`},
		{"net.ipv6.conf.eth\u00e9.forwarding", "contains a control or non-ASCII character"},
		{"net.ipv4.conf.eth0.100.rp_filter", `sysctl key "net.ipv4.conf.eth0.100.rp_filter": sysctl(8) reads every "." of a key as a separator, so the dots of interface "eth0.100" are written "/": net.ipv4.conf.eth0/100.rp_filter`},
		{"net.ipv6.conf.bond0.10.20.forwarding", `net.ipv6.conf.bond0/10/20.forwarding`},

		// Interfaces with dots, written as sysctl(8) writes them.
		{"net.ipv4.conf.eth0/100.rp_filter", ""},
		{"net.ipv4.conf.bond0/100.arp_ignore", ""},
		{"net.ipv6.conf.bond0/10/20.forwarding", ""},
		{"net.ipv4.conf.eth0/100.route_localnet", "route_localnet is a security setting"},
		{"net.ipv4.conf.eth0/.arp_ignore", `interface name "eth0." cannot be named in a sysctl key: sysctl(8) writes its dots as "/", and a leading, trailing or doubled dot leaves an empty component`},
		{"net.ipv4.conf./eth0.arp_ignore", `leaves an empty component`},
		{"net.ipv4.conf.a//b.arp_ignore", `interface name "a..b" cannot be named in a sysctl key`},
		{"net.ipv4.conf.//.arp_ignore", `interface name ".." is not allowed`},
		{"net.ipv4.conf.a/b;c.arp_ignore", `interface name "a.b;c" is not allowed`},
		{"net.ipv4.conf.abcdefgh/ijklmnop.arp_ignore", `is 17 bytes`},
		{"net.ipv4.vs/x.am_droprate", `contains "/" outside an interface name`},
		{"net.ipv4.conf.eth0.arp/ignore", `contains "/" outside an interface name`},
		{"net.core/x.rmem_max", `contains "/" outside an interface name`},
		{"net.ipv4.conf.eth0/100", `contains "/" outside an interface name`},
		{"net/ipv4/conf/eth0.100/arp_ignore", `contains "/" where a dot belongs`},
	} {
		err := CheckSysctlKey(tc.key)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("CheckSysctlKey(%q) = %v; want nil", tc.key, err)
		case tc.want != "" && err == nil:
			t.Errorf("CheckSysctlKey(%q) = nil; want an error with %q", tc.key, tc.want)
		case tc.want != "" && !strings.Contains(err.Error(), tc.want):
			t.Errorf("CheckSysctlKey(%q) = %v\nwant it to contain %q", tc.key, err, tc.want)
		}
		if err != nil && strings.ContainsAny(err.Error(), "\n\x00") {
			t.Errorf("CheckSysctlKey(%q): the message holds a raw control character: %q", tc.key, err)
		}
	}
}

// TestSysctlPolicyIsSound checks the lists themselves: every pattern is a
// well-formed key under the networking subtrees, "*" is only ever the
// interface of a conf key, each allowed pattern is admitted for all, default
// and a device, and each refusal is given with its own reason.
func TestSysctlPolicyIsSound(t *testing.T) {
	n := 0
	wellFormed := func(p string) {
		t.Helper()
		parts := strings.Split(p, ".")
		if !strings.HasPrefix(p, "net.ipv4.") && !strings.HasPrefix(p, "net.ipv6.") && !strings.HasPrefix(p, "net.core.") && !strings.HasPrefix(p, "net.netfilter.") {
			t.Errorf("pattern %q is outside %s", p, SysctlPrefixes)
		}
		for i, c := range parts {
			if c == "*" && (i != 3 || len(parts) != 5 || parts[2] != "conf") {
				t.Errorf("pattern %q has \"*\" somewhere other than net.ipv?.conf.*.NAME", p)
			}
		}
		if !sysctlKey.MatchString(strings.ReplaceAll(p, "*", "x")) {
			t.Errorf("pattern %q is not a plain dotted key", p)
		}
	}
	for _, g := range sysctlPolicy {
		if g.why == "" || len(g.keys) == 0 {
			t.Errorf("policy group %v has no reason or no keys", g.keys)
		}
		for _, p := range g.keys {
			n++
			wellFormed(p)
			for _, iface := range []string{"all", "default", "lo", "eth0"} {
				k := strings.ReplaceAll(p, "*", iface)
				if err := CheckSysctlKey(k); err != nil {
					t.Errorf("policy key %s: %v", k, err)
				}
			}
		}
	}
	for _, r := range sysctlRefused {
		n++
		wellFormed(r.key)
		leaf := r.key[strings.LastIndex(r.key, ".")+1:]
		if !strings.HasPrefix(r.why, leaf+" ") {
			t.Errorf("refusal of %s: the reason %q does not start with the name %s", r.key, r.why, leaf)
		}
		k := strings.ReplaceAll(r.key, "*", "eth0")
		want := fmt.Sprintf("sysctl key %q is not one lvsctl manages: %s %s", k, r.why, policyNote)
		if err := CheckSysctlKey(k); err == nil || err.Error() != want {
			t.Errorf("CheckSysctlKey(%q) = %v\nwant %s", k, err, want)
		}
	}
	if n != len(sysctlRules) {
		t.Errorf("%d patterns listed, %d in the rules", n, len(sysctlRules))
	}
}

// FuzzCheckSysctlKey holds every admitted key to the shape /proc/sys needs:
// plain components joined by single dots, nothing that could leave the
// directory, and a pattern of the policy that admits it.
func FuzzCheckSysctlKey(f *testing.F) {
	for _, s := range []string{"net.ipv4.ip_forward", "net.ipv4.conf.eth0.arp_ignore", "net.ipv4.conf.../x", "net.ipv4.conf.eth0.100.rp_filter", "net.ipv4.conf.eth0/100.rp_filter", "net.ipv4.conf.a//b.rp_filter", "net.core.bpf_jit_harden", "net.ipv4.conf.é.rp_filter"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if CheckSysctlKey(key) != nil {
			return
		}
		if len(key) > 200 || !sysctlKey.MatchString(key) || strings.Contains(key, "..") {
			t.Fatalf("admitted %q, which is not a plain dotted key", key)
		}
		r, iface, ok := lookupSysctl(strings.Split(key, "."))
		if !ok || r.refused {
			t.Fatalf("admitted %q, which no allowed pattern matches", key)
		}
		if strings.Contains(key, "/") && (iface == "" || strings.Contains(strings.Replace(key, iface, "", 1), "/")) {
			t.Fatalf("admitted %q, with a \"/\" outside its interface", key)
		}
		if p := SysctlProcPath(key); strings.Contains(p, "..") || strings.Contains(p, "//") || strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") {
			t.Fatalf("admitted %q, whose path %q could leave its directory", key, p)
		}
		iface = strings.ReplaceAll(iface, "/", ".")
		if iface != "" && CheckInterfaceName(iface) != nil {
			t.Fatalf("admitted %q with a bad interface name %q", key, iface)
		}
	})
}

func TestCheckSysctlValue(t *testing.T) {
	for _, v := range []string{"0", "1", "20000\t40000", "0-3", "", strings.Repeat("9", 256)} {
		if err := CheckSysctlValue(v); err != nil {
			t.Errorf("CheckSysctlValue(%q) = %v; want nil", v, err)
		}
	}
	for v, want := range map[string]string{
		"1\nnet.ipv4.conf.all.rp_filter=0": "contains a control or non-ASCII character",
		"1\x00":                            "contains a control or non-ASCII character",
		"\u00bd":                           "contains a control or non-ASCII character",
		strings.Repeat("9", 257):           "longer than 256 bytes",
	} {
		if err := CheckSysctlValue(v); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckSysctlValue(%q) = %v; want %q", v, err, want)
		}
	}
}

// readmeHeading is the README heading the policy is listed under; the text
// from it to the next heading must be sysctlPolicyMarkdown exactly.
const readmeHeading = "### Sysctl policy"

// TestSysctlPolicyInREADME holds README.md's list of sysctls to the one the
// code applies. On failure it prints the section to paste.
func TestSysctlPolicyInREADME(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	want := sysctlPolicyMarkdown()
	_, section, found := strings.Cut(string(b), "\n"+readmeHeading+"\n")
	if !found {
		t.Fatalf("README.md has no %q heading; add this section to the schema reference:\n\n%s\n%s", readmeHeading, readmeHeading, want)
	}
	if i := strings.Index(section, "\n#"); i >= 0 {
		section = section[:i+1]
	}
	if got := strings.TrimSpace(section); got != strings.TrimSpace(want) {
		t.Errorf("README.md's %q section differs from the policy in sysctl.go; replace it with:\n\n%s\n%s", readmeHeading, readmeHeading, want)
	}
}

// sysctlPolicyMarkdown is the README's sysctl policy section, below its
// heading, drawn from the lists the code applies.
func sysctlPolicyMarkdown() string {
	var b strings.Builder
	b.WriteString(`
lvsctl sets only the sysctls below. A cluster repository is untrusted input that CI applies as
root on every host, so it may change LVS state and nothing else: ` + "`hosts: NAME: sysctls`" + ` and
` + "`directors: HOST: sysctls`" + ` take these keys alone, and the agent checks each key again on the host
before it reads or writes it. In a key, ` + "`*`" + ` is one interface name (as for ` + "`interface`" + `, and without
` + "`.`" + `), ` + "`all` or `default`" + `. Any other key is refused with ` + "`sysctl key \"KEY\" is not one lvsctl manages`" + `
and the reason.

| keys | why LVS needs them |
| --- | --- |
`)
	for _, g := range sysctlPolicy {
		keys := make([]string, len(g.keys))
		for i, k := range g.keys {
			keys[i] = "`" + k + "`"
		}
		fmt.Fprintf(&b, "| %s | %s |\n", strings.Join(keys, ", "), g.why)
	}
	b.WriteString(`
These are refused with a reason of their own:

| key | why lvsctl does not set it |
| --- | --- |
`)
	for _, r := range sysctlRefused {
		fmt.Fprintf(&b, "| `%s` | %s |\n", r.key, r.why)
	}
	return b.String()
}
