// Package marks keeps lvsctl's firewall-mark rules: the nftables rules that
// give packets for a VIP's ports a mark, so one IPVS firewall-mark service
// (ipvsadm -f) takes them all, as the LVS guide does for HTTP and HTTPS of one
// VIP with persistence.
//
// The rules live in a table lvsctl owns, "table inet lvsctl", in one base
// chain, "marks", of type filter at hook prerouting with priority mangle
// (-150), so the mark is set before IPVS sees the packet. Each state.MarkRule
// is one rule, and nothing else is in the chain:
//
//	meta nfproto ipv4 ip daddr 192.0.2.10 meta l4proto tcp th dport { 80, 443 } meta mark set 0x00000007
//
// which `nft list table inet lvsctl` shows as "ip daddr 192.0.2.10 tcp dport {
// 80, 443 } meta mark set 0x00000007" (a single port is compared directly
// rather than looked up in an anonymous set). Read
// parses rules back from their expressions, never from a comment, so a rule
// changed by hand reads as what it does. Anything else in the table (a rule of
// another shape, another chain, a named set) is described in words, so drift
// shows. Each change is one nftables batch: it happens whole or not at all.
//
// The functions act on the network namespace of the calling OS thread: the
// caller locks its goroutine to a thread (runtime.LockOSThread) inside the
// namespace it means.
//
// Errors:
//   - err == nil: done.
//   - errors.Is(err, ErrInvalid): the rule was refused before the kernel was
//     asked (no ports, an unknown protocol, mark 0, an address of the wrong
//     family); the message says why.
//   - errors.Is(err, ErrNotSupported): not on Linux.
//   - otherwise the error names the rule ("mark rule 192.0.2.10 tcp 80,443 →
//     7: ...") and wraps the errno: unix.EEXIST when Add finds a rule for the
//     same (family, address, protocol, ports), unix.ENOENT when Delete or
//     Replace finds none (or DeleteTable finds no table).
package marks

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/lvsctl/lvsctl/internal/state"
)

// The names of lvsctl's table and chain.
const (
	Table = "lvsctl"
	Chain = "marks"
)

var (
	// ErrInvalid is wrapped by errors for rules refused before the kernel was
	// asked.
	ErrInvalid = errors.New("invalid mark rule")
	// ErrNotSupported is wrapped by every error on systems other than Linux.
	ErrNotSupported = errors.New("marks: not supported on this operating system")
)

// describe names a rule in messages: "mark rule 192.0.2.10 tcp 80,443 → 7".
func describe(r state.MarkRule) string {
	ports := make([]string, len(r.Ports))
	for i, p := range r.Ports {
		ports[i] = fmt.Sprint(p)
	}
	return fmt.Sprintf("mark rule %s %s %s → %d", r.Addr, r.Protocol, strings.Join(ports, ","), r.Mark)
}

// normalize checks r and returns it with its family filled in and its ports
// sorted without repeats, the form Read returns.
func normalize(r state.MarkRule) (state.MarkRule, error) {
	fail := func(format string, args ...any) (state.MarkRule, error) {
		return state.MarkRule{}, invalidError{fmt.Errorf("%s: "+format, append([]any{describe(r)}, args...)...)}
	}
	a := r.Addr
	switch {
	case !a.IsValid() || a.Is4In6() || a.Zone() != "" || a.IsUnspecified():
		return fail("the address is not a single IPv4 or IPv6 address")
	case r.Family != "" && r.Family != state.FamilyOf(a):
		return fail("family %s does not match the address", r.Family)
	case r.Protocol != state.TCP && r.Protocol != state.UDP && r.Protocol != state.SCTP:
		return fail("protocol %s is not tcp, udp or sctp", r.Protocol)
	case len(r.Ports) == 0:
		return fail("no ports")
	case slices.Contains(r.Ports, 0):
		return fail("port 0")
	case r.Mark == 0:
		return fail("mark 0 is no mark")
	}
	r.Family = state.FamilyOf(a)
	r.Ports = slices.Compact(slices.Sorted(slices.Values(r.Ports)))
	r.Why = nil
	return r, nil
}

// sameIdentity reports whether a and b, both normalized, are the same rule
// apart from the mark: (family, address, protocol, ports).
func sameIdentity(a, b state.MarkRule) bool {
	return a.Family == b.Family && a.Addr == b.Addr && a.Protocol == b.Protocol && slices.Equal(a.Ports, b.Ports)
}

// invalidError carries the reason a rule was refused and ErrInvalid, printing
// only the former.
type invalidError struct{ err error }

func (e invalidError) Error() string   { return e.err.Error() }
func (e invalidError) Unwrap() []error { return []error{e.err, ErrInvalid} }
