package agent

import (
	"errors"
	"fmt"
	"regexp"
	"slices"

	"github.com/lvsctl/lvsctl/internal/boot"
	"github.com/lvsctl/lvsctl/internal/keepalived"
	"github.com/lvsctl/lvsctl/internal/names"
	"github.com/lvsctl/lvsctl/internal/op"
	"github.com/lvsctl/lvsctl/internal/state"
)

var schedName = regexp.MustCompile(`^[a-z0-9]{1,15}$`)

// checkOp refuses an operation that lacks what its kind needs, or names
// anything outside the strict patterns, before any of a request's operations
// run.
func checkOp(o Op) error {
	need := func(ok bool, what string) error {
		if !ok {
			return fmt.Errorf("%s needs %s", o.Kind, what)
		}
		return nil
	}
	switch o.Kind {
	case AddService, UpdateService:
		if err := need(o.Service != nil, "service"); err != nil {
			return err
		}
		return checkService(o.Service)
	case DeleteService:
		if err := need(o.ServiceKey != nil, "serviceKey"); err != nil {
			return err
		}
		return checkKey(*o.ServiceKey)
	case AddDest, UpdateDest, DeleteDest:
		if err := need(o.ServiceKey != nil && o.Dest != nil, "serviceKey and dest"); err != nil {
			return err
		}
		if err := checkKey(*o.ServiceKey); err != nil {
			return err
		}
		return checkDest(o.Dest)
	case SetTimeouts:
		return need(o.Timeouts != nil, "timeouts")
	case StartDaemon, StopDaemon:
		if err := need(o.Daemon != nil, "daemon"); err != nil {
			return err
		}
		return checkDaemon(*o.Daemon)
	case AddAddress, DeleteAddress:
		if err := need(o.Address != nil, "address"); err != nil {
			return err
		}
		if !o.Address.Prefix.IsValid() {
			return fmt.Errorf("%s: invalid prefix", o.Kind)
		}
		return names.CheckInterfaceName(o.Address.Interface)
	case EnsureLink, LinkDown, DeleteLink:
		if err := need(o.Link != nil, "link"); err != nil {
			return err
		}
		if !slices.Contains([]string{"", "ipip", "sit", "gre", "ip6tnl", "ip6gre", "dummy"}, o.Link.Kind) {
			return fmt.Errorf("%s: unknown link kind %q", o.Kind, o.Link.Kind)
		}
		return names.CheckInterfaceName(o.Link.Name)
	case SetSysctl:
		if err := need(o.Sysctl != nil, "sysctl"); err != nil {
			return err
		}
		if err := names.CheckSysctlKey(o.Sysctl.Key); err != nil {
			return err
		}
		return names.CheckSysctlValue(o.Sysctl.Value)
	case ReplaceRoute, DeleteRoute:
		if err := need(o.Route != nil, "route"); err != nil {
			return err
		}
		if !o.Route.Dst.IsValid() || !o.Route.Gateway.IsValid() || o.Route.Dst.Addr().Is4() != o.Route.Gateway.Is4() {
			return fmt.Errorf("%s: route needs a destination and a gateway of one family", o.Kind)
		}
		return nil
	case AddMark, DeleteMark, ReplaceMark:
		if err := need(o.Mark != nil, "mark"); err != nil {
			return err
		}
		m := o.Mark
		if _, ok := state.ParseProtocol(m.Protocol.String()); !ok || len(m.Ports) == 0 || m.Mark == 0 || !m.Addr.IsValid() {
			return fmt.Errorf("%s: a mark rule needs an address, tcp/udp/sctp, ports and a mark", o.Kind)
		}
		return nil
	case WriteInventory:
		return need(o.Inventory != nil, "inventory")
	case WriteBoot, RemoveBoot, RevertBoot:
		if err := need(o.Boot != nil, "boot"); err != nil {
			return err
		}
		if !slices.Contains([]string{boot.SysctlFile, boot.StateFile, boot.UnitFile}, o.Boot.File) {
			return fmt.Errorf("%s: unknown boot file %q", o.Kind, o.Boot.File)
		}
		if len(o.Boot.Content) > boot.MaxStateSize {
			return fmt.Errorf("%s: %d bytes is more than lvsctl writes", o.Kind, len(o.Boot.Content))
		}
		return nil
	case op.WriteKeepalived, op.RevertKeepalived, op.RemoveKeepalived:
		if err := need(o.Keepalived != nil, "keepalived"); err != nil {
			return err
		}
		k := o.Keepalived
		if o.Kind == op.WriteKeepalived {
			if err := need(k.Spec != nil, "keepalived.spec"); err != nil {
				return err
			}
			if k.Path != k.Spec.Config || k.PidFile != k.Spec.PidFile {
				return fmt.Errorf("%s: the paths differ from the configuration's", o.Kind)
			}
			if err := keepalived.CheckProgramPath(k.Spec.Program); err != nil {
				return err
			}
			if err := keepalived.Check(k.Spec); err != nil {
				return fmt.Errorf("%s: %w", o.Kind, err)
			}
		}
		if err := keepalived.CheckConfigPath(k.Path); err != nil {
			return err
		}
		return keepalived.CheckPidPath(k.PidFile)
	}
	return fmt.Errorf("unknown operation %q", o.Kind)
}

