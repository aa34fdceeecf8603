package keepalived

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/lvsctl/lvsctl/internal/state"
)

// writeFiles writes files (name -> content) under a new directory and
// returns the path of the first name given, "keepalived.conf".
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "keepalived.conf")
}

func parseString(t *testing.T, conf string) (*Result, error) {
	t.Helper()
	return ParseFile(writeFiles(t, map[string]string{"keepalived.conf": conf}))
}

var (
	a4 = netip.MustParseAddr
	ap = netip.MustParseAddrPort
)

func tcp(addr string, port uint16) state.ServiceKey {
	a := a4(addr)
	return state.ServiceKey{Family: state.FamilyOf(a), Protocol: state.TCP, Addr: a, Port: port}
}

func udp(addr string, port uint16) state.ServiceKey {
	k := tcp(addr, port)
	k.Protocol = state.UDP
	return k
}

func dr(addr string, w uint32) *state.Destination {
	return &state.Destination{Addr: ap(addr), Weight: w, Forward: state.DR}
}

func nat(addr string, w uint32) *state.Destination {
	return &state.Destination{Addr: ap(addr), Weight: w, Forward: state.NAT}
}

// ignoreWhy: the reasons name temporary files; they are checked apart.
var ignoreWhy = cmp.Options{
	cmpopts.IgnoreFields(state.Service{}, "Why"),
	cmpopts.IgnoreFields(state.Destination{}, "Why"),
	cmpopts.EquateEmpty(),
	cmpopts.EquateComparable(netip.Addr{}, netip.AddrPort{}, netip.Prefix{}),
}

