package ifaces

import (
	"errors"
	"github.com/lvsctl/lvsctl/internal/netnstest"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/lvsctl/lvsctl/internal/state"
	"golang.org/x/sys/unix"
)

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func addr(iface, prefix string) state.Address {
	return state.Address{Interface: iface, Prefix: mustPrefix(prefix)}
}

func mustAddresses(t *testing.T, ifaces []string) []state.Address {
	t.Helper()
	got, err := Addresses(ifaces)
	if err != nil {
		t.Fatalf("Addresses(%q): %v", ifaces, err)
	}
	return got
}

var cmpPrefix = cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })

func TestAddresses(t *testing.T) {
	netnstest.Enter(t)
	for _, l := range []state.Link{{Name: "lo", Up: true}, {Name: "vip0", Kind: "ifb", Up: true}} {
		if err := EnsureLink(l); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []state.Address{
		addr("lo", "192.0.2.10/32"),
		addr("lo", "2001:db8::10/128"),
		addr("vip0", "10.0.0.1/24"), // host bits stay
		addr("vip0", "10.0.0.1/32"), // same address, another prefix: another object
		addr("vip0", "2001:db8:1::1/64"),
	} {
		if err := AddAddress(a); err != nil {
			t.Fatalf("AddAddress(%v): %v", a, err)
		}
	}
	lo := []state.Address{
		addr("lo", "127.0.0.1/8"),
		addr("lo", "192.0.2.10/32"),
		addr("lo", "::1/128"),
		addr("lo", "2001:db8::10/128"),
	}
	vip0 := []state.Address{ // and no fe80:: link-local, which vip0 has too
		addr("vip0", "10.0.0.1/24"),
		addr("vip0", "10.0.0.1/32"),
		addr("vip0", "2001:db8:1::1/64"),
	}
	for _, tc := range []struct {
		ifaces []string
		want   []state.Address
	}{
		{nil, append(append([]state.Address(nil), lo...), vip0...)},
		{[]string{"lo"}, lo},
		{[]string{"vip0", "eth9"}, vip0},
		{[]string{"eth9"}, nil},
	} {
		if diff := cmp.Diff(tc.want, mustAddresses(t, tc.ifaces), cmpPrefix); diff != "" {
			t.Errorf("Addresses(%q) (-want +got):\n%s", tc.ifaces, diff)
		}
	}
	if err := DeleteAddress(addr("vip0", "10.0.0.1/24")); err != nil {
		t.Fatal(err)
	}
	if err := DeleteAddress(addr("lo", "2001:db8::10/128")); err != nil {
		t.Fatal(err)
	}
	want := []state.Address{addr("lo", "127.0.0.1/8"), addr("lo", "192.0.2.10/32"), addr("lo", "::1/128"), addr("vip0", "10.0.0.1/32"), addr("vip0", "2001:db8:1::1/64")}
	if diff := cmp.Diff(want, mustAddresses(t, nil), cmpPrefix); diff != "" {
		t.Errorf("after deletes (-want +got):\n%s", diff)
	}
}

func TestAddressErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		do     func() error
		msg    string
		target error
	}{{
		name:   "add an address that is there",
		do:     func() error { return AddAddress(addr("lo", "127.0.0.1/8")) },
		msg:    "address 127.0.0.1/8 on lo: file exists",
		target: unix.EEXIST,
	}, {
		name:   "add an IPv6 address that is there",
		do:     func() error { return AddAddress(addr("lo", "::1/128")) },
		msg:    "address ::1/128 on lo: file exists",
		target: unix.EEXIST,
	}, {
		name:   "delete an absent address",
		do:     func() error { return DeleteAddress(addr("lo", "192.0.2.99/32")) },
		msg:    "address 192.0.2.99/32 on lo: cannot assign requested address",
		target: unix.EADDRNOTAVAIL,
	}, {
		name:   "delete an absent IPv6 address",
		do:     func() error { return DeleteAddress(addr("lo", "2001:db8::99/128")) },
		msg:    "address 2001:db8::99/128 on lo: cannot assign requested address",
		target: unix.EADDRNOTAVAIL,
	}, {
		name:   "delete with the wrong prefix length",
		do:     func() error { return DeleteAddress(addr("lo", "127.0.0.1/32")) },
		msg:    "address 127.0.0.1/32 on lo: cannot assign requested address",
		target: unix.EADDRNOTAVAIL,
	}, {
		name:   "add on a missing interface",
		do:     func() error { return AddAddress(addr("eth9", "192.0.2.10/32")) },
		msg:    "address 192.0.2.10/32 on eth9: link eth9: no such device",
		target: unix.ENODEV,
	}, {
		name:   "an invalid prefix",
		do:     func() error { return AddAddress(state.Address{Interface: "lo"}) },
		msg:    "address invalid Prefix on lo: not a valid IPv4 or IPv6 prefix",
		target: ErrInvalid,
	}, {
		name:   "an IPv4-mapped IPv6 prefix",
		do:     func() error { return AddAddress(addr("lo", "::ffff:192.0.2.10/128")) },
		msg:    "address ::ffff:192.0.2.10/128 on lo: not a valid IPv4 or IPv6 prefix",
		target: ErrInvalid,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			netnstest.Enter(t)
			if err := EnsureLink(state.Link{Name: "lo", Up: true}); err != nil {
				t.Fatal(err)
			}
			err := tc.do()
			if err == nil || err.Error() != tc.msg || !errors.Is(err, tc.target) {
				t.Errorf("error %v, want %q wrapping %v", err, tc.msg, tc.target)
			}
		})
	}
}
