package schema

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lvsctl/lvsctl/internal/state"
)

// A badCase is a configuration directory that must be refused with exactly
// the listed problems, in order. Each want is "PREFIX|FRAGMENT": the problem's
// line must start with PREFIX (file:line:col: field:) and contain FRAGMENT.
type badCase struct {
	name  string
	files map[string]string
	want  []string
}

// base is a valid cluster that bad cases change with a second file or by
// replacing it. Line numbers in wants refer to the files as written.
const base = `package c

hosts: {
	lb: {}
	rs1: {interface: "eth0"}
}
directors: lb: {
	vips: "192.0.2.10": interface: "eth0"
	services: web: {
		address: "192.0.2.10"
		port:    80
		realServers: rs1: {address: "198.51.100.1", host: "rs1"}
	}
}
hosts: lb: local: true
hosts: rs1: netns: "rs1"
`

func TestBaseIsValid(t *testing.T) {
	dir := writeCase(t, map[string]string{"c.cue": base})
	if _, err := Load(dir); err != nil {
		t.Fatalf("base configuration: %v", err)
	}
}

var badCases = []badCase{
	{
		name:  "syntax error",
		files: map[string]string{"c.cue": "package c\nhosts: {\n"},
		want:  []string{"c.cue:2:10: |expected '}'"},
	},
	{
		name: "wrong type",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: port: "80"
`},
		want: []string{`c.cue:11:12: directors.lb.services.web.port: |conflicting values 80 and "80" (mismatched types int and string) (also at x.cue:2:37)`},
	},
	{
		name: "unknown scheduler",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: scheduler: "wrrr"
`},
		want: []string{`x.cue:2:42: directors.lb.services.web.scheduler: |"wrrr" is not allowed: expected one of "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos"`},
	},
	{
		name: "multicast real server",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: realServers: rs2: address: "224.0.0.1"
`},
		want: []string{`x.cue:2:49: directors.lb.services.web.realServers.rs2.address: |224.0.0.1 is a multicast address, which the kernel refuses for a real server`},
	},
	{
		name: "unspecified real server",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: realServers: rs2: address: "0.0.0.0"
`},
		want: []string{`x.cue:2:49: directors.lb.services.web.realServers.rs2.address: |0.0.0.0 is unspecified, which the kernel refuses`},
	},
	{
		name: "broadcast real server",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: realServers: rs2: address: "255.255.255.255"
`},
		want: []string{`x.cue:2:49: directors.lb.services.web.realServers.rs2.address: |255.255.255.255 is the broadcast address, which the kernel refuses`},
	},
	{
		name: "this-network real server",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: realServers: rs2: address: "0.1.2.3"
`},
		want: []string{`x.cue:2:49: directors.lb.services.web.realServers.rs2.address: |0.1.2.3 is in 0.0.0.0/8 ("this network"), which the kernel refuses`},
	},
	{
		name: "IPv6 link-local real server",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: v6: {
	address: "2001:db8::10"
	port:    80
	realServers: a: address: "fe80::1"
}
`},
		want: []string{`x.cue:5:18: directors.lb.services.v6.realServers.a.address: |fe80::1 is an IPv6 link-local address, which the kernel refuses`},
	},
	{
		name: "unknown field in a service",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: portt: 80
`},
		want: []string{`x.cue:2:31: directors.lb.services.web.portt: |field not allowed`},
	},
	{
		name: "unknown top-level field",
		files: map[string]string{"c.cue": base, "x.cue": `package c
hostz: lb: {}
`},
		want: []string{`x.cue:2:1: hostz: |field not allowed`},
	},
	{
		name: "weight below 0",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: realServers: rs1: weight: -1
`},
		want: []string{`x.cue:2:57: directors.lb.services.web.realServers.rs1.weight: |invalid value -1 (out of bound >=0)`},
	},
	{
		name: "weight above 2147483647",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: realServers: rs1: weight: 2147483648
`},
		want: []string{`x.cue:2:57: directors.lb.services.web.realServers.rs1.weight: |invalid value 2147483648 (out of bound <=2147483647)`},
	},
	{
		name: "service port above 65535",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: big: {address: "192.0.2.10", port: 70000}
`},
		want: []string{`x.cue:2:61: directors.lb.services.big.port: |invalid value 70000 (out of bound <=65535)`},
	},
	{
		name: "persistence timeout above 31 days",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: persistence: timeout: 2678401
`},
		want: []string{`x.cue:2:53: directors.lb.services.web.persistence.timeout: |invalid value 2678401 (out of bound <=2678400)`},
	},
	{
		name: "global timeout 0",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: timeouts: tcp: 0
`},
		want: []string{`x.cue:2:31: directors.lb.timeouts.tcp: |invalid value 0 (out of bound >=1)`},
	},
	{
		name: "unknown forward",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: realServers: rs1: forward: "direct"
`},
		want: []string{`x.cue:2:58: directors.lb.services.web.realServers.rs1.forward: |"direct" is not allowed: expected one of "dr", "nat", "tun"`},
	},
	{
		name: "unknown protocol",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: protocol: "icmp"
`},
		want: []string{`x.cue:2:41: directors.lb.services.web.protocol: |"icmp" is not allowed: expected one of "tcp", "udp", "sctp"`},
	},
	{
		name: "unknown tunnel type",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: realServers: rs1: {forward: "tun", tunnel: type: "vxlan"}
`},
		want: []string{`x.cue:2:80: directors.lb.services.web.realServers.rs1.tunnel.type: |"vxlan" is not allowed: expected one of "ipip", "gue", "gre"`},
	},
	{
		name: "unknown tunnel checksum",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: realServers: rs1: {forward: "tun", tunnel: checksum: "crc"}
`},
		want: []string{`x.cue:2:84: directors.lb.services.web.realServers.rs1.tunnel.checksum: |"crc" is not allowed: expected one of "none", "csum", "remcsum"`},
	},
	{
		name: "unknown ownership",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: ownership: "shared"
`},
		want: []string{`x.cue:2:27: directors.lb.ownership: |"shared" is not allowed: expected one of "inventory", "exclusive"`},
	},
	{
		name: "unknown defaultRoute",
		files: map[string]string{"c.cue": base, "x.cue": `package c
hosts: rs1: defaultRoute: "set"
`},
		want: []string{`x.cue:2:27: hosts.rs1.defaultRoute: |"set" is not allowed: expected one of "check", "manage"`},
	},
	// The field is asserted only up to "flags": CUE's path prints the index
	// as flags.0 where lvsctl's own rules print flags[0].
	{
		name: "unknown scheduler flag",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: {scheduler: "sh", flags: ["sh-persistent"]}
`},
		want: []string{`x.cue:2:57: directors.lb.services.web.flags|"sh-persistent" is not allowed: expected one of "sh-fallback", "sh-port", "mh-fallback", "mh-port"`},
	},
	// lvsctl reads no module: cue.mod, registries and parent directories
	// are never consulted (issue 10).
	{
		name: "import of another module",
		files: map[string]string{"c.cue": base, "x.cue": `package c

import "example.com/nothere"

hosts: lb: interface: nothere.iface
`},
		want: []string{`x.cue:3:8: |import "example.com/nothere": lvsctl reads the cluster directory alone, with CUE's standard library (strings, strconv, list, net, ...); packages of other modules, cue.mod and parent directories are not read`},
	},
	{
		name: "two files disagree",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: port: 81
`},
		want: []string{`c.cue:11:12: directors.lb.services.web.port: |conflicting values`},
	},
	{
		name: "real server without address",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: realServers: rs2: weight: 2
`},
		want: []string{`x.cue:2:44: directors.lb.services.web.realServers.rs2.address: |missing field: directors.lb.services.web.realServers.rs2 needs address (string)`},
	},
	{
		name: "ssh without address",
		files: map[string]string{"c.cue": base, "x.cue": `package c
hosts: rs1: ssh: user: "root"
`},
		want: []string{`x.cue:2:13: hosts.rs1.ssh.address: |missing field: hosts.rs1.ssh needs address (string)`},
	},
	{
		name: "NAT real server port 0",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: realServers: rs1: {forward: "nat", port: 0}
`},
		want: []string{`x.cue:2:66: directors.lb.services.web.realServers.rs1.port: |port 0 is only meaningful for a firewall-mark service`},
	},
	{
		name: "fwmark family against its groups",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: marks: g: {mark: 5, address: "192.0.2.10", ports: [443]}
directors: lb: services: m: {
	fwmark: 5
	family: "ipv6"
	realServers: a: address: "2001:db8::2"
}
`},
		want: []string{`x.cue:5:2: directors.lb.services.m.family: |family is ipv6 but mark 5's groups are ipv4`},
	},
	{
		name: "fwmark with address and port",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: marks: g: {mark: 5, address: "192.0.2.10", ports: [443]}
directors: lb: services: m: {
	fwmark:  5
	address: "192.0.2.10"
	port:    443
	realServers: a: address: "198.51.100.2"
}
`},
		want: []string{`x.cue:4:2: directors.lb.services.m.fwmark: |a firewall-mark service has no protocol, address or port of its own`},
	},
	{
		name: "address without port",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: m: {
	address: "192.0.2.10"
	realServers: a: address: "198.51.100.2"
}
`},
		want: []string{`x.cue:2:26: directors.lb.services.m: |a service needs address and port, or fwmark`},
	},
	{
		name: "sh-port on wrr",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: {scheduler: "wrr", flags: ["sh-port"]}
`},
		want: []string{`x.cue:2:58: directors.lb.services.web.flags[0]: |scheduler flag sh-port only applies to the sh scheduler; this service uses wrr`},
	},
	{
		name: "scheduler flag twice",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: {scheduler: "sh", flags: ["sh-port", "sh-port"]}
`},
		want: []string{`x.cue:2:68: directors.lb.services.web.flags[1]: |scheduler flag sh-port is listed twice`},
	},
	{
		name: "netmask on an IPv6 service",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: v6: {
	address: "2001:db8::10"
	port:    80
	persistence: netmask: "255.255.255.0"
	realServers: a: address: "2001:db8::1"
}
`},
		want: []string{`x.cue:5:15: directors.lb.services.v6.persistence.netmask: |a netmask is for IPv4 services`},
	},
	{
		name: "netmask not an address",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: persistence: netmask: "255.0.255"
`},
		want: []string{`x.cue:2:44: directors.lb.services.web.persistence.netmask: |"255.0.255" is not an IPv4 netmask such as 255.255.255.0`},
	},
	{
		name: "netmask and prefix",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: persistence: {netmask: "255.255.255.0", prefix: 24}
`},
		want: []string{`x.cue:2:45: directors.lb.services.web.persistence.netmask: |give netmask or prefix, not both`},
	},
	{
		name: "IPv4 persistence prefix 33",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: persistence: prefix: 33
`},
		want: []string{`x.cue:2:44: directors.lb.services.web.persistence.prefix: |prefix /33 is too long for an IPv4 service`},
	},
	{
		name: "IPv6 persistence prefix 0",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: v6: {
	address: "2001:db8::10"
	port:    80
	persistence: prefix: 0
	realServers: a: address: "2001:db8::1"
}
`},
		want: []string{`x.cue:5:15: directors.lb.services.v6.persistence.prefix: |persistence prefix is 1 to 128`},
	},
	{
		name: "sip engine on tcp",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: persistence: engine: "sip"
`},
		want: []string{`x.cue:2:44: directors.lb.services.web.persistence.engine: |the sip persistence engine reads UDP SIP messages; this service is tcp`},
	},
	{
		name: "onePacket on tcp",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: onePacket: true
`},
		want: []string{`x.cue:2:31: directors.lb.services.web.onePacket: |one-packet scheduling is for UDP services`},
	},
	{
		name: "IPv6 real server under IPv4 service with dr",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: realServers: rs6: address: "2001:db8::1"
`},
		want: []string{`x.cue:2:49: directors.lb.services.web.realServers.rs6.address: |real server 2001:db8::1 is ipv6 but the service is ipv4`},
	},
	{
		name: "two services with one identity",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: www: {address: "192.0.2.10", port: 80}
`},
		want: []string{`x.cue:2:26: directors.lb.services.www: |service "www" has the same identity (tcp 192.0.2.10:80) as service "web"`},
	},
	{
		name: "two real servers with one address and port",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: realServers: rs1b: address: "198.51.100.1"
`},
		want: []string{`x.cue:2:44: directors.lb.services.web.realServers.rs1b: |real servers "rs1" and "rs1b" are both 198.51.100.1:80`},
	},
	{
		name: "real server names an undeclared host",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: realServers: rs2: {address: "198.51.100.2", host: "rs9"}
`},
		want: []string{`x.cue:2:75: directors.lb.services.web.realServers.rs2.host: |no host named "rs9"`},
	},
	{
		name: "director is not a host",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb2: {}
`},
		want: []string{`x.cue:2:12: directors.lb2: |director "lb2" is not a host`},
	},
	{
		name: "lowerThreshold above upperThreshold",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: realServers: rs1: {upperThreshold: 10, lowerThreshold: 20}
`},
		want: []string{`x.cue:2:70: directors.lb.services.web.realServers.rs1.lowerThreshold: |lowerThreshold 20 is above upperThreshold 10`},
	},
	{
		name: "lowerThreshold without upperThreshold",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: realServers: rs1: lowerThreshold: 5
`},
		want: []string{`x.cue:2:49: directors.lb.services.web.realServers.rs1.lowerThreshold: |lowerThreshold 5 needs an upperThreshold`},
	},
	{
		name: "tunnel settings on a dr real server",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: realServers: rs1: tunnel: type: "gre"
`},
		want: []string{`x.cue:2:49: directors.lb.services.web.realServers.rs1.tunnel: |tunnel settings need forward: "tun"`},
	},
	{
		name: "gue without port",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: realServers: rs2: {
	address: "198.51.100.2"
	forward: "tun"
	tunnel: type: "gue"
}
`},
		want: []string{`x.cue:5:2: directors.lb.services.web.realServers.rs2.tunnel.port: |a gue tunnel needs the real server's GUE port`},
	},
	{
		name: "port on an ipip tunnel",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: realServers: rs2: {
	address: "198.51.100.2"
	forward: "tun"
	tunnel: port: 5555
}
`},
		want: []string{`x.cue:5:10: directors.lb.services.web.realServers.rs2.tunnel.port: |port is for gue tunnels; ipip has no port`},
	},
	{
		name: "csum on an ipip tunnel",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: realServers: rs2: {
	address: "198.51.100.2"
	forward: "tun"
	tunnel: checksum: "csum"
}
`},
		want: []string{`x.cue:5:10: directors.lb.services.web.realServers.rs2.tunnel.checksum: |ipip tunnels have no checksum option`},
	},
	{
		name: "remcsum on a gre tunnel",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: realServers: rs2: {
	address: "198.51.100.2"
	forward: "tun"
	tunnel: {type: "gre", checksum: "remcsum"}
}
`},
		want: []string{`x.cue:5:24: directors.lb.services.web.realServers.rs2.tunnel.checksum: |remote checksum offload (remcsum) is for gue tunnels`},
	},
	{
		name: "managed real server with a gue tunnel",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: realServers: rs1: {
	forward: "tun"
	tunnel: {type: "gue", port: 5555}
}
`},
		want: []string{`c.cue:12:47: directors.lb.services.web.realServers.rs1.host: |does not set up a GUE receiver (fou) on a managed real server`},
	},
	{
		name: "sysctl key with a slash",
		files: map[string]string{"c.cue": base, "x.cue": `package c
hosts: rs1: sysctls: "net/ipv4/ip_forward": 1
`},
		want: []string{`x.cue:2:22: hosts.rs1.sysctls."net/ipv4/ip_forward": |contains "/"`},
	},
	{
		name: "sysctl key with an empty component",
		files: map[string]string{"c.cue": base, "x.cue": `package c
hosts: rs1: sysctls: "net.ipv4..ip_forward": 1
`},
		want: []string{`x.cue:2:22: hosts.rs1.sysctls."net.ipv4..ip_forward": |has an empty component ("..")`},
	},
	{
		name: "sysctl key outside the networking prefixes",
		files: map[string]string{"c.cue": base, "x.cue": `package c
hosts: rs1: sysctls: "kernel.core_pattern": "|/tmp/x"
`},
		want: []string{`x.cue:2:22: hosts.rs1.sysctls."kernel.core_pattern": |sysctl key "kernel.core_pattern" is not one lvsctl manages: it is not a networking sysctl`},
	},
	{
		name: "sysctl value with a newline",
		files: map[string]string{"c.cue": base, "x.cue": `package c
hosts: rs1: sysctls: "net.ipv4.ip_forward": "1\nnet.ipv4.conf.all.rp_filter=0"
`},
		want: []string{`x.cue:2:22: hosts.rs1.sysctls."net.ipv4.ip_forward": |contains a control or non-ASCII character`},
	},
	// The sysctl policy (internal/names/sysctl.go): kernel-hardening knobs
	// under net.* are refused with their own reason, in hosts and directors.
	{
		name: "sysctl bpf_jit_harden on a host",
		files: map[string]string{"c.cue": base, "x.cue": `package c
hosts: rs1: sysctls: "net.core.bpf_jit_harden": 0
`},
		want: []string{`x.cue:2:22: hosts.rs1.sysctls."net.core.bpf_jit_harden": |sysctl key "net.core.bpf_jit_harden" is not one lvsctl manages: bpf_jit_harden is a kernel-hardening setting (it blinds constants in JIT-compiled BPF); lvsctl never changes it (lvsctl writes only the LVS sysctls listed in the README's sysctl policy)`},
	},
	{
		name: "sysctl ip_unprivileged_port_start on a director",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: sysctls: "net.ipv4.ip_unprivileged_port_start": 0
`},
		want: []string{`x.cue:2:25: directors.lb.sysctls."net.ipv4.ip_unprivileged_port_start": |sysctl key "net.ipv4.ip_unprivileged_port_start" is not one lvsctl manages: ip_unprivileged_port_start is a security setting (below it, binding a port needs privilege); lvsctl never changes it`},
	},
	{
		name: "sysctl hardening knobs together",
		files: map[string]string{"c.cue": base, "x.cue": `package c
hosts: rs1: sysctls: {
	"net.core.bpf_jit_enable":   1
	"net.core.bpf_jit_kallsyms": 1
	"net.ipv4.ping_group_range": "0 2147483647"
	"net.ipv4.ip_forward":       1
}
`},
		want: []string{
			`x.cue:3:2: hosts.rs1.sysctls."net.core.bpf_jit_enable": |sysctl key "net.core.bpf_jit_enable" is not one lvsctl manages: bpf_jit_enable is a kernel-hardening setting`,
			`x.cue:4:2: hosts.rs1.sysctls."net.core.bpf_jit_kallsyms": |sysctl key "net.core.bpf_jit_kallsyms" is not one lvsctl manages: bpf_jit_kallsyms is a kernel-hardening setting`,
			`x.cue:5:2: hosts.rs1.sysctls."net.ipv4.ping_group_range": |sysctl key "net.ipv4.ping_group_range" is not one lvsctl manages: ping_group_range is a security setting (it lets groups open ICMP sockets without privilege)`,
		},
	},
	{
		name: "sysctl not on the policy",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: sysctls: "net.ipv4.tcp_fin_timeout": 10
`},
		want: []string{`x.cue:2:25: directors.lb.sysctls."net.ipv4.tcp_fin_timeout": |sysctl key "net.ipv4.tcp_fin_timeout" is not one lvsctl manages: it is not among the sysctls LVS needs (lvsctl writes only the LVS sysctls listed in the README's sysctl policy)`},
	},
	{
		name: "sysctl misspelt",
		files: map[string]string{"c.cue": base, "x.cue": `package c
hosts: rs1: sysctls: "net.ipv4.conf.eth0.arp_annouce": 2
`},
		want: []string{`x.cue:2:22: hosts.rs1.sysctls."net.ipv4.conf.eth0.arp_annouce": |did you mean net.ipv4.conf.eth0.arp_announce?`},
	},
	{
		name: "sysctl with a bad interface name",
		files: map[string]string{"c.cue": base, "x.cue": `package c
hosts: rs1: sysctls: "net.ipv4.conf.eth0;reboot.rp_filter": 0
`},
		want: []string{`x.cue:2:22: hosts.rs1.sysctls."net.ipv4.conf.eth0;reboot.rp_filter": |sysctl key "net.ipv4.conf.eth0;reboot.rp_filter": interface name "eth0;reboot" is not allowed`},
	},
	{
		name: "sysctl on a VLAN interface",
		files: map[string]string{"c.cue": base, "x.cue": `package c
hosts: rs1: sysctls: "net.ipv4.conf.eth0.100.arp_ignore": 1
`},
		want: []string{`x.cue:2:22: hosts.rs1.sysctls."net.ipv4.conf.eth0.100.arp_ignore": |the dots of interface "eth0.100" are written "/": net.ipv4.conf.eth0/100.arp_ignore`},
	},
	{
		name: "sysctl in /proc/sys path form",
		files: map[string]string{"c.cue": base, "x.cue": `package c
hosts: rs1: sysctls: "net/ipv4/conf/eth0.100/arp_ignore": 1
`},
		want: []string{`x.cue:2:22: hosts.rs1.sysctls."net/ipv4/conf/eth0.100/arp_ignore": |contains "/" where a dot belongs; sysctl(8) writes keys with dots`},
	},
	{
		name: "sysctl with a slash outside the interface",
		files: map[string]string{"c.cue": base, "x.cue": `package c
hosts: rs1: sysctls: "net.ipv4.conf.eth0/100/../arp_ignore": 1
`},
		want: []string{`x.cue:2:22: hosts.rs1.sysctls."net.ipv4.conf.eth0/100/../arp_ignore": |has an empty component ("..")`},
	},
	{
		name: "interface with an empty part between dots",
		files: map[string]string{"c.cue": base, "x.cue": `package c
hosts: lb: interface: "eth0..100"
`},
		want: []string{`x.cue:2:12: hosts.lb.interface: |interface name "eth0..100" cannot be named in a sysctl key`},
	},
	{
		name: "interface name of 16 bytes",
		files: map[string]string{"c.cue": base, "x.cue": `package c
hosts: lb: interface: "abcdefghijklmnop"
`},
		want: []string{`x.cue:2:12: hosts.lb.interface: |is 16 bytes; Linux allows at most 15`},
	},
	{
		name: "interface name with a space",
		files: map[string]string{"c.cue": base, "x.cue": `package c
hosts: lb: interface: "eth 0"
`},
		want: []string{`x.cue:2:12: hosts.lb.interface: |interface name "eth 0" contains white space`},
	},
	{
		name: "interface alias",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: vips: "192.0.2.11": interface: "ens33:0"
`},
		want: []string{`x.cue:2:36: directors.lb.vips."192.0.2.11".interface: |interface name "ens33:0" contains ":"`},
	},
	{
		name: "netns name with a slash",
		files: map[string]string{"c.cue": base, "x.cue": `package c
hosts: rs2: netns: "../../etc"
`},
		want: []string{`x.cue:2:13: hosts.rs2.netns: |network namespace name "../../etc" is not allowed`},
	},
	{
		name: "ssh address that is an option",
		files: map[string]string{"c.cue": base, "x.cue": `package c
hosts: rs1: ssh: address: "-oProxyCommand=x"
`},
		want: []string{`x.cue:2:18: hosts.rs1.ssh.address: |ssh address "-oProxyCommand=x" is neither an IP address nor a host name`},
	},
	{
		name: "ssh user with a shell metacharacter",
		files: map[string]string{"c.cue": base, "x.cue": `package c
hosts: rs1: ssh: {address: "rs1.example.com", user: "root;id"}
`},
		want: []string{`x.cue:2:47: hosts.rs1.ssh.user: |ssh user "root;id" is not allowed`},
	},
	{
		name: "relative agentPath",
		files: map[string]string{"c.cue": base, "x.cue": `package c
hosts: rs1: agentPath: "bin/lvsctl"
`},
		want: []string{`x.cue:2:13: hosts.rs1.agentPath: |agent path "bin/lvsctl" is not allowed`},
	},
	{
		name: "agentPath with ..",
		files: map[string]string{"c.cue": base, "x.cue": `package c
hosts: rs1: agentPath: "/opt/../tmp/lvsctl"
`},
		want: []string{`x.cue:2:13: hosts.rs1.agentPath: |agent path "/opt/../tmp/lvsctl" is not allowed`},
	},
	{
		name: "VIP key that is not an address",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: vips: "www.example.com": interface: "eth0"
`},
		want: []string{`x.cue:2:22: directors.lb.vips."www.example.com": |VIP key: "www.example.com" is not an IP address`},
	},
	{
		name: "IPv4 VIP with prefix 33",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: vips: "192.0.2.10": prefix: 33
`},
		want: []string{`x.cue:2:36: directors.lb.vips."192.0.2.10".prefix: |prefix /33 is too long for IPv4 address 192.0.2.10`},
	},
	{
		name: "declared sysctl contradicts direct routing",
		files: map[string]string{"c.cue": base, "x.cue": `package c
hosts: rs1: sysctls: "net.ipv4.conf.all.arp_ignore": 0
`},
		want: []string{`x.cue:2:22: hosts.rs1.sysctls."net.ipv4.conf.all.arp_ignore": |net.ipv4.conf.all.arp_ignore is "0" here`},
	},
	{
		name: "two IPv4 NAT gateways",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: natGateway: ["10.0.0.1", "2001:db8::1", "10.0.0.2"]
`},
		want: []string{`x.cue:2:56: directors.lb.natGateway[2]: |a second ipv4 gateway`},
	},
	{
		name: "retired director",
		files: map[string]string{"c.cue": base, "x.cue": `package c
hosts: lb: {retired: true, local: true}
`},
		want: []string{`c.cue:7:12: directors.lb: |host "lb" is retired, so it cannot be a director: remove directors.lb`},
	},
	{
		name: "real server on a retired host",
		files: map[string]string{"c.cue": base, "x.cue": `package c
hosts: rs2: {retired: true, ssh: address: "rs2.example.com"}
directors: lb: services: web: realServers: rs2: {address: "198.51.100.2", host: "rs2"}
`},
		want: []string{`x.cue:3:75: directors.lb.services.web.realServers.rs2.host: |host "rs2" is retired, so it cannot be a real server's host`},
	},
	{
		name: "retired host with no way to reach it",
		files: map[string]string{"c.cue": base, "x.cue": `package c
hosts: old: retired: true
`},
		want: []string{`x.cue:2:8: hosts.old: |lvsctl cannot tell which machine host "old" is: give it ssh: address (another machine), netns (a network namespace on this machine), or local: true (this machine, where lvsctl runs, as root)`},
	},
	// Issue 10: the machine lvsctl runs on is never chosen by leaving
	// something out.
	{
		name: "host with no way to reach it",
		files: map[string]string{"c.cue": base, "x.cue": `package c
hosts: rs2: interface: "eth0"
`},
		want: []string{`x.cue:2:8: hosts.rs2: |lvsctl cannot tell which machine host "rs2" is: give it ssh: address (another machine), netns (a network namespace on this machine), or local: true (this machine, where lvsctl runs, as root)`},
	},
	{
		name: "local and ssh",
		files: map[string]string{"c.cue": base, "x.cue": `package c
hosts: lb: ssh: address: "lb.example.com"
`},
		want: []string{`c.cue:15:12: hosts.lb.local: |local: true and ssh say two different machines`},
	},
	{
		name: "local false",
		files: map[string]string{"c.cue": base, "x.cue": `package c
hosts: rs2: {local: false, ssh: address: "rs2"}
`},
		want: []string{`x.cue:2:21: hosts.rs2.local: |conflicting values`},
	},
	{
		name: "host name with a control character",
		files: map[string]string{"c.cue": base, "x.cue": `package c
hosts: "rs\u001b[2J": netns: "x"
`},
		want: []string{`x.cue:2:8: hosts."rs\u001b[2J": |host name "rs\x1b[2J" is not allowed`},
	},
	{
		name: "service name with a space",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: "web 2": {address: "192.0.2.10", port: 81}
`},
		want: []string{`x.cue:2:26: directors.lb.services."web 2": |service name "web 2" is not allowed`},
	},
	{
		name: "settings on a retired host",
		files: map[string]string{"c.cue": base, "x.cue": `package c
hosts: old: {
	ssh: address: "old.example.com"
	retired:      true
	interface:    "eth0"
	sysctls: "net.ipv4.ip_forward": 1
	defaultRoute: "check"
}
`},
		want: []string{
			`x.cue:5:2: hosts.old.interface: |interface means nothing on a retired host`,
			`x.cue:6:2: hosts.old.sysctls: |sysctls mean nothing on a retired host`,
			`x.cue:7:2: hosts.old.defaultRoute: |defaultRoute means nothing on a retired host`,
		},
	},
	{
		name: "retired is not a bool",
		files: map[string]string{"c.cue": base, "x.cue": `package c
hosts: rs1: retired: "yes"
`},
		want: []string{`x.cue:2:22: hosts.rs1.retired: |`},
	},
	{
		name: "port in two mark groups",
		files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: marks: {
	a: {mark: 1, address: "192.0.2.10", ports: [80, 443]}
	b: {mark: 2, address: "192.0.2.10", ports: [8443, 443]}
}
`},
		want: []string{`x.cue:4:52: directors.lb.marks.b.ports[1]: |tcp 192.0.2.10 port 443 is already in mark group "a"`},
	},
}

