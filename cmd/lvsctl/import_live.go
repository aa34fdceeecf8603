package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/lvsctl/lvsctl/hosts/agent"
	"github.com/lvsctl/lvsctl/internal/importer"
	"github.com/lvsctl/lvsctl/internal/state"
	"github.com/lvsctl/lvsctl/planner"
	"github.com/lvsctl/lvsctl/schema"
)

func newImportLive() *cobra.Command {
	var f hostFlags
	var pkg string
	var check bool
	cmd := &cobra.Command{
		Use:   "live DIR",
		Short: "Write a definition from what lvsctl finds on the hosts named in DIR",
		Long: `import live reads every host that DIR's definition names (only hosts are
needed) and writes a definition of everything lvsctl finds there that it would
manage: each IPVS table (its host becomes a director), the director's
addresses that are service VIPs, the real servers among the hosts (a
destination's address on a host's interface) with that interface, their
loopback or tunnel VIPs and ARP, reverse-path and forwarding sysctls, and
lvsctl's own firewall-mark rules. It changes nothing on any host, and does not
load IPVS on a host that does not have it loaded.

Then it plans the written definition against the hosts, as lvsctl plan would,
and says on stderr what that first plan would change (nothing, for a cluster
that is set up as lvsctl sets one up). --check=false skips that.`,
		Example: `  lvsctl import live cluster/ > cluster/imported.cue.new`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !identifierName(pkg) {
				return fmt.Errorf("--package %q is not a CUE package name", pkg)
			}
			in := catchSignals(cmd.Context(), cmd.ErrOrStderr())
			defer in.stop()
			s, err := open(in.Hard, cmd, args, f, true)
			if err != nil {
				return err
			}
			defer s.close(cmd.ErrOrStderr())
			if err := s.cluster.Err(); err != nil {
				return unreachable(err)
			}
			lhs, err := readAllForImport(s, f.parallelism)
			if err != nil {
				return interrupted(in.Hard, fmt.Errorf("%w; nothing was changed on any host", err))
			}
			def, notes := importer.FromLive(lhs)
			n, d := 0, 0
			for _, dir := range def.Directors {
				for _, svc := range dir.Services {
					n++
					d += len(svc.Reals)
				}
			}
			def.Header = []string{
				fmt.Sprintf("Imported by lvsctl import live from the hosts of %s: %d director%s, %d service%s, %d real server%s.",
					filepath.Clean(args[0]), len(def.Directors), plural(len(def.Directors)), n, plural(n), d, plural(d)),
				"",
				importer.BootNote,
			}
			if slices.ContainsFunc(def.Directors, func(d *importer.Director) bool { return len(d.VIPs) > 0 }) {
				def.Header = append(def.Header, "", "The vips are the service addresses each director has now. If VRRP (keepalived) moves one between directors, take it out of vips: lvsctl would otherwise put it back where it is listed.")
			}
			out, err := importer.Render(def, pkg)
			if err != nil {
				return err
			}
			for _, note := range notes {
				fmt.Fprintln(cmd.ErrOrStderr(), "lvsctl: import:", note)
			}
			if check {
				if err := checkImport(cmd, s, out); err != nil {
					return interrupted(in.Hard, err)
				}
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&pkg, "package", "cluster", "the CUE package name")
	cmd.Flags().BoolVar(&check, "check", true, "plan the written definition against the hosts and say on stderr what the first plan would change")
	return cmd
}

// readAllForImport reads every open host, up to parallelism at once.
func readAllForImport(s *session, parallelism int) ([]importer.LiveHost, error) {
	names := slices.Sorted(maps.Keys(s.cluster.Clients))
	lhs := make([]importer.LiveHost, len(names))
	errs := make([]error, len(names))
	sem := make(chan struct{}, max(parallelism, 1))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			st, err := readForImport(s.cluster.Clients[name])
			if err != nil {
				if !strings.Contains(err.Error(), name) {
					err = fmt.Errorf("host %s: %w", name, err)
				}
				errs[i] = err
				return
			}
			lhs[i] = importer.LiveHost{Host: importHost(name, s.loaded.Cluster.Hosts[name]), State: st}
		}()
	}
	wg.Wait()
	return lhs, errors.Join(errs...)
}

