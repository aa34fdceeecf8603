// Package fakehost is a host in memory for planner and applier tests: it
// applies lvsctl's operations to a state.Host as the kernel would (EEXIST,
// ENOENT, ESRCH), and records each as the shell command it stands for
// (ipvsadm, ip, sysctl, nft), so a failing test reads like a transcript.
// It is never the only proof that a feature works: the VM lab is.
package fakehost

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"syscall"

	"github.com/lvsctl/lvsctl/internal/boot"
	"github.com/lvsctl/lvsctl/internal/ipvsadm"
	"github.com/lvsctl/lvsctl/internal/keepalived"
	"github.com/lvsctl/lvsctl/internal/op"
	"github.com/lvsctl/lvsctl/internal/state"
)

// Host is one fake machine.
type Host struct {
	State     *state.Host
	Inventory *state.Inventory
	// Fail, when set, is asked before each operation; an error it returns
	// fails the operation without changing anything.
	Fail func(op.Op) error
	Log  []string
	// Boot, when set, holds the files kept for boot as an agent reports
	// them; boot operations change it. Nil: a host that says nothing about
	// boot, which the planner leaves alone.
	Boot    *state.Boot
	backups map[string]state.BootFile
	// Keepalived, when set, is keepalived's configuration file as an agent
	// reports it; keepalived operations change it, and Reloads counts the
	// SIGHUPs a running keepalived got.
	Keepalived *state.KeepalivedFile
	Reloads    int
	kaBackup   *state.KeepalivedFile
}

// New returns an empty host with IPVS.
func New(name string) *Host {
	return &Host{State: &state.Host{Name: name, Timeouts: &state.Timeouts{TCP: 900, TCPFin: 120, UDP: 300}}, Inventory: &state.Inventory{}}
}

// Apply performs one operation.
func (h *Host) Apply(o op.Op) error {
	if h.Fail != nil {
		if err := h.Fail(o); err != nil {
			return err
		}
	}
	line, err := h.apply(o)
	if err != nil {
		return fmt.Errorf("%s: %w", o, err)
	}
	h.Log = append(h.Log, line)
	return nil
}

func (h *Host) service(k state.ServiceKey) (int, *state.Service) {
	for i, s := range h.State.Services {
		if s.Key == k {
			return i, s
		}
	}
	return -1, nil
}

func dest(s *state.Service, a netip.AddrPort) int {
	return slices.IndexFunc(s.Dests, func(d *state.Destination) bool { return d.Addr == a })
}

func saveLine(s *state.Service) string {
	return strings.TrimSpace(strings.SplitN(ipvsadm.Save([]*state.Service{s}), "\n", 2)[0])
}

func destLine(k state.ServiceKey, d *state.Destination) string {
	lines := strings.Split(strings.TrimSpace(ipvsadm.Save([]*state.Service{{Key: k, Dests: []*state.Destination{d}}})), "\n")
	return lines[len(lines)-1]
}