// Each case is loaded twice: through the plain-data path, which reads the
// syntax tree, and through the CUE evaluator, which every other package takes.
// Both must find the same problems at the same lines; the evaluator may place
// a problem at the field's label rather than its value, so columns may differ.
func TestBadConfigurations(t *testing.T) {
	for _, tc := range badCases {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeCase(t, tc.files)
			checkProblems(t, dir, tc.want)
			t.Run("evaluated", func(t *testing.T) {
				checkProblemsWith(t, dir, tc.want, true)
			})
		})
	}
}

// Keys from each group of the sysctl policy load, on hosts and directors.
func TestPolicySysctlsLoad(t *testing.T) {
	dir := writeCase(t, map[string]string{"c.cue": base, "x.cue": `package c
hosts: rs1: sysctls: {
	"net.ipv4.conf.eth0.arp_filter":     1
	"net.ipv4.conf.tunl0.rp_filter":     0
	"net.ipv4.conf.eth0.send_redirects": 0
	"net.ipv4.ip_nonlocal_bind":         1
	"net.ipv6.conf.all.accept_ra":       2
}
directors: lb: sysctls: {
	"net.ipv4.vs.expire_nodest_conn": 1
	"net.ipv4.vs.sync_threshold":     "3 50"
	"net.netfilter.nf_conntrack_max": 262144
	"net.core.netdev_max_backlog":    5000
}
`})
	if _, err := Load(dir); err != nil {
		t.Fatalf("policy sysctls refused: %v", err)
	}
}

