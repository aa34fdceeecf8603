package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/lvsctl/lvsctl/hosts/ifaces"
	"github.com/lvsctl/lvsctl/hosts/ipvs"
	"github.com/lvsctl/lvsctl/hosts/marks"
	"github.com/lvsctl/lvsctl/hosts/sysctl"
	"github.com/lvsctl/lvsctl/internal/boot"
	"github.com/lvsctl/lvsctl/internal/names"
	"github.com/lvsctl/lvsctl/internal/op"
	"github.com/lvsctl/lvsctl/internal/state"
)

// EnterNetns moves the calling goroutine, locked to its OS thread for good,
// into the named network namespace. The agent calls it first thing on its
// main goroutine and does all its work there, so every netlink socket and
// every /proc/sys file it opens belongs to that namespace.
func EnterNetns(name string) error {
	if err := names.CheckNetnsName(name); err != nil {
		return err
	}
	runtime.LockOSThread() // never unlocked: this thread now belongs to the namespace
	f, err := os.Open(filepath.Join("/run/netns", name))
	if err != nil {
		if os.IsNotExist(err) {
			return fmt.Errorf("network namespace %q does not exist (no /run/netns/%s)", name, name)
		}
		return fmt.Errorf("network namespace %q: %w", name, err)
	}
	defer f.Close()
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		if errors.Is(err, unix.EPERM) {
			return fmt.Errorf("entering network namespace %q needs root (CAP_SYS_ADMIN): %w", name, err)
		}
		return fmt.Errorf("entering network namespace %q: %w", name, err)
	}
	return nil
}

// Linux is the agent's backend on a Linux host.
type Linux struct {
	StateDir string // inventory and lock live here
	Scope    string // "host", "netns-NAME" or "netns-ino-N": one inventory each
	// Root is where the files kept for boot are written ("/" on a real
	// host; a folder in tests).
	Root string
	// where names the files kept for boot; unnamed says why there are none
	// (a namespace without a name).
	where   boot.Where
	unnamed string

	ipvs *ipvs.Conn
	lock *os.File
}

// BackendOptions say where an agent keeps its files.
type BackendOptions struct {
	StateDir string // inventory, lock and boot state; /var/lib/lvsctl when ""
	Netns    string // the namespace the agent was told to enter, by name
	Root     string // prefix of the boot files' paths; "/" when ""
}

const defaultStateDir = boot.DefaultStateDir

// NewBackend returns the backend for this host or namespace.
func NewBackend(o BackendOptions) (Backend, error) {
	return newLinux(o)
}

func newLinux(o BackendOptions) (*Linux, error) {
	stateDir := o.StateDir
	if stateDir == "" {
		stateDir = defaultStateDir
	}
	root := o.Root
	if root == "" {
		root = "/"
	}
	if !filepath.IsAbs(root) || filepath.Clean(root) != root {
		return nil, fmt.Errorf("root %q is not an absolute, clean path", names.Clean(root))
	}
	l := &Linux{StateDir: stateDir, Scope: "host", Root: root, where: boot.Where{StateDir: o.StateDir}}
	if o.Netns != "" {
		l.Scope, l.where.Netns = "netns-"+o.Netns, o.Netns
	} else if own, err := os.Stat("/proc/thread-self/ns/net"); err == nil {
		// An agent started inside a namespace it was not told the name of
		// (sshd running in one, as in the VM lab) finds the name under
		// /run/netns when it has one, and otherwise keeps its own inventory
		// and lock, keyed by the namespace's inode, and nothing for boot:
		// no boot can enter that namespace again. In init's namespace it
		// is the host's own.
		if init, err := os.Stat("/proc/1/ns/net"); err == nil && !os.SameFile(own, init) {
			if name := netnsName(own); name != "" {
				l.Scope, l.where.Netns = "netns-"+name, name
			} else {
				l.Scope = fmt.Sprintf("netns-ino-%d", own.Sys().(*syscall.Stat_t).Ino)
				l.unnamed = "the agent runs in a network namespace without a name under /run/netns, which no boot can enter again"
			}
		}
	}
	return l, nil
}

// netnsName returns the name under /run/netns of the namespace own is, or "".
func netnsName(own os.FileInfo) string {
	entries, err := os.ReadDir("/run/netns")
	if err != nil {
		return ""
	}
	for _, e := range entries[:min(len(entries), 4096)] {
		if names.CheckNetnsName(e.Name()) != nil {
			continue
		}
		if fi, err := os.Stat(filepath.Join("/run/netns", e.Name())); err == nil && os.SameFile(own, fi) {
			return e.Name()
		}
	}
	return ""
}

