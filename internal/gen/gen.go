// Package gen writes large generated cluster definitions for benchmarks and
// load tests: one director, services spread over VIPs, and real servers that
// are managed hosts serving every service.
package gen

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
)

// Write writes dir/cluster.cue with services virtual services of realServers
// direct-routing real servers each. Services use VIPs 10.100.x.y, 20 ports
// per VIP; real server i is host rsNN at 10.200.0.(i+1).
func Write(dir string, services, realServers int) (string, error) {
	return write(dir, services, realServers, true)
}

// WriteDirector is Write with unmanaged real servers: only the director's
// side, as `ipvsadm -R` of the same rules would make it.
func WriteDirector(dir string, services, realServers int) (string, error) {
	return write(dir, services, realServers, false)
}

func write(dir string, services, realServers int, managed bool) (string, error) {
	if realServers > 250 {
		return "", fmt.Errorf("gen: at most 250 real servers, got %d", realServers)
	}
	path := filepath.Join(dir, "cluster.cue")
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintf(w, "// Generated: %d services x %d real servers.\npackage cluster\n\nhosts: {\n\tlb: {local: true}\n", services, realServers)
	for i := range realServers {
		if managed {
			fmt.Fprintf(w, "\trs%02d: {netns: \"rs%02d\", interface: \"eth0\"}\n", i, i)
		}
	}
	fmt.Fprintf(w, "}\n\ndirectors: lb: {\n\tvips: {\n")
	vips := (services + 19) / 20
	for v := range vips {
		fmt.Fprintf(w, "\t\t%q: interface: \"eth0\"\n", vip(v))
	}
	fmt.Fprintf(w, "\t}\n\tservices: {\n")
	for s := range services {
		fmt.Fprintf(w, "\t\t\"svc%05d\": {\n\t\t\taddress: %q\n\t\t\tport:    %d\n\t\t\tscheduler: \"wrr\"\n\t\t\trealServers: {\n",
			s, vip(s/20), 8000+s%20)
		for r := range realServers {
			host := ""
			if managed {
				host = fmt.Sprintf(", host: \"rs%02d\"", r)
			}
			fmt.Fprintf(w, "\t\t\t\trs%02d: {address: \"10.200.0.%d\", weight: %d%s}\n", r, r+1, 1+(s+r)%5, host)
		}
		fmt.Fprintf(w, "\t\t\t}\n\t\t}\n")
	}
	fmt.Fprintf(w, "\t}\n}\n")
	if err := w.Flush(); err != nil {
		f.Close()
		return "", err
	}
	return path, f.Close()
}

func vip(i int) string { return fmt.Sprintf("10.100.%d.%d", i/250, i%250+1) }
