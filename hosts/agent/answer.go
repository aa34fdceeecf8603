package agent

import (
	"errors"
	"fmt"
	"regexp"
	"slices"

	"github.com/lvsctl/lvsctl/internal/boot"
	"github.com/lvsctl/lvsctl/internal/keepalived"
	"github.com/lvsctl/lvsctl/internal/names"
	"github.com/lvsctl/lvsctl/internal/state"
)

var (
	liveSchedName = regexp.MustCompile(`^[a-z0-9_]{0,15}$`)
	liveFlagName  = regexp.MustCompile(`^[a-z0-9-]{1,20}$`)
)

// checkGathered holds a gather answer to what was asked: the parts that were
// asked for and no others, no null entries, every name within lvsctl's
// patterns, every address valid. A host that answers otherwise is broken or
// hostile, and nothing it said is used.
func checkGathered(req GatherRequest, g *Gathered) error {
	if g == nil || g.Host == nil {
		return errors.New("no state")
	}
	h := g.Host
	h.Exclusive, h.Notes = false, nil
	g.IPVSVersion = Clean(g.IPVSVersion)
	for i := range g.ForeignMarks {
		g.ForeignMarks[i] = Clean(g.ForeignMarks[i])
	}
	if !req.IPVS && !req.IPVSLoaded && (len(h.Services) > 0 || h.Timeouts != nil || len(h.Daemons) > 0 || g.IPVSAvailable) {
		return errors.New("IPVS state it was not asked for")
	}
	for i, s := range h.Services {
		if s == nil {
			return fmt.Errorf("service %d is null", i+1)
		}
		if err := checkLiveService(s); err != nil {
			return err
		}
	}
	if err := checkLiveDaemons(h.Daemons); err != nil {
		return err
	}
	if len(h.Links) > 0 && len(req.Links) == 0 {
		return errors.New("links it was not asked for")
	}
	for _, l := range h.Links {
		if !slices.Contains(req.Links, l.Name) {
			return fmt.Errorf("link %q it was not asked for", Clean(l.Name))
		}
		if !slices.Contains([]string{"", "ipip", "sit", "gre", "ip6tnl", "ip6gre", "dummy"}, l.Kind) && !liveSchedName.MatchString(l.Kind) {
			return fmt.Errorf("link %s of kind %q", l.Name, Clean(l.Kind))
		}
	}
	if len(h.Addresses) > 0 && !req.AllAddrs && len(req.Addresses) == 0 {
		return errors.New("addresses it was not asked for")
	}
	for _, a := range h.Addresses {
		if err := checkAddress(a); err != nil {
			return err
		}
	}
	if len(h.Routes) > 0 && !req.Routes {
		return errors.New("routes it was not asked for")
	}
	for _, r := range h.Routes {
		if !r.Dst.IsValid() || !r.Gateway.IsValid() {
			return errors.New("a route without a valid destination and gateway")
		}
	}
	for _, s := range h.Sysctls {
		if !slices.Contains(req.Sysctls, s.Key) {
			return fmt.Errorf("sysctl %q it was not asked for", Clean(s.Key))
		}
		if err := names.CheckSysctlValue(s.Value); err != nil {
			return fmt.Errorf("sysctl %s: %v", s.Key, Clean(err.Error()))
		}
	}
	for _, k := range g.MissingSysctl {
		if !slices.Contains(req.Sysctls, k) {
			return fmt.Errorf("missing sysctl %q it was not asked for", Clean(k))
		}
	}
	if len(h.MarkRules) > 0 && !req.Marks {
		return errors.New("mark rules it was not asked for")
	}
	for _, m := range h.MarkRules {
		if err := checkMark(m); err != nil {
			return err
		}
	}
	if req.Inventory {
		if g.Inventory == nil {
			return errors.New("no inventory (an empty one is sent as {})")
		}
		if err := checkInventory(g.Inventory); err != nil {
			return fmt.Errorf("an inventory with %v", err)
		}
	} else if g.Inventory != nil {
		return errors.New("an inventory it was not asked for")
	}
	if req.Boot {
		if g.Boot == nil {
			return errors.New("nothing about the files kept for boot")
		}
		if err := checkBoot(g.Boot); err != nil {
			return fmt.Errorf("files kept for boot: %v", err)
		}
	} else if g.Boot != nil {
		return errors.New("files kept for boot it was not asked about")
	}
	if req.Keepalived != nil {
		k := g.Keepalived
		switch {
		case k == nil:
			return errors.New("nothing about keepalived's configuration")
		case k.Path != req.Keepalived.Config:
			return fmt.Errorf("keepalived's configuration at %q, not the file asked for", Clean(k.Path))
		case len(k.Content) > maxKeepalivedFile:
			return errors.New("a keepalived configuration larger than an agent reads")
		case !k.Exists && k.Content != "":
			return errors.New("content of a keepalived configuration that is not there")
		}
	} else if g.Keepalived != nil {
		return errors.New("keepalived's configuration it was not asked about")
	}
	return nil
}