// VLANs and other dotted interface names are a host's interface, a VIP's
// interface and the interface of a declared sysctl, which is written as
// sysctl(8) writes it (net.ipv4.conf.bond0/100.arp_filter); the ARP sysctls
// derived for the host's interface are named the same way.
func TestDottedInterfaces(t *testing.T) {
	dir := writeCase(t, map[string]string{"c.cue": `package c

hosts: {
	lb: {local: true}
	rs1: {netns: "rs1", interface: "bond0.100", sysctls: "net.ipv4.conf.bond0/100.arp_filter": 1}
}
directors: lb: {
	vips: "192.0.2.10": interface: "eth0.10"
	services: web: {
		address: "192.0.2.10"
		port:    80
		realServers: rs1: {address: "198.51.100.1", host: "rs1"}
	}
}
`})
	l, err := Load(dir)
	if err != nil {
		t.Fatalf("dotted interface names: %v", err)
	}
	got := map[string]string{}
	for _, s := range l.Hosts["rs1"].Sysctls {
		got[s.Key] = s.Value
	}
	for key, want := range map[string]string{
		"net.ipv4.conf.bond0/100.arp_filter":   "1",
		"net.ipv4.conf.bond0/100.arp_ignore":   "1",
		"net.ipv4.conf.bond0/100.arp_announce": "2",
		"net.ipv4.conf.lo.arp_ignore":          "1",
	} {
		if got[key] != want {
			t.Errorf("rs1's %s = %q, want %q (all: %v)", key, got[key], want, got)
		}
	}
	for key := range got {
		if strings.Contains(key, "bond0.100") {
			t.Errorf("rs1 has %s, a key naming the VLAN with its dot", key)
		}
	}
	if a := l.Hosts["lb"].Addresses; len(a) != 1 || a[0].Interface != "eth0.10" {
		t.Errorf("lb's addresses = %+v, want the VIP on eth0.10", a)
	}
}