func TestServices(t *testing.T) {
	for _, tc := range []struct {
		name string
		conf string
		want []*state.Service
		warn string // a substring one warning must have ("" for none at all)
	}{{
		name: "the guide's direct routing example",
		conf: `
virtual_server 192.168.0.10 80 {
    lb_algo wrr
    lb_kind DR
    persistence_timeout 300
    protocol TCP
    real_server 192.168.0.101 80 {
        weight 5
    }
    real_server 222.117.155.123 80 {
        weight 10
    }
}`,
		want: []*state.Service{{Key: tcp("192.168.0.10", 80), Scheduler: "wrr", Persistent: true, Timeout: 300, NetmaskBits: 32,
			Dests: []*state.Destination{dr("192.168.0.101:80", 5), dr("222.117.155.123:80", 10)}}},
	}, {
		name: "lvs_sched and lvs_method spellings, NAT real server port kept, weight default 1",
		conf: `
virtual_server 211.47.13.234 80 {
    lvs_sched wlc
    lvs_method NAT
    protocol TCP
    real_server 10.0.0.101 8080 {
    }
    real_server 10.0.0.102 8080 { weight 2 }
}`,
		want: []*state.Service{{Key: tcp("211.47.13.234", 80), Scheduler: "wlc",
			Dests: []*state.Destination{nat("10.0.0.101:8080", 1), nat("10.0.0.102:8080", 2)}}},
	}, {
		name: "defaults: no scheduler is wlc, no method is NAT, no protocol is UDP, NAT real server without port takes the service's",
		conf: `
virtual_server 10.1.1.1 53 {
    real_server 10.0.0.1 {
    }
}`,
		want: []*state.Service{{Key: udp("10.1.1.1", 53), Scheduler: "wlc",
			Dests: []*state.Destination{nat("10.0.0.1:53", 1)}}},
		warn: "no protocol set",
	}, {
		name: "DR real server port is the service's",
		conf: `
virtual_server 10.1.1.1 80 {
    lb_kind DR
    protocol TCP
    real_server 10.0.0.1 8080 {
    }
}`,
		want: []*state.Service{{Key: tcp("10.1.1.1", 80), Scheduler: "wlc",
			Dests: []*state.Destination{dr("10.0.0.1:80", 1)}}},
		warn: "ports don't match",
	}, {
		name: "fwmark: no protocol, DR real server port cleared, NAT port kept",
		conf: `
virtual_server fwmark 7 {
    lb_algo rr
    lb_kind DR
    protocol TCP
    persistence_timeout
    real_server 10.0.0.1 80 {
    }
    real_server 10.0.0.2 8080 {
        lvs_method NAT
    }
}`,
		want: []*state.Service{{Key: state.ServiceKey{Family: state.IPv4, FWMark: 7}, Scheduler: "rr", Persistent: true, Timeout: 360, NetmaskBits: 32,
			Dests: []*state.Destination{dr("10.0.0.1:0", 1), nat("10.0.0.2:8080", 1)}}},
		warn: "protocol specified for fwmark",
	}, {
		name: "IPv6 service: addresses without brackets, granularity a prefix length",
		conf: `
virtual_server 2001:db8::10 443 {
    lb_algo sh
    sh-port
    flag-1
    lb_kind DR
    protocol TCP
    persistence_granularity 64
    real_server 2001:db8::1 443 {
        weight 3
    }
}`,
		want: []*state.Service{{Key: tcp("2001:db8::10", 443), Scheduler: "sh", SchedFlags: []string{"sh-fallback", "sh-port"},
			Persistent: true, Timeout: 360, NetmaskBits: 64,
			Dests: []*state.Destination{dr("[2001:db8::1]:443", 3)}}},
	}, {
		name: "sh-port before lb_algo sh is ignored, as keepalived does",
		conf: `
virtual_server 10.0.0.1 80 {
    sh-port
    lb_algo sh
    protocol TCP
    real_server 10.0.0.2 80 {
    }
}`,
		want: []*state.Service{{Key: tcp("10.0.0.1", 80), Scheduler: "sh",
			Dests: []*state.Destination{nat("10.0.0.2:80", 1)}}},
		warn: "sh-port only applies to sh scheduler",
	}, {
		name: "mh flags, ops on UDP, persistence engine and IPv4 granularity",
		conf: `
virtual_server 10.0.0.1 5060 {
    lb_algo mh
    mh-fallback
    mh-port
    ops
    protocol UDP
    persistence_timeout 120
    persistence_granularity 255.255.255.0
    persistence_engine sip
    real_server 10.0.0.2 5060 {
        uthreshold 100
        lthreshold 10
    }
}`,
		want: []*state.Service{{Key: udp("10.0.0.1", 5060), Scheduler: "mh", SchedFlags: []string{"mh-fallback", "mh-port"},
			OnePacket: true, Persistent: true, Timeout: 120, NetmaskBits: 24, PE: "sip",
			Dests: []*state.Destination{{Addr: ap("10.0.0.2:5060"), Weight: 1, Forward: state.NAT, UpperThreshold: 100, LowerThreshold: 10}}}},
	}, {
		name: "a netmask that is not contiguous, as inet_aton reads it",
		conf: `
virtual_server 10.0.0.1 80 {
    protocol TCP
    lb_kind DR
    persistence_granularity 0xffff00ff
    real_server 10.0.0.2 80 {
    }
}`,
		want: []*state.Service{{Key: tcp("10.0.0.1", 80), Scheduler: "wlc", Persistent: true, Timeout: 360, Netmask: a4("255.255.0.255"),
			Dests: []*state.Destination{dr("10.0.0.2:80", 1)}}},
	}, {
		name: "ip_family inet6 makes a fwmark service IPv6; tunnelled IPv4 real servers may differ",
		conf: `
virtual_server fwmark 3 {
    ip_family inet6
    lb_kind TUN
    real_server 10.0.0.2 {
    }
}`,
		want: []*state.Service{{Key: state.ServiceKey{Family: state.IPv6, FWMark: 3}, Scheduler: "wlc",
			Dests: []*state.Destination{{Addr: ap("10.0.0.2:0"), Weight: 1, Forward: state.TUN, TunnelType: "ipip", TunnelChecksum: "none"}}}},
	}, {
		name: "ops on TCP is reset",
		conf: `
virtual_server 10.0.0.1 80 {
    ops
    protocol TCP
    real_server 10.0.0.2 80 {
    }
}`,
		want: []*state.Service{{Key: tcp("10.0.0.1", 80), Scheduler: "wlc",
			Dests: []*state.Destination{nat("10.0.0.2:80", 1)}}},
		warn: "one packet scheduling requires UDP",
	}, {
		name: "TUN with gue, per real server override, virtual server weight as default",
		conf: `
virtual_server 10.0.0.1 80 {
    lb_kind TUN
    protocol TCP
    weight 4
    real_server 10.0.0.2 80 {
    }
    real_server 10.0.0.3 80 {
        lvs_method TUN type gue port 6080 remcsum
    }
    real_server 10.0.0.4 80 {
        lvs_method TUN type gre csum
        weight 0
    }
    real_server 10.0.0.5 80 {
        lvs_method DR
    }
}`,
		want: []*state.Service{{Key: tcp("10.0.0.1", 80), Scheduler: "wlc",
			Dests: []*state.Destination{
				{Addr: ap("10.0.0.2:80"), Weight: 4, Forward: state.TUN, TunnelType: "ipip", TunnelChecksum: "none"},
				{Addr: ap("10.0.0.3:80"), Weight: 4, Forward: state.TUN, TunnelType: "gue", TunnelPort: 6080, TunnelChecksum: "remcsum"},
				{Addr: ap("10.0.0.4:80"), Weight: 0, Forward: state.TUN, TunnelType: "gre", TunnelChecksum: "csum"},
				dr("10.0.0.5:80", 4),
			}}},
	}, {
		name: "a real server takes the method set before it; one without takes the final one",
		conf: `
virtual_server 10.0.0.1 80 {
    protocol TCP
    real_server 10.0.0.2 80 {
    }
    lb_kind DR
    real_server 10.0.0.3 80 {
    }
    lb_kind TUN
}`,
		want: []*state.Service{{Key: tcp("10.0.0.1", 80), Scheduler: "wlc",
			Dests: []*state.Destination{
				{Addr: ap("10.0.0.2:80"), Weight: 1, Forward: state.TUN, TunnelType: "ipip", TunnelChecksum: "none"},
				dr("10.0.0.3:80", 1),
			}}},
	}, {
		name: "virtual_server_group: addresses, ranges, network, IPv6 range, fwmarks",
		conf: `
virtual_server_group G {
    10.0.0.1 80
    10.0.1.1-3 80
    10.0.2.8/30 80
    2001:db8::1-3 80
    fwmark 9 inet
}
virtual_server group G {
    lb_kind TUN
    protocol TCP
    real_server 192.168.0.1 8080 {
        weight 2
    }
}`,
		want: func() []*state.Service {
			var out []*state.Service
			for _, a := range []string{"10.0.0.1", "10.0.1.1", "10.0.1.2", "10.0.1.3", "10.0.2.8", "10.0.2.9", "10.0.2.10", "10.0.2.11", "2001:db8::1", "2001:db8::2", "2001:db8::3"} {
				out = append(out, &state.Service{Key: tcp(a, 80), Scheduler: "wlc", Dests: []*state.Destination{
					{Addr: ap("192.168.0.1:80"), Weight: 2, Forward: state.TUN, TunnelType: "ipip", TunnelChecksum: "none"}}})
			}
			return append(out, &state.Service{Key: state.ServiceKey{Family: state.IPv4, FWMark: 9}, Scheduler: "wlc", Dests: []*state.Destination{
				{Addr: ap("192.168.0.1:0"), Weight: 2, Forward: state.TUN, TunnelType: "ipip", TunnelChecksum: "none"}}})
		}(),
	}, {
		name: "virtual_server_group range A-B with a full end address, NAT keeps the real server's port",
		conf: `
virtual_server_group G {
    10.0.0.254-10.0.1.1 443
}
virtual_server group G {
    protocol TCP
    lb_kind NAT
    real_server 192.168.0.1 8443 {
    }
}`,
		want: func() []*state.Service {
			var out []*state.Service
			for _, a := range []string{"10.0.0.254", "10.0.0.255", "10.0.1.0", "10.0.1.1"} {
				out = append(out, &state.Service{Key: tcp(a, 443), Scheduler: "wlc", Dests: []*state.Destination{nat("192.168.0.1:8443", 1)}})
			}
			return out
		}(),
		warn: "crosses a /24 boundary",
	}, {
		name: "group entry without port makes the service persistent",
		conf: `
virtual_server_group G {
    10.0.0.1
}
virtual_server group G {
    protocol TCP
    lb_kind DR
    real_server 192.168.0.1 {
    }
}`,
		want: []*state.Service{{Key: tcp("10.0.0.1", 0), Scheduler: "wlc", Persistent: true, Timeout: 360, NetmaskBits: 32,
			Dests: []*state.Destination{dr("192.168.0.1:0", 1)}}},
		warn: "zero port only valid for persistent services",
	}, {
		name: "a virtual server without real servers is ignored; duplicate real servers dropped",
		conf: `
virtual_server 10.0.0.1 80 {
    protocol TCP
}
virtual_server 10.0.0.2 80 {
    protocol TCP
    real_server 10.0.0.3 80 {
        weight 1
    }
    real_server 10.0.0.3 80 {
        weight 7
    }
}`,
		want: []*state.Service{{Key: tcp("10.0.0.2", 80), Scheduler: "wlc",
			Dests: []*state.Destination{nat("10.0.0.3:80", 1)}}},
		warn: "has no real servers",
	}, {
		name: "an IPv6 real server of an IPv4 service is skipped unless tunnelled",
		conf: `
virtual_server 10.0.0.1 80 {
    protocol TCP
    lb_kind DR
    real_server 2001:db8::1 80 {
    }
    real_server 10.0.0.2 80 {
    }
}`,
		want: []*state.Service{{Key: tcp("10.0.0.1", 80), Scheduler: "wlc",
			Dests: []*state.Destination{dr("10.0.0.2:80", 1)}}},
		warn: "don't match: keepalived skips the real server",
	}, {
		name: "comments, quotes, braces on one line, unknown blocks skipped",
		conf: `! comment
# another
vrrp_script chk { script "/bin/true # not a comment" }
virtual_server 10.0.0.1 80 { protocol TCP ; lb_algo rr  # trailing
  real_server 10.0.0.2 80 { weight 3 } }
some_future_block { nested { deeper 1 } }
`,
		// ";" separates nothing in keepalived: "lb_algo rr" is extra words
		// of the protocol line.
		want: []*state.Service{{Key: tcp("10.0.0.1", 80), Scheduler: "wlc",
			Dests: []*state.Destination{nat("10.0.0.2:80", 3)}}},
		warn: "no forwarding method set",
	}, {
		name: "$NAME definitions, ${NAME}, recursive and redefined",
		conf: `
$BASE=10.0.${SUB}
$SUB=0
$W=5
virtual_server ${BASE}.1 80 {
    protocol TCP
    real_server ${BASE}.2 80 {
        weight $W
    }
}
$SUB=9
virtual_server ${BASE}.1 80 {
    protocol TCP
    real_server ${BASE}.2 80 {
        weight $W
    }
}
`,
		want: []*state.Service{
			{Key: tcp("10.0.0.1", 80), Scheduler: "wlc", Dests: []*state.Destination{nat("10.0.0.2:80", 5)}},
			{Key: tcp("10.0.9.1", 80), Scheduler: "wlc", Dests: []*state.Destination{nat("10.0.9.2:80", 5)}},
		},
	}, {
		name: "multiline definitions, nested, as in keepalived.conf(5)",
		conf: `
$RS= \
real_server 192.168.${VS_NUM}.${RS_NUM} 80 { \
    weight ${RS_NUM} \
    inhibit_on_failure \
}

$VS= \
virtual_server 10.0.${VS_NUM}.4 80 { \
    protocol TCP \
    lb_kind DR \
    $RS_NUM=1 \
    $RS \
    $RS_NUM=2 \
    $RS \
}

$VS_NUM=0
$VS

$VS_NUM=1
$VS
`,
		want: []*state.Service{
			{Key: tcp("10.0.0.4", 80), Scheduler: "wlc", Dests: []*state.Destination{dr("192.168.0.1:80", 1), dr("192.168.0.2:80", 2)}},
			{Key: tcp("10.0.1.4", 80), Scheduler: "wlc", Dests: []*state.Destination{dr("192.168.1.1:80", 1), dr("192.168.1.2:80", 2)}},
		},
	}, {
		name: "~SEQ, ~SEQx and ~LST",
		conf: `
virtual_server 10.0.0.1 80 {
    protocol TCP
    lb_kind DR
    ~SEQ(N, 1, 2, 5) real_server 10.1.0.$N 80 { weight $N }
}
virtual_server 2001:db8::1 80 {
    protocol TCP
    lb_kind DR
    ~SEQx(H, 0x9, 0x3, 0xf) real_server 2001:db8::${H} 80 { }
}
virtual_server 10.0.0.2 80 {
    protocol TCP
    lb_kind DR
    ~LST({A, W}, {7, 2}, {8, 3}) real_server 10.2.0.$A 80 { weight $W }
}
`,
		want: []*state.Service{
			{Key: tcp("10.0.0.1", 80), Scheduler: "wlc", Dests: []*state.Destination{dr("10.1.0.1:80", 1), dr("10.1.0.3:80", 3), dr("10.1.0.5:80", 5)}},
			{Key: tcp("2001:db8::1", 80), Scheduler: "wlc", Dests: []*state.Destination{dr("[2001:db8::9]:80", 1), dr("[2001:db8::c]:80", 1), dr("[2001:db8::f]:80", 1)}},
			{Key: tcp("10.0.0.2", 80), Scheduler: "wlc", Dests: []*state.Destination{dr("10.2.0.7:80", 2), dr("10.2.0.8:80", 3)}},
		},
	}, {
		name: "nested ~SEQ on one line",
		conf: `
virtual_server_group G {
    ~SEQ(A, 1, 2) ~SEQ(B, 3, 4) 10.0.${A}.$B 80
    # $A followed by "." is not a use of A: keepalived leaves it
    ~SEQ(A, 5, 5) 10.0.$A.1 80
}
virtual_server group G {
    protocol TCP
    lb_kind DR
    real_server 10.9.9.9 80 { }
}
`,
		want: func() []*state.Service {
			var out []*state.Service
			for _, a := range []string{"10.0.1.3", "10.0.1.4", "10.0.2.3", "10.0.2.4"} {
				out = append(out, &state.Service{Key: tcp(a, 80), Scheduler: "wlc", Dests: []*state.Destination{dr("10.9.9.9:80", 1)}})
			}
			return out
		}(),
		warn: `"10.0.$A.1" is not an IP address`,
	}, {
		name: "conditional lines with no config-id: @ID dropped, @^ID kept",
		conf: `
virtual_server 10.0.0.1 80 {
    protocol TCP
    @main lb_algo rr
    @^main lb_algo sh
    real_server 10.0.0.2 80 { }
}`,
		want: []*state.Service{{Key: tcp("10.0.0.1", 80), Scheduler: "sh", Dests: []*state.Destination{nat("10.0.0.2:80", 1)}}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := parseString(t, tc.conf)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, res.Services, ignoreWhy); diff != "" {
				t.Errorf("services (-want +got):\n%s", diff)
			}
			if tc.warn != "" && !strings.Contains(strings.Join(res.Warnings, "\n"), tc.warn) {
				t.Errorf("no warning with %q in:\n%s", tc.warn, strings.Join(res.Warnings, "\n"))
			}
			for _, s := range res.Services {
				if len(s.Why) == 0 || !strings.Contains(s.Why[0], "keepalived.conf:") {
					t.Errorf("%s: Why %q does not name the file and line", s.Key, s.Why)
				}
			}
		})
	}
}