func (h *Host) apply(o op.Op) (string, error) {
	st := h.State
	switch o.Kind {
	case op.AddService:
		if _, s := h.service(o.Service.Key); s != nil {
			return "", syscall.EEXIST
		}
		c := *o.Service
		st.Services = append(st.Services, &c)
		return "ipvsadm " + saveLine(&c), nil
	case op.UpdateService:
		i, s := h.service(o.Service.Key)
		if s == nil {
			return "", syscall.ESRCH
		}
		c := *o.Service
		c.Dests = s.Dests
		st.Services[i] = &c
		return "ipvsadm " + strings.Replace(saveLine(&c), "-A", "-E", 1), nil
	case op.DeleteService:
		i, s := h.service(*o.ServiceKey)
		if s == nil {
			return "", syscall.ESRCH
		}
		st.Services = slices.Delete(st.Services, i, i+1)
		return "ipvsadm -D " + strings.Fields(saveLine(s))[1] + " " + strings.Fields(saveLine(s))[2], nil
	case op.AddDest, op.UpdateDest, op.DeleteDest:
		_, s := h.service(*o.ServiceKey)
		if s == nil {
			return "", syscall.ESRCH
		}
		i := dest(s, o.Dest.Addr)
		c := *o.Dest
		switch {
		case o.Kind == op.AddDest && i >= 0:
			return "", syscall.EEXIST
		case o.Kind != op.AddDest && i < 0:
			return "", syscall.ENOENT
		case o.Kind == op.AddDest:
			s.Dests = append(s.Dests, &c)
			return "ipvsadm " + destLine(s.Key, &c), nil
		case o.Kind == op.UpdateDest:
			c.Conns = s.Dests[i].Conns
			s.Dests[i] = &c
			return "ipvsadm " + strings.Replace(destLine(s.Key, &c), "-a", "-e", 1), nil
		}
		s.Dests = slices.Delete(s.Dests, i, i+1)
		f := strings.Fields(destLine(s.Key, &c))
		return "ipvsadm -d " + strings.Join(f[1:5], " "), nil
	case op.SetTimeouts:
		t := *o.Timeouts
		st.Timeouts = &t
		return fmt.Sprintf("ipvsadm --set %d %d %d", t.TCP, t.TCPFin, t.UDP), nil
	case op.AddAddress:
		if slices.ContainsFunc(st.Addresses, func(a state.Address) bool {
			return a.Interface == o.Address.Interface && a.Prefix.Addr() == o.Address.Prefix.Addr()
		}) {
			return "", syscall.EEXIST
		}
		st.Addresses = append(st.Addresses, *o.Address)
		return fmt.Sprintf("ip addr add %s dev %s", o.Address.Prefix, o.Address.Interface), nil
	case op.DeleteAddress:
		i := slices.IndexFunc(st.Addresses, func(a state.Address) bool { return a.Interface == o.Address.Interface && a.Prefix == o.Address.Prefix })
		if i < 0 {
			return "", syscall.EADDRNOTAVAIL
		}
		st.Addresses = slices.Delete(st.Addresses, i, i+1)
		return fmt.Sprintf("ip addr del %s dev %s", o.Address.Prefix, o.Address.Interface), nil
	case op.EnsureLink, op.LinkDown, op.DeleteLink:
		i := slices.IndexFunc(st.Links, func(l state.Link) bool { return l.Name == o.Link.Name })
		if i < 0 {
			if o.Kind != op.EnsureLink {
				return "", syscall.ENODEV
			}
			st.Links = append(st.Links, state.Link{Name: o.Link.Name, Kind: o.Link.Kind})
			i = len(st.Links) - 1
		}
		st.Links[i].Up = o.Kind == op.EnsureLink
		return fmt.Sprintf("ip link set %s %s", o.Link.Name, map[bool]string{true: "up", false: "down"}[st.Links[i].Up]), nil
	case op.SetSysctl:
		i := slices.IndexFunc(st.Sysctls, func(s state.Sysctl) bool { return s.Key == o.Sysctl.Key })
		if i < 0 {
			st.Sysctls = append(st.Sysctls, state.Sysctl{Key: o.Sysctl.Key})
			i = len(st.Sysctls) - 1
		}
		st.Sysctls[i].Value = o.Sysctl.Value
		return fmt.Sprintf("sysctl -w %s=%s", o.Sysctl.Key, o.Sysctl.Value), nil
	case op.ReplaceRoute:
		st.Routes = slices.DeleteFunc(st.Routes, func(r state.Route) bool { return r.Dst == o.Route.Dst })
		st.Routes = append(st.Routes, state.Route{Dst: o.Route.Dst, Gateway: o.Route.Gateway})
		return fmt.Sprintf("ip route replace %s via %s", o.Route.Dst, o.Route.Gateway), nil
	case op.DeleteRoute:
		st.Routes = slices.DeleteFunc(st.Routes, func(r state.Route) bool { return r.Dst == o.Route.Dst })
		return fmt.Sprintf("ip route del %s", o.Route.Dst), nil
	case op.AddMark, op.ReplaceMark, op.DeleteMark:
		same := func(m state.MarkRule) bool {
			return m.Addr == o.Mark.Addr && m.Protocol == o.Mark.Protocol && slices.Equal(m.Ports, o.Mark.Ports)
		}
		i := slices.IndexFunc(st.MarkRules, same)
		switch {
		case o.Kind == op.AddMark && i >= 0:
			return "", syscall.EEXIST
		case o.Kind != op.AddMark && i < 0:
			return "", syscall.ENOENT
		case o.Kind == op.DeleteMark:
			st.MarkRules = slices.Delete(st.MarkRules, i, i+1)
			return fmt.Sprintf("nft delete rule (%s %v -> mark %d)", o.Mark.Addr, o.Mark.Ports, o.Mark.Mark), nil
		case o.Kind == op.ReplaceMark:
			st.MarkRules[i] = *o.Mark
		default:
			st.MarkRules = append(st.MarkRules, *o.Mark)
		}
		return fmt.Sprintf("nft add rule (%s %v -> mark %d)", o.Mark.Addr, o.Mark.Ports, o.Mark.Mark), nil
	case op.WriteInventory:
		inv := *o.Inventory
		h.Inventory = &inv
		return "write inventory", nil
	case op.WriteBoot, op.RemoveBoot, op.RevertBoot:
		return h.bootOp(o)
	case op.WriteKeepalived, op.RevertKeepalived, op.RemoveKeepalived:
		return h.keepalivedOp(o)
	case op.StartDaemon, op.StopDaemon:
		i := slices.IndexFunc(st.Daemons, func(d state.SyncDaemon) bool { return d.State == o.Daemon.State })
		if o.Kind == op.StopDaemon {
			if i < 0 {
				return "", syscall.ESRCH
			}
			st.Daemons = slices.Delete(st.Daemons, i, i+1)
			return "ipvsadm --stop-daemon " + o.Daemon.State, nil
		}
		if i >= 0 {
			return "", syscall.EEXIST
		}
		d := *o.Daemon
		d.Why = nil
		// As the kernel fills in what was left out, for an interface
		// with an MTU of 1500.
		if !d.Group.IsValid() {
			d.Group = state.DefaultSyncGroup
		}
		if d.Port == 0 {
			d.Port = state.DefaultSyncPort
		}
		if d.TTL == 0 {
			d.TTL = state.DefaultSyncTTL
		}
		if d.MaxLength == 0 {
			d.MaxLength = 1500 - 28
			if d.Group.Is6() {
				d.MaxLength = 1500 - 48
			}
		}
		st.Daemons = append(st.Daemons, d)
		return fmt.Sprintf("ipvsadm --start-daemon %s --mcast-interface %s --syncid %d", d.State, d.Interface, d.SyncID), nil
	}
	return "", fmt.Errorf("fakehost: unknown operation %q", o.Kind)
}