// readForImport reads what import live looks at on one host, in two steps:
// the sysctls to read depend on the interfaces found.
func readForImport(cl *agent.Client) (*state.Host, error) {
	g, err := cl.Gather(agent.GatherRequest{IPVSLoaded: true, AllAddrs: true, Routes: true, Marks: true,
		Links: append([]string{"lo"}, importer.TunnelDevices...)})
	if err != nil {
		return nil, err
	}
	h := g.Host
	if !g.IPVSAvailable {
		h.Services, h.Timeouts = nil, nil
	}
	sys, err := cl.Gather(agent.GatherRequest{Sysctls: importer.SysctlsToRead(h.Addresses, h.Links)})
	if err != nil {
		return nil, err
	}
	h.Sysctls = sys.Host.Sysctls
	for _, s := range h.Services {
		for _, d := range s.Dests {
			d.Conns = nil
		}
	}
	return h, nil
}

// importHost is a host of DIR as the imported definition reaches it.
func importHost(name string, h *schema.Host) *importer.Host {
	ih := &importer.Host{Name: name, Local: h.Local, Netns: h.Netns, AgentPath: h.AgentPath, Interface: h.Interface, Boot: "none"}
	if h.SSH != nil {
		ih.SSH = &importer.SSH{Address: h.SSH.Address, Port: h.SSH.Port, User: h.SSH.User}
	}
	if h.DefaultRoute == "manage" {
		ih.DefaultRoute = "manage"
	}
	for _, k := range slices.Sorted(maps.Keys(h.Sysctls)) {
		ih.Sysctls = append(ih.Sysctls, importer.Sysctl{Key: k, Value: string(h.Sysctls[k])})
	}
	return ih
}

// checkImport loads the written definition as lvsctl plan would, plans it
// against the hosts (read again, as plan reads them), and says what the
// first plan would change.
func checkImport(cmd *cobra.Command, s *session, def []byte) error {
	tmp, err := os.MkdirTemp("", "lvsctl-import-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.WriteFile(filepath.Join(tmp, "imported.cue"), def, 0o600); err != nil {
		return err
	}
	loaded, err := schema.LoadWith(tmp, limitsOf(cmd))
	if err != nil {
		return fmt.Errorf("the imported definition does not load, which is a bug in lvsctl import: %w", err)
	}
	live := s.cluster.Gather(loaded.Hosts)
	if err := s.cluster.Err(); err != nil {
		return unreachable(err)
	}
	p, err := planner.MakeWith(loaded.Hosts, live, planner.Options{})
	if err != nil {
		return err
	}
	w := cmd.ErrOrStderr()
	if len(p.Changes) == 0 {
		fmt.Fprintln(w, "lvsctl: import: the first plan of this definition changes no object on any host.")
		if adopt, _, hosts := p.InventoryCounts(); hosts > 0 {
			fmt.Fprintf(w, "lvsctl: import: its first apply records the %d object%s it found in lvsctl's inventory on %d host%s, so that lvsctl owns them.\n",
				adopt, plural(adopt), hosts, plural(hosts))
		}
		return nil
	}
	fmt.Fprintf(w, "lvsctl: import: the first plan of this definition would still change %d object%s:\n", len(p.Changes), plural(len(p.Changes)))
	var b strings.Builder
	writePlanText(&b, &planner.Plan{Changes: p.Changes}, "would")
	io.WriteString(w, indentLines(b.String(), "  "))
	return nil
}

func indentLines(s, prefix string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if strings.TrimSpace(l) != "" {
			b.WriteString(prefix)
		}
		b.WriteString(l)
	}
	return b.String()
}
