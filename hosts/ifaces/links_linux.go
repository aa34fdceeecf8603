package ifaces

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/lvsctl/lvsctl/internal/state"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Links reports the named devices that exist, with their kind and whether they
// are up (administratively: IFF_UP). A nil names reports every device. Kind is
// the device's rtnetlink kind ("ipip", "gre", "veth", ...), or "" for a device
// with none, such as lo or a physical NIC.
func Links(names []string) ([]state.Link, error) {
	for _, n := range names {
		if err := checkName(n); err != nil {
			return nil, err
		}
	}
	var found []netlink.Link
	if names == nil {
		all, err := dump(netlink.LinkList)
		if err != nil {
			return nil, fmt.Errorf("list links: %w", err)
		}
		found = all
	}
	for _, n := range names {
		l, err := linkByName(n)
		if errors.Is(err, unix.ENODEV) {
			continue
		}
		if err != nil {
			return nil, err
		}
		found = append(found, l)
	}
	out := make([]state.Link, 0, len(found))
	for _, l := range found {
		out = append(out, linkState(l))
	}
	return out, nil
}

func linkState(l netlink.Link) state.Link {
	return state.Link{Name: l.Attrs().Name, Kind: kindOf(l), Up: l.Attrs().RawFlags&unix.IFF_UP != 0}
}

// kindOf is netlink's Type(), except that devices with no rtnetlink kind
// (netlink's "device") have "".
func kindOf(l netlink.Link) string {
	if t := l.Type(); t != "device" {
		return t
	}
	return ""
}

// EnsureLink makes l exist and sets it up (or down, when l.Up is false).
// Running it again changes nothing.
//
// A missing device is created when l.Kind is one of ipip, sit, gre, ip6tnl,
// ip6gre, dummy or ifb, with the kernel's defaults: a tunnel with no local or
// remote address, which receives from any peer. Loading a tunnel module creates
// its fallback device (tunl0, sit0, gre0, ip6tnl0, ip6gre0) in every namespace, so a
// request to create tunl0 can meet EEXIST from the very device the request
// brought into being; EnsureLink then takes the device that is there. A device
// that exists with another kind than l.Kind is an error wrapping EEXIST. With
// l.Kind "" the device must exist already (lo, a NIC): EnsureLink only sets
// its state.
func EnsureLink(l state.Link) error {
	if err := checkName(l.Name); err != nil {
		return err
	}
	if l.Kind != "" && !slices.Contains(kinds, l.Kind) {
		return invalidError{fmt.Errorf("link %s: lvsctl does not create devices of kind %q (it creates %s)", l.Name, l.Kind, strings.Join(kinds, ", "))}
	}
	dev, err := linkByName(l.Name)
	switch {
	case errors.Is(err, unix.ENODEV) && l.Kind == "":
		return fmt.Errorf("link %s does not exist, and no kind was given to create it: %w", l.Name, unix.ENODEV)
	case errors.Is(err, unix.ENODEV):
		dev, err = createLink(l.Name, l.Kind)
	}
	if err != nil {
		return err
	}
	if k := kindOf(dev); l.Kind != "" && k != l.Kind {
		if k == "" {
			k = "none"
		}
		return fmt.Errorf("link %s exists with kind %s, not %s: %w", l.Name, k, l.Kind, unix.EEXIST)
	}
	if !l.Up {
		return setDown(dev)
	}
	if err := netlink.LinkSetUp(dev); err != nil {
		return fmt.Errorf("link %s: set up: %w", l.Name, err)
	}
	return nil
}

func createLink(name, kind string) (netlink.Link, error) {
	err := netlink.LinkAdd(&netlink.GenericLink{LinkAttrs: netlink.LinkAttrs{Name: name}, LinkType: kind})
	switch {
	case errors.Is(err, unix.EOPNOTSUPP):
		return nil, fmt.Errorf("link %s: create: this kernel cannot make %s devices (no %s module built or loadable): %w", name, kind, kind, err)
	case err != nil && !errors.Is(err, unix.EEXIST):
		// EEXIST: the module loaded for this request made the fallback
		// device of the same name, or another program was quicker; take it.
		return nil, fmt.Errorf("link %s: create %s: %w", name, kind, err)
	}
	return linkByName(name)
}

// SetLinkDown sets the named device down: the inverse of EnsureLink for a
// device that existed and was down.
func SetLinkDown(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	dev, err := linkByName(name)
	if err != nil {
		return err
	}
	return setDown(dev)
}

func setDown(dev netlink.Link) error {
	if err := netlink.LinkSetDown(dev); err != nil {
		return fmt.Errorf("link %s: set down: %w", dev.Attrs().Name, err)
	}
	return nil
}

// DeleteLink deletes the named device: the inverse of EnsureLink for a device
// that did not exist. A missing device is an error wrapping ENODEV.
//
// The kernel acknowledges deleting a tunnel module's fallback device but keeps
// it; DeleteLink checks, and then returns an error wrapping ErrFallbackDevice
// (setting the device down is the nearest undo there is).
func DeleteLink(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	dev, err := linkByName(name)
	if err != nil {
		return err
	}
	if err := netlink.LinkDel(dev); err != nil {
		return fmt.Errorf("link %s: delete: %w", name, err)
	}
	if still, err := linkByName(name); err == nil && still.Attrs().Index == dev.Attrs().Index {
		return fmt.Errorf("link %s is the %s module's fallback device, which the kernel keeps while the module is loaded: %w", name, kindOf(dev), ErrFallbackDevice)
	}
	return nil
}
