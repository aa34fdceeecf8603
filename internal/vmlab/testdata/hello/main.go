// Command hello is a small static Go program the vmlab tests run in the
// guest: it prints the kernel release, reads random bytes (the guest's
// entropy must not block a Go program), serves one HTTP request over
// loopback, and writes its arguments to /out/hello.txt.
package main

import (
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
)

func main() {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		fail(err)
	}
	var rel []byte
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		rel = append(rel, byte(c))
	}
	if _, err := rand.Read(make([]byte, 32)); err != nil {
		fail(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "pong") }))
	resp, err := http.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		fail(err)
	}
	body, _ := io.ReadAll(resp.Body)
	fmt.Printf("hello from %s, http %s\n", rel, body)
	if err := os.WriteFile("/out/hello.txt", []byte(strings.Join(os.Args[1:], " ")), 0o644); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "hello:", err)
	os.Exit(1)
}