// Only tunnel forwarding may carry a real server of the other family: the
// IPv6 real server refused under direct routing above is accepted with tun.
func TestTunnelMayMixFamilies(t *testing.T) {
	dir := writeCase(t, map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: realServers: rs6: {address: "2001:db8::1", forward: "tun"}
`})
	if _, err := Load(dir); err != nil {
		t.Fatalf("IPv6 tunnel real server under an IPv4 service: %v", err)
	}
}

// arp_ignore 2 is as good as 1 for direct routing: the declared value is kept,
// where 0 (above) is refused.
func TestDeclaredArpIgnore2IsAccepted(t *testing.T) {
	dir := writeCase(t, map[string]string{"c.cue": base, "x.cue": `package c
hosts: rs1: sysctls: "net.ipv4.conf.all.arp_ignore": 2
`})
	l, err := Load(dir)
	if err != nil {
		t.Fatalf("arp_ignore 2 on a direct-routing real server: %v", err)
	}
	for _, s := range l.Hosts["rs1"].Sysctls {
		if s.Key == "net.ipv4.conf.all.arp_ignore" {
			if s.Value != "2" {
				t.Errorf("arp_ignore is %q, want the declared 2", s.Value)
			}
			return
		}
	}
	t.Errorf("rs1 has no net.ipv4.conf.all.arp_ignore: %+v", l.Hosts["rs1"].Sysctls)
}

// A retired host reached over SSH or in a namespace, with an empty sysctls
// (as a template for every host may give it), derives to an empty state
// that says it is retired.
func TestRetiredHost(t *testing.T) {
	dir := writeCase(t, map[string]string{"c.cue": base, "x.cue": `package c
hosts: old: {ssh: address: "old.example.com", retired: true, sysctls: {}}
hosts: ns: {netns: "lvs-old", retired: true}
`})
	l, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"old", "ns"} {
		if diff := cmp.Diff(&state.Host{Name: name, Retired: true, Boot: "systemd"}, l.Hosts[name]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	if l.Hosts["rs1"].Retired || l.Hosts["lb"].Retired {
		t.Errorf("hosts not retired are retired")
	}
	if got := l.Hosts["lb"].Services[0].Dests[0].Host; got != "rs1" {
		t.Errorf("destination's host is %q, want rs1", got)
	}
}

// Directory-level problems name the directory itself, with no line.

func TestLoadEmptyDirectory(t *testing.T) {
	dir := t.TempDir()
	checkProblems(t, dir, []string{displayPath(dir) + ": |no CUE files (*.cue) in this directory"})
}

func TestLoadDirectoryWithoutCUEFiles(t *testing.T) {
	dir := writeCase(t, map[string]string{"README.md": "# cluster\n", "cluster.json": "{}\n"})
	checkProblems(t, dir, []string{displayPath(dir) + ": |no CUE files (*.cue) in this directory"})
}

func TestLoadMissingDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nothere")
	checkProblems(t, dir, []string{displayPath(dir) + ": |no such directory"})
}

func TestLoadFileNotDirectory(t *testing.T) {
	file := filepath.Join(writeCase(t, map[string]string{"c.cue": base}), "c.cue")
	checkProblems(t, file, []string{displayPath(file) + ": |not a directory"})
}

// Two packages in one directory: the second file is placed, and the first named.
func TestLoadTwoPackages(t *testing.T) {
	dir := writeCase(t, map[string]string{"a.cue": "package a\n", "b.cue": "package b\n"})
	checkProblems(t, dir, []string{`b.cue:1:1: |package b, but a.cue is package a: a cluster directory holds one CUE package`})
}

// A file above MaxFileBytes is refused by its size before CUE reads it. The
// file ends in a syntax error, so a parse would report something else.
func TestLoadFileTooLarge(t *testing.T) {
	dir := writeCase(t, map[string]string{"c.cue": base})
	f, err := os.Create(filepath.Join(dir, "big.cue"))
	if err != nil {
		t.Fatal(err)
	}
	// 50 MiB of comment lines, written a MiB at a time.
	chunk := []byte(strings.Repeat("// "+strings.Repeat("x", 61)+"\n", (1<<20)/64))
	if _, err := f.WriteString("package c\n"); err != nil {
		t.Fatal(err)
	}
	for range 50 {
		if _, err := f.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.WriteString("hosts: {\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	checkProblems(t, dir, []string{"big.cue:1:1: |lvsctl reads CUE files of at most 32.0 MiB"})
}

// Three files each under the per-file limit but over the total are refused
// before any is read. Sparse files: only their size matters.
func TestLoadFilesTooLargeTogether(t *testing.T) {
	dir := writeCase(t, map[string]string{"c.cue": base})
	for _, name := range []string{"a.cue", "b.cue", "d.cue"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("package c\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(filepath.Join(dir, name), MaxFileBytes-1); err != nil {
			t.Fatal(err)
		}
	}
	l, err := Load(dir)
	var probs Problems
	if !errors.As(err, &probs) || len(probs) != 1 || !strings.Contains(probs[0].String(), "lvsctl reads at most 64.0 MiB") {
		t.Fatalf("Load: %v, %v", l, err)
	}
}

// Problems found together are all reported, one line each, sorted by file and
// place rather than in the order the rules find them.
func TestSeveralProblems(t *testing.T) {
	t.Run("schema", func(t *testing.T) {
		dir := writeCase(t, map[string]string{"c.cue": base, "x.cue": `package c
hosts: rs1: defaultRoute: "set"
directors: lb: services: web: realServers: rs1: weight: -1
directors: lb: timeouts: udp: 0
hosts: lb: sshh: {}
`})
		checkProblems(t, dir, []string{
			`x.cue:2:27: hosts.rs1.defaultRoute: |"set" is not allowed`,
			`x.cue:3:57: directors.lb.services.web.realServers.rs1.weight: |invalid value -1`,
			`x.cue:4:31: directors.lb.timeouts.udp: |invalid value 0`,
			`x.cue:5:12: hosts.lb.sshh: |field not allowed`,
		})
	})
	t.Run("rules", func(t *testing.T) {
		// Hosts are checked before directors, and real server "aaa" before
		// "rs1", so the order below is not the order the rules run in.
		dir := writeCase(t, map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: onePacket: true
hosts: lb: interface: "ens33:0"
directors: lb: services: web: realServers: aaa: {address: "198.51.100.1", lowerThreshold: 5}
hosts: rs1: sysctls: "kernel.core_pattern": "|/tmp/x"
`})
		checkProblems(t, dir, []string{
			`c.cue:12:16: directors.lb.services.web.realServers.rs1: |real servers "aaa" and "rs1" are both 198.51.100.1:80`,
			`x.cue:2:31: directors.lb.services.web.onePacket: |one-packet scheduling is for UDP services`,
			`x.cue:3:12: hosts.lb.interface: |interface name "ens33:0" contains ":"`,
			`x.cue:4:75: directors.lb.services.web.realServers.aaa.lowerThreshold: |lowerThreshold 5 needs an upperThreshold`,
			`x.cue:5:22: hosts.rs1.sysctls."kernel.core_pattern": |sysctl key "kernel.core_pattern" is not one lvsctl manages: it is not a networking sysctl`,
		})
	})
}

