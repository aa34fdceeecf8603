// Package ifaces reads and changes the network devices, addresses and default
// routes lvsctl manages on a host: the loopback VIP of a direct-routing real
// server, the tunnel device of a tunnelling one, the VIP on a director's
// interface, and a NAT real server's default route through its director.
//
// The functions act on the network namespace of the calling OS thread: the
// caller locks its goroutine to a thread (runtime.LockOSThread) inside the
// namespace it means. Every interface name is checked with
// names.CheckInterfaceName before any request reaches the kernel.
//
// Devices that do not exist are left out of what Links and Addresses return:
// absence is an answer, not an error. Addresses leaves out IPv6 link-local
// addresses (fe80::/10), which the kernel makes by itself on every device that
// comes up and lvsctl never manages.
//
// Errors:
//   - err == nil: done.
//   - errors.Is(err, ErrInvalid): refused before the kernel was asked (a bad
//     interface name, an unknown device kind, an invalid prefix); the message
//     says why.
//   - errors.Is(err, ErrFallbackDevice): DeleteLink was asked to delete a
//     tunnel module's fallback device (tunl0, sit0, gre0, ip6tnl0, ip6gre0), which
//     the kernel keeps while the module is loaded.
//   - errors.Is(err, ErrNotSupported): not on Linux.
//   - otherwise the error names the object ("address 192.0.2.10/32 on lo: ...",
//     "link tunl0: ...", "route default via 10.0.0.234: ...") and wraps the
//     kernel's errno, so callers can test errors.Is(err, unix.EEXIST) for an
//     address that is already there, unix.EADDRNOTAVAIL for deleting one that
//     is not, unix.ENODEV for a missing device, unix.ESRCH for a missing
//     route, and unix.EOPNOTSUPP for a device kind this kernel cannot make.
package ifaces

import "errors"

var (
	// ErrInvalid is wrapped by errors for requests refused before the kernel
	// was asked.
	ErrInvalid = errors.New("invalid request")
	// ErrFallbackDevice is wrapped by DeleteLink's error for a device the
	// kernel does not delete.
	ErrFallbackDevice = errors.New("fallback tunnel device")
	// ErrNotSupported is wrapped by every error on systems other than Linux.
	ErrNotSupported = errors.New("ifaces: not supported on this operating system")
)

// kinds are the device kinds EnsureLink creates: the IPv4 and IPv6 tunnels a
// tunnelling real server receives on (sit for IPv6 inside IPv4), and two plain devices with no
// configuration (dummy, a place for addresses; ifb, which kernels built
// without dummy still have).
var kinds = []string{"ipip", "sit", "gre", "ip6tnl", "ip6gre", "dummy", "ifb"}

// invalidError carries the reason a request was refused and ErrInvalid,
// printing only the former.
type invalidError struct{ err error }

func (e invalidError) Error() string   { return e.err.Error() }
func (e invalidError) Unwrap() []error { return []error{e.err, ErrInvalid} }