func (l *Linux) ipvsConn() (*ipvs.Conn, error) {
	if l.ipvs == nil {
		c, err := ipvs.Dial()
		if err != nil {
			return nil, err
		}
		c.Progress = func() { Work.Add(1) }
		l.ipvs = c
	}
	return l.ipvs, nil
}

// Gather reads what req names.
func (l *Linux) Gather(req GatherRequest) (*Gathered, error) {
	g := &Gathered{Host: &state.Host{}}
	h := g.Host
	if req.IPVS || (req.IPVSLoaded && ipvsLoaded()) {
		c, err := l.ipvsConn()
		switch {
		case errors.Is(err, ipvs.ErrNotAvailable):
		case err != nil:
			return nil, err
		default:
			g.IPVSAvailable = true
			if g.IPVSVersion, _, err = c.Info(); err != nil {
				return nil, err
			}
			if h.Services, err = c.Services(); err != nil {
				return nil, err
			}
			t, err := c.Timeouts()
			if err != nil {
				return nil, err
			}
			h.Timeouts = &t
			if h.Daemons, err = c.Daemons(); err != nil {
				return nil, err
			}
		}
	}
	var err error
	if len(req.Links) > 0 {
		if h.Links, err = ifaces.Links(req.Links); err != nil {
			return nil, err
		}
	}
	if req.AllAddrs || len(req.Addresses) > 0 {
		var which []string
		if !req.AllAddrs {
			which = req.Addresses
		}
		if h.Addresses, err = ifaces.Addresses(which); err != nil {
			return nil, err
		}
	}
	if req.Routes {
		if h.Routes, err = ifaces.DefaultRoutes(); err != nil {
			return nil, err
		}
	}
	for _, key := range req.Sysctls {
		Work.Add(1)
		v, err := sysctl.Read(key)
		switch {
		case errors.Is(err, sysctl.ErrNoSuchSysctl):
			g.MissingSysctl = append(g.MissingSysctl, key)
		case err != nil:
			return nil, err
		default:
			h.Sysctls = append(h.Sysctls, state.Sysctl{Key: key, Value: v})
		}
	}
	if req.Marks {
		if h.MarkRules, g.ForeignMarks, err = marks.Read(); err != nil {
			return nil, err
		}
	}
	if req.Inventory {
		if g.Inventory, err = l.readInventory(); err != nil {
			return nil, err
		}
	}
	if req.Boot {
		if g.Boot, err = l.gatherBoot(); err != nil {
			return nil, err
		}
	}
	if req.Keepalived != nil {
		if g.Keepalived, err = l.gatherKeepalived(req.Keepalived); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// WriteAhead records in the inventory, before ops run, what they are about to
// make lvsctl own and the live value of every sysctl they change for the
// first time (see wal.go). It writes once, atomically, and only when that adds
// something; a request that only updates or deletes reads nothing.
func (l *Linux) WriteAhead(ops []Op) error {
	if !needsWriteAhead(ops) {
		return nil
	}
	cur, err := l.readInventory()
	if err != nil {
		var what []string
		for _, o := range ops {
			if needsWriteAhead([]Op{o}) {
				what = append(what, o.String())
			}
		}
		return fmt.Errorf("the inventory must be read to record %s ahead of the change: %w", listSome(what), err)
	}
	next, news, err := writeAhead(cur, ops, sysctl.Read)
	if err != nil || len(news) == 0 {
		return err
	}
	if err := l.writeInventory(next); err != nil {
		return fmt.Errorf("recording %s in the inventory ahead of the change: %w", listSome(news), err)
	}
	return nil
}

// listSome lists the first three of items, and how many more there are.
func listSome(items []string) string {
	s := strings.Join(items[:min(len(items), 3)], ", ")
	if len(items) > 3 {
		s += fmt.Sprintf(" and %d more", len(items)-3)
	}
	return s
}

// Apply performs one operation.
func (l *Linux) Apply(o Op) error {
	switch o.Kind {
	case AddService, UpdateService, DeleteService, AddDest, UpdateDest, DeleteDest, SetTimeouts, StartDaemon, StopDaemon:
		c, err := l.ipvsConn()
		if err != nil {
			return err
		}
		switch o.Kind {
		case AddService:
			return c.AddService(o.Service)
		case UpdateService:
			return c.UpdateService(o.Service)
		case DeleteService:
			return c.DeleteService(*o.ServiceKey)
		case AddDest:
			return c.AddDestination(*o.ServiceKey, o.Dest)
		case UpdateDest:
			return c.UpdateDestination(*o.ServiceKey, o.Dest)
		case DeleteDest:
			return c.DeleteDestination(*o.ServiceKey, o.Dest)
		case StartDaemon:
			return c.StartDaemon(*o.Daemon)
		case StopDaemon:
			return c.StopDaemon(*o.Daemon)
		}
		return c.SetTimeouts(*o.Timeouts)
	case AddAddress:
		return ifaces.AddAddress(*o.Address)
	case DeleteAddress:
		return ifaces.DeleteAddress(*o.Address)
	case EnsureLink:
		return ifaces.EnsureLink(*o.Link)
	case LinkDown:
		return ifaces.SetLinkDown(o.Link.Name)
	case DeleteLink:
		return ifaces.DeleteLink(o.Link.Name)
	case SetSysctl:
		return sysctl.Write(o.Sysctl.Key, o.Sysctl.Value)
	case ReplaceRoute:
		return ifaces.ReplaceDefaultRoute(*o.Route)
	case DeleteRoute:
		return ifaces.DeleteRoute(*o.Route)
	case AddMark:
		return marks.Add(*o.Mark)
	case DeleteMark:
		return marks.Delete(*o.Mark)
	case ReplaceMark:
		return marks.Replace(*o.Mark)
	case WriteInventory:
		return l.writeInventory(o.Inventory)
	case WriteBoot:
		return l.writeBoot(o.Boot)
	case RemoveBoot:
		return l.removeBoot(o.Boot)
	case RevertBoot:
		return l.revertBoot(o.Boot)
	case op.WriteKeepalived:
		return l.writeKeepalived(o.Keepalived)
	case op.RevertKeepalived:
		return l.revertKeepalived(o.Keepalived)
	case op.RemoveKeepalived:
		return l.removeKeepalived(o.Keepalived)
	}
	return fmt.Errorf("unknown operation %q", o.Kind)
}

func (l *Linux) inventoryPath() string {
	return filepath.Join(l.StateDir, "inventory-"+l.Scope+".json")
}

func (l *Linux) readInventory() (*state.Inventory, error) {
	b, err := os.ReadFile(l.inventoryPath())
	if os.IsNotExist(err) {
		return &state.Inventory{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading inventory: %w", err)
	}
	inv := new(state.Inventory)
	if err := json.Unmarshal(b, inv); err != nil {
		return nil, fmt.Errorf("inventory %s is damaged: %w", l.inventoryPath(), err)
	}
	return inv, nil
}

// writeInventory replaces the inventory atomically: a crash leaves the old
// one or the new one, never half of either. The inventory.write operation
// (the applier's last step, and its rollback's restore) and the write-ahead
// before each apply request both come here.
func (l *Linux) writeInventory(inv *state.Inventory) error {
	if inv.Empty() {
		// Nothing owned: no file, as before lvsctl's first change, so a
		// rolled-back first apply leaves no trace.
		if err := os.Remove(l.inventoryPath()); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("inventory: %w", err)
		}
		return nil
	}
	if err := os.MkdirAll(l.StateDir, 0o700); err != nil {
		return fmt.Errorf("inventory: %w", err)
	}
	b, err := json.MarshalIndent(inv, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(l.StateDir, ".inventory-*")
	if err != nil {
		return fmt.Errorf("inventory: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("inventory: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("inventory: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("inventory: %w", err)
	}
	if err := os.Rename(f.Name(), l.inventoryPath()); err != nil {
		return fmt.Errorf("inventory: %w", err)
	}
	if d, err := os.Open(l.StateDir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Lock takes an exclusive flock for this scope; it is released when the
// agent exits, however it exits.
func (l *Linux) Lock() error {
	if l.lock != nil {
		return nil
	}
	if err := os.MkdirAll(l.StateDir, 0o700); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	path := filepath.Join(l.StateDir, "lock-"+l.Scope)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("another lvsctl holds the lock %s: wait for it to finish, or use --lock-timeout (%w)", path, syscall.EWOULDBLOCK)
		}
		return fmt.Errorf("lock %s: %w", path, err)
	}
	l.lock = f
	return nil
}

// Unlock releases the lock.
func (l *Linux) Unlock() error {
	if l.lock == nil {
		return nil
	}
	err := l.lock.Close()
	l.lock = nil
	return err
}

// ipvsLoaded reports whether the kernel has IPVS now (built in, or its
// module loaded): then every network namespace has /proc/net/ip_vs.
func ipvsLoaded() bool {
	_, err := os.Stat("/proc/net/ip_vs")
	return err == nil
}