func TestInstance(t *testing.T) {
	path := writeFiles(t, map[string]string{"keepalived.conf": `
virtual_server 10.0.0.1 80 {
    protocol TCP
    @main lb_algo rr
    @backup lb_algo sh
    real_server 10.0.0.2 80 { weight ${_INSTANCE}_x }
}`})
	res, err := ParseFileOptions(path, Options{Instance: "backup"})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Services[0].Scheduler; got != "sh" {
		t.Errorf("scheduler %q, want sh for config-id backup", got)
	}
	if !strings.Contains(strings.Join(res.Summary, "\n"), `1 kept and 1 dropped for config-id "backup"`) {
		t.Errorf("summary does not count the conditional lines:\n%s", strings.Join(res.Summary, "\n"))
	}
}

func TestTimeoutsAndNotes(t *testing.T) {
	res, err := parseString(t, `
global_defs {
    router_id LVS_1
    lvs_timeouts tcp 7200 tcpfin 120 udp 300
}
vrrp_sync_group VG1 {
    group {
        VI_1
    }
}
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 150
    virtual_ipaddress {
        192.168.0.10/24 dev eth0
        192.168.0.11
    }
}
virtual_server 192.168.0.10 80 {
    delay_loop 6
    quorum 2
    hysteresis 1
    alpha
    quorum_up "/usr/local/bin/up.sh arg"
    sorry_server 10.0.0.9 80
    lb_kind DR
    protocol TCP
    real_server 10.0.0.1 80 {
        weight 1
        inhibit_on_failure
        notify_down /bin/down.sh
        HTTP_GET {
            url {
                path /health
                status_code 200
            }
            connect_timeout 3
        }
    }
    real_server 10.0.0.2 80 {
        TCP_CHECK {
            connect_timeout 2
        }
    }
}`)
	if err != nil {
		t.Fatal(err)
	}
	wantT := &state.Timeouts{TCP: 7200, TCPFin: 120, UDP: 300}
	if diff := cmp.Diff(wantT, res.Timeouts, cmpopts.IgnoreFields(state.Timeouts{}, "Why")); diff != "" {
		t.Errorf("timeouts (-want +got):\n%s", diff)
	}
	k := tcp("192.168.0.10", 80)
	wantS := []string{"delay_loop 6", "quorum 2", "hysteresis 1", "alpha", `quorum_up "/usr/local/bin/up.sh arg"`,
		"sorry_server 10.0.0.9 80 (lvsctl does not model sorry servers: keepalived adds it, weight 1, when the quorum is lost)"}
	if diff := cmp.Diff(wantS, res.ServiceNotes[k]); diff != "" {
		t.Errorf("service notes (-want +got):\n%s", diff)
	}
	wantD := map[netip.AddrPort][]string{
		ap("10.0.0.1:80"): {"inhibit_on_failure", "notify_down /bin/down.sh", "HTTP_GET url /health status_code 200, connect_timeout 3"},
		ap("10.0.0.2:80"): {"TCP_CHECK connect_timeout 2"},
	}
	if diff := cmp.Diff(wantD, res.DestNotes[k]); diff != "" {
		t.Errorf("real server notes (-want +got):\n%s", diff)
	}
	wantN := []string{
		"global_defs: router_id LVS_1",
		"vrrp_sync_group VG1 (group VI_1)",
		"vrrp_instance VI_1 (state MASTER, interface eth0, virtual_router_id 51, priority 150): virtual_ipaddress 192.168.0.10/24 192.168.0.11 (these VIPs move with VRRP: do not list them in a director's vips)",
	}
	if diff := cmp.Diff(wantN, res.Notes); diff != "" {
		t.Errorf("notes (-want +got):\n%s", diff)
	}
	wantV := []netip.Prefix{netip.MustParsePrefix("192.168.0.10/24"), netip.MustParsePrefix("192.168.0.11/32")}
	if diff := cmp.Diff(wantV, res.VRRPAddresses, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("VRRP addresses (-want +got):\n%s", diff)
	}
	sum := strings.Join(res.Summary, "\n")
	for _, want := range []string{
		"health checkers: 2 (HTTP_GET 1, TCP_CHECK 1), kept as comments beside their real servers",
		"sorry servers: 1",
		"VRRP: 2 (vrrp_instance 1, vrrp_sync_group 1)",
	} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary lacks %q:\n%s", want, sum)
		}
	}
}

