package boot

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/lvsctl/lvsctl/internal/state"
)

func mfile(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s), Mode: 0o644} }

func mlink(target string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte(target), Mode: fs.ModeSymlink | 0o777}
}

func mdir() *fstest.MapFile { return &fstest.MapFile{Mode: fs.ModeDir | 0o755} }

// at is an assignment as ReadSysctlConfig reports it.
func at(file string, line int, key, value string) state.SysctlSetting {
	return state.SysctlSetting{Key: key, Value: value, File: file, Line: line}
}

func ignoring(s state.SysctlSetting) state.SysctlSetting {
	s.IgnoreFailure = true
	return s
}

func TestReadSysctlConfig(t *testing.T) {
	tests := []struct {
		name  string
		fsys  fstest.MapFS
		netns string
		want  []state.SysctlSetting
		warn  []string
	}{
		{
			name: "nothing",
			fsys: fstest.MapFS{},
		},
		{
			name: "precedence by directory, order by name",
			fsys: fstest.MapFS{
				"etc/sysctl.d/50-a.conf":           mfile("net.ipv4.ip_forward = 1\n"),
				"usr/lib/sysctl.d/50-a.conf":       mfile("net.ipv4.ip_forward = 0\n"), // hidden by /etc's
				"usr/lib/sysctl.d/10-b.conf":       mfile("net.core.rmem_max = 1\n"),
				"run/sysctl.d/60-c.conf":           mfile("net.core.wmem_max=2\n"),
				"lib/sysctl.d/60-c.conf":           mfile("net.core.wmem_max=3\n"), // hidden by /run's
				"usr/local/lib/sysctl.d/70-d.conf": mfile("\n# comment\n; comment\n  net.ipv4.vs.conntrack\t=\t1  \n"),
				"usr/local/lib/sysctl.d/10-b.conf": mfile("net.core.rmem_max = 9\n"), // hides /usr/lib's
				"lib/sysctl.d/05-e.conf":           mfile("net.ipv4.vs.expire_nodest_conn = 1\n"),
				"etc/sysctl.d/README":              mfile("not = read\n"),
				"etc/sysctl.d/50-a.conf.dpkg-old":  mfile("not = read\n"),
			},
			want: []state.SysctlSetting{
				at("/lib/sysctl.d/05-e.conf", 1, "net.ipv4.vs.expire_nodest_conn", "1"),
				at("/usr/local/lib/sysctl.d/10-b.conf", 1, "net.core.rmem_max", "9"),
				at("/etc/sysctl.d/50-a.conf", 1, "net.ipv4.ip_forward", "1"),
				at("/run/sysctl.d/60-c.conf", 1, "net.core.wmem_max", "2"),
				at("/usr/local/lib/sysctl.d/70-d.conf", 4, "net.ipv4.vs.conntrack", "1"),
			},
		},
		{
			name: "a link to /dev/null masks",
			fsys: fstest.MapFS{
				"etc/sysctl.d/50-default.conf":     mlink("/dev/null"),
				"usr/lib/sysctl.d/50-default.conf": mfile("net.ipv4.conf.*.rp_filter = 2\n"),
				"run/sysctl.d/60-x.conf":           mlink("../../dev/null"),
				"usr/lib/sysctl.d/60-x.conf":       mfile("net.ipv4.ip_forward = 0\n"),
				"usr/lib/sysctl.d/70-y.conf":       mfile("net.ipv4.ip_forward = 1\n"),
			},
			want: []state.SysctlSetting{
				at("/usr/lib/sysctl.d/70-y.conf", 1, "net.ipv4.ip_forward", "1"),
			},
		},
		{
			name: "an empty file masks too",
			fsys: fstest.MapFS{
				"etc/sysctl.d/50-default.conf":     mfile(""),
				"usr/lib/sysctl.d/50-default.conf": mfile("net.ipv4.conf.*.rp_filter = 2\n"),
			},
		},
		{
			name: "a link to nothing is passed over",
			fsys: fstest.MapFS{
				"etc/sysctl.d/50-a.conf":     mlink("gone.conf"),
				"usr/lib/sysctl.d/50-a.conf": mfile("net.ipv4.ip_forward = 1\n"),
				"etc/sysctl.d/60-loop.conf":  mlink("60-loop.conf"),
			},
			want: []state.SysctlSetting{
				at("/usr/lib/sysctl.d/50-a.conf", 1, "net.ipv4.ip_forward", "1"),
			},
			warn: []string{
				"/etc/sysctl.d/50-a.conf: file does not exist; skipped",
				"/etc/sysctl.d/60-loop.conf: more than 16 symbolic links; skipped",
			},
		},
		{
			name: "a directory named .conf hides and adds nothing",
			fsys: fstest.MapFS{
				"etc/sysctl.d/50-a.conf":     mdir(),
				"usr/lib/sysctl.d/50-a.conf": mfile("net.ipv4.ip_forward = 1\n"),
			},
			warn: []string{"/etc/sysctl.d/50-a.conf: not a regular file; skipped"},
		},
		{
			name: "sysctl.conf comes last",
			fsys: fstest.MapFS{
				"etc/sysctl.conf":         mfile("net.ipv4.ip_forward = 1\n"),
				"etc/sysctl.d/zz.conf":    mfile("net.ipv4.ip_forward = 0\n"),
				"usr/lib/sysctl.d/a.conf": mfile("net.core.rmem_max = 1\n"),
			},
			want: []state.SysctlSetting{
				at("/usr/lib/sysctl.d/a.conf", 1, "net.core.rmem_max", "1"),
				at("/etc/sysctl.d/zz.conf", 1, "net.ipv4.ip_forward", "0"),
				at("/etc/sysctl.conf", 1, "net.ipv4.ip_forward", "1"),
			},
		},
		{
			name: "sysctl.conf through 99-sysctl.conf counts once",
			fsys: fstest.MapFS{
				"etc/sysctl.conf":                 mfile("#\nnet.ipv4.ip_forward = 1\n"),
				"etc/sysctl.d/99-sysctl.conf":     mlink("../sysctl.conf"),
				"etc/sysctl.d/zz-after.conf":      mfile("net.ipv4.ip_forward = 0\n"),
				"usr/lib/sysctl.d/10-vendor.conf": mfile("net.core.rmem_max = 1\n"),
			},
			want: []state.SysctlSetting{
				at("/usr/lib/sysctl.d/10-vendor.conf", 1, "net.core.rmem_max", "1"),
				at("/etc/sysctl.d/99-sysctl.conf", 2, "net.ipv4.ip_forward", "1"),
				at("/etc/sysctl.d/zz-after.conf", 1, "net.ipv4.ip_forward", "0"),
			},
		},
		{
			name: "sysctl.conf through an absolute link counts once",
			fsys: fstest.MapFS{
				"etc/sysctl.conf":             mfile("net.ipv4.ip_forward = 1\n"),
				"etc/sysctl.d/99-sysctl.conf": mlink("/etc/sysctl.conf"),
			},
			want: []state.SysctlSetting{
				at("/etc/sysctl.d/99-sysctl.conf", 1, "net.ipv4.ip_forward", "1"),
			},
		},
		{
			name: "a masked 99-sysctl.conf leaves sysctl.conf to procps",
			fsys: fstest.MapFS{
				"etc/sysctl.conf":             mfile("net.ipv4.ip_forward = 1\n"),
				"etc/sysctl.d/99-sysctl.conf": mlink("/dev/null"),
			},
			want: []state.SysctlSetting{
				at("/etc/sysctl.conf", 1, "net.ipv4.ip_forward", "1"),
			},
		},
		{
			name:  "a namespace's own sysctl.d and sysctl.conf replace the host's",
			netns: "lb",
			fsys: fstest.MapFS{
				"etc/sysctl.d/20-host.conf":            mfile("net.ipv4.ip_forward = 0\n"),
				"etc/sysctl.conf":                      mfile("net.core.rmem_max = 0\n"),
				"etc/netns/lb/sysctl.d/10-ns.conf":     mfile("net.ipv4.ip_forward = 1\n"),
				"etc/netns/lb/sysctl.d/99-sysctl.conf": mlink("../sysctl.conf"),
				"etc/netns/lb/sysctl.conf":             mfile("net.core.rmem_max = 1\n"),
				"usr/lib/sysctl.d/30-vendor.conf":      mfile("net.core.wmem_max = 1\n"),
				"etc/netns/other/sysctl.d/10-x.conf":   mfile("net.ipv4.ip_forward = 7\n"),
			},
			want: []state.SysctlSetting{
				at("/etc/netns/lb/sysctl.d/10-ns.conf", 1, "net.ipv4.ip_forward", "1"),
				at("/usr/lib/sysctl.d/30-vendor.conf", 1, "net.core.wmem_max", "1"),
				at("/etc/netns/lb/sysctl.d/99-sysctl.conf", 1, "net.core.rmem_max", "1"),
			},
		},
		{
			name:  "a namespace without files of its own sees the host's",
			netns: "lb",
			fsys: fstest.MapFS{
				"etc/sysctl.d/20-host.conf":   mfile("net.ipv4.ip_forward = 0\n"),
				"etc/sysctl.conf":             mfile("net.core.rmem_max = 0\n"),
				"etc/netns/lb/resolv.conf":    mfile("nameserver 192.0.2.1\n"),
				"etc/netns/other/sysctl.conf": mfile("net.core.rmem_max = 7\n"),
			},
			want: []state.SysctlSetting{
				at("/etc/sysctl.d/20-host.conf", 1, "net.ipv4.ip_forward", "0"),
				at("/etc/sysctl.conf", 1, "net.core.rmem_max", "0"),
			},
		},
		{
			name:  "ip netns exec binds nothing over an /etc entry that does not exist",
			netns: "lb",
			fsys: fstest.MapFS{
				"etc/netns/lb/sysctl.d/10-ns.conf": mfile("net.ipv4.ip_forward = 1\n"),
				"etc/netns/lb/sysctl.conf":         mdir(),
				"etc/sysctl.conf":                  mfile("net.core.rmem_max = 0\n"),
			},
			want: []state.SysctlSetting{
				at("/etc/sysctl.conf", 1, "net.core.rmem_max", "0"),
			},
			warn: []string{
				"/etc/netns/lb/sysctl.d is not used: ip netns exec binds it over /etc/sysctl.d only when that exists and is of the same kind",
				"/etc/netns/lb/sysctl.conf is not used: ip netns exec binds it over /etc/sysctl.conf only when that exists and is of the same kind",
			},
		},
		{
			name: "line syntax",
			fsys: fstest.MapFS{
				"etc/sysctl.d/10-syntax.conf": mfile(strings.Join([]string{
					"-net.ipv4.conf.eth9.rp_filter = 0",          // 1: ignore failure
					"  - net.ipv4.conf.eth8.rp_filter=0",         // 2: spaces around
					"net/ipv4/conf/eth0.100/rp_filter = 2",       // 3: slashed, a VLAN
					"net.ipv4.conf.eth0/101.arp_ignore = 1",      // 4: dotted, a VLAN
					"/net/ipv4//ip_forward = 1",                  // 5: leading and double slashes
					"net.ipv4.tcp_rmem = 4096 87380   6291456",   // 6: inner spaces kept
					"net.ipv4.conf.*.rp_filter = 2",              // 7: glob
					"-net.ipv4.conf.all.rp_filter",               // 8: exclusion
					"net.ipv4.ip_local_port_range=1024\t65000\r", // 9: CRLF, inner tab
					"# net.ipv4.ip_forward = 0",                  // 10
					"; net.ipv4.ip_forward = 0",                  // 11
					"not an assignment",                          // 12
					"= 5",                                        // 13
					"-",                                          // 14
					"net.ipv4.vs.conntrack =",                    // 15: empty value
					"kernel.domainname = a=b",                    // 16: first "=" splits
					"net.ipv4.conf.eth[01].arp_announce = 2",     // 17: glob
					"net/ipv4/conf/*/arp_notify = 1",             // 18: slashed glob
				}, "\n")),
			},
			want: []state.SysctlSetting{
				ignoring(at("/etc/sysctl.d/10-syntax.conf", 1, "net.ipv4.conf.eth9.rp_filter", "0")),
				ignoring(at("/etc/sysctl.d/10-syntax.conf", 2, "net.ipv4.conf.eth8.rp_filter", "0")),
				at("/etc/sysctl.d/10-syntax.conf", 3, "net.ipv4.conf.eth0/100.rp_filter", "2"),
				at("/etc/sysctl.d/10-syntax.conf", 4, "net.ipv4.conf.eth0/101.arp_ignore", "1"),
				at("/etc/sysctl.d/10-syntax.conf", 5, "net.ipv4.ip_forward", "1"),
				at("/etc/sysctl.d/10-syntax.conf", 6, "net.ipv4.tcp_rmem", "4096 87380   6291456"),
				at("/etc/sysctl.d/10-syntax.conf", 7, "net.ipv4.conf.*.rp_filter", "2"),
				ignoring(at("/etc/sysctl.d/10-syntax.conf", 8, "net.ipv4.conf.all.rp_filter", "")),
				at("/etc/sysctl.d/10-syntax.conf", 9, "net.ipv4.ip_local_port_range", "1024\t65000"),
				at("/etc/sysctl.d/10-syntax.conf", 15, "net.ipv4.vs.conntrack", ""),
				at("/etc/sysctl.d/10-syntax.conf", 16, "kernel.domainname", "a=b"),
				at("/etc/sysctl.d/10-syntax.conf", 17, "net.ipv4.conf.eth[01].arp_announce", "2"),
				at("/etc/sysctl.d/10-syntax.conf", 18, "net.ipv4.conf.*.arp_notify", "1"),
			},
			warn: []string{
				`/etc/sysctl.d/10-syntax.conf:12: "not an assignment" is not an assignment; skipped`,
				`/etc/sysctl.d/10-syntax.conf:13: "= 5" assigns no key; skipped`,
				`/etc/sysctl.d/10-syntax.conf:14: "-" assigns no key; skipped`,
			},
		},
		{
			name: "a file over 1 MiB is skipped, the others are read",
			fsys: fstest.MapFS{
				"etc/sysctl.d/10-big.conf": mfile(strings.Repeat("net.ipv4.ip_forward = 1\n", 2<<20/24+1)),
				"etc/sysctl.d/20-ok.conf":  mfile("net.ipv4.ip_forward = 0\n"),
			},
			want: []state.SysctlSetting{
				at("/etc/sysctl.d/20-ok.conf", 1, "net.ipv4.ip_forward", "0"),
			},
			warn: []string{"/etc/sysctl.d/10-big.conf: larger than 1048576 bytes; skipped"},
		},
		{
			name: "a line over 4096 bytes is skipped, the rest of the file is read",
			fsys: fstest.MapFS{
				"etc/sysctl.d/10-long.conf": mfile("net.ipv4.ip_forward = 0\nkernel.x = " + strings.Repeat("y", 5000) + "\nnet.ipv4.ip_forward = 1\n"),
			},
			want: []state.SysctlSetting{
				at("/etc/sysctl.d/10-long.conf", 1, "net.ipv4.ip_forward", "0"),
				at("/etc/sysctl.d/10-long.conf", 3, "net.ipv4.ip_forward", "1"),
			},
			warn: []string{"/etc/sysctl.d/10-long.conf:2: line longer than 4096 bytes; skipped"},
		},
		{
			name: "binary garbage gives a bounded number of warnings",
			fsys: fstest.MapFS{
				"etc/sysctl.d/10-garbage.conf": mfile(strings.Repeat("\x7fELF\x02\x01\x01\x00=\xff\xfe\n", 20) + "net.ipv4.ip_forward = 1\n"),
				"etc/sysctl.d/20-utf8.conf":    mfile("net.ipv4.ip_forward = \xc3\x28\n"),
			},
			want: []state.SysctlSetting{
				at("/etc/sysctl.d/10-garbage.conf", 21, "net.ipv4.ip_forward", "1"),
			},
			warn: append(garbageWarnings("/etc/sysctl.d/10-garbage.conf", 10),
				"/etc/sysctl.d/10-garbage.conf: 10 more lines skipped",
				"/etc/sysctl.d/20-utf8.conf:1: line holds control characters or is not UTF-8; skipped",
			),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, warn, err := ReadSysctlConfig(tt.fsys, tt.netns)
			if err != nil {
				t.Fatalf("ReadSysctlConfig: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("settings (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.warn, warn, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func garbageWarnings(file string, n int) []string {
	var out []string
	for i := 1; i <= n; i++ {
		out = append(out, fmt.Sprintf("%s:%d: line holds control characters or is not UTF-8; skipped", file, i))
	}
	return out
}

func TestReadSysctlConfigBounds(t *testing.T) {
	t.Run("files", func(t *testing.T) {
		fsys := fstest.MapFS{"etc/sysctl.conf": mfile("net.core.rmem_max = 1\n")}
		for i := range 300 {
			fsys[fmt.Sprintf("usr/lib/sysctl.d/%03d.conf", i)] = mfile(fmt.Sprintf("net.ipv4.vs.sync_ports = %d\n", i))
		}
		got, warn, err := ReadSysctlConfig(fsys, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 256 || got[255] != at("/usr/lib/sysctl.d/255.conf", 1, "net.ipv4.vs.sync_ports", "255") {
			t.Errorf("read %d assignments, the last %+v; want 256, the last from 255.conf", len(got), got[len(got)-1])
		}
		want := []string{"301 sysctl configuration files; only the first 256 (up to /usr/lib/sysctl.d/255.conf) were read"}
		if diff := cmp.Diff(want, warn); diff != "" {
			t.Errorf("warnings (-want +got):\n%s", diff)
		}
	})
	t.Run("assignments", func(t *testing.T) {
		fsys := fstest.MapFS{
			"etc/sysctl.d/10-many.conf": mfile(strings.Repeat("a=1\n", maxSysctlAssignments+1)),
			"etc/sysctl.d/20-more.conf": mfile("b=2\n"),
		}
		got, warn, err := ReadSysctlConfig(fsys, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != maxSysctlAssignments {
			t.Errorf("read %d assignments, want %d", len(got), maxSysctlAssignments)
		}
		want := []string{"more than 100000 sysctl assignments; the rest, from /etc/sysctl.d/10-many.conf on, were not read"}
		if diff := cmp.Diff(want, warn); diff != "" {
			t.Errorf("warnings (-want +got):\n%s", diff)
		}
	})
	t.Run("warnings", func(t *testing.T) {
		fsys := fstest.MapFS{}
		for i := range 120 {
			fsys[fmt.Sprintf("etc/sysctl.d/%03d.conf", i)] = mlink("nowhere")
		}
		_, warn, err := ReadSysctlConfig(fsys, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(warn) != 101 || warn[100] != "20 more warnings not shown" {
			t.Errorf("%d warnings, the last %q; want 101, the last \"20 more warnings not shown\"", len(warn), warn[len(warn)-1])
		}
	})
}

func TestReadSysctlConfigRefusesBadNetns(t *testing.T) {
	for _, ns := range []string{"..", "a/b", "-x", ".hidden"} {
		if _, _, err := ReadSysctlConfig(fstest.MapFS{}, ns); err == nil {
			t.Errorf("ReadSysctlConfig(netns %q): no error", ns)
		}
	}
}

// TestReadSysctlConfigDirFS reads a tree of real files and links through
// os.DirFS, as the agent reads "/".
func TestReadSysctlConfigDirFS(t *testing.T) {
	root := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	symlink := func(target, name string) {
		t.Helper()
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	write("etc/sysctl.conf", "net.ipv4.ip_forward = 1\n")
	write("usr/lib/sysctl.d/50-default.conf", "net.ipv4.conf.*.rp_filter = 2\n")
	write("usr/lib/sysctl.d/60-vendor.conf", "net.core.rmem_max = 1\n")
	symlink("../sysctl.conf", "etc/sysctl.d/99-sysctl.conf")
	symlink("/dev/null", "etc/sysctl.d/50-default.conf")
	symlink("/usr/lib/sysctl.d/60-vendor.conf", "etc/sysctl.d/70-linked.conf")

	got, warn, err := ReadSysctlConfig(os.DirFS(root), "")
	if err != nil {
		t.Fatal(err)
	}
	want := []state.SysctlSetting{
		at("/usr/lib/sysctl.d/60-vendor.conf", 1, "net.core.rmem_max", "1"),
		at("/etc/sysctl.d/70-linked.conf", 1, "net.core.rmem_max", "1"),
		at("/etc/sysctl.d/99-sysctl.conf", 1, "net.ipv4.ip_forward", "1"),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("settings (-want +got):\n%s", diff)
	}
	if len(warn) != 0 {
		t.Errorf("warnings: %q", warn)
	}
}

func TestNormalizeSysctlKey(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"net.ipv4.ip_forward", "net.ipv4.ip_forward"},
		{"net/ipv4/ip_forward", "net.ipv4.ip_forward"},
		{"/net/ipv4/ip_forward/", "net.ipv4.ip_forward"},
		{"net/ipv4/conf/eth0.100/rp_filter", "net.ipv4.conf.eth0/100.rp_filter"},
		{"net.ipv4.conf.eth0/100.rp_filter", "net.ipv4.conf.eth0/100.rp_filter"},
		{"net..ipv4...ip_forward", "net.ipv4.ip_forward"},
		{"net/./ipv4/ip_forward", "net.ipv4.ip_forward"},
		{"kernel", "kernel"},
		{"net.ipv4.conf.*.rp_filter", "net.ipv4.conf.*.rp_filter"},
		{"...", ""},
		{"/", ""},
		{"", ""},
	} {
		if got := normalizeSysctlKey(tt.in); got != tt.want {
			t.Errorf("normalizeSysctlKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestKeyMatches(t *testing.T) {
	for _, tt := range []struct {
		pattern, key string
		want         bool
	}{
		{"net.ipv4.ip_forward", "net.ipv4.ip_forward", true},
		{"net.ipv4.ip_forward", "net.ipv6.ip_forward", false},
		{"net.ipv4.conf.*.rp_filter", "net.ipv4.conf.eth0.rp_filter", true},
		{"net.ipv4.conf.*.rp_filter", "net.ipv4.conf.all.rp_filter", true},
		{"net.ipv4.conf.*.rp_filter", "net.ipv4.conf.eth0/100.rp_filter", true}, // the VLAN eth0.100
		{"net.ipv4.conf.*.rp_filter", "net.ipv4.conf.a.b.rp_filter", false},
		{"net.ipv4.conf.*.rp_filter", "net.ipv4.conf.eth0.arp_ignore", false},
		{"net.ipv4.conf.eth?.arp_ignore", "net.ipv4.conf.eth1.arp_ignore", true},
		{"net.ipv4.conf.eth?.arp_ignore", "net.ipv4.conf.eth10.arp_ignore", false},
		{"net.ipv4.conf.eth[01].arp_ignore", "net.ipv4.conf.eth1.arp_ignore", true},
		{"net.ipv4.conf.eth[01].arp_ignore", "net.ipv4.conf.eth2.arp_ignore", false},
		{"net.ipv4.*", "net.ipv4.conf.all.rp_filter", false},
		{"net.ipv4.conf.eth[0.arp_ignore", "net.ipv4.conf.eth[0.arp_ignore", true}, // malformed: literal
		{"net.ipv4.conf.eth[0.arp_ignore", "net.ipv4.conf.eth0.arp_ignore", false},
	} {
		if got := KeyMatches(tt.pattern, tt.key); got != tt.want {
			t.Errorf("KeyMatches(%q, %q) = %v, want %v", tt.pattern, tt.key, got, tt.want)
		}
	}
}

// systemdDefault is the rp_filter part of systemd's own
// /usr/lib/sysctl.d/50-default.conf.
const systemdDefault = `# Source route verification
net.ipv4.conf.default.rp_filter = 2
net.ipv4.conf.*.rp_filter = 2
-net.ipv4.conf.all.rp_filter
`

func TestEffective(t *testing.T) {
	withLvsctl := fstest.MapFS{
		"usr/lib/sysctl.d/50-default.conf": mfile(systemdDefault),
		"etc/sysctl.d/90-lvsctl.conf":      mfile("net.ipv4.conf.all.rp_filter = 0\nnet.ipv4.conf.tunl0.rp_filter = 0\n"),
		"etc/sysctl.d/95-admin.conf":       mfile("net.ipv4.conf.*.rp_filter = 1\n"),
	}
	vendorOnly := fstest.MapFS{"usr/lib/sysctl.d/50-default.conf": mfile(systemdDefault)}
	globs := fstest.MapFS{
		"etc/sysctl.d/10.conf": mfile("a.*.x = 1\n"),
		"etc/sysctl.d/20.conf": mfile("a.b*.x = 2\n"),
		"etc/sysctl.d/30.conf": mfile("a.*.x = 1\n"),              // the same value: stays first
		"etc/sysctl.d/40.conf": mfile("a.c*.x = 4\na.c*.x = 5\n"), // a new value: moves last
		"etc/sysctl.d/50.conf": mfile("a.d*.x = 6\n-a.d*.x\n"),    // excluded again: passed over
	}
	tests := []struct {
		fsys fstest.MapFS
		key  string
		want state.SysctlSetting
		ok   bool
	}{
		{withLvsctl, "net.ipv4.conf.all.rp_filter", at("/etc/sysctl.d/90-lvsctl.conf", 1, "net.ipv4.conf.all.rp_filter", "0"), true},
		{withLvsctl, "net.ipv4.conf.tunl0.rp_filter", at("/etc/sysctl.d/90-lvsctl.conf", 2, "net.ipv4.conf.tunl0.rp_filter", "0"), true},
		{withLvsctl, "net.ipv4.conf.eth0.rp_filter", at("/etc/sysctl.d/95-admin.conf", 1, "net.ipv4.conf.*.rp_filter", "1"), true},
		{withLvsctl, "net.ipv4.conf.default.rp_filter", at("/usr/lib/sysctl.d/50-default.conf", 2, "net.ipv4.conf.default.rp_filter", "2"), true},
		{withLvsctl, "net.ipv4.ip_forward", state.SysctlSetting{}, false},
		{vendorOnly, "net.ipv4.conf.all.rp_filter", ignoring(at("/usr/lib/sysctl.d/50-default.conf", 4, "net.ipv4.conf.all.rp_filter", "")), true},
		{vendorOnly, "net.ipv4.conf.eth0.rp_filter", at("/usr/lib/sysctl.d/50-default.conf", 3, "net.ipv4.conf.*.rp_filter", "2"), true},
		{globs, "a.b1.x", at("/etc/sysctl.d/20.conf", 1, "a.b*.x", "2"), true},
		{globs, "a.c1.x", at("/etc/sysctl.d/40.conf", 2, "a.c*.x", "5"), true},
		{globs, "a.d1.x", at("/etc/sysctl.d/30.conf", 1, "a.*.x", "1"), true},
		{globs, "a.e.x", at("/etc/sysctl.d/30.conf", 1, "a.*.x", "1"), true},
		{globs, "a.e.y", state.SysctlSetting{}, false},
	}
	for _, tt := range tests {
		settings, warn, err := ReadSysctlConfig(tt.fsys, "")
		if err != nil || len(warn) > 0 {
			t.Fatalf("ReadSysctlConfig: %v %q", err, warn)
		}
		got, ok := Effective(settings, tt.key)
		if ok != tt.ok || got != tt.want {
			t.Errorf("Effective(%s) = %+v, %v; want %+v, %v", tt.key, got, ok, tt.want, tt.ok)
		}
	}
}

// FuzzSysctlFile: no file content makes ReadSysctlConfig fail or panic, and
// every key it returns names a simplified path under /proc/sys and matches
// itself.
func FuzzSysctlFile(f *testing.F) {
	f.Add([]byte("net.ipv4.ip_forward = 1\n-a.b\n"))
	f.Add([]byte("net/ipv4/conf/eth0.100/rp_filter=2\r\n;x\n#y\n=\n-\n"))
	f.Add([]byte("\x00\xff=\x01\n[=]\n*.*=*\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, _, err := ReadSysctlConfig(fstest.MapFS{"etc/sysctl.d/x.conf": &fstest.MapFile{Data: b}}, "")
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range got {
			for _, c := range strings.Split(swapDotSlash(s.Key), "/") {
				if c == "" || c == "." {
					t.Errorf("key %q: its path under /proc/sys is not simplified", s.Key)
				}
			}
			if !KeyMatches(s.Key, s.Key) {
				t.Errorf("key %q does not match itself", s.Key)
			}
			if i < 8 {
				Effective(got, s.Key)
			}
		}
	})
}
