package ipvs

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/mdlayher/netlink"

	"github.com/lvsctl/lvsctl/internal/state"
)

// The connection synchronisation daemons: at most one master and one backup
// per network namespace. Since Linux 4.3 the kernel takes and reports every
// setting (group, port, TTL, maximum length); older kernels report the
// interface and sync ID only, and then the others read as zero.

// Daemons reads the sync daemons that run, master first.
func (c *Conn) Daemons() ([]state.SyncDaemon, error) {
	msgs, err := c.do("list", "sync daemons", cmdGetDaemon, netlink.Dump, nil)
	if err != nil {
		return nil, err
	}
	var out []state.SyncDaemon
	for _, m := range msgs {
		d, err := decodeNested(m.Data, attrDaemon, decodeDaemon)
		if err != nil {
			return nil, &OpError{Op: "list", Object: "sync daemons", Err: fmt.Errorf("decoding: %w", err)}
		}
		out = append(out, d)
	}
	return out, nil
}

// StartDaemon starts a sync daemon with d's settings; zero fields leave the
// kernel's defaults (group 224.0.0.81, port 8848, TTL 1, a maximum length
// from the interface's MTU).
func (c *Conn) StartDaemon(d state.SyncDaemon) error {
	_, err := c.do("start", "sync daemon "+d.State, cmdNewDaemon, netlink.Acknowledge, func(ae *netlink.AttributeEncoder) error {
		var err error
		ae.Nested(attrDaemon, func(ae *netlink.AttributeEncoder) error {
			err = encodeDaemon(ae, d)
			return err
		})
		return err
	})
	return err
}

// StopDaemon stops the sync daemon of d's state; the kernel needs nothing
// else of it.
func (c *Conn) StopDaemon(d state.SyncDaemon) error {
	_, err := c.do("stop", "sync daemon "+d.State, cmdDelDaemon, netlink.Acknowledge, func(ae *netlink.AttributeEncoder) error {
		st, err := daemonStateCode(d.State)
		if err != nil {
			return err
		}
		ae.Nested(attrDaemon, func(ae *netlink.AttributeEncoder) error {
			ae.Uint32(daemonState, st)
			return nil
		})
		return nil
	})
	return err
}

func daemonStateCode(s string) (uint32, error) {
	switch s {
	case state.SyncMaster:
		return stateMaster, nil
	case state.SyncBackup:
		return stateBackup, nil
	}
	return 0, fmt.Errorf("unknown sync daemon state %q", s)
}

// encodeDaemon writes a daemon's attributes as IPVS_CMD_NEW_DAEMON takes
// them: state, interface and sync ID always, the others when set.
func encodeDaemon(ae *netlink.AttributeEncoder, d state.SyncDaemon) error {
	st, err := daemonStateCode(d.State)
	if err != nil {
		return err
	}
	if d.Interface == "" || len(d.Interface) >= ifNameMax {
		return fmt.Errorf("sync daemon interface %q: 1 to %d bytes", d.Interface, ifNameMax-1)
	}
	if d.SyncID > 255 {
		return fmt.Errorf("sync ID %d is above 255", d.SyncID)
	}
	ae.Uint32(daemonState, st)
	ae.String(daemonMcastIfn, d.Interface) // NUL-terminated, as NLA_NUL_STRING wants
	ae.Uint32(daemonSyncID, d.SyncID)
	if d.MaxLength != 0 {
		ae.Uint16(daemonSyncMaxLen, d.MaxLength)
	}
	switch {
	case !d.Group.IsValid():
	case d.Group.Is4():
		b := d.Group.As4()
		ae.Bytes(daemonMcastGroup, b[:])
	default:
		b := d.Group.As16()
		ae.Bytes(daemonMcastGrp6, b[:])
	}
	if d.Port != 0 {
		ae.Uint16(daemonMcastPort, d.Port)
	}
	if d.TTL != 0 {
		ae.Uint8(daemonMcastTTL, d.TTL)
	}
	return nil
}

// decodeDaemon reads one daemon of a dump.
func decodeDaemon(b []byte) (state.SyncDaemon, error) {
	var d state.SyncDaemon
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return d, err
	}
	var st uint32
	for ad.Next() {
		switch ad.Type() {
		case daemonState:
			st = ad.Uint32()
		case daemonMcastIfn:
			d.Interface = ad.String()
		case daemonSyncID:
			d.SyncID = ad.Uint32()
		case daemonSyncMaxLen:
			d.MaxLength = ad.Uint16()
		case daemonMcastGroup:
			if v := ad.Bytes(); len(v) == 4 {
				d.Group = netip.AddrFrom4([4]byte(v))
			}
		case daemonMcastGrp6:
			if v := ad.Bytes(); len(v) == 16 {
				d.Group = netip.AddrFrom16([16]byte(v))
			}
		case daemonMcastPort:
			d.Port = ad.Uint16()
		case daemonMcastTTL:
			d.TTL = ad.Uint8()
		}
	}
	if err := ad.Err(); err != nil {
		return d, err
	}
	switch st {
	case stateMaster:
		d.State = state.SyncMaster
	case stateBackup:
		d.State = state.SyncBackup
	default:
		return d, fmt.Errorf("sync daemon state %d", st)
	}
	if d.Interface == "" {
		return d, errors.New("a sync daemon without an interface")
	}
	return d, nil
}
