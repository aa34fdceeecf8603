package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/lvsctl/lvsctl/hosts/agent"
)

func newRestore() *cobra.Command {
	var netns, stateDir string
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "restore",
		Short: "Put back, on this host, what lvsctl kept for boot (run at boot by lvsctl-restore.service)",
		Long: `restore reads the state file lvsctl apply keeps on this host
(/var/lib/lvsctl/boot-host.json, or boot-netns-NAME.json for a namespace) and
puts back what it declares: sysctls first, then links, addresses, managed
routes and mark rules, then the IPVS table with its timeouts, in the order an
apply uses. What is already in place is left alone, so running it twice is
safe. It needs no cluster definition, no ssh and no ipvsadm.

The systemd unit lvsctl writes (lvsctl-restore.service) runs it at boot,
after systemd-sysctl and the network setup and before the network is online.
On a host without systemd, run it from the boot scripts, after the network
interfaces exist (see the README's "Reboots").

A step that fails stops the attempt there; restore reads the host again and
tries once a second until --wait has passed, then exits 1.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if netns != "" {
				if err := agent.EnterNetns(netns); err != nil {
					return err
				}
			}
			return agent.Restore(cmd.OutOrStdout(), agent.BackendOptions{StateDir: stateDir, Netns: netns}, wait)
		},
	}
	cmd.Flags().StringVar(&netns, "netns", "", "restore this network namespace (a name under /run/netns)")
	cmd.Flags().StringVar(&stateDir, "state-dir", "", "where the state file is (default /var/lib/lvsctl)")
	cmd.Flags().DurationVar(&wait, "wait", time.Minute, "how long to keep trying when a step fails")
	return cmd
}