// maxKeepalivedFile bounds what the agent reads of keepalived's
// configuration, and what a host may report of it.
const maxKeepalivedFile = 1 << 20

// checkBoot holds what a host says about its boot files to what an agent of
// this lvsctl reports: lvsctl's own paths for the scope it names, bounded
// contents, and text that is cleaned before anyone sees it.
func checkBoot(b *state.Boot) error {
	b.Unavailable, b.ExeRisk = Clean(b.Unavailable), Clean(b.ExeRisk)
	if b.Unavailable != "" {
		*b = state.Boot{Unavailable: b.Unavailable, Systemd: b.Systemd}
		return nil
	}
	if err := boot.CheckExe(b.Exe); err != nil {
		return errors.New(Clean(err.Error()))
	}
	if b.Netns != "" {
		if err := names.CheckNetnsName(b.Netns); err != nil {
			return errors.New(Clean(err.Error()))
		}
	}
	if b.StateDir != "" {
		if err := boot.CheckExe(b.StateDir); err != nil {
			return fmt.Errorf("state folder: %v", Clean(err.Error()))
		}
	}
	w := boot.Where{Netns: b.Netns, StateDir: b.StateDir}
	for _, f := range []struct {
		file string
		got  *state.BootFile
		max  int
	}{{boot.SysctlFile, &b.SysctlFile, maxBootFile}, {boot.StateFile, &b.StateFile, boot.MaxStateSize}, {boot.UnitFile, &b.Unit, maxBootFile}} {
		if f.got.Path != w.Path(f.file) {
			return fmt.Errorf("%s file at %q, not lvsctl's %s", f.file, Clean(f.got.Path), w.Path(f.file))
		}
		if len(f.got.Content) > f.max || (!f.got.Exists && f.got.Content != "") {
			return fmt.Errorf("%s: content lvsctl's agent does not report", f.got.Path)
		}
	}
	if b.UnitLink != w.UnitLink() {
		return fmt.Errorf("unit link at %q, not lvsctl's %s", Clean(b.UnitLink), w.UnitLink())
	}
	if len(b.Sysctls) > maxBootSettings || len(b.Restorers) > 16 {
		return errors.New("more boot settings than an agent reports")
	}
	for i := range b.Sysctls {
		x := &b.Sysctls[i]
		x.Key, x.Value, x.File = Clean(x.Key), Clean(x.Value), Clean(x.File)
	}
	if len(b.SysctlWarnings) > 200 {
		return errors.New("more boot warnings than an agent reports")
	}
	for i := range b.SysctlWarnings {
		b.SysctlWarnings[i] = Clean(b.SysctlWarnings[i])
	}
	for i := range b.Restorers {
		r := &b.Restorers[i]
		r.Name, r.RulesFile, r.Why = Clean(r.Name), Clean(r.RulesFile), Clean(r.Why)
	}
	return nil
}

// Bounds of what a host reports about boot, as the agent reads at most.
const (
	maxBootFile     = 1 << 20
	maxBootSettings = 100000
)

