package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"

	"github.com/spf13/cobra"

	"github.com/lvsctl/lvsctl/internal/importer"
	"github.com/lvsctl/lvsctl/internal/ipvsadm"
	"github.com/lvsctl/lvsctl/internal/names"
)

func newImport() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Write a cluster definition for a cluster that exists: from ipvsadm's rules, keepalived.conf or the live hosts",
		Long: `import writes, on stdout, an lvsctl cluster definition (CUE, formatted as
cue fmt formats it) for an LVS cluster that already runs: from ipvsadm's saved
rules, from keepalived.conf, or from the live hosts. Save it in a cluster
directory and run lvsctl plan: the first plan changes no object.

Services are named by VIP and port ("192.168.0.10:80", "udp@192.168.0.10:53",
"2001:db8::1.80", "fwmark-7"), real servers by address. What lvsctl does not
model goes into comments beside the object it belongs to. The hosts get
boot: "none": whatever restores the cluster at boot today keeps doing so until
you hand that to lvsctl.`,
	}
	cmd.AddCommand(newImportIPVSAdm(), newImportKeepalived(), newImportLive())
	return cmd
}

// reachFlags say how the one director of a file import is reached.
type reachFlags struct {
	director, ssh, netns, pkg string
	local                     bool
}

func (f *reachFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.director, "director", "director", "the director's name in the definition")
	cmd.Flags().StringVar(&f.ssh, "ssh", "", "the address ssh reaches the director at (default: the director's name, as your ~/.ssh/config knows it)")
	cmd.Flags().StringVar(&f.netns, "netns", "", "the director is this network namespace (on the director with --ssh, or on this machine)")
	cmd.Flags().BoolVar(&f.local, "local", false, "the director is this machine")
	cmd.Flags().StringVar(&f.pkg, "package", "cluster", "the CUE package name")
}

func (f *reachFlags) host() (*importer.Host, error) {
	if err := checkObjectName("--director", f.director); err != nil {
		return nil, err
	}
	if !identifierName(f.pkg) {
		return nil, fmt.Errorf("--package %q is not a CUE package name", names.Clean(f.pkg))
	}
	h := &importer.Host{Name: f.director, Boot: "none"}
	switch {
	case f.local && (f.ssh != "" || f.netns != ""):
		return nil, fmt.Errorf("--local is this machine itself: it goes with neither --ssh nor --netns")
	case f.local:
		h.Local = true
		return h, nil
	case f.ssh != "":
		if err := names.CheckSSHAddress(f.ssh); err != nil {
			return nil, fmt.Errorf("--ssh: %w", err)
		}
		h.SSH = &importer.SSH{Address: f.ssh}
	case f.netns == "":
		if err := names.CheckSSHAddress(f.director); err != nil {
			return nil, fmt.Errorf("the director %q is no address ssh can reach: give --ssh ADDRESS, --netns NAME or --local", f.director)
		}
		h.SSH = &importer.SSH{Address: f.director}
		h.Comment = append([]string{"Reached over ssh by its name, as your ~/.ssh/config knows it."}, h.Comment...)
	}
	if f.netns != "" {
		if err := names.CheckNetnsName(f.netns); err != nil {
			return nil, fmt.Errorf("--netns: %w", err)
		}
		h.Netns = f.netns
	}
	return h, nil
}

func newImportIPVSAdm() *cobra.Command {
	var f reachFlags
	cmd := &cobra.Command{
		Use:   "ipvsadm FILE",
		Short: "Write a definition from ipvsadm -S, ipvsadm -S -n, ipvsadm-save or an ipvsadm rules file (- for stdin)",
		Long: `import ipvsadm reads an IPVS table as ipvsadm saves it (ipvsadm -S -n, best;
ipvsadm -S, whose host and port names are resolved now; ipvsadm-save; the
rules files /etc/ipvsadm.rules and /etc/sysconfig/ipvsadm) and writes a
definition with one director holding that table.

Saved rules do not say which interface carries each VIP, so the VIPs are not
listed under the director's vips: lvsctl leaves them to whatever sets them now
(validate says so for each). Add them under vips to have lvsctl keep them.`,
		Example: `  ipvsadm -S -n | lvsctl import ipvsadm --ssh lvs1.example.com - > cluster/lvs.cue
  lvsctl import ipvsadm /etc/ipvsadm.rules --director lvs1 > cluster/lvs.cue`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := f.host()
			if err != nil {
				return err
			}
			r, name, closeIn, err := openInput(cmd, args[0])
			if err != nil {
				return err
			}
			defer closeIn()
			rules, err := ipvsadm.ReadIPVSRules(r, name, net.DefaultResolver)
			if err != nil {
				return err
			}
			for _, n := range rules.Notes {
				fmt.Fprintf(cmd.ErrOrStderr(), "lvsctl: %s: %s\n", name, n)
			}
			def := importer.FromIPVSRules(rules, h, name)
			return writeDefinition(cmd, def, f.pkg)
		},
	}
	f.register(cmd)
	return cmd
}

// openInput opens FILE, or stdin for "-".
func openInput(cmd *cobra.Command, arg string) (io.Reader, string, func(), error) {
	if arg == "-" {
		return cmd.InOrStdin(), "stdin", func() {}, nil
	}
	fh, err := os.Open(arg)
	if err != nil {
		return nil, "", nil, err
	}
	return fh, filepath.Clean(arg), func() { fh.Close() }, nil
}

func writeDefinition(cmd *cobra.Command, def *importer.Definition, pkg string) error {
	out, err := importer.Render(def, pkg)
	if err != nil {
		return err
	}
	_, err = cmd.OutOrStdout().Write(out)
	return err
}

func checkObjectName(flag, name string) error {
	if !objectNamePattern.MatchString(name) {
		return fmt.Errorf("%s %q: use 1 to 128 letters, digits, \"_\", \".\", \":\", \"@\", \"+\" or \"-\", starting with a letter, digit or \"_\"", flag, names.Clean(name))
	}
	return nil
}

var objectNamePattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.:@+-]{0,127}$`)

func identifierName(s string) bool {
	return s != "" && importer.Label(s) == s
}
