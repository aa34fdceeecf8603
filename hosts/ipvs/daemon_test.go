package ipvs

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"

	"github.com/lvsctl/lvsctl/internal/state"
)

// attrsOf lists the nested daemon attributes of a request, by type.
func attrsOf(t *testing.T, data []byte) map[uint16][]byte {
	t.Helper()
	out := map[uint16][]byte{}
	ad, err := netlink.NewAttributeDecoder(data)
	if err != nil {
		t.Fatal(err)
	}
	for ad.Next() {
		if ad.Type() != attrDaemon {
			t.Errorf("top-level attribute %d beside the daemon", ad.Type())
			continue
		}
		nd, err := netlink.NewAttributeDecoder(ad.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		for nd.Next() {
			out[nd.Type()] = append([]byte(nil), nd.Bytes()...)
		}
	}
	return out
}

// A daemon with every setting left to the kernel carries exactly what
// IPVS_CMD_NEW_DAEMON requires: state, interface (NUL-terminated) and sync
// ID; one with every setting carries each in the kernel's layout.
func TestStartDaemonRequest(t *testing.T) {
	var got []map[uint16][]byte
	c, cmds := fakeKernel(t, func(cmd uint8, data []byte) ([]genetlink.Message, error) {
		got = append(got, attrsOf(t, data))
		return nil, nil
	})
	if err := c.StartDaemon(state.SyncDaemon{State: state.SyncMaster, Interface: "eth1", SyncID: 7}); err != nil {
		t.Fatal(err)
	}
	full := state.SyncDaemon{State: state.SyncBackup, Interface: "eth1.100", SyncID: 255, MaxLength: 1400,
		Group: netip.MustParseAddr("239.1.2.3"), Port: 9000, TTL: 4}
	if err := c.StartDaemon(full); err != nil {
		t.Fatal(err)
	}
	six := state.SyncDaemon{State: state.SyncMaster, Interface: "eth2", Group: netip.MustParseAddr("ff02::1:3")}
	if err := c.StartDaemon(six); err != nil {
		t.Fatal(err)
	}
	u32 := func(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }
	u16 := func(v uint16) []byte { return binary.NativeEndian.AppendUint16(nil, v) }
	g6 := netip.MustParseAddr("ff02::1:3").As16()
	want := []map[uint16][]byte{
		{daemonState: u32(stateMaster), daemonMcastIfn: []byte("eth1\x00"), daemonSyncID: u32(7)},
		{daemonState: u32(stateBackup), daemonMcastIfn: []byte("eth1.100\x00"), daemonSyncID: u32(255),
			daemonSyncMaxLen: u16(1400), daemonMcastGroup: {239, 1, 2, 3}, daemonMcastPort: u16(9000), daemonMcastTTL: {4}},
		{daemonState: u32(stateMaster), daemonMcastIfn: []byte("eth2\x00"), daemonSyncID: u32(0), daemonMcastGrp6: g6[:]},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("daemon attributes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]uint8{cmdNewDaemon, cmdNewDaemon, cmdNewDaemon}, *cmds); diff != "" {
		t.Errorf("commands (-want +got):\n%s", diff)
	}
}

// Stopping names the state alone: the kernel stops a daemon by it.
func TestStopDaemonRequest(t *testing.T) {
	var got map[uint16][]byte
	c, cmds := fakeKernel(t, func(cmd uint8, data []byte) ([]genetlink.Message, error) {
		got = attrsOf(t, data)
		return nil, nil
	})
	if err := c.StopDaemon(state.SyncDaemon{State: state.SyncBackup, Interface: "eth1", SyncID: 3}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[uint16][]byte{daemonState: binary.NativeEndian.AppendUint32(nil, stateBackup)}, got); diff != "" {
		t.Errorf("attributes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]uint8{cmdDelDaemon}, *cmds); diff != "" {
		t.Errorf("commands (-want +got):\n%s", diff)
	}
}

// What lvsctl cannot express is refused before any request.
func TestStartDaemonRefusesBadSettings(t *testing.T) {
	c, cmds := fakeKernel(t, func(uint8, []byte) ([]genetlink.Message, error) { return nil, nil })
	for _, d := range []state.SyncDaemon{
		{State: "primary", Interface: "eth1"},
		{State: state.SyncMaster, Interface: ""},
		{State: state.SyncMaster, Interface: "a-very-long-name"},
		{State: state.SyncMaster, Interface: "eth1", SyncID: 256},
	} {
		if err := c.StartDaemon(d); err == nil {
			t.Errorf("%+v: no error", d)
		}
	}
	if len(*cmds) != 0 {
		t.Errorf("requests sent: %v", *cmds)
	}
}

// A dump as the kernel sends it (one NEW_DAEMON message per daemon, the
// nested daemon attribute, every setting filled in) reads back whole.
func TestDaemonsDump(t *testing.T) {
	msg := func(fill func(ae *netlink.AttributeEncoder)) genetlink.Message {
		ae := netlink.NewAttributeEncoder()
		ae.Nested(attrDaemon, func(ae *netlink.AttributeEncoder) error { fill(ae); return nil })
		b, err := ae.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return genetlink.Message{Header: genetlink.Header{Command: cmdNewDaemon, Version: familyVersion}, Data: b}
	}
	c, _ := fakeKernel(t, func(cmd uint8, _ []byte) ([]genetlink.Message, error) {
		if cmd != cmdGetDaemon {
			t.Errorf("command %d", cmd)
		}
		return []genetlink.Message{
			msg(func(ae *netlink.AttributeEncoder) {
				ae.Uint32(daemonState, stateMaster)
				ae.String(daemonMcastIfn, "eth1")
				ae.Uint32(daemonSyncID, 7)
				ae.Uint16(daemonSyncMaxLen, 1472)
				ae.Uint16(daemonMcastPort, 8848)
				ae.Uint8(daemonMcastTTL, 1)
				ae.Bytes(daemonMcastGroup, []byte{224, 0, 0, 81})
			}),
			msg(func(ae *netlink.AttributeEncoder) {
				ae.Uint32(daemonState, stateBackup)
				ae.String(daemonMcastIfn, "eth2")
				ae.Uint32(daemonSyncID, 9)
				ae.Uint16(daemonSyncMaxLen, 1452)
				ae.Uint16(daemonMcastPort, 9000)
				ae.Uint8(daemonMcastTTL, 2)
				g := netip.MustParseAddr("ff05::81").As16()
				ae.Bytes(daemonMcastGrp6, g[:])
			}),
			// A kernel before 4.3: interface and sync ID only.
			msg(func(ae *netlink.AttributeEncoder) {
				ae.Uint32(daemonState, stateBackup)
				ae.String(daemonMcastIfn, "eth3")
				ae.Uint32(daemonSyncID, 1)
			}),
		}, nil
	})
	got, err := c.Daemons()
	if err != nil {
		t.Fatal(err)
	}
	want := []state.SyncDaemon{
		{State: state.SyncMaster, Interface: "eth1", SyncID: 7, MaxLength: 1472, Group: netip.MustParseAddr("224.0.0.81"), Port: 8848, TTL: 1},
		{State: state.SyncBackup, Interface: "eth2", SyncID: 9, MaxLength: 1452, Group: netip.MustParseAddr("ff05::81"), Port: 9000, TTL: 2},
		{State: state.SyncBackup, Interface: "eth3", SyncID: 1},
	}
	if diff := cmp.Diff(want, got, cmpAddrs); diff != "" {
		t.Errorf("daemons (-want +got):\n%s", diff)
	}
	if c.Writes() != 0 {
		t.Errorf("a dump counted as %d writes", c.Writes())
	}
}

// Round trip: every setting a start request carries decodes to the same
// daemon.
func TestDaemonRoundTrip(t *testing.T) {
	for _, want := range []state.SyncDaemon{
		{State: state.SyncMaster, Interface: "eth0", SyncID: 0, Group: state.DefaultSyncGroup, Port: 8848, TTL: 1},
		{State: state.SyncBackup, Interface: "bond0.7", SyncID: 200, MaxLength: 65507, Group: netip.MustParseAddr("ff0e::1"), Port: 1, TTL: 255},
	} {
		ae := netlink.NewAttributeEncoder()
		if err := encodeDaemon(ae, want); err != nil {
			t.Fatal(err)
		}
		b, err := ae.Encode()
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeDaemon(b)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got, cmpAddrs); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	}
	if _, err := decodeDaemon(nil); err == nil {
		t.Error("a daemon without a state decoded")
	}
}

func TestDaemonErrors(t *testing.T) {
	c, _ := fakeKernel(t, func(cmd uint8, _ []byte) ([]genetlink.Message, error) {
		if cmd == cmdNewDaemon {
			return nil, syscall.EEXIST
		}
		return nil, syscall.ESRCH
	})
	err := c.StartDaemon(state.SyncDaemon{State: state.SyncMaster, Interface: "eth1"})
	if !errors.Is(err, syscall.EEXIST) || !strings.Contains(err.Error(), "start sync daemon master: a sync daemon of this state already runs") {
		t.Errorf("start: %v", err)
	}
	err = c.StopDaemon(state.SyncDaemon{State: state.SyncBackup})
	if !errors.Is(err, syscall.ESRCH) || !strings.Contains(err.Error(), "stop sync daemon backup: no sync daemon of this state runs") {
		t.Errorf("stop: %v", err)
	}
}
