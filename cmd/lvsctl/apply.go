package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/lvsctl/lvsctl/applier"
	"github.com/lvsctl/lvsctl/internal/op"
)

func newApply() *cobra.Command {
	var f hostFlags
	var autoApprove bool
	var drainTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "apply [DIR]",
		Short: "Make the changes plan shows, in a safe order, rolling back on failure",
		Long: `apply takes every host's lock, reads the live state, shows the plan and asks
for "yes" (or needs --auto-approve: without a terminal it refuses). It then
makes the changes in the plan's order, draining real servers before it
removes them. If a step fails, or apply is interrupted (SIGINT, SIGTERM),
every completed step is undone in reverse order, and the report says what
failed, what was undone and anything that could not be.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithCancelCause(cmd.Context())
			defer cancel(nil)
			sigs := make(chan os.Signal, 1)
			signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
			defer signal.Stop(sigs)
			go func() {
				if s, ok := <-sigs; ok {
					cancel(fmt.Errorf("%v received", s))
				}
			}()

			stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
			s, err := open(ctx, cmd, args, f, false)
			if err != nil {
				return err
			}
			defer s.close(stderr)
			if err := s.cluster.Lock(); err != nil {
				return err
			}
			p, err := s.plan(ctx)
			if err != nil {
				return err
			}
			writePlanText(stdout, p, "will")
			if p.Empty() && len(p.Inventories) == 0 {
				return nil
			}
			if !p.Empty() && !autoApprove {
				if err := confirm(cmd); err != nil {
					return err
				}
			}
			execs := s.cluster.Executors()
			if k := os.Getenv("LVSCTL_TEST_FAIL_AT"); k != "" {
				execs = failAt(execs, k, stderr)
			}
			a := &applier.Applier{Hosts: execs, DrainTimeout: drainTimeout, Progress: stderr}
			r := a.Apply(ctx, p)
			for _, d := range r.Drained {
				fmt.Fprintln(stderr, "warning: drain timed out:", d)
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
			if p.Empty() {
				fmt.Fprintf(stdout, "Inventory updated on %d host%s (objects adopted or released); nothing else changed.\n", len(p.Inventories), plural(len(p.Inventories)))
				return nil
			}
			add, change, destroy := p.Counts()
			fmt.Fprintf(stdout, "\nApply complete! %d added, %d changed, %d destroyed.\n", add, change, destroy)
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&autoApprove, "auto-approve", false, "apply without asking")
	cmd.Flags().DurationVar(&drainTimeout, "drain-timeout", 30*time.Second, "how long to wait for a removed real server's connections to end")
	return cmd
}

// failAt makes the k-th operation of the apply fail, once, before it reaches
// its host: the VM lab uses it to prove that a failure at every step rolls
// every host back on the real kernel. It is a test hook, named as one.
func failAt(hosts map[string]applier.Host, k string, w io.Writer) map[string]applier.Host {
	n, err := strconv.Atoi(k)
	if err != nil || n < 1 {
		fmt.Fprintf(w, "ignoring LVSCTL_TEST_FAIL_AT=%q: not a step number\n", k)
		return hosts
	}
	fmt.Fprintf(w, "LVSCTL_TEST_FAIL_AT=%d: operation %d of this apply will fail (a test hook)\n", n, n)
	count := new(int)
	out := map[string]applier.Host{}
	for name, h := range hosts {
		out[name] = &injected{Host: h, count: count, at: n}
	}
	return out
}

type injected struct {
	applier.Host
	count *int
	at    int
}

func (i *injected) Do(o op.Op) error {
	*i.count++
	if *i.count == i.at {
		return fmt.Errorf("injected failure at operation %d (LVSCTL_TEST_FAIL_AT)", i.at)
	}
	return i.Host.Do(o)
}

// confirm asks for "yes" on a terminal; without one it refuses.
func confirm(cmd *cobra.Command) error {
	in := cmd.InOrStdin()
	// A terminal, not merely a character device: /dev/null is one too.
	if f, ok := in.(*os.File); !ok || !term.IsTerminal(int(f.Fd())) {
		return errors.New("refusing to apply: no terminal to ask for confirmation; use --auto-approve")
	}
	fmt.Fprint(cmd.ErrOrStderr(), "\nDo you want to make these changes? Only 'yes' will be accepted: ")
	line, _ := bufio.NewReader(in).ReadString('\n')
	if strings.TrimSpace(line) != "yes" {
		fmt.Fprintln(cmd.OutOrStdout(), "Apply cancelled; nothing was changed.")
		return exitError{1}
	}
	return nil
}