// Transcript is the log as one string, a command per line.
func (h *Host) Transcript() string { return strings.Join(h.Log, "\n") }

// NewBoot returns what an agent reports for a host with none of lvsctl's
// boot files yet, running systemd.
func NewBoot() *state.Boot {
	w := boot.Where{}
	return &state.Boot{Systemd: true, Exe: "/usr/local/bin/lvsctl",
		SysctlFile: state.BootFile{Path: w.SysctlPath()}, StateFile: state.BootFile{Path: w.StatePath()},
		Unit: state.BootFile{Path: w.UnitPath()}, UnitLink: w.UnitLink()}
}

func (h *Host) bootFile(file string) *state.BootFile {
	switch file {
	case boot.SysctlFile:
		return &h.Boot.SysctlFile
	case boot.StateFile:
		return &h.Boot.StateFile
	}
	return &h.Boot.Unit
}

// bootOp writes, removes or puts back a boot file as the agent does,
// keeping the previous content for a revert.
func (h *Host) bootOp(o op.Op) (string, error) {
	if h.Boot == nil {
		return "", fmt.Errorf("fakehost: no boot files modelled")
	}
	if h.backups == nil {
		h.backups = map[string]state.BootFile{}
	}
	f := h.bootFile(o.Boot.File)
	prev := *f
	switch o.Kind {
	case op.WriteBoot:
		h.backups[o.Boot.File] = prev
		f.Exists, f.Content = true, o.Boot.Content
		if o.Boot.File == boot.UnitFile {
			h.Boot.UnitEnabled = o.Boot.Enable
		}
		return "write " + f.Path, nil
	case op.RemoveBoot:
		h.backups[o.Boot.File] = prev
		f.Exists, f.Content = false, ""
		if o.Boot.File == boot.UnitFile {
			h.Boot.UnitEnabled = false
		}
		return "rm " + f.Path, nil
	}
	if !o.Boot.Existed {
		f.Exists, f.Content = false, ""
		if o.Boot.File == boot.UnitFile {
			h.Boot.UnitEnabled = false
		}
		return "rm " + f.Path + " (revert)", nil
	}
	bk, ok := h.backups[o.Boot.File]
	sum := sha256.Sum256([]byte(bk.Content))
	if !ok || !bk.Exists || hex.EncodeToString(sum[:]) != o.Boot.SHA256 {
		return "", fmt.Errorf("the copy of %s is not what the plan read there", f.Path)
	}
	f.Exists, f.Content = true, bk.Content
	if o.Boot.File == boot.UnitFile {
		h.Boot.UnitEnabled = o.Boot.Enabled
	}
	return "restore " + f.Path, nil
}

// keepalivedOp writes keepalived's configuration as the agent does (rendered
// from the operation's structured configuration, the old content kept for a
// revert, keepalived reloaded when it runs), or puts it back.
func (h *Host) keepalivedOp(o op.Op) (string, error) {
	if h.Keepalived == nil {
		return "", fmt.Errorf("fakehost: no keepalived file modelled")
	}
	f := h.Keepalived
	reload := func() string {
		if f.Running {
			h.Reloads++
			return "; kill -HUP keepalived"
		}
		return ""
	}
	if o.Kind == op.WriteKeepalived {
		text, err := keepalived.Render(o.Keepalived.Spec)
		if err != nil {
			return "", err
		}
		prev := *f
		h.kaBackup = &prev
		f.Exists, f.Content = true, string(text)
		return "write " + f.Path + reload(), nil
	}
	if o.Kind == op.RemoveKeepalived {
		prev := *f
		h.kaBackup = &prev
		f.Exists, f.Content = false, ""
		return "rm " + f.Path, nil
	}
	if !o.Keepalived.Existed {
		f.Exists, f.Content = false, ""
		return "rm " + f.Path + " (revert)", nil
	}
	bk := h.kaBackup
	sum := sha256.Sum256([]byte(func() string {
		if bk == nil {
			return ""
		}
		return bk.Content
	}()))
	if bk == nil || !bk.Exists || hex.EncodeToString(sum[:]) != o.Keepalived.SHA256 {
		return "", fmt.Errorf("the copy of %s is not what the plan read there", f.Path)
	}
	f.Exists, f.Content = true, bk.Content
	return "restore " + f.Path + reload(), nil
}
