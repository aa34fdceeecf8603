package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/lvsctl/lvsctl/applier"
	"github.com/lvsctl/lvsctl/planner"
)

func newApply() *cobra.Command {
	var f hostFlags
	var autoApprove bool
	var output string
	var drainTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "apply [DIR | FILE]",
		Short: "Make the changes plan shows, in a safe order, rolling back on failure",
		Long: `apply takes every host's lock, reads the live state, shows the plan and asks
for "yes" (or needs --auto-approve: without a terminal it refuses). It then
makes the changes in the plan's order, draining real servers before it
removes them. If a step fails, or apply is interrupted (SIGINT, SIGTERM),
every completed step is undone in reverse order, and the report says what
failed, what was undone and anything that could not be. Agents and SSH
sessions stay up until the rollback is done; a second signal stops the
rollback, and the report lists what is left.

Given a FILE written by plan --out, apply makes exactly the changes of that
saved plan, without asking: it takes the locks, reads every host again, and
when any host's live state or inventory differs from what the plan was made
against, it refuses (exit 1), naming the host and the object that moved, and
changes nothing. A plan written by another lvsctl version, or a damaged
file, is refused too.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return errorf("-o takes text or json, not %q", output)
			}
			if output == "json" && !autoApprove && !isSavedPlanArg(args) {
				return errorf("-o json prints no plan to confirm: use it with --auto-approve or a saved plan")
			}
			stderr := cmd.ErrOrStderr()
			in := catchSignals(cmd.Context(), stderr)
			defer in.stop()
			var sp *savedPlan
			var s *session
			var err error
			if isSavedPlanArg(args) {
				if sp, err = readSavedPlan(args[0]); err != nil {
					return err
				}
				s, err = openSaved(in.Hard, cmd, sp, f)
			} else {
				// The agents live until the second signal (Hard), so a
				// rollback started by the first can finish.
				s, err = open(in.Hard, cmd, args, f, false)
			}
			if err != nil {
				return err
			}
			defer s.close(stderr)
			if err := s.cluster.Err(); err != nil {
				return interrupted(in.Hard, unreachable(err))
			}
			if err := s.cluster.Lock(in.Hard, f.lockTimeout); err != nil {
				return interrupted(in.Hard, err)
			}
			var p *planner.Plan
			if sp != nil {
				p, err = s.checkSaved(sp)
			} else {
				p, err = s.plan()
			}
			if err != nil {
				return interrupted(in.Hard, err)
			}
			// A saved plan was reviewed when it was made: apply it without
			// asking, as Terraform does.
			return execute(cmd, in, s, p, autoApprove || sp != nil, drainTimeout, output)
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&autoApprove, "auto-approve", false, "apply without asking")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text, or json (a report of what was done, failed and undone; needs --auto-approve or a saved plan)")
	cmd.Flags().DurationVar(&f.lockTimeout, "lock-timeout", 0, "how long to wait for another lvsctl's lock on a host (default: do not wait)")
	cmd.Flags().DurationVar(&drainTimeout, "drain-timeout", 30*time.Second, "how long to wait for a removed real server's connections to end")
	return cmd
}

// execute shows the plan, asks for "yes" unless approved, and applies it,
// rolling back on a failure or a signal; it reports what happened.
func execute(cmd *cobra.Command, in *interrupts, s *session, p *planner.Plan, approved bool, drainTimeout time.Duration, output string) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if output == "json" {
		if p.Empty() {
			return writeApplyJSON(stdout, p, nil)
		}
	} else {
		writePlanText(stdout, p, "will")
		if p.Empty() {
			return nil
		}
	}
	if !approved {
		if err := confirm(in.Hard, cmd); err != nil {
			return interrupted(in.Hard, err)
		}
	}
	in.applying.Store(true)
	if in.Hard.Err() != nil {
		return interrupted(in.Hard, nil)
	}
	execs := s.cluster.Executors()
	if hooks.wrap != nil {
		execs = hooks.wrap(in.Soft, execs, stderr)
	}
	a := &applier.Applier{Hosts: execs, DrainTimeout: drainTimeout, Progress: stderr, Stop: in.Hard}
	r := a.Apply(in.Soft, p)
	for _, d := range r.Drained {
		fmt.Fprintln(stderr, "warning: drain timed out:", d)
	}
	if output == "json" {
		if err := writeApplyJSON(stdout, p, r); err != nil {
			return err
		}
		if !r.OK() {
			return exitError{1}
		}
		return nil
	}
	if !r.OK() {
		fmt.Fprintf(stdout, "\nApply failed on %s at: %s\n  %s\n", r.Failed.Host, r.Failed.Step, r.Failed.Error)
		fmt.Fprintf(stdout, "Rolled back %d step%s", len(r.Undone), plural(len(r.Undone)))
		if len(r.NotUndone) == 0 {
			fmt.Fprintln(stdout, "; every host is as it was before apply.")
		} else {
			fmt.Fprintln(stdout, ". These could NOT be undone:")
			for _, n := range r.NotUndone {
				fmt.Fprintf(stdout, "  %s: %s: %s\n", n.Host, n.Step, n.Error)
			}
			fmt.Fprintln(stdout, "Run lvsctl plan to see the live state now.")
		}
		return exitError{1}
	}
	add, change, destroy := p.Counts()
	fmt.Fprintf(stdout, "\nApply complete! %d added, %d changed, %d destroyed.\n", add, change, destroy)
	if n := len(p.Inventories); n > 0 {
		fmt.Fprintf(stdout, "Inventory updated on %d host%s.\n", n, plural(n))
	}
	if ba, bc, bd := p.BootCounts(); ba+bc+bd > 0 {
		fmt.Fprintf(stdout, "Kept for boot: %d file%s added, %d changed, %d removed.\n", ba, plural(ba), bc, bd)
	}
	return nil
}

// confirm asks for "yes" on a terminal; without one it refuses. A signal
// while it waits ends the wait.
func confirm(ctx context.Context, cmd *cobra.Command) error {
	in := cmd.InOrStdin()
	// A terminal, not merely a character device: /dev/null is one too.
	if f, ok := in.(*os.File); !ok || !term.IsTerminal(int(f.Fd())) {
		return errors.New("refusing to apply: no terminal to ask for confirmation; use --auto-approve")
	}
	fmt.Fprint(cmd.ErrOrStderr(), "\nDo you want to make these changes? Only 'yes' will be accepted: ")
	answer := make(chan string, 1)
	go func() { line, _ := bufio.NewReader(in).ReadString('\n'); answer <- line }()
	var line string
	select {
	case line = <-answer:
	case <-ctx.Done():
		fmt.Fprintln(cmd.ErrOrStderr())
		return context.Cause(ctx)
	}
	if strings.TrimSpace(line) != "yes" {
		fmt.Fprintln(cmd.OutOrStdout(), "Apply cancelled; nothing was changed.")
		return exitError{1}
	}
	return nil
}