func checkLiveService(s *state.Service) error {
	if err := checkKey(s.Key); err != nil {
		return errors.New(Clean(err.Error()))
	}
	if !liveSchedName.MatchString(s.Scheduler) || !liveSchedName.MatchString(s.PE) {
		return fmt.Errorf("service %s: scheduler %q or persistence engine %q is not a name", s.Key, Clean(s.Scheduler), Clean(s.PE))
	}
	for _, f := range s.SchedFlags {
		if !liveFlagName.MatchString(f) {
			return fmt.Errorf("service %s: scheduler flag %q", s.Key, Clean(f))
		}
	}
	for i, d := range s.Dests {
		if d == nil {
			return fmt.Errorf("service %s: destination %d is null", s.Key, i+1)
		}
		if err := checkDest(d); err != nil {
			return errors.New(Clean(err.Error()))
		}
		if !slices.Contains([]string{"", "ipip", "gue", "gre"}, d.TunnelType) || !slices.Contains([]string{"", "none", "csum", "remcsum"}, d.TunnelChecksum) {
			return fmt.Errorf("service %s: destination %s: tunnel %q checksum %q", s.Key, d.Addr, Clean(d.TunnelType), Clean(d.TunnelChecksum))
		}
	}
	return nil
}

func checkAddress(a state.Address) error {
	if err := names.CheckInterfaceName(a.Interface); err != nil {
		return errors.New(Clean(err.Error()))
	}
	if !a.Prefix.IsValid() {
		return fmt.Errorf("an invalid address on %s", a.Interface)
	}
	return nil
}

func checkMark(m state.MarkRule) error {
	if m.Family != state.IPv4 && m.Family != state.IPv6 || !m.Addr.IsValid() {
		return errors.New("a mark rule without a valid family and address")
	}
	return nil
}

func checkInventory(inv *state.Inventory) error {
	for _, k := range inv.Services {
		if err := checkKey(k); err != nil {
			return errors.New(Clean(err.Error()))
		}
	}
	for _, a := range inv.Addresses {
		if err := checkAddress(a); err != nil {
			return err
		}
	}
	for _, l := range inv.Links {
		if err := names.CheckInterfaceName(l); err != nil {
			return errors.New(Clean(err.Error()))
		}
	}
	for k, v := range inv.Sysctls {
		// By shape only: an inventory from an older, wider sysctl policy may
		// hold a key the policy now refuses; the planner then lets it go.
		if err := names.CheckSysctlPath(k); err != nil {
			return errors.New(Clean(err.Error()))
		}
		if err := names.CheckSysctlValue(v); err != nil {
			return errors.New(Clean(err.Error()))
		}
	}
	for _, r := range inv.Routes {
		if !r.Dst.IsValid() || !r.Gateway.IsValid() {
			return errors.New("a route without a valid destination and gateway")
		}
	}
	for _, m := range inv.Marks {
		if err := checkMark(m); err != nil {
			return err
		}
	}
	for _, d := range inv.Daemons {
		if d != state.SyncMaster && d != state.SyncBackup {
			return fmt.Errorf("a sync daemon %q", Clean(d))
		}
	}
	for _, k := range inv.Keepalived {
		if err := keepalived.CheckConfigPath(k); err != nil {
			return err
		}
	}
	return nil
}

// checkLiveDaemons holds the sync daemons a host reports to what a kernel
// runs: at most one master and one backup, each with an interface name of
// the strict pattern and a sync ID of 0-255, a group that is multicast when
// there is one. Anything else is not believed.
func checkLiveDaemons(ds []state.SyncDaemon) error {
	seen := map[string]bool{}
	for _, d := range ds {
		if d.State != state.SyncMaster && d.State != state.SyncBackup {
			return fmt.Errorf("a sync daemon of state %q", Clean(d.State))
		}
		if seen[d.State] {
			return fmt.Errorf("two %s sync daemons", d.State)
		}
		seen[d.State] = true
		if err := names.CheckInterfaceName(d.Interface); err != nil {
			return fmt.Errorf("sync daemon %s: %s", d.State, Clean(err.Error()))
		}
		if d.SyncID > 255 || d.Group.IsValid() && !d.Group.IsMulticast() {
			return fmt.Errorf("sync daemon %s: sync ID %d, group %s", d.State, d.SyncID, Clean(d.Group.String()))
		}
	}
	return nil
}
