package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/lvsctl/lvsctl/internal/importer"
	"github.com/lvsctl/lvsctl/internal/keepalived"
	"github.com/lvsctl/lvsctl/internal/names"
)

func newImportKeepalived() *cobra.Command {
	var f reachFlags
	var instance string
	cmd := &cobra.Command{
		Use:   "keepalived FILE",
		Short: "Write a definition from keepalived.conf's virtual servers",
		Long: `import keepalived reads keepalived.conf as keepalived 2.x reads it (include,
$NAME definitions, ~SEQ and ~LST, @ID lines) and writes a definition with one
director holding its virtual_server blocks (virtual_server_group expanded):
schedulers, forwarding methods, weights, persistence, one-packet scheduling,
thresholds, tunnels and lvs_timeouts.

What lvsctl does not model (health checkers, sorry_server, quorum, VRRP
instances, notify scripts) becomes comments beside the object it belongs to,
with a line per kind on stderr. The VIPs are not listed under the director's
vips: VRRP moves them, or keepalived's host configuration sets them.`,
		Example: `  lvsctl import keepalived /etc/keepalived/keepalived.conf --ssh lvs1 > cluster/lvs.cue`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := f.host()
			if err != nil {
				return err
			}
			if instance != "" && !objectNamePattern.MatchString(instance) {
				return fmt.Errorf("--instance %q is not a keepalived config-id", names.Clean(instance))
			}
			res, err := keepalived.ParseFileOptions(args[0], keepalived.Options{Instance: instance})
			if err != nil {
				return err
			}
			w := cmd.ErrOrStderr()
			for _, warn := range res.Warnings {
				fmt.Fprintln(w, "lvsctl: keepalived:", names.Clean(warn))
			}
			for _, s := range res.Summary {
				fmt.Fprintln(w, "lvsctl: import:", names.Clean(s))
			}
			def, notes := importer.FromKeepalived(res, h, filepath.Clean(args[0]))
			for _, n := range notes {
				fmt.Fprintln(w, "lvsctl: import:", n)
			}
			return writeDefinition(cmd, def, f.pkg)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&instance, "instance", "", "keepalived's config-id (its -i; by default the director's host name up to the first dot), for @ID lines and ${_INSTANCE}")
	return cmd
}
