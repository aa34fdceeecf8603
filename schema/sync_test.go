package schema

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/lvsctl/lvsctl/internal/state"
)

// Sync daemons derive with the kernel's defaults filled in (group, port,
// TTL), the maximum length left to the kernel unless written, and a reason.
func TestSyncDaemonsDerive(t *testing.T) {
	dir := writeCase(t, map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: sync: {
	master: {interface: "eth1", syncID: 7}
	backup: {interface: "eth1.100", syncID: 9, maxLength: 1400, group: "ff05::81", port: 9000, ttl: 3}
}
`})
	l, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []state.SyncDaemon{
		{State: "master", Interface: "eth1", SyncID: 7, Group: netip.MustParseAddr("224.0.0.81"), Port: 8848, TTL: 1,
			Why: []string{"declared in directors.lb.sync.master"}},
		{State: "backup", Interface: "eth1.100", SyncID: 9, MaxLength: 1400, Group: netip.MustParseAddr("ff05::81"), Port: 9000, TTL: 3,
			Why: []string{"declared in directors.lb.sync.backup"}},
	}
	if diff := cmp.Diff(want, l.Hosts["lb"].Daemons, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
		t.Errorf("daemons (-want +got):\n%s", diff)
	}
	if len(l.Hosts["rs1"].Daemons) != 0 {
		t.Errorf("a real server got daemons: %v", l.Hosts["rs1"].Daemons)
	}
}

// What the kernel refuses, clamps or cannot do is refused at the field.
func TestSyncDaemonProblems(t *testing.T) {
	for _, tc := range []badCase{
		{
			name: "syncID above 255",
			files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: sync: master: {interface: "eth1", syncID: 256}
`},
			want: []string{`x.cue:2:58: directors.lb.sync.master.syncID: |invalid value 256 (out of bound <=255)`},
		},
		{
			name: "interface missing",
			files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: sync: backup: {syncID: 1}
`},
			want: []string{`x.cue:2:22: directors.lb.sync.backup.interface: |missing field: directors.lb.sync.backup needs interface (string)`},
		},
		{
			name: "group not multicast, bad interface, backup too short",
			files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: sync: {
	master: {interface: "eth1", group: "192.0.2.1"}
	backup: {interface: "../eth1", maxLength: 512}
}
`},
			want: []string{
				`x.cue:3:30: directors.lb.sync.master.group: |sync group 192.0.2.1 is not a multicast address`,
				`x.cue:4:11: directors.lb.sync.backup.interface: |interface name "../eth1" contains "/"`,
				`x.cue:4:33: directors.lb.sync.backup.maxLength: |maxLength 512 is outside 1024-65507, what the kernel keeps for a backup daemon with an ipv4 group (it would silently use 1024)`,
			},
		},
		{
			name: "IPv6 group, maxLength above what IPv6 carries; lo",
			files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: sync: master: {interface: "lo", group: "ff02::1:81", maxLength: 65500}
`},
			want: []string{
				`x.cue:2:31: directors.lb.sync.master.interface: |lo carries nothing to them`,
				`x.cue:2:69: directors.lb.sync.master.maxLength: |maxLength 65500 is outside 1-65487, what the kernel keeps for a master daemon with an ipv6 group`,
			},
		},
		{
			name: "mixed-family real server",
			files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: realServers: six: {address: "2001:db8::1", forward: "tun"}
directors: lb: sync: master: interface: "eth1"
`},
			want: []string{`x.cue:3:22: directors.lb.sync.master: |no sync daemon beside a real server of another family than its service (real server six of service web)`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkProblems(t, writeCase(t, tc.files), tc.want)
		})
	}
}
