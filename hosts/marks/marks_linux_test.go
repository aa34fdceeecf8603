package marks

import (
	"errors"
	"fmt"
	"github.com/lvsctl/lvsctl/internal/netnstest"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/lvsctl/lvsctl/internal/state"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

var (
	web = state.MarkRule{Family: state.IPv4, Addr: netip.MustParseAddr("192.0.2.10"), Protocol: state.TCP, Ports: []uint16{80, 443}, Mark: 7}
	dns = state.MarkRule{Family: state.IPv6, Addr: netip.MustParseAddr("2001:db8::53"), Protocol: state.UDP, Ports: []uint16{53}, Mark: 9}
)

var cmpAddr = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

// nft runs the real nft(8) in the test's namespace. The test fails, rather
// than skips, where nft is missing: the cross-check is half of what it proves.
func nft(t *testing.T, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		t.Fatalf("nft(8) is needed to cross-check the rules (apt-get install nftables): %v", err)
	}
	ns := fmt.Sprintf("--net=/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
	out, err := exec.Command("nsenter", append([]string{ns, "nft"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("nft %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func mustRead(t *testing.T) ([]state.MarkRule, []string) {
	t.Helper()
	rules, foreign, err := Read()
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return rules, foreign
}

func wantRules(t *testing.T, step string, want []state.MarkRule) {
	t.Helper()
	got, foreign := mustRead(t)
	if diff := cmp.Diff(want, got, cmpAddr); diff != "" {
		t.Errorf("%s: Read (-want +got):\n%s", step, diff)
	}
	if len(foreign) != 0 {
		t.Errorf("%s: Read found foreign objects: %q", step, foreign)
	}
}

func with(r state.MarkRule, mark uint32) state.MarkRule { r.Mark = mark; return r }

func TestAddReadDelete(t *testing.T) {
	netnstest.Enter(t)
	wantRules(t, "no table", nil)

	unsorted := web
	unsorted.Ports = []uint16{443, 80, 443}
	unsorted.Why = []string{"service web"}
	for _, r := range []state.MarkRule{unsorted, dns} {
		if err := Add(r); err != nil {
			t.Fatal(err)
		}
	}
	wantRules(t, "after Add", []state.MarkRule{web, dns})

	listing := nft(t, "list", "table", "inet", "lvsctl")
	t.Logf("nft list table inet lvsctl:\n%s", listing)
	for _, want := range []string{
		"type filter hook prerouting priority mangle; policy accept;",
		"ip daddr 192.0.2.10",
		"dport { 80, 443 } meta mark set 0x00000007",
		"ip6 daddr 2001:db8::53",
		"dport 53 meta mark set 0x00000009",
	} {
		if !strings.Contains(listing, want) {
			t.Errorf("nft list table inet lvsctl lacks %q", want)
		}
	}

	// The mark changes in place.
	if err := Replace(with(web, 8)); err != nil {
		t.Fatal(err)
	}
	wantRules(t, "after Replace", []state.MarkRule{with(web, 8), dns})
	if listing := nft(t, "list", "chain", "inet", "lvsctl", "marks"); !strings.Contains(listing, "dport { 80, 443 } meta mark set 0x00000008") {
		t.Errorf("after Replace, nft shows:\n%s", listing)
	}

	if err := Delete(with(web, 8)); err != nil {
		t.Fatal(err)
	}
	wantRules(t, "after Delete", []state.MarkRule{dns})

	if err := DeleteTable(); err != nil {
		t.Fatal(err)
	}
	wantRules(t, "after DeleteTable", nil)
	if err := EnsureTable(); err != nil {
		t.Fatal(err)
	}
	if err := EnsureTable(); err != nil {
		t.Fatal(err)
	}
	wantRules(t, "after EnsureTable", nil)
	if listing := nft(t, "list", "table", "inet", "lvsctl"); !strings.Contains(listing, "chain marks {") {
		t.Errorf("after EnsureTable, nft shows:\n%s", listing)
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		setup  []state.MarkRule
		do     func() error
		msg    string
		target error
	}{{
		name:   "add a rule that is there",
		setup:  []state.MarkRule{web},
		do:     func() error { return Add(with(web, 8)) },
		msg:    "add mark rule 192.0.2.10 tcp 80,443 → 8: chain marks has it already with mark 7 (rule handle N): file exists",
		target: unix.EEXIST,
	}, {
		name:   "delete a rule that is not there",
		setup:  []state.MarkRule{dns},
		do:     func() error { return Delete(web) },
		msg:    "delete mark rule 192.0.2.10 tcp 80,443 → 7: no rule for it in table inet lvsctl: no such file or directory",
		target: unix.ENOENT,
	}, {
		name:   "delete with no table",
		do:     func() error { return Delete(web) },
		msg:    "delete mark rule 192.0.2.10 tcp 80,443 → 7: no rule for it in table inet lvsctl: no such file or directory",
		target: unix.ENOENT,
	}, {
		name:   "delete a rule whose mark is another",
		setup:  []state.MarkRule{web},
		do:     func() error { return Delete(with(web, 8)) },
		msg:    "delete mark rule 192.0.2.10 tcp 80,443 → 8: chain marks has it with mark 7: no such file or directory",
		target: unix.ENOENT,
	}, {
		name:   "replace a rule that is not there",
		do:     func() error { return Replace(web) },
		msg:    "replace mark rule 192.0.2.10 tcp 80,443 → 7: no rule for it in table inet lvsctl: no such file or directory",
		target: unix.ENOENT,
	}, {
		name:   "delete a missing table",
		do:     DeleteTable,
		msg:    "delete table inet lvsctl: no such file or directory",
		target: unix.ENOENT,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			netnstest.Enter(t)
			for _, r := range tc.setup {
				if err := Add(r); err != nil {
					t.Fatal(err)
				}
			}
			err := tc.do()
			if err == nil || handles.ReplaceAllString(err.Error(), "handle N") != tc.msg || !errors.Is(err, tc.target) {
				t.Errorf("error %v, want %q wrapping %v", err, tc.msg, tc.target)
			}
		})
	}
}

// handles finds rule handles, which tests replace by "handle N".
var handles = regexp.MustCompile(`handle \d+`)

// Rules lvsctl would not write are refused before the kernel is asked: no
// table appears.
func TestInvalidRules(t *testing.T) {
	netnstest.Enter(t)
	mod := func(f func(*state.MarkRule)) state.MarkRule {
		r := web
		r.Ports = slices.Clone(web.Ports)
		f(&r)
		return r
	}
	for _, tc := range []struct {
		r    state.MarkRule
		want string
	}{
		{mod(func(r *state.MarkRule) { r.Ports = nil }), "mark rule 192.0.2.10 tcp  → 7: no ports"},
		{mod(func(r *state.MarkRule) { r.Ports = []uint16{0, 80} }), "mark rule 192.0.2.10 tcp 0,80 → 7: port 0"},
		{mod(func(r *state.MarkRule) { r.Mark = 0 }), "mark rule 192.0.2.10 tcp 80,443 → 0: mark 0 is no mark"},
		{mod(func(r *state.MarkRule) { r.Protocol = 0 }), "mark rule 192.0.2.10 any 80,443 → 7: protocol any is not tcp, udp or sctp"},
		{mod(func(r *state.MarkRule) { r.Family = state.IPv6 }), "mark rule 192.0.2.10 tcp 80,443 → 7: family ipv6 does not match the address"},
		{mod(func(r *state.MarkRule) { r.Addr = netip.Addr{} }), "mark rule invalid IP tcp 80,443 → 7: the address is not a single IPv4 or IPv6 address"},
		{mod(func(r *state.MarkRule) { r.Addr = netip.MustParseAddr("::ffff:192.0.2.10") }), "mark rule ::ffff:192.0.2.10 tcp 80,443 → 7: the address is not a single IPv4 or IPv6 address"},
	} {
		for op, f := range map[string]func(state.MarkRule) error{"Add": Add, "Delete": Delete, "Replace": Replace} {
			err := f(tc.r)
			var errno unix.Errno
			if err == nil || err.Error() != tc.want || !errors.Is(err, ErrInvalid) || errors.As(err, &errno) {
				t.Errorf("%s: error %v, want %q wrapping ErrInvalid and no errno", op, err, tc.want)
			}
		}
	}
	if out := nft(t, "list", "tables"); out != "" {
		t.Errorf("refused rules left tables behind:\n%s", out)
	}
}

// Rules made by hand with nft: one of lvsctl's shape reads as a rule (Read
// parses expressions, not comments); everything else in the table is
// described, so drift shows.
func TestForeignObjects(t *testing.T) {
	netnstest.Enter(t)
	if err := Add(web); err != nil {
		t.Fatal(err)
	}
	nft(t, "add", "rule", "inet", "lvsctl", "marks", "ip", "daddr", "192.0.2.99", "counter")
	nft(t, "add", "rule", "inet", "lvsctl", "marks", "meta", "nfproto", "ipv4", "ip", "daddr", "192.0.2.20", "meta", "l4proto", "sctp", "th", "dport", "{", "5060,", "5061", "}", "meta", "mark", "set", "5", "comment", `"by hand"`)
	nft(t, "add", "rule", "inet", "lvsctl", "marks", "meta", "nfproto", "ipv4", "ip", "daddr", "192.0.2.10", "meta", "l4proto", "tcp", "th", "dport", "{", "443,", "80", "}", "meta", "mark", "set", "6")
	nft(t, "add", "rule", "inet", "lvsctl", "marks", "meta", "nfproto", "ipv4", "ip", "daddr", "192.0.2.30", "meta", "l4proto", "tcp", "th", "dport", "!=", "80", "meta", "mark", "set", "3")
	nft(t, "add", "chain", "inet", "lvsctl", "extra")
	nft(t, "add", "set", "inet", "lvsctl", "vips", "{", "type", "ipv4_addr;", "}")

	rules, foreign := mustRead(t)
	want := []state.MarkRule{web, {Family: state.IPv4, Addr: netip.MustParseAddr("192.0.2.20"), Protocol: state.SCTP, Ports: []uint16{5060, 5061}, Mark: 5}}
	if diff := cmp.Diff(want, rules, cmpAddr); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
	for i := range foreign {
		foreign[i] = handles.ReplaceAllString(foreign[i], "handle N")
	}
	wantForeign := []string{
		"table inet lvsctl has a chain extra that lvsctl did not make",
		"table inet lvsctl has a set vips that lvsctl did not make",
		"chain marks rule handle N is not one of lvsctl's mark rules: meta nfproto == 02 payload network+16/4 == c0000263 counter",
		"chain marks rule handle N repeats handle N for mark rule 192.0.2.10 tcp 80,443 → 6 with mark 6, and the last one to run wins",
		"chain marks rule handle N is not one of lvsctl's mark rules: meta nfproto == 02 payload network+16/4 == c000021e meta l4proto == 06 payload transport+2/2 != 0050 immediate 03000000 meta mark set",
	}
	if diff := cmp.Diff(wantForeign, foreign); diff != "" {
		t.Errorf("foreign (-want +got):\n%s", diff)
	}

	// A chain lvsctl made, hooked otherwise by hand, is drift too.
	nft(t, "delete", "table", "inet", "lvsctl")
	nft(t, "add", "table", "inet", "lvsctl")
	nft(t, "add", "chain", "inet", "lvsctl", "marks", "{", "type", "filter", "hook", "input", "priority", "0;", "}")
	if _, foreign := mustRead(t); !slices.Equal(foreign, []string{"chain marks is type filter hook input priority 0, not type filter hook prerouting priority mangle (-150) policy accept"}) {
		t.Errorf("foreign = %q", foreign)
	}
}

// Packets are marked: traffic over loopback to the VIPs, counted by a rule
// that matches the marks in a later prerouting chain.
func TestPacketsAreMarked(t *testing.T) {
	netnstest.Enter(t)
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		t.Fatal(err)
	}
	vip6 := netip.MustParseAddr("2001:db8::53")
	for _, p := range []string{"192.0.2.10/32", "2001:db8::53/128"} {
		a, err := netlink.ParseAddr(p)
		if err != nil {
			t.Fatal(err)
		}
		a.Flags = unix.IFA_F_NODAD
		if err := netlink.AddrAdd(lo, a); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []state.MarkRule{web, dns} {
		if err := Add(r); err != nil {
			t.Fatal(err)
		}
	}
	// The namespace has lo and nothing else, so no packet below can leave it.
	if links, err := netlink.LinkList(); err != nil || len(links) != 1 {
		t.Fatalf("the test's namespace has links %v (%v); want lo alone", links, err)
	}
	nft(t, "add", "table", "inet", "probe")
	nft(t, "add", "chain", "inet", "probe", "count", "{", "type", "filter", "hook", "prerouting", "priority", "-100;", "}")
	nft(t, "add", "rule", "inet", "probe", "count", "meta", "mark", "7", "counter")
	nft(t, "add", "rule", "inet", "probe", "count", "meta", "mark", "9", "counter")

	// Nothing listens: each TCP connection is one SYN answered by a reset,
	// each UDP datagram one packet answered by port-unreachable.
	for _, port := range []string{"80", "443", "22"} {
		if c, err := net.DialTimeout("tcp4", "192.0.2.10:"+port, 2*time.Second); err == nil {
			c.Close()
			t.Fatalf("something listens on 192.0.2.10:%s in a fresh namespace", port)
		}
	}
	for _, port := range []uint16{53, 54} {
		c, err := net.DialUDP("udp6", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(vip6, port)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte("probe")); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	listing := nft(t, "list", "chain", "inet", "probe", "count")
	counted := map[string]string{}
	for _, m := range regexp.MustCompile(`meta mark (0x[0-9a-f]+) counter packets (\d+)`).FindAllStringSubmatch(listing, -1) {
		counted[m[1]] = m[2]
	}
	// Two SYNs (ports 80 and 443, not 22) with mark 7; one datagram (port 53,
	// not 54) with mark 9. Replies go to ephemeral ports and stay unmarked.
	want := map[string]string{"0x00000007": "2", "0x00000009": "1"}
	if diff := cmp.Diff(want, counted); diff != "" {
		t.Errorf("packets counted by mark (-want +got):\n%s\n%s", diff, listing)
	}
}