// checkPersisted holds every object of a state file kept for boot to the
// checks of the operations that restore it.
func checkPersisted(h *state.Host) error {
	var ops []Op
	for _, s := range h.Services {
		if s == nil {
			return errors.New("a null service")
		}
		ops = append(ops, Op{Kind: AddService, Service: s})
		for _, d := range s.Dests {
			if d == nil {
				return fmt.Errorf("service %s: a null destination", s.Key)
			}
			ops = append(ops, Op{Kind: AddDest, ServiceKey: &s.Key, Dest: d})
		}
	}
	for i := range h.Addresses {
		ops = append(ops, Op{Kind: AddAddress, Address: &h.Addresses[i]})
	}
	for i := range h.Links {
		ops = append(ops, Op{Kind: EnsureLink, Link: &h.Links[i]})
	}
	for i := range h.Sysctls {
		ops = append(ops, Op{Kind: SetSysctl, Sysctl: &h.Sysctls[i]})
	}
	for i := range h.Routes {
		ops = append(ops, Op{Kind: ReplaceRoute, Route: &h.Routes[i]})
	}
	for i := range h.MarkRules {
		ops = append(ops, Op{Kind: AddMark, Mark: &h.MarkRules[i]})
	}
	if h.Timeouts != nil {
		ops = append(ops, Op{Kind: SetTimeouts, Timeouts: h.Timeouts})
	}
	for i := range h.Daemons {
		ops = append(ops, Op{Kind: StartDaemon, Daemon: &h.Daemons[i]})
	}
	for _, o := range ops {
		if err := checkOp(o); err != nil {
			return err
		}
	}
	return nil
}

func checkKey(k state.ServiceKey) error {
	if k.Family != state.IPv4 && k.Family != state.IPv6 {
		return fmt.Errorf("service family %q", k.Family)
	}
	if k.FWMark != 0 {
		return nil
	}
	if !k.Addr.IsValid() || state.FamilyOf(k.Addr) != k.Family || k.Port == 0 {
		return fmt.Errorf("service %s: address, port and family do not agree", k)
	}
	if _, ok := state.ParseProtocol(k.Protocol.String()); !ok {
		return fmt.Errorf("service %s: protocol %d", k, k.Protocol)
	}
	return nil
}

func checkService(s *state.Service) error {
	if err := checkKey(s.Key); err != nil {
		return err
	}
	if !schedName.MatchString(s.Scheduler) {
		return fmt.Errorf("service %s: scheduler %q is not a scheduler name", s.Key, s.Scheduler)
	}
	if s.PE != "" && s.PE != "sip" {
		return fmt.Errorf("service %s: persistence engine %q", s.Key, s.PE)
	}
	for _, f := range s.SchedFlags {
		if !slices.Contains([]string{"sh-fallback", "sh-port", "mh-fallback", "mh-port", "flag-1", "flag-2", "flag-3"}, f) {
			return fmt.Errorf("service %s: scheduler flag %q", s.Key, f)
		}
	}
	return nil
}

func checkDest(d *state.Destination) error {
	if !d.Addr.IsValid() {
		return fmt.Errorf("destination: invalid address")
	}
	switch d.Forward {
	case state.NAT, state.DR, state.TUN:
	default:
		return fmt.Errorf("destination %s: forwarding method %q", d.Addr, d.Forward)
	}
	if d.Weight > 1<<31-1 {
		return fmt.Errorf("destination %s: weight %d is above the kernel's 2147483647", d.Addr, d.Weight)
	}
	return nil
}

// checkDaemon holds a sync daemon to what the schema allows: master or
// backup, an interface name of the strict pattern, a sync ID of 0-255, a
// multicast group (or none: the kernel's), a TTL of at least 1 when set, and
// a maximum length the kernel keeps as asked.
func checkDaemon(d state.SyncDaemon) error {
	if d.State != state.SyncMaster && d.State != state.SyncBackup {
		return fmt.Errorf("sync daemon state %q is neither master nor backup", d.State)
	}
	if err := names.CheckInterfaceName(d.Interface); err != nil {
		return fmt.Errorf("sync daemon %s: %w", d.State, err)
	}
	if d.SyncID > 255 {
		return fmt.Errorf("sync daemon %s: sync ID %d is above 255", d.State, d.SyncID)
	}
	if d.Group.IsValid() && (!d.Group.IsMulticast() || d.Group.Zone() != "") {
		return fmt.Errorf("sync daemon %s: group %s is not a multicast address", d.State, d.Group)
	}
	if d.MaxLength != 0 {
		if lo, hi := state.SyncMaxLengthRange(d.State, d.Group); int(d.MaxLength) < lo || int(d.MaxLength) > hi {
			return fmt.Errorf("sync daemon %s: maximum length %d is outside the kernel's %d-%d", d.State, d.MaxLength, lo, hi)
		}
	}
	return nil
}