func TestIncludes(t *testing.T) {
	path := writeFiles(t, map[string]string{
		"keepalived.conf": `
include conf.d/*.conf
include other/{b,a}.conf
`,
		"conf.d/2-web.conf": `virtual_server 10.0.0.2 80 { protocol TCP
    real_server 10.1.0.2 80 { } }`,
		"conf.d/1-dns.conf": `include ../rs/dns-rs.inc
`,
		"rs/dns-rs.inc": `virtual_server 10.0.0.1 53 { protocol UDP
    real_server 10.1.0.1 53 { } }`,
		"other/a.conf": `virtual_server 10.0.0.4 80 { protocol TCP
    real_server 10.1.0.4 80 { } }`,
		"other/b.conf": `virtual_server 10.0.0.3 80 { protocol TCP
    real_server 10.1.0.3 80 { } }`,
	})
	res, err := ParseFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range res.Services {
		got = append(got, s.Key.String())
	}
	want := []string{"UDP 10.0.0.1:53", "TCP 10.0.0.2:80", "TCP 10.0.0.3:80", "TCP 10.0.0.4:80"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("services in include order (-want +got):\n%s", diff)
	}
	if !strings.HasSuffix(res.Services[0].Why[0], "dns-rs.inc:1)") {
		t.Errorf("Why %q does not name the included file", res.Services[0].Why[0])
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string // the error must contain it, after the file name
	}{
		{"include loop", map[string]string{"keepalived.conf": "include a.conf\n", "a.conf": "\n\ninclude keepalived.conf\n"}, "a.conf:3: include loop"},
		{"include self", map[string]string{"keepalived.conf": "include keepalived.conf\n"}, "keepalived.conf:1: include loop"},
		{"missing parameter", map[string]string{"keepalived.conf": "virtual_server 10.0.0.1 80 {\n  lb_algo\n}\n"}, "keepalived.conf:2: lb_algo is missing a parameter"},
		{"recursive definition", map[string]string{"keepalived.conf": "$A=$A\nvirtual_server $A\n"}, "keepalived.conf:2: more than"},
		{"growing definition", map[string]string{"keepalived.conf": "$A=x$A \nfoo $A \n"}, "keepalived.conf:2: replacing $A makes the line longer"},
		{"too many lines", map[string]string{"keepalived.conf": "~SEQ(A, 1, 100000000) x\n"}, "keepalived.conf:1: the configuration expands to more than"},
		{"range too large", map[string]string{"keepalived.conf": "virtual_server_group G {\n 10.0.0.0/8 80\n}\nvirtual_server group G {\n protocol TCP\n real_server 10.0.0.1 80 { }\n}\n"}, "keepalived.conf:2: range 10.0.0.0-10.255.255.255 has more than"},
		{"IPv4 granularity for an IPv6 group entry", map[string]string{"keepalived.conf": "virtual_server_group G {\n 2001:db8::1 80\n}\nvirtual_server group G {\n protocol TCP\n persistence_granularity 255.255.255.0\n lb_kind TUN\n real_server 10.0.0.2 80 { }\n}\n"}, "keepalived.conf:6: persistence_granularity is an IPv4 netmask but service TCP [2001:db8::1]:80 is IPv6"},
		{"long line", map[string]string{"keepalived.conf": "# " + strings.Repeat("x", 1100) + "\n"}, "keepalived.conf:1: line longer than"},
		{"deep include", map[string]string{"keepalived.conf": "include a/keepalived.conf\n", "a/keepalived.conf": "include a/keepalived.conf\n"}, "includes nested deeper than 16"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Dir(writeFiles(t, tc.files))
			if tc.name == "deep include" {
				p := dir
				for i := 0; i < 20; i++ {
					p = filepath.Join(p, "a")
					if err := os.MkdirAll(p, 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(filepath.Join(p, "keepalived.conf"), []byte("include a/keepalived.conf\n"), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			_, err := ParseFile(filepath.Join(dir, "keepalived.conf"))
			if err == nil {
				t.Fatalf("no error, want one with %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestReaderLines checks the line reader alone against keepalived's rules.
func TestReaderLines(t *testing.T) {
	for _, tc := range []struct {
		name, conf string
		want       []string
	}{
		{"comments and escapes", "a b # c\nd \\# e ! f\n\"g # h\" i\n", []string{"a b", "d # e", `"g # h" i`}},
		{"braces split", "a { b } c\n", []string{"a", "{", "b", "}", "c"}},
		{"quoted brace", `a "{" b` + "\n", []string{`a "{" b`}},
		{"undefined stays, and its braces split the line as keepalived's do", "a $UNDEF ${X}\n", []string{"a $UNDEF $", "{", "X", "}"}},
		{"definition needs no blank before =", "$A =1\n$B=2\nx $A $B\n", []string{"$A =1", "x $A 2"}},
		{"$NAME needs a separator after it", "$A=1\nx $Ab ${A}b $A,$A)\n", []string{"x $Ab 1b 1,1)"}},
		{"hash and bang", "$X=1\nx ${_BANG}y\n", []string{"x"}},
		{"seq defaults", "~SEQ(I, 3) i$I\n~SEQ(J, -2) j$J\n~SEQ(K, 5, 3) k$K\n", []string{"i1", "i2", "i3", "j-1", "j-2", "k5", "k4", "k3"}},
		{"seq octal and hex like strtol", "~SEQ(I, 010, 0x2, 012) $I\n", []string{"8", "10"}},
		{"bad seq ignored", "~SEQ(I, 1, -1, 5) $I\nok\n", []string{"ok"}},
		{"lst single", "~LST(V, a, b) x$V\n", []string{"xa", "xb"}},
		{"include-like word", "includes x\ninclude_check all\n", []string{"includes x", "include_check all"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFiles(t, map[string]string{"keepalived.conf": tc.conf})
			r := newReader(Options{}, func(pos, string, ...any) {})
			if err := r.open(pos{file: path}, path); err != nil {
				t.Fatal(err)
			}
			var got []string
			for {
				l, ok, err := r.next()
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					break
				}
				got = append(got, l.text)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
		})
	}
}

func TestIncludeEdges(t *testing.T) {
	path := writeFiles(t, map[string]string{
		"keepalived.conf": `$SUB=svc
include ${SUB}/*
include /nonexistent-lvsctl-test/*.conf
$WHERE=${_PWD}
virtual_server 10.0.0.9 80 {
    protocol TCP
    real_server 10.1.0.9 80 {
        notify_up "${WHERE}/up.sh"
    }
}
`,
		"svc/a.conf":   "virtual_server 10.0.0.1 80 { protocol TCP\n real_server 10.1.0.1 80 { } }\n",
		"svc/b.sh":     "virtual_server 10.0.0.2 80 { protocol TCP\n real_server 10.1.0.2 80 { } }\n",
		"svc/c/d.conf": "virtual_server 10.0.0.3 80 { protocol TCP\n real_server 10.1.0.3 80 { } }\n",
	})
	dir := filepath.Dir(path)
	if err := os.Chmod(filepath.Join(dir, "svc/b.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	res, err := ParseFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range res.Services {
		got = append(got, s.Key.String())
	}
	if diff := cmp.Diff([]string{"TCP 10.0.0.1:80", "TCP 10.0.0.9:80"}, got); diff != "" {
		t.Errorf("services (-want +got):\n%s", diff)
	}
	warnings := strings.Join(res.Warnings, "\n")
	for _, want := range []string{
		"keepalived.conf:2: include svc/*: " + filepath.Join(dir, "svc/b.sh") + " is not a regular non-executable file",
		"keepalived.conf:2: include svc/*: " + filepath.Join(dir, "svc/c") + " is not a regular non-executable file",
		"keepalived.conf:3: include /nonexistent-lvsctl-test/*.conf matched no file",
	} {
		if !strings.Contains(warnings, want) {
			t.Errorf("no warning %q in:\n%s", want, warnings)
		}
	}
	k := tcp("10.0.0.9", 80)
	want := []string{`notify_up ` + filepath.Join(dir) + `/up.sh`}
	if diff := cmp.Diff(want, res.DestNotes[k][ap("10.1.0.9:80")]); diff != "" {
		t.Errorf("${_PWD} (-want +got):\n%s", diff)
	}
}
