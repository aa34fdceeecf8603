// Command demo shows lvsctl's main job on a real IPVS kernel: it boots the VM
// lab, plans and applies the LVS guide's direct-routing example (its hosts
// are network namespaces in the VM), and sends requests through the VIP,
// counting which real server answered. Run it from the repository's root:
//
//	go run ./test/demo
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/lvsctl/lvsctl/internal/vmlab"
	"github.com/lvsctl/lvsctl/test/scenario"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	if err := vmlab.Available(); err != nil {
		return err
	}
	cfg, err := scenario.LabConfig(".", "direct-routing", scenario.DRHosts)
	if err != nil {
		return err
	}
	bins, err := scenario.Binaries()
	if err != nil {
		return err
	}
	fmt.Println("== Booting the VM lab: Debian's kernel with IPVS; director, rs1, rs2 and a client are namespaces on one bridge")
	r, err := vmlab.Run(context.Background(), vmlab.Scenario{
		Name:     "demo",
		Binaries: bins,
		Files:    map[string][]byte{"/lab/dr/cluster.cue": []byte(cfg)},
		Script: scenario.Topology + scenario.DRNetwork + `
set -e
cd /lab
echo "== lvsctl plan dr     (examples/direct-routing, hosts reached through namespaces)"
lvsctl plan dr 2>/dev/null
echo
echo "== lvsctl apply --auto-approve dr"
lvsctl apply --auto-approve dr 2>&1 | grep -v 'reading live state'
echo
echo "== ipvsadm -Ln on the director"
ip netns exec director ipvsadm -Ln
echo
echo "== lvsctl plan dr, again"
lvsctl plan dr 2>/dev/null
ip netns exec client hits -url http://192.168.0.10/ -from 192.168.0.150 -sources 30 -per 2 > /out/hits
`,
		Timeout: 180 * time.Second,
	})
	if err != nil {
		return err
	}
	fmt.Print(r.Stdout)
	if r.ExitCode != 0 {
		return fmt.Errorf("the scenario failed (exit %d):\n%s", r.ExitCode, r.Stderr)
	}
	var c map[string]int
	if err := json.Unmarshal(r.Files["hits"], &c); err != nil {
		return fmt.Errorf("reading the client's counts: %w", err)
	}
	fmt.Println("\n== 60 HTTP requests through VIP 192.168.0.10 from 30 clients (2 each; weights 5 and 10; persistence 300 s)")
	fmt.Printf("rs1 (192.168.0.101, weight 5):   %2d requests\n", c["rs1"])
	fmt.Printf("rs2 (222.117.155.123, weight 10): %2d requests\n", c["rs2"])
	fmt.Printf("failed:                           %2d\n", c["errors"])
	fmt.Printf("(VM boot, apply and traffic took %s under software emulation)\n", r.Duration.Round(time.Second))
	return nil
}
