// Command tarpit accepts TCP connections and never answers: what a hung
// host's sshd looks like from the client. It reads and discards whatever
// comes, and holds every connection until the peer closes it.
//
//	tarpit ADDRESS:PORT
package main

import (
	"fmt"
	"io"
	"net"
	"os"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: tarpit ADDRESS:PORT")
		os.Exit(2)
	}
	l, err := net.Listen("tcp", os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for {
		c, err := l.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		go func() {
			io.Copy(io.Discard, c)
			c.Close()
		}()
	}
}
