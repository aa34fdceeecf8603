package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/lvsctl/lvsctl/hosts"
	"github.com/lvsctl/lvsctl/hosts/agent"
	"github.com/lvsctl/lvsctl/planner"
	"github.com/lvsctl/lvsctl/schema"
)

// hostFlags are the flags every command that reaches hosts shares.
type hostFlags struct {
	stateDir       string
	persistRoot    string
	parallelism    int
	targets        []string
	connectTimeout time.Duration
	timeout        time.Duration
	lockTimeout    time.Duration
}

func (f *hostFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.stateDir, "state-dir", "", "where agents keep inventory and lock on each host (default /var/lib/lvsctl)")
	cmd.Flags().StringVar(&f.persistRoot, "persist-root", "", "where agents write the files kept for boot on each host, instead of / (for tests and image builds)")
	cmd.Flags().IntVar(&f.parallelism, "parallelism", 10, "hosts contacted at once")
	cmd.Flags().StringArrayVar(&f.targets, "target", nil, "work on this host only (repeatable); the others are not contacted")
	cmd.Flags().DurationVar(&f.connectTimeout, "connect-timeout", agent.DefaultConnectTimeout, "how long a host may take to connect and answer first")
	cmd.Flags().DurationVar(&f.timeout, "timeout", agent.DefaultTimeout, "how long a request to a host may go without progress")
}

// session is a loaded configuration with an agent open on every host that
// could be reached.
type session struct {
	loaded  *schema.Loaded
	cluster *hosts.Cluster
	opts    hosts.Options
	targets []string                 // nil: every host
	live    map[string]*planner.Live // what the last plan was made against
}

// open loads dir, reporting problems the way validate does, and starts the
// agents (of the targets only, when there are targets). The agents live until
// close or until ctx is done. Hosts that cannot be reached are in
// s.cluster.Failed.
func open(ctx context.Context, cmd *cobra.Command, args []string, f hostFlags, readOnly bool) (*session, error) {
	dir := "."
	if len(args) == 1 {
		dir = args[0]
	}
	if f.connectTimeout <= 0 || f.timeout <= 0 {
		return nil, errorf("--connect-timeout and --timeout must be more than zero")
	}
	loaded, err := load(cmd, dir)
	if err != nil {
		return nil, err
	}
	var targets []string
	for _, t := range f.targets {
		if _, ok := loaded.Cluster.Hosts[t]; !ok {
			return nil, errorf("--target %s: no such host in %s", t, dir)
		}
		if !slices.Contains(targets, t) {
			targets = append(targets, t)
		}
	}
	slices.Sort(targets)
	o := hosts.Options{StateDir: f.stateDir, PersistRoot: f.persistRoot, Parallelism: f.parallelism, ReadOnly: readOnly, Progress: cmd.ErrOrStderr(),
		ConnectTimeout: f.connectTimeout, Timeout: f.timeout, ExeFor: hooks.agentExe}
	c := hosts.Open(ctx, loaded.Cluster.Hosts, targets, o)
	return &session{loaded: loaded, cluster: c, opts: o, targets: targets}, nil
}

// openSaved starts the agents of the hosts a saved plan covers, reached as
// the plan says, with the command line's flags for the rest.
func openSaved(ctx context.Context, cmd *cobra.Command, sp *savedPlan, f hostFlags) (*session, error) {
	if f.connectTimeout <= 0 || f.timeout <= 0 {
		return nil, errorf("--connect-timeout and --timeout must be more than zero")
	}
	if len(f.targets) > 0 {
		return nil, errorf("--target does not go with a saved plan: it covers the hosts it was made for (%s)", strings.Join(slices.Sorted(maps.Keys(sp.Live)), ", "))
	}
	o := hosts.Options{StateDir: f.stateDir, PersistRoot: f.persistRoot, Parallelism: f.parallelism, Progress: cmd.ErrOrStderr(),
		ConnectTimeout: f.connectTimeout, Timeout: f.timeout, ExeFor: hooks.agentExe}
	loaded := &schema.Loaded{Cluster: &schema.Cluster{Hosts: sp.Reach}, Hosts: sp.Desired}
	c := hosts.Open(ctx, sp.Reach, slices.Sorted(maps.Keys(sp.Live)), o)
	return &session{loaded: loaded, cluster: c, opts: o, targets: sp.Targets}, nil
}

