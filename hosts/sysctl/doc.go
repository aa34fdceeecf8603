// Package sysctl reads and writes kernel parameters under /proc/sys by their
// sysctl(8) dotted keys ("net.ipv4.conf.lo.arp_ignore").
//
// Every key written is checked with names.CheckSysctlKey (the policy), every
// key read with names.CheckSysctlPath (its shape), and every value with
// names.CheckSysctlValue, before the filesystem is touched: only keys under
// net.ipv4, net.ipv6, net.core and net.netfilter are reachable, and no key
// can climb out of /proc/sys. A key maps to a path as sysctl(8) maps it: each
// dot is a directory separator, so net.ipv4.conf.eth0.rp_filter is
// /proc/sys/net/ipv4/conf/eth0/rp_filter, and a "/" is a dot within an
// interface's name, so net.ipv4.conf.eth0/100.rp_filter (the VLAN eth0.100)
// is /proc/sys/net/ipv4/conf/eth0.100/rp_filter.
//
// /proc/sys/net shows the network namespace of the thread that opens the
// file, so these functions act on the namespace of the calling OS thread: the
// caller locks its goroutine to a thread (runtime.LockOSThread) inside the
// namespace it means.
//
// Errors:
//   - err == nil: done.
//   - errors.Is(err, ErrInvalid): the key or value was refused before any file
//     was opened; the message says why.
//   - errors.Is(err, ErrNoSuchSysctl): the key does not exist on this kernel
//     (or in this namespace); the message says "sysctl KEY does not exist on
//     this kernel".
//   - errors.Is(err, ErrNotSupported): not on Linux.
//   - otherwise the error names the key and wraps the errno, so callers can
//     test errors.Is(err, unix.EINVAL) for a value the kernel rejects, or
//     unix.EACCES for a read-only key.
package sysctl

import "errors"

var (
	// ErrNoSuchSysctl is wrapped by errors for keys the kernel does not have.
	ErrNoSuchSysctl = errors.New("no such sysctl")
	// ErrInvalid is wrapped by errors for keys and values refused before any
	// file is opened.
	ErrInvalid = errors.New("sysctl key or value not allowed")
	// ErrNotSupported is wrapped by every error on systems other than Linux.
	ErrNotSupported = errors.New("sysctl: not supported on this operating system")
)

// invalidError carries a names.Check error and ErrInvalid, printing only the
// former (which already says what is wrong).
type invalidError struct{ err error }

func (e invalidError) Error() string   { return e.err.Error() }
func (e invalidError) Unwrap() []error { return []error{e.err, ErrInvalid} }

// noSuchError is the error for a key the kernel does not have.
type noSuchError struct {
	key string
	err error // the errno from the filesystem
}

func (e noSuchError) Error() string   { return "sysctl " + e.key + " does not exist on this kernel" }
func (e noSuchError) Unwrap() []error { return []error{e.err, ErrNoSuchSysctl} }