// checkProblems loads dir and compares its problems with want.
func checkProblems(t *testing.T, dir string, want []string) {
	t.Helper()
	checkProblemsWith(t, dir, want, false)
}

var column = regexp.MustCompile(`^([^:]+:\d+):\d+: `)

func checkProblemsWith(t *testing.T, dir string, want []string, evaluated bool) {
	t.Helper()
	l, err := loadDir(dir, Limits{}, evaluated)
	if err == nil {
		t.Fatalf("Load succeeded with %d hosts; want %d problems", len(l.Hosts), len(want))
	}
	var probs Problems
	if !errors.As(err, &probs) {
		t.Fatalf("Load error is %T, not Problems: %v", err, err)
	}
	got := make([]string, len(probs))
	for i, p := range probs {
		got[i] = strings.ReplaceAll(p.String(), dir+string(filepath.Separator), "")
	}
	if len(got) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i, w := range want {
		prefix, frag, _ := strings.Cut(w, "|")
		if evaluated {
			prefix = column.ReplaceAllString(prefix, "$1:")
			got[i] = column.ReplaceAllString(got[i], "$1:")
		}
		if !strings.HasPrefix(got[i], prefix) || !strings.Contains(got[i], frag) {
			t.Errorf("problem %d:\n got: %s\nwant: %s...%s", i, got[i], prefix, frag)
		}
		if strings.Contains(got[i], "\n") {
			t.Errorf("problem %d spans several lines: %q", i, got[i])
		}
	}
}

func writeCase(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
