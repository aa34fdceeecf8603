package keepalived

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/lvsctl/lvsctl/internal/ipvsadm"
	"github.com/lvsctl/lvsctl/internal/state"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/real")

// golden renders a result the way a reviewer checks it against the
// configuration: the services as ipvsadm -S -n would save them (thresholds
// and tunnel settings included), then the timeouts, the notes and the
// warnings.
func golden(res *Result) string {
	var b strings.Builder
	b.WriteString("# services (ipvsadm -S -n)\n")
	b.WriteString(ipvsadm.Save(res.Services))
	if t := res.Timeouts; t != nil {
		fmt.Fprintf(&b, "# timeouts\n--set %d %d %d\n", t.TCP, t.TCPFin, t.UDP)
	}
	if len(res.ServiceNotes) > 0 {
		b.WriteString("# service notes\n")
		for _, s := range res.Services {
			for _, n := range res.ServiceNotes[s.Key] {
				fmt.Fprintf(&b, "%s: %s\n", s.Key, n)
			}
		}
	}
	if len(res.DestNotes) > 0 {
		b.WriteString("# real server notes\n")
		for _, s := range res.Services {
			m := res.DestNotes[s.Key]
			for _, d := range s.Dests {
				for _, n := range m[d.Addr] {
					fmt.Fprintf(&b, "%s -> %s: %s\n", s.Key, d.Addr, n)
				}
			}
		}
	}
	section := func(name string, lines []string) {
		if len(lines) == 0 {
			return
		}
		b.WriteString("# " + name + "\n")
		for _, l := range lines {
			b.WriteString(l + "\n")
		}
	}
	section("notes", res.Notes)
	section("summary", res.Summary)
	section("warnings", res.Warnings)
	return b.String()
}

// minServices is the number of IPVS services each real configuration must
// give at least, counted by hand from the file.
var minServices = map[string]int{
	"ka-samples-HTTP_GET.port.conf":         1,
	"ka-samples-IPv6.conf":                  1,
	"ka-samples-PING_CHECK.conf":            1,
	"ka-samples-SMTP_CHECK.conf":            1,
	"ka-samples-SSL_GET.conf":               2,
	"ka-samples-UDP_CHECK.conf":             1,
	"ka-samples-conditional_conf.conf":      0,
	"ka-samples-fwmark.conf":                1,
	"ka-samples-inhibit.conf":               1,
	"ka-samples-misc_check.conf":            1,
	"ka-samples-misc_check_arg.conf":        1,
	"ka-samples-quorum.conf":                1,
	"ka-samples-sample.conf":                1,
	"ka-samples-status_code.conf":           1,
	"ka-samples-track_interface.conf":       0,
	"ka-samples-virtual_server_group.conf":  13,
	"ka-samples-virtualhost.conf":           1,
	"ka-samples-vrrp.conf":                  0,
	"ka-samples-vrrp.localcheck.conf":       0,
	"ka-samples-vrrp.lvs_syncd.conf":        1,
	"ka-samples-vrrp.routes.conf":           0,
	"ka-samples-vrrp.rules.conf":            0,
	"ka-samples-vrrp.scripts.conf":          0,
	"ka-samples-vrrp.static_ipaddress.conf": 0,
	"ka-samples-vrrp.sync.conf":             0,
	"ka-etc-keepalived.conf":                3,
	"ka-etc-sample.in.conf":                 3,
	"ka-docs-case-study-healthcheck.conf":   3,
	"ka-docs-case-study-mixing.conf":        2,
	"augeas-test_keepalived.conf":           1,
	"issue-2253-vsg-reload.conf":            2,
	"issue-713-ipv6-to-ipv4.conf":           0,
	"issue-1139-multiple-protocols.conf":    0,
	"kubeinit-manifast.conf":                1,
}

// TestRealConfigurations parses every configuration under testdata/real
// and compares what it gives with the golden file beside it
// (NAME.golden); -update rewrites the golden files.
func TestRealConfigurations(t *testing.T) {
	files, err := filepath.Glob("testdata/real/*.conf")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 20 {
		t.Fatalf("only %d real configurations", len(files))
	}
	sort.Strings(files)
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			min, ok := minServices[name]
			if !ok {
				t.Fatalf("no hand count of services for %s in minServices", name)
			}
			res, err := ParseFile(f)
			if err != nil {
				t.Fatalf("ParseFile: %v", err)
			}
			if len(res.Services) < min {
				t.Errorf("%d services, want at least %d", len(res.Services), min)
			}
			for _, s := range res.Services {
				if len(s.Dests) == 0 {
					t.Errorf("service %s has no destinations", s.Key)
				}
				checkService(t, s)
			}
			got := golden(res)
			gf := strings.TrimSuffix(f, ".conf") + ".golden"
			if *update {
				if err := os.WriteFile(gf, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(gf)
			if err != nil {
				t.Fatalf("%v (run with -update to write it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", gf, diff)
			}
			// The saved services read back the same through ipvsadm's
			// parser: the golden file is what ipvsadm -R would load.
			back, err := ipvsadm.ParseSave(ipvsadm.Save(res.Services))
			if err != nil {
				t.Fatalf("ipvsadm.ParseSave: %v", err)
			}
			if len(back) != len(res.Services) {
				t.Errorf("ipvsadm.ParseSave read %d services, want %d", len(back), len(res.Services))
			}
		})
	}
}

// checkService checks what every service the package returns must be.
func checkService(t *testing.T, s *state.Service) {
	t.Helper()
	if s.Scheduler == "" {
		t.Errorf("%s: no scheduler", s.Key)
	}
	if s.Key.FWMark == 0 && s.Key.Protocol == 0 {
		t.Errorf("%s: no protocol", s.Key)
	}
	if s.Key.FWMark != 0 && (s.Key.Protocol != 0 || s.Key.Addr.IsValid()) {
		t.Errorf("%s: fwmark service with protocol or address", s.Key)
	}
	for _, d := range s.Dests {
		if d.Forward == "" {
			t.Errorf("%s -> %s: no forwarding method", s.Key, d.Addr)
		}
	}
}
