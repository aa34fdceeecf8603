//go:build !linux

package ifaces

import (
	"fmt"

	"github.com/lvsctl/lvsctl/internal/state"
)

func notSupported(what string) error { return fmt.Errorf("%s: %w", what, ErrNotSupported) }

// Links returns an error wrapping ErrNotSupported.
func Links(names []string) ([]state.Link, error) { return nil, notSupported("list links") }

// EnsureLink returns an error wrapping ErrNotSupported.
func EnsureLink(l state.Link) error { return notSupported("link " + l.Name) }

// SetLinkDown returns an error wrapping ErrNotSupported.
func SetLinkDown(name string) error { return notSupported("link " + name) }

// DeleteLink returns an error wrapping ErrNotSupported.
func DeleteLink(name string) error { return notSupported("link " + name) }

// Addresses returns an error wrapping ErrNotSupported.
func Addresses(ifaces []string) ([]state.Address, error) {
	return nil, notSupported("list addresses")
}

// AddAddress returns an error wrapping ErrNotSupported.
func AddAddress(a state.Address) error {
	return notSupported(fmt.Sprintf("address %s on %s", a.Prefix, a.Interface))
}

// DeleteAddress returns an error wrapping ErrNotSupported.
func DeleteAddress(a state.Address) error {
	return notSupported(fmt.Sprintf("address %s on %s", a.Prefix, a.Interface))
}

// DefaultRoutes returns an error wrapping ErrNotSupported.
func DefaultRoutes() ([]state.Route, error) { return nil, notSupported("list routes") }

// ReplaceDefaultRoute returns an error wrapping ErrNotSupported.
func ReplaceDefaultRoute(r state.Route) error {
	return notSupported(fmt.Sprintf("route %s via %s", r.Dst, r.Gateway))
}

// DeleteRoute returns an error wrapping ErrNotSupported.
func DeleteRoute(r state.Route) error {
	return notSupported(fmt.Sprintf("route %s via %s", r.Dst, r.Gateway))
}
