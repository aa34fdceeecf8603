// Command timeit runs a command several times inside the VM and prints the
// median and fastest wall time in nanoseconds: `timeit -n 5 -in FILE cmd...`.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"time"
)

func main() {
	n := flag.Int("n", 5, "runs")
	in := flag.String("in", "", "stdin for each run")
	flag.Parse()
	var times []time.Duration
	for range *n {
		cmd := exec.Command(flag.Arg(0), flag.Args()[1:]...)
		if *in != "" {
			f, err := os.Open(*in)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			cmd.Stdin = f
		}
		cmd.Stderr = os.Stderr
		t0 := time.Now()
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "timeit:", err)
			os.Exit(1)
		}
		times = append(times, time.Since(t0))
	}
	slices.Sort(times)
	fmt.Println(times[len(times)/2].Nanoseconds(), times[0].Nanoseconds())
}
