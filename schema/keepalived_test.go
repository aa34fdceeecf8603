package schema

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lvsctl/lvsctl/internal/keepalived"
)

const kaPair = `package c

hosts: {
	d1: netns: "d1"
	d2: netns: "d2"
	rs1: {netns: "rs1", interface: "eth0"}
	rs2: {netns: "rs2", interface: "eth0"}
}
pairs: lvs: {
	directors: ["d1", "d2"]
	interface: "eth0"
	vips: "192.168.0.10": {}
	routerID: 51
	keepalived: {}
	services: web: {
		protocol: "tcp", address: "192.168.0.10", port: 80
		scheduler: "wrr"
		checkInterval: 2
		sorryServer: address: "192.168.0.250"
		realServers: {
			rs1: {address: "192.168.0.101", weight: 1, host: "rs1", check: {type: "http", path: "/health"}}
			rs2: {address: "192.168.0.102", weight: 3, host: "rs2", check: {type: "tcp", timeout: 1, retry: 1}}
		}
	}
	services: dns: {
		protocol: "udp", address: "192.168.0.10", port: 53
		scheduler: "rr"
		realServers: rs1: {address: "192.168.0.101", host: "rs1"}
	}
}
`

// A pair with keepalived: each director gets its configuration, master
// first; the checked service leaves weights and presence to keepalived;
// the rendered file reads back as the derived service.
func TestKeepalivedDerived(t *testing.T) {
	l, err := Load(writeCase(t, map[string]string{"c.cue": kaPair}))
	if err != nil {
		t.Fatal(err)
	}
	for i, dn := range []string{"d1", "d2"} {
		h := l.Hosts[dn]
		k := h.Keepalived
		if k == nil {
			t.Fatalf("%s has no keepalived configuration", dn)
		}
		if k.Config != keepalived.DefaultConfig || k.PidFile != keepalived.DefaultPidFile || k.Program != keepalived.DefaultProgram {
			t.Errorf("%s: defaults %+v", dn, k)
		}
		if k.VRRP.Master != (i == 0) || k.VRRP.Priority != 150-50*i || k.VRRP.RouterID != 51 || k.RouterName != dn || k.VRRP.Interface != "eth0" {
			t.Errorf("%s: vrrp %+v, router %s", dn, k.VRRP, k.RouterName)
		}
		if len(k.Services) != 1 || k.Services[0].DelayLoop != 2 || len(k.Services[0].Checks) != 2 {
			t.Fatalf("%s: checked services %+v", dn, k.Services)
		}
		cs := k.Services[0]
		if cs.Checks[0].Type != "http" || cs.Checks[0].Path != "/health" || cs.Checks[0].Status != 200 || cs.Checks[1].Type != "tcp" || cs.Checks[1].Retry != 1 {
			t.Errorf("%s: checks %+v", dn, cs.Checks)
		}
		if cs.Sorry.String() != "192.168.0.250:80" {
			t.Errorf("%s: sorry server %v", dn, cs.Sorry)
		}
		for _, s := range h.Services {
			want := []string(nil)
			if s.Key.Port == 80 {
				want = []string{"presence", "weight"}
			}
			if !slices.Equal(s.ExternallyManaged, want) {
				t.Errorf("%s: service %s externallyManaged %v, want %v", dn, s.Key, s.ExternallyManaged, want)
			}
		}
		text, err := keepalived.Render(k)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "k.conf")
		os.WriteFile(p, text, 0o644)
		res, err := keepalived.ParseFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Services) != 1 || res.Services[0].Key.Port != 80 || len(res.Services[0].Dests) != 2 || res.Services[0].Dests[1].Weight != 3 {
			t.Errorf("%s: read back %+v", dn, res.Services)
		}
	}
	inhibit := strings.Replace(kaPair, "checkInterval: 2", "checkInterval: 2\n\t\tinhibitOnFailure: true", 1)
	quorum := strings.Replace(kaPair, "checkInterval: 2", "checkInterval: 2\n\t\tquorum: 3\n\t\thysteresis: 1", 1)
	l, err = Load(writeCase(t, map[string]string{"c.cue": quorum}))
	if err != nil {
		t.Fatal(err)
	}
	if cs := l.Hosts["d2"].Keepalived.Services[0]; cs.Quorum != 3 || cs.Hysteresis != 1 {
		t.Errorf("quorum %d, hysteresis %d", cs.Quorum, cs.Hysteresis)
	} else if text, err := keepalived.Render(l.Hosts["d2"].Keepalived); err != nil || !strings.Contains(string(text), "    quorum 3\n    hysteresis 1\n") {
		t.Errorf("rendered (%v):\n%s", err, text)
	}
	l, err = Load(writeCase(t, map[string]string{"c.cue": inhibit}))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range l.Hosts["d1"].Services {
		if s.Key.Port == 80 && !slices.Equal(s.ExternallyManaged, []string{"weight"}) {
			t.Errorf("inhibitOnFailure: externallyManaged %v", s.ExternallyManaged)
		}
	}
}

func TestKeepalivedRefused(t *testing.T) {
	for _, tc := range []struct{ name, from, to, want string }{
		{"misc", `check: {type: "tcp", timeout: 1, retry: 1}`, `check: {type: "misc"}`, "there is no misc check: keepalived's MISC_CHECK runs a program as root"},
		{"path", `path: "/health"`, `path: "/health }"`, "path"},
		{"path on tcp", `check: {type: "tcp", timeout: 1, retry: 1}`, `check: {type: "tcp", path: "/"}`, "a tcp check connects only"},
		{"no keepalived", "keepalived: {}", "", "has no keepalived block"},
		{"config", "keepalived: {}", `keepalived: config: "/etc/passwd"`, "keepalived config \"/etc/passwd\" is not allowed"},
		{"program", "keepalived: {}", `keepalived: program: "/bin/sh"`, "a file named keepalived"},
		{"program tmp", "keepalived: {}", `keepalived: program: "/tmp/keepalived"`, "/tmp"},
		{"pid", "keepalived: {}", `keepalived: pidFile: "/etc/shadow"`, "pidFile"},
		{"sorry family", `sorryServer: address: "192.168.0.250"`, `sorryServer: address: "2001:db8::1"`, "not of the service's family"},
		{"status", `path: "/health"`, `path: "/health", status: 700`, "status"},
		{"quorum unchecked", `scheduler: "rr"`, `scheduler: "rr", quorum: 2`, "quorum is keepalived's"},
		{"hysteresis alone", "checkInterval: 2", "checkInterval: 2, hysteresis: 1", "give quorum too"},
		{"quorum above the weights", "checkInterval: 2", "checkInterval: 2, quorum: 5", "quorum 5 is more than the real servers' weights add up to (4)"},
		{"hysteresis too large", "checkInterval: 2", "checkInterval: 2, quorum: 2, hysteresis: 2", "hysteresis 2 is not below quorum 2"},
		{"mixed families", `vips: "192.168.0.10": {}`, `vips: {"192.168.0.10": {}, "2001:db8::10": {}}`, "one family"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(kaPair, tc.from, tc.to, 1)
			if src == kaPair {
				t.Fatal("the case changes nothing")
			}
			for _, evaluated := range []bool{false, true} {
				_, err := loadDir(writeCase(t, map[string]string{"c.cue": src}), Limits{}, evaluated)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("evaluated %v: %v, want %q", evaluated, err, tc.want)
				}
			}
		})
	}
}
