// Command hits sends HTTP requests, each on a new connection, and prints how
// many each server answered as JSON: {"rs1": 10, "rs2": 20, "errors": 0}.
//
//	hits -url http://VIP/ -from 192.168.0.150 -sources 30 -per 2
//	hits -url http://VIP/ -n 30              (from the default address)
//	hits -url http://VIP/ -for 20s           (without pause, until the time is up)
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"time"
)

func main() {
	url := flag.String("url", "", "URL to request")
	from := flag.String("from", "", "first source address; sources count up from it")
	sources := flag.Int("sources", 1, "source addresses")
	per := flag.Int("per", 1, "requests per source")
	n := flag.Int("n", 0, "requests from the default source (instead of -sources)")
	dur := flag.Duration("for", 0, "send without pause for this long")
	flag.Parse()
	counts := map[string]int{"errors": 0}
	start := time.Now()
	failed := func(err error) {
		counts["errors"]++
		fmt.Fprintf(os.Stderr, "%.3fs %v\n", time.Since(start).Seconds(), err)
	}
	get := func(src netip.Addr) {
		d := &net.Dialer{Timeout: 3 * time.Second}
		if src.IsValid() {
			d.LocalAddr = &net.TCPAddr{IP: src.AsSlice()}
		}
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
		resp, err := c.Get(*url)
		if err != nil {
			failed(err)
			return
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			failed(fmt.Errorf("status %d, %v", resp.StatusCode, err))
			return
		}
		counts[string(body)]++
	}
	switch {
	case *dur > 0:
		ctx, cancel := context.WithTimeout(context.Background(), *dur)
		defer cancel()
		for ctx.Err() == nil {
			get(netip.Addr{})
		}
	case *n > 0:
		for range *n {
			get(netip.Addr{})
		}
	default:
		src := netip.MustParseAddr(*from)
		for range *sources {
			for range *per {
				get(src)
			}
			src = src.Next()
		}
	}
	json.NewEncoder(os.Stdout).Encode(counts)
}
