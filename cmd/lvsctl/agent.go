package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/lvsctl/lvsctl/hosts/agent"
)

func newAgent() *cobra.Command {
	var netns, stateDir, root string
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Serve lvsctl's agent protocol on stdin and stdout (run by lvsctl itself, locally or over ssh)",
		Long: `agent reads this host's live state and changes it on behalf of lvsctl plan
and apply, speaking JSON on stdin and stdout. It never opens a socket. lvsctl
starts it itself, as a child process or through ssh; there is no reason to run
it by hand.`,
		Args:   cobra.NoArgs,
		Hidden: true, // lvsctl's own: not for people
		RunE: func(cmd *cobra.Command, args []string) error {
			if netns != "" {
				if err := agent.EnterNetns(netns); err != nil {
					return err
				}
			}
			b, err := agent.NewBackend(agent.BackendOptions{StateDir: stateDir, Netns: netns, Root: root})
			if err != nil {
				return err
			}
			return agent.Serve(os.Stdin, os.Stdout, b)
		},
	}
	cmd.Flags().StringVar(&netns, "netns", "", "enter this network namespace (a name under /run/netns) first")
	cmd.Flags().StringVar(&stateDir, "state-dir", "", "where to keep the inventory and lock (default /var/lib/lvsctl)")
	cmd.Flags().StringVar(&root, "persist-root", "", "write the files kept for boot under this folder instead of / (default /)")
	return cmd
}
