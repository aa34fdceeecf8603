// Command lvsctl plans and applies Linux Virtual Server clusters written in
// CUE: the directors' IPVS tables and the real servers' side of them.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/spf13/cobra"
)

// exitError carries an exit status with an error already reported.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command line and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	}
	fmt.Fprintln(stderr, "lvsctl:", err)
	return 1
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "lvsctl",
		Short: "Plan and apply Linux Virtual Server (IPVS) clusters written in CUE",
		Long: `lvsctl keeps LVS directors and their real servers as a CUE definition:
it shows exactly what would change on each host before changing anything,
manages the real-server side (loopback VIP, ARP sysctls, tunnel device) with
the director, and puts everything back if a step fails.`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.Version = versionString()
	root.SetVersionTemplate(fmt.Sprintf("lvsctl {{.Version}} (%s, %s/%s)\n", runtime.Version(), runtime.GOOS, runtime.GOARCH))
	root.SetOut(stdout)
	addColorFlag(root)
	root.SetErr(stderr)
	addLimitFlags(root)
	root.AddCommand(newValidate(), newPlan(), newApply(), newDrift(), newSchema(), newVersion(), newAgent(), newRestore(), newShowPlan(), newImport())
	addCompletions(root)
	return root
}