// checkSaved reads every host of a saved plan again and returns its plan
// when nothing moved since it was made.
func (s *session) checkSaved(sp *savedPlan) (*planner.Plan, error) {
	live := s.cluster.Gather(sp.Desired)
	if err := s.cluster.Err(); err != nil {
		return nil, unreachable(err)
	}
	if err := stale(sp, live); err != nil {
		return nil, err
	}
	s.live = live
	return sp.Plan, nil
}

// plan reads every open host and plans. It fails when any host could not be
// opened or read, naming each.
func (s *session) plan() (*planner.Plan, error) {
	if err := s.cluster.Err(); err != nil {
		return nil, unreachable(err)
	}
	live := s.cluster.Gather(s.loaded.Hosts)
	if err := s.cluster.Err(); err != nil {
		return nil, unreachable(err)
	}
	s.live = live
	return planner.MakeWith(s.loaded.Hosts, live, planner.Options{Targets: s.targets})
}

func unreachable(err error) error {
	return fmt.Errorf("%w\nnothing was changed; to work on the other hosts without these, name them with --target", err)
}

func (s *session) close(w io.Writer) {
	if err := s.cluster.Close(); err != nil {
		fmt.Fprintln(w, "lvsctl: closing agents:", err)
	}
}

// interrupts turns SIGINT and SIGTERM into cancellations. Until an apply has
// begun changing hosts, the first signal ends everything (Hard). Once it has,
// the first signal only stops new work (Soft), so the apply can roll back with
// every agent alive, and a second ends the rollback too (Hard).
type interrupts struct {
	Soft, Hard         context.Context
	cancelSoft, cancel context.CancelCauseFunc
	applying           atomic.Bool
	count              atomic.Int32
	sigs               chan os.Signal
	w                  io.Writer
}

func catchSignals(parent context.Context, w io.Writer) *interrupts {
	in := &interrupts{sigs: make(chan os.Signal, 2), w: w}
	in.Hard, in.cancel = context.WithCancelCause(parent)
	in.Soft, in.cancelSoft = context.WithCancelCause(in.Hard)
	signal.Notify(in.sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		for s := range in.sigs {
			cause := fmt.Errorf("%v received", s)
			if in.count.Add(1) == 1 && in.applying.Load() {
				fmt.Fprintf(w, "lvsctl: %v: finishing the step in progress, then undoing what this apply did; send it again to stop the rollback\n", s)
				in.cancelSoft(cause)
				continue
			}
			if in.applying.Load() {
				fmt.Fprintf(w, "lvsctl: %v again: stopping the rollback; the report lists what is left\n", s)
			}
			in.cancel(cause)
		}
	}()
	return in
}

// stop ends the signal handling; a later signal has its default effect.
func (in *interrupts) stop() {
	signal.Stop(in.sigs)
	close(in.sigs)
	in.cancel(nil)
}

// interrupted returns the error to report when ctx ended because of a signal.
func interrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted (%v); nothing was changed on any host", context.Cause(ctx))
	}
	return err
}

// readOnlyPlan is what plan shares with drift's strict mode: check -o, open
// every host with agents that refuse changes, read them, plan, and close. A
// signal ends every agent and ssh at once.
func readOnlyPlan(cmd *cobra.Command, args []string, f hostFlags, output string) (*planner.Plan, *session, error) {
	if output != "text" && output != "json" {
		return nil, nil, errorf("-o takes text or json, not %q", output)
	}
	in := catchSignals(cmd.Context(), cmd.ErrOrStderr())
	defer in.stop()
	s, err := open(in.Hard, cmd, args, f, true)
	if err != nil {
		return nil, nil, err
	}
	defer s.close(cmd.ErrOrStderr())
	p, err := s.plan()
	return p, s, interrupted(in.Hard, err)
}
