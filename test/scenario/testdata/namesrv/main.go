// Command namesrv answers every HTTP request with its name: `namesrv NAME [ADDR]`.
package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	name, addr := os.Args[1], ":80"
	if len(os.Args) > 2 {
		addr = os.Args[2]
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, name) })
	if err := http.ListenAndServe(addr, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
