package ifaces

import (
	"errors"
	"fmt"
	"github.com/lvsctl/lvsctl/internal/netnstest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/lvsctl/lvsctl/internal/state"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func mustLinks(t *testing.T, names []string) []state.Link {
	t.Helper()
	got, err := Links(names)
	if err != nil {
		t.Fatalf("Links(%q): %v", names, err)
	}
	return got
}

func TestLinks(t *testing.T) {
	netnstest.Enter(t)
	// A fresh namespace has lo, down, and nothing else.
	if diff := cmp.Diff([]state.Link{{Name: "lo"}}, mustLinks(t, nil)); diff != "" {
		t.Errorf("Links(nil) (-want +got):\n%s", diff)
	}
	if err := EnsureLink(state.Link{Name: "lo", Up: true}); err != nil {
		t.Fatal(err)
	}
	// Absent devices are left out.
	if diff := cmp.Diff([]state.Link{{Name: "lo", Up: true}}, mustLinks(t, []string{"tunl9", "lo"})); diff != "" {
		t.Errorf("Links(tunl9, lo) (-want +got):\n%s", diff)
	}
	if got := mustLinks(t, []string{}); len(got) != 0 {
		t.Errorf("Links of no names = %v, want none", got)
	}
}

func TestEnsureLink(t *testing.T) {
	netnstest.Enter(t)
	steps := []struct {
		do   func() error
		want []state.Link // every device afterwards
	}{
		{func() error { return EnsureLink(state.Link{Name: "vip0", Kind: "ifb", Up: true}) },
			[]state.Link{{Name: "lo"}, {Name: "vip0", Kind: "ifb", Up: true}}},
		// Again: nothing changes, no error.
		{func() error { return EnsureLink(state.Link{Name: "vip0", Kind: "ifb", Up: true}) },
			[]state.Link{{Name: "lo"}, {Name: "vip0", Kind: "ifb", Up: true}}},
		// A device lvsctl only expects, with no kind: set up, never created.
		{func() error { return EnsureLink(state.Link{Name: "lo", Up: true}) },
			[]state.Link{{Name: "lo", Up: true}, {Name: "vip0", Kind: "ifb", Up: true}}},
		{func() error { return EnsureLink(state.Link{Name: "vip0", Kind: "ifb", Up: false}) },
			[]state.Link{{Name: "lo", Up: true}, {Name: "vip0", Kind: "ifb"}}},
		{func() error { return EnsureLink(state.Link{Name: "vip0", Kind: "ifb", Up: true}) },
			[]state.Link{{Name: "lo", Up: true}, {Name: "vip0", Kind: "ifb", Up: true}}},
		{func() error { return SetLinkDown("vip0") },
			[]state.Link{{Name: "lo", Up: true}, {Name: "vip0", Kind: "ifb"}}},
		{func() error { return SetLinkDown("vip0") },
			[]state.Link{{Name: "lo", Up: true}, {Name: "vip0", Kind: "ifb"}}},
		{func() error { return DeleteLink("vip0") },
			[]state.Link{{Name: "lo", Up: true}}},
	}
	for i, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if diff := cmp.Diff(s.want, mustLinks(t, nil)); diff != "" {
			t.Fatalf("after step %d, links (-want +got):\n%s", i, diff)
		}
	}
}

// Loading a tunnel module for a create request makes the module's fallback
// device first, so the request itself meets EEXIST. createLink then takes the
// device that is there. ifb stands in for ipip, which this kernel may lack.
func TestCreateMeetsEEXIST(t *testing.T) {
	netnstest.Enter(t)
	if err := netlink.LinkAdd(&netlink.Ifb{LinkAttrs: netlink.LinkAttrs{Name: "tunl0"}}); err != nil {
		t.Fatal(err)
	}
	l, err := createLink("tunl0", "ifb")
	if err != nil {
		t.Fatalf("createLink over an existing device: %v", err)
	}
	if diff := cmp.Diff(state.Link{Name: "tunl0", Kind: "ifb"}, linkState(l)); diff != "" {
		t.Errorf("createLink returned (-want +got):\n%s", diff)
	}
}

func TestLinkErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		do     func() error
		msg    string
		target error
	}{{
		name:   "a device with no kind to create it",
		do:     func() error { return EnsureLink(state.Link{Name: "eth9", Up: true}) },
		msg:    "link eth9 does not exist, and no kind was given to create it: no such device",
		target: unix.ENODEV,
	}, {
		name:   "a device of another kind",
		do:     func() error { return EnsureLink(state.Link{Name: "lo", Kind: "ipip", Up: true}) },
		msg:    "link lo exists with kind none, not ipip: file exists",
		target: unix.EEXIST,
	}, {
		name:   "a kind lvsctl does not create",
		do:     func() error { return EnsureLink(state.Link{Name: "br0", Kind: "bridge", Up: true}) },
		msg:    `link br0: lvsctl does not create devices of kind "bridge" (it creates ipip, sit, gre, ip6tnl, ip6gre, dummy, ifb)`,
		target: ErrInvalid,
	}, {
		name:   "set down a missing device",
		do:     func() error { return SetLinkDown("eth9") },
		msg:    "link eth9: no such device",
		target: unix.ENODEV,
	}, {
		name:   "delete a missing device",
		do:     func() error { return DeleteLink("eth9") },
		msg:    "link eth9: no such device",
		target: unix.ENODEV,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			netnstest.Enter(t)
			err := tc.do()
			if err == nil || err.Error() != tc.msg || !errors.Is(err, tc.target) {
				t.Errorf("error %v, want %q wrapping %v", err, tc.msg, tc.target)
			}
		})
	}
}

// The tunnel kinds a tunnelling real server needs. This kernel may lack
// them; then EnsureLink must say so and wrap EOPNOTSUPP, and the test says
// which of the two it proved.
func TestTunnelDevices(t *testing.T) {
	for _, tc := range []struct{ name, kind string }{
		{"tunl0", "ipip"}, {"sit0", "sit"}, {"gre0", "gre"}, {"ip6tnl0", "ip6tnl"}, {"ip6gre0", "ip6gre"}, {"tunl1", "ipip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			netnstest.Enter(t)
			existed := len(mustLinks(t, []string{tc.name})) == 1
			err := EnsureLink(state.Link{Name: tc.name, Kind: tc.kind, Up: true})
			if errors.Is(err, unix.EOPNOTSUPP) {
				want := fmt.Sprintf("link %s: create: this kernel cannot make %s devices", tc.name, tc.kind)
				if !strings.HasPrefix(err.Error(), want) {
					t.Errorf("error %q, want it to start %q", err, want)
				}
				t.Logf("this kernel has no %s devices: proved the refusal only (%v)", tc.kind, err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := []state.Link{{Name: tc.name, Kind: tc.kind, Up: true}}
			if diff := cmp.Diff(want, mustLinks(t, []string{tc.name})); diff != "" {
				t.Errorf("after EnsureLink (-want +got):\n%s", diff)
			}
			if err := EnsureLink(state.Link{Name: tc.name, Kind: tc.kind, Up: true}); err != nil {
				t.Errorf("EnsureLink again: %v", err)
			}
			err = DeleteLink(tc.name)
			switch {
			case errors.Is(err, ErrFallbackDevice):
				t.Logf("%s is the fallback device (existed before: %v): %v", tc.name, existed, err)
			case err != nil:
				t.Errorf("DeleteLink: %v", err)
			case len(mustLinks(t, []string{tc.name})) != 0:
				t.Errorf("DeleteLink(%s) returned nil, and the device is still there", tc.name)
			}
		})
	}
}

// Names the kernel would take, or look up and fail on, are refused before
// any request: the error wraps ErrInvalid and no errno, and nothing is made.
func TestBadNamesRefusedBeforeTheKernel(t *testing.T) {
	netnstest.Enter(t)
	bad := []string{"", "tést0", "lo:0", "a b", "../lo", "sixteen-bytes-xx", "."}
	for _, name := range bad {
		for what, do := range map[string]func() error{
			"EnsureLink":  func() error { return EnsureLink(state.Link{Name: name, Kind: "ifb", Up: true}) },
			"SetLinkDown": func() error { return SetLinkDown(name) },
			"DeleteLink":  func() error { return DeleteLink(name) },
			"Links":       func() error { _, err := Links([]string{"lo", name}); return err },
			"Addresses":   func() error { _, err := Addresses([]string{name}); return err },
			"AddAddress":  func() error { return AddAddress(state.Address{Interface: name, Prefix: mustPrefix("192.0.2.10/32")}) },
			"DeleteAddress": func() error {
				return DeleteAddress(state.Address{Interface: name, Prefix: mustPrefix("192.0.2.10/32")})
			},
		} {
			err := do()
			var errno unix.Errno
			if !errors.Is(err, ErrInvalid) || errors.As(err, &errno) {
				t.Errorf("%s(%q): error %v, want one wrapping ErrInvalid and no errno", what, name, err)
			}
		}
	}
	// tést0 is a name Linux itself accepts; lvsctl does not, and made nothing.
	if diff := cmp.Diff([]state.Link{{Name: "lo"}}, mustLinks(t, nil)); diff != "" {
		t.Errorf("links after refused requests (-want +got):\n%s", diff)
	}
}
