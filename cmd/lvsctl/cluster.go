package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/lvsctl/lvsctl/hosts"
	"github.com/lvsctl/lvsctl/planner"
	"github.com/lvsctl/lvsctl/schema"
)

// hostFlags are the flags every command that reaches hosts shares.
type hostFlags struct {
	stateDir    string
	parallelism int
}

func (f *hostFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.stateDir, "state-dir", "", "where agents keep inventory and lock on each host (default /var/lib/lvsctl)")
	cmd.Flags().IntVar(&f.parallelism, "parallelism", 10, "hosts read at once")
}

// session is a loaded configuration with an agent open on every host.
type session struct {
	loaded  *schema.Loaded
	cluster *hosts.Cluster
	opts    hosts.Options
}

// open loads dir, reporting problems the way validate does, and starts the
// agents.
func open(ctx context.Context, cmd *cobra.Command, args []string, f hostFlags, readOnly bool) (*session, error) {
	dir := "."
	if len(args) == 1 {
		dir = args[0]
	}
	loaded, err := load(cmd, dir)
	if err != nil {
		return nil, err
	}
	o := hosts.Options{StateDir: f.stateDir, Parallelism: f.parallelism, ReadOnly: readOnly, Progress: cmd.ErrOrStderr()}
	c, err := hosts.Open(ctx, loaded.Cluster.Hosts, o)
	if err != nil {
		return nil, err
	}
	return &session{loaded: loaded, cluster: c, opts: o}, nil
}

func (s *session) plan(ctx context.Context) (*planner.Plan, error) {
	live, err := s.cluster.Gather(ctx, s.loaded.Hosts, s.opts)
	if err != nil {
		return nil, err
	}
	return planner.Make(s.loaded.Hosts, live)
}

func (s *session) close(w io.Writer) {
	if err := s.cluster.Close(); err != nil {
		fmt.Fprintln(w, "lvsctl: closing agents:", err)
	}
}

// readOnlyPlan is what plan and drift share: check -o, open every host with
// agents that refuse changes, read them, plan, and close.
func readOnlyPlan(cmd *cobra.Command, args []string, f hostFlags, output string) (*planner.Plan, error) {
	if output != "text" && output != "json" {
		return nil, errorf("-o takes text or json, not %q", output)
	}
	ctx := cmd.Context()
	s, err := open(ctx, cmd, args, f, true)
	if err != nil {
		return nil, err
	}
	defer s.close(cmd.ErrOrStderr())
	return s.plan(ctx)
}
