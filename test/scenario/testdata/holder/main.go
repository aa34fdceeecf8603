// Command holder opens one HTTP connection through a virtual service that
// reaches a chosen real server, and holds it open: the long-lived client
// connection a drain has to wait for. From each source address in turn it
// connects, asks once (keep-alive) and reads the answer (the real server's
// name, from namesrv); the first connection answered by -want is kept, the
// others are closed. It then prints "held NAME from SOURCE" and, when -ready
// is set, creates that file. On SIGUSR1 it asks again on the same connection
// and prints "again: NAME" or "again: error ...": the connection survived, or
// not. It runs until killed.
//
//	holder -addr 192.168.0.10:80 -from 192.168.0.150 -sources 30 -want rs2 -ready /tmp/held
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "", "virtual service address:port")
	from := flag.String("from", "", "first source address")
	sources := flag.Int("sources", 1, "source addresses to try, counting up")
	want := flag.String("want", "", "the real server whose connection to keep")
	ready := flag.String("ready", "", "file to create once a connection is held")
	flag.Parse()
	src, err := netip.ParseAddr(*from)
	if err != nil {
		fail(err)
	}
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	for i := 0; i < *sources; i, src = i+1, src.Next() {
		d := net.Dialer{Timeout: 3 * time.Second, LocalAddr: &net.TCPAddr{IP: src.AsSlice()}}
		c, err := d.Dial("tcp", *addr)
		if err != nil {
			fmt.Fprintf(os.Stderr, "from %s: %v\n", src, err)
			continue
		}
		r := bufio.NewReader(c)
		name, err := ask(c, r)
		if err != nil {
			fmt.Fprintf(os.Stderr, "from %s: %v\n", src, err)
			c.Close()
			continue
		}
		if name != *want {
			c.Close()
			continue
		}
		fmt.Printf("held %s from %s\n", name, src)
		if *ready != "" {
			if err := os.WriteFile(*ready, []byte(src.String()+"\n"), 0o644); err != nil {
				fail(err)
			}
		}
		for range usr1 {
			if name, err := ask(c, r); err != nil {
				fmt.Printf("again: error %v\n", err)
			} else {
				fmt.Printf("again: %s\n", name)
			}
		}
	}
	fail(fmt.Errorf("no connection from %d sources reached %s", *sources, *want))
}

// ask sends one keep-alive request on c and returns the answer's body.
func ask(c net.Conn, r *bufio.Reader) (string, error) {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: vip\r\n\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("status %d", resp.StatusCode)
	}
	return string(b), nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "holder:", err)
	os.Exit(1)
}
