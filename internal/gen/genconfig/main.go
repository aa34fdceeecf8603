// Command genconfig writes a generated cluster definition for measurements:
//
//	go run ./internal/gen/genconfig -services 5000 -real-servers 20 DIR
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/lvsctl/lvsctl/internal/gen"
)

func main() {
	services := flag.Int("services", 5000, "virtual services")
	rs := flag.Int("real-servers", 20, "real servers per service")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: genconfig [-services N] [-real-servers N] DIR")
		os.Exit(2)
	}
	if err := os.MkdirAll(flag.Arg(0), 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	path, err := gen.Write(flag.Arg(0), *services, *rs)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(path)
}
