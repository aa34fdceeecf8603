package boot

import (
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/lvsctl/lvsctl/internal/state"
)

// The distributions' own files: see testdata/restorers/README.
var (
	rhelUnitTxt       = readTestdata("restorers/rhel-ipvsadm.service")
	debianScriptTxt   = readTestdata("restorers/debian-init.d-ipvsadm")
	debianDefaultsTxt = readTestdata("restorers/debian-default-ipvsadm")
	debianRulesTxt    = readTestdata("restorers/debian-ipvsadm.rules")
)

func readTestdata(name string) string {
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// merge returns a new MapFS with the entries of all of ms, later ones
// replacing earlier ones.
func merge(ms ...fstest.MapFS) fstest.MapFS {
	out := fstest.MapFS{}
	for _, m := range ms {
		for k, v := range m {
			if v == nil {
				delete(out, k)
				continue
			}
			out[k] = v
		}
	}
	return out
}

func TestFindRestorers(t *testing.T) {
	systemd := fstest.MapFS{"run/systemd/system": mdir()}
	rhel := fstest.MapFS{"usr/lib/systemd/system/ipvsadm.service": mfile(rhelUnitTxt)}
	enabled := fstest.MapFS{"etc/systemd/system/multi-user.target.wants/ipvsadm.service": mlink("/usr/lib/systemd/system/ipvsadm.service")}
	debian := fstest.MapFS{
		"etc/init.d/ipvsadm":    mfile(debianScriptTxt),
		"etc/default/ipvsadm":   mfile(debianDefaultsTxt),
		"etc/ipvsadm.rules":     mfile(debianRulesTxt),
		"etc/rc2.d/S01ipvsadm":  mlink("../init.d/ipvsadm"),
		"etc/rc3.d/S01ipvsadm":  mlink("../init.d/ipvsadm"),
		"etc/rc0.d/K01ipvsadm":  mlink("../init.d/ipvsadm"),
		"etc/rc2.d/S01rsyslog":  mlink("../init.d/rsyslog"),
		"etc/init.d/rsyslog":    mfile("#!/bin/sh\n"),
		"etc/rc6.d/K01ipvsadm":  mlink("../init.d/ipvsadm"),
		"etc/rc1.d/K01ipvsadm":  mlink("../init.d/ipvsadm"),
		"etc/rc4.d/S01ipvsadm":  mlink("../init.d/ipvsadm"),
		"etc/rc5.d/S01ipvsadm":  mlink("../init.d/ipvsadm"),
		"etc/rcS.d/S01hostname": mlink("../init.d/hostname.sh"),
	}
	auto := fstest.MapFS{"etc/default/ipvsadm": mfile(strings.Replace(debianDefaultsTxt, `AUTO="false"`, `AUTO="true"`, 1))}
	sysvGenerator := fstest.MapFS{"usr/lib/systemd/system-generators/systemd-sysv-generator": &fstest.MapFile{Mode: 0o755}}
	noRcLinks := fstest.MapFS{
		"etc/rc2.d/S01ipvsadm": nil, "etc/rc3.d/S01ipvsadm": nil,
		"etc/rc4.d/S01ipvsadm": nil, "etc/rc5.d/S01ipvsadm": nil,
	}

	tests := []struct {
		name string
		fsys fstest.MapFS
		want []state.Restorer
	}{
		{name: "none", fsys: systemd},
		{name: "a mask without a unit", fsys: merge(systemd, fstest.MapFS{"etc/systemd/system/ipvsadm.service": mlink("/dev/null")})},
		{
			name: "RHEL, enabled",
			fsys: merge(systemd, rhel, enabled),
			want: []state.Restorer{{
				Name: "ipvsadm.service", RulesFile: "/etc/sysconfig/ipvsadm", Enabled: true, SavesAtStop: true,
				Why: "ipvsadm.service is enabled (/etc/systemd/system/multi-user.target.wants/ipvsadm.service) and restores /etc/sysconfig/ipvsadm at boot; its ExecStop saves the live table into /etc/sysconfig/ipvsadm",
			}},
		},
		{
			name: "RHEL, installed only",
			fsys: merge(systemd, rhel),
			want: []state.Restorer{{
				Name: "ipvsadm.service", RulesFile: "/etc/sysconfig/ipvsadm", SavesAtStop: true,
				Why: "ipvsadm.service is installed (/usr/lib/systemd/system/ipvsadm.service) but not enabled; started, it would restore /etc/sysconfig/ipvsadm; its ExecStop saves the live table into /etc/sysconfig/ipvsadm",
			}},
		},
		{
			name: "RHEL, masked",
			fsys: merge(systemd, rhel, enabled, fstest.MapFS{"etc/systemd/system/ipvsadm.service": mlink("/dev/null")}),
			want: []state.Restorer{{
				Name: "ipvsadm.service", RulesFile: "/etc/sysconfig/ipvsadm",
				Why: "ipvsadm.service is installed (/usr/lib/systemd/system/ipvsadm.service) but masked (/etc/systemd/system/ipvsadm.service links to /dev/null), so it does not run",
			}},
		},
		{
			name: "RHEL, without systemd running",
			fsys: merge(rhel, enabled),
			want: []state.Restorer{{
				Name: "ipvsadm.service", RulesFile: "/etc/sysconfig/ipvsadm", SavesAtStop: true,
				Why: "ipvsadm.service is installed (/usr/lib/systemd/system/ipvsadm.service) but systemd does not run this host; its ExecStop saves the live table into /etc/sysconfig/ipvsadm",
			}},
		},
		{
			name: "RHEL, a drop-in restores another file and a unit in /etc takes precedence",
			fsys: merge(systemd, rhel, enabled, fstest.MapFS{
				"etc/systemd/system/ipvsadm.service": mfile(strings.Replace(rhelUnitTxt, "ExecStop=/bin/bash", "ExecStop=/usr/bin/bash", 1)),
				"etc/systemd/system/ipvsadm.service.d/10-rules.conf": mfile("[Service]\nExecStart=\n" +
					"ExecStart=/bin/sh -c '/usr/sbin/ipvsadm-restore \\\n  < /etc/lvs/rules'\n"),
				"usr/lib/systemd/system/ipvsadm.service.d/10-rules.conf": mfile("[Service]\nExecStart=\nExecStart=/bin/sh -c 'ipvsadm -R < /hidden'\n"),
			}),
			want: []state.Restorer{{
				Name: "ipvsadm.service", RulesFile: "/etc/lvs/rules", Enabled: true,
				Why: "ipvsadm.service is enabled (/etc/systemd/system/multi-user.target.wants/ipvsadm.service) and restores /etc/lvs/rules at boot",
			}},
		},
		{
			name: "a unit that names no file, fed and saving through systemd",
			fsys: merge(systemd, enabled, fstest.MapFS{"usr/lib/systemd/system/ipvsadm.service": mfile(
				"[Unit]\nDescription=x\n[Service]\nType=oneshot\nStandardInput=file:/etc/ipvs.rules\n" +
					"ExecStart=/usr/sbin/ipvsadm-restore\n")}),
			want: []state.Restorer{{
				Name: "ipvsadm.service", RulesFile: "/etc/ipvs.rules", Enabled: true,
				Why: "ipvsadm.service is enabled (/etc/systemd/system/multi-user.target.wants/ipvsadm.service) and restores /etc/ipvs.rules at boot",
			}},
		},
		{
			name: "a unit that names no file at all",
			fsys: merge(systemd, fstest.MapFS{
				"usr/lib/systemd/system/ipvsadm.service":                         mfile("[Service]\nExecStart=/usr/local/bin/lvs-up\nExecStop=/sbin/ipvsadm -S -n > /etc/sysconfig/ipvsadm\n"),
				"usr/lib/systemd/system/sockets.target.requires/ipvsadm.service": mlink("../ipvsadm.service"),
			}),
			want: []state.Restorer{{
				Name: "ipvsadm.service", RulesFile: "/etc/sysconfig/ipvsadm", Enabled: true, SavesAtStop: true,
				Why: "ipvsadm.service is enabled (/usr/lib/systemd/system/sockets.target.requires/ipvsadm.service) and restores /etc/sysconfig/ipvsadm (its ExecStart names no file: the RHEL default) at boot; its ExecStop saves the live table into /etc/sysconfig/ipvsadm",
			}},
		},
		{
			name: "Debian as shipped: AUTO is false",
			fsys: merge(systemd, sysvGenerator, debian),
			want: []state.Restorer{{
				Name: "/etc/init.d/ipvsadm", RulesFile: "/etc/ipvsadm.rules",
				Why: `/etc/init.d/ipvsadm runs at boot but restores nothing: AUTO is not "true" in /etc/default/ipvsadm`,
			}},
		},
		{
			name: "Debian with AUTO true, under systemd",
			fsys: merge(systemd, sysvGenerator, debian, auto),
			want: []state.Restorer{{
				Name: "/etc/init.d/ipvsadm", RulesFile: "/etc/ipvsadm.rules", Enabled: true,
				Why: `/etc/init.d/ipvsadm runs at boot with AUTO="true" in /etc/default/ipvsadm: it clears the IPVS table and restores /etc/ipvsadm.rules`,
			}},
		},
		{
			name: "Debian with AUTO true and another rules file",
			fsys: merge(systemd, sysvGenerator, debian, fstest.MapFS{"etc/default/ipvsadm": mfile("AUTO=true # on\nIPVSADM_RULES='/srv/lvs.rules'\n")}),
			want: []state.Restorer{{
				Name: "/etc/init.d/ipvsadm", RulesFile: "/srv/lvs.rules", Enabled: true,
				Why: `/etc/init.d/ipvsadm runs at boot with AUTO="true" in /etc/default/ipvsadm: it clears the IPVS table and restores /srv/lvs.rules`,
			}},
		},
		{
			name: "Debian with AUTO true, under a systemd without SysV support",
			fsys: merge(systemd, debian, auto),
			want: []state.Restorer{{
				Name: "/etc/init.d/ipvsadm", RulesFile: "/etc/ipvsadm.rules",
				Why: "/etc/init.d/ipvsadm is installed but does not run at boot: this host's systemd has no systemd-sysv-generator, so it runs no init scripts",
			}},
		},
		{
			name: "Debian with AUTO true, links removed (update-rc.d disable)",
			fsys: merge(systemd, sysvGenerator, debian, auto, noRcLinks),
			want: []state.Restorer{{
				Name: "/etc/init.d/ipvsadm", RulesFile: "/etc/ipvsadm.rules",
				Why: "/etc/init.d/ipvsadm is installed but does not run at boot: no S link to it in /etc/rc2.d to /etc/rc5.d",
			}},
		},
		{
			name: "Debian with AUTO true, under sysvinit",
			fsys: merge(debian, auto),
			want: []state.Restorer{{
				Name: "/etc/init.d/ipvsadm", RulesFile: "/etc/ipvsadm.rules", Enabled: true,
				Why: `/etc/init.d/ipvsadm runs at boot with AUTO="true" in /etc/default/ipvsadm: it clears the IPVS table and restores /etc/ipvsadm.rules`,
			}},
		},
		{
			name: "Debian under sysvinit without links",
			fsys: merge(debian, auto, noRcLinks),
			want: []state.Restorer{{
				Name: "/etc/init.d/ipvsadm", RulesFile: "/etc/ipvsadm.rules",
				Why: "/etc/init.d/ipvsadm is installed but does not run at boot: no S link to it in /etc/rc2.d to /etc/rc5.d or /etc/rcS.d, and no OpenRC runlevel holds it",
			}},
		},
		{
			name: "an init script beside a native unit",
			fsys: merge(systemd, sysvGenerator, debian, auto, rhel, enabled),
			want: []state.Restorer{
				{
					Name: "ipvsadm.service", RulesFile: "/etc/sysconfig/ipvsadm", Enabled: true, SavesAtStop: true,
					Why: "ipvsadm.service is enabled (/etc/systemd/system/multi-user.target.wants/ipvsadm.service) and restores /etc/sysconfig/ipvsadm at boot; its ExecStop saves the live table into /etc/sysconfig/ipvsadm",
				},
				{
					Name: "/etc/init.d/ipvsadm", RulesFile: "/etc/ipvsadm.rules",
					Why: "/etc/init.d/ipvsadm is installed but does not run at boot: ipvsadm.service exists (/usr/lib/systemd/system/ipvsadm.service), and systemd runs it instead",
				},
			},
		},
		{
			name: "Debian with AUTO true, masked (systemctl mask ipvsadm)",
			fsys: merge(systemd, sysvGenerator, debian, auto, fstest.MapFS{"etc/systemd/system/ipvsadm.service": mlink("/dev/null")}),
			want: []state.Restorer{{
				Name: "/etc/init.d/ipvsadm", RulesFile: "/etc/ipvsadm.rules",
				Why: "/etc/init.d/ipvsadm is installed but does not run at boot: ipvsadm.service is masked (/etc/systemd/system/ipvsadm.service links to /dev/null)",
			}},
		},
		{
			name: "an init script that does not look at AUTO, under OpenRC",
			fsys: fstest.MapFS{
				"etc/init.d/ipvsadm":            mfile("#!/sbin/openrc-run\nIPVSADM_RULES=/etc/ipvsadm/rules\nstart() { ipvsadm -R < \"$IPVSADM_RULES\"; }\n"),
				"etc/runlevels/default/ipvsadm": mlink("/etc/init.d/ipvsadm"),
			},
			want: []state.Restorer{{
				Name: "/etc/init.d/ipvsadm", RulesFile: "/etc/ipvsadm/rules", Enabled: true,
				Why: "/etc/init.d/ipvsadm runs at boot and restores /etc/ipvsadm/rules",
			}},
		},
		{
			name: "a unit too large to read",
			fsys: merge(systemd, enabled, fstest.MapFS{"usr/lib/systemd/system/ipvsadm.service": mfile(strings.Repeat("#", maxScriptSize+1))}),
			want: []state.Restorer{{
				Name: "ipvsadm.service", RulesFile: "/etc/sysconfig/ipvsadm", Enabled: true,
				Why: "ipvsadm.service is enabled (/etc/systemd/system/multi-user.target.wants/ipvsadm.service) and restores /etc/sysconfig/ipvsadm (its ExecStart names no file: the RHEL default) at boot; could not read /usr/lib/systemd/system/ipvsadm.service: larger than 65536 bytes",
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FindRestorers(tt.fsys)
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("FindRestorers (-want +got):\n%s", diff)
			}
		})
	}
}

// TestFindRestorersDirFS reads real files through os.DirFS, as the agent
// reads "/".
func TestFindRestorersDirFS(t *testing.T) {
	if got := FindRestorers(os.DirFS(t.TempDir())); len(got) != 0 {
		t.Errorf("an empty root: %+v", got)
	}
	root := t.TempDir()
	for name, content := range map[string]string{
		"run/systemd/system/.keep":               "",
		"usr/lib/systemd/system/ipvsadm.service": rhelUnitTxt,
	} {
		p := root + "/" + name
		if err := os.MkdirAll(p[:strings.LastIndex(p, "/")], 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(root+"/etc/systemd/system/multi-user.target.wants", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/usr/lib/systemd/system/ipvsadm.service", root+"/etc/systemd/system/multi-user.target.wants/ipvsadm.service"); err != nil {
		t.Fatal(err)
	}
	got := FindRestorers(os.DirFS(root))
	want := []state.Restorer{{
		Name: "ipvsadm.service", RulesFile: "/etc/sysconfig/ipvsadm", Enabled: true, SavesAtStop: true,
		Why: "ipvsadm.service is enabled (/etc/systemd/system/multi-user.target.wants/ipvsadm.service) and restores /etc/sysconfig/ipvsadm at boot; its ExecStop saves the live table into /etc/sysconfig/ipvsadm",
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("FindRestorers (-want +got):\n%s", diff)
	}
}

func TestParseUnitExecs(t *testing.T) {
	u := parseUnit([]string{rhelUnitTxt})
	want := unitSettings{
		execStart: []string{`/bin/bash -c "exec /sbin/ipvsadm-restore < /etc/sysconfig/ipvsadm"`},
		execStop:  []string{`/bin/bash -c "exec /sbin/ipvsadm-save -n > /etc/sysconfig/ipvsadm"`, `/sbin/ipvsadm -C`},
	}
	if diff := cmp.Diff(want, u, cmp.AllowUnexported(unitSettings{})); diff != "" {
		t.Errorf("parseUnit (-want +got):\n%s", diff)
	}
	if got := restoredFile(u); got != "/etc/sysconfig/ipvsadm" {
		t.Errorf("restoredFile = %q", got)
	}
	if got := savedFiles(u); !cmp.Equal(got, []string{"/etc/sysconfig/ipvsadm"}) {
		t.Errorf("savedFiles = %q", got)
	}
}

func TestShellAssignments(t *testing.T) {
	got := shellAssignments(debianScriptTxt + "\n" + debianDefaultsTxt)
	for k, want := range map[string]string{
		"IPVSADM":        "/sbin/ipvsadm",
		"IPVSADM_RULES":  "/etc/ipvsadm.rules",
		"IPVSADM_CONFIG": "/etc/default/ipvsadm",
		"AUTO":           "false",
		"DAEMON":         "none",
		"IFACE":          "eth0",
		"SYNCID":         "0",
		"FAILURE":        "0",
	} {
		if got[k] != want {
			t.Errorf("%s = %q, want %q", k, got[k], want)
		}
	}
}
