package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lvsctl/lvsctl/internal/netnstest"
	"github.com/lvsctl/lvsctl/internal/vmlab"
)

// These tests run the real lvsctl binary, built with its test hooks, against
// real agents in network namespaces of this machine's kernel: sysctls and
// inventories only (IPVS needs the VM lab, where test/scenario does the same
// with the guide's DR example).

// hookedLvsctl is lvsctl built with -tags lvsctl_testhooks, as the VM lab
// builds it.
func hookedLvsctl(t *testing.T) string {
	t.Helper()
	exe, err := vmlab.BuildTags("github.com/lvsctl/lvsctl/cmd/lvsctl", "lvsctl_testhooks")
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

type nsLab struct {
	t     *testing.T
	exe   string
	ns    map[string]string // host -> namespace
	state string
	root  string // --persist-root: never this machine's /etc
	dir   string
}

var badDayKeys = []string{"net.ipv4.conf.all.arp_ignore", "net.ipv4.conf.all.arp_announce", "net.ipv4.ip_forward"}

func newNSLab(t *testing.T, hosts ...string) *nsLab {
	netnstest.RequireRoot(t)
	l := &nsLab{t: t, exe: hookedLvsctl(t), ns: map[string]string{}, state: t.TempDir(), root: t.TempDir(), dir: t.TempDir()}
	for _, h := range hosts {
		b := make([]byte, 4)
		rand.Read(b)
		ns := "lvsctl-b-" + hex.EncodeToString(b)
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			t.Fatalf("%v %s", err, out)
		}
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		l.ns[h] = ns
	}
	return l
}

// config writes a definition in which every host sets badDayKeys (when set)
// to 1, 2 and 1, and returns its directory.
func (l *nsLab) config(name string, set bool) string {
	var b strings.Builder
	b.WriteString("package c\n")
	hosts := make([]string, 0, len(l.ns))
	for h := range l.ns {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	for _, h := range hosts {
		fmt.Fprintf(&b, "hosts: %s: netns: %q\n", h, l.ns[h])
		if set {
			fmt.Fprintf(&b, "hosts: %s: sysctls: {%q: 1, %q: 2, %q: 1}\n", h, badDayKeys[0], badDayKeys[1], badDayKeys[2])
		}
	}
	dir := filepath.Join(l.dir, name)
	os.MkdirAll(dir, 0o755)
	if err := os.WriteFile(filepath.Join(dir, "c.cue"), []byte(b.String()), 0o644); err != nil {
		l.t.Fatal(err)
	}
	return dir
}

// snapshot is every host's sysctls, every inventory file and every file
// kept for boot (with the unit's link), as text.
func (l *nsLab) snapshot() string {
	var b strings.Builder
	hosts := make([]string, 0, len(l.ns))
	for h := range l.ns {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	for _, h := range hosts {
		for _, k := range badDayKeys {
			out, _ := exec.Command("ip", "netns", "exec", l.ns[h], "cat", "/proc/sys/"+strings.ReplaceAll(k, ".", "/")).Output()
			fmt.Fprintf(&b, "%s %s=%s", h, k, out)
		}
	}
	files, _ := filepath.Glob(filepath.Join(l.state, "inventory-*"))
	kept, _ := filepath.Glob(filepath.Join(l.state, "boot-netns-*"))
	for _, f := range append(files, kept...) {
		c, _ := os.ReadFile(f)
		fmt.Fprintf(&b, "%s:\n%s\n", filepath.Base(f), c)
	}
	filepath.WalkDir(l.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if t, err := os.Readlink(p); err == nil {
			fmt.Fprintf(&b, "%s -> %s\n", p, t)
			return nil
		}
		c, _ := os.ReadFile(p)
		fmt.Fprintf(&b, "%s:\n%s\n", p, c)
		return nil
	})
	return b.String()
}

type proc struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	done           chan struct{}
	code           int
}

// start runs lvsctl in a process group of its own, as a shell runs a
// foreground job, with extra environment.
func (l *nsLab) start(env []string, args ...string) *proc {
	p := &proc{cmd: exec.Command(l.exe, append(args, "--state-dir", l.state, "--persist-root", l.root)...), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	return p
}

func (l *nsLab) run(args ...string) *proc {
	p := l.start(nil, args...)
	<-p.done
	return p
}

func waitFile(t *testing.T, p *proc, path string) {
	t.Helper()
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		select {
		case <-p.done:
			t.Fatalf("lvsctl ended (exit %d) before pausing:\n%s\n%s", p.code, p.stdout.String(), p.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// agentsOf lists the agent processes working on this lab's state folder.
func (l *nsLab) agents() []string {
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range procs {
		b, _ := os.ReadFile(f)
		if bytes.Contains(b, []byte("agent\x00")) && bytes.Contains(b, []byte(l.state)) {
			out = append(out, strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return out
}

// noAgentsLeft waits, with a bound, until no agent of this lab runs.
func (l *nsLab) noAgentsLeft(what string) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		a := l.agents()
		if len(a) == 0 {
			return
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("%s: agents still running after 10s: %q", what, a)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// SIGINT or SIGTERM to lvsctl's whole process group (a terminal's Ctrl-C) at
// every step of an apply: the agents survive it, every step is undone, and
// every host and inventory is exactly as before.
func TestSignalAtEveryStep(t *testing.T) {
	l := newNSLab(t, "rs1", "rs2")
	set := l.config("set", true)
	before := l.snapshot()
	steps := 0
	for k := 1; ; k++ {
		sig := []syscall.Signal{syscall.SIGINT, syscall.SIGTERM}[k%2]
		pause := filepath.Join(t.TempDir(), "paused")
		p := l.start([]string{"LVSCTL_TEST_PAUSE_AT=" + fmt.Sprint(k), "LVSCTL_TEST_PAUSE_FILE=" + pause}, "apply", "--auto-approve", set)
		paused := make(chan struct{})
		go func() {
			for {
				if _, err := os.Stat(pause); err == nil {
					close(paused)
					return
				}
				select {
				case <-p.done:
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()
		select {
		case <-paused:
		case <-p.done:
		}
		if _, err := os.Stat(pause); err != nil {
			// No operation k+1: the apply ran to its end.
			if p.code != 0 || !strings.Contains(p.stdout.String(), "Apply complete!") {
				t.Fatalf("apply without a pause: exit %d\n%s\n%s", p.code, p.stdout.String(), p.stderr.String())
			}
			steps = k
			break
		}
		syscall.Kill(-p.cmd.Process.Pid, sig)
		<-p.done
		out := p.stdout.String()
		if p.code == 0 || !strings.Contains(out, "Apply failed") || !strings.Contains(out, "every host is as it was before apply") {
			t.Fatalf("%v after operation %d: exit %d\n%s\n%s", sig, k, p.code, out, p.stderr.String())
		}
		if got := l.snapshot(); got != before {
			t.Fatalf("%v after operation %d: hosts differ from before:\n--- before\n%s--- after\n%s\n%s", sig, k, before, got, p.stderr.String())
		}
		l.noAgentsLeft(fmt.Sprintf("%v after operation %d", sig, k))
	}
	// rs1 and rs2: three sysctls each, then three files kept for boot
	// each, then two inventories.
	if steps != 14 {
		t.Errorf("the apply ran to its end at k=%d; want 14 (6 sysctls, 6 boot files, 2 inventories)", steps)
	}
	if after := l.snapshot(); !strings.Contains(after, "sysctl.d/90-lvsctl.conf") || !strings.Contains(after, "multi-user.target.wants/lvsctl-restore-netns-") {
		t.Errorf("after the complete apply, no boot files:\n%s", after)
	}
}

// kill -9 of lvsctl at every step: the next apply converges, and taking the
// sysctls out of the definition brings back the values from before lvsctl,
// never lvsctl's own.
func TestKillAtEveryStep(t *testing.T) {
	l := newNSLab(t, "rs1", "rs2")
	set, none := l.config("set", true), l.config("none", false)
	original := l.snapshot()
	for k := 1; k < 8; k++ {
		pause := filepath.Join(t.TempDir(), "paused")
		p := l.start([]string{"LVSCTL_TEST_PAUSE_AT=" + fmt.Sprint(k), "LVSCTL_TEST_PAUSE_FILE=" + pause}, "apply", "--auto-approve", set)
		waitFile(t, p, pause)
		p.cmd.Process.Kill() // lvsctl alone: its agents see their input end
		<-p.done
		l.noAgentsLeft(fmt.Sprintf("kill -9 after operation %d", k))
		if a := l.run("apply", "--auto-approve", set); a.code != 0 {
			t.Fatalf("apply after kill at %d: exit %d\n%s\n%s", k, a.code, a.stdout.String(), a.stderr.String())
		}
		if pl := l.run("plan", "--detailed-exitcode", set); pl.code != 0 {
			t.Fatalf("plan after converging (kill at %d): exit %d\n%s", k, pl.code, pl.stdout.String())
		}
		if a := l.run("apply", "--auto-approve", none); a.code != 0 {
			t.Fatalf("apply without sysctls (kill at %d): exit %d\n%s\n%s", k, a.code, a.stdout.String(), a.stderr.String())
		}
		if got := l.snapshot(); got != original {
			t.Fatalf("kill -9 after operation %d, converged, then released: want the values from before lvsctl\n--- want\n%s--- got\n%s", k, original, got)
		}
	}
}

// An agent that never answers fails plan, apply and drift within the bounds,
// named, while the other host is read; drift reports it as unknown.
func TestSilentHost(t *testing.T) {
	l := newNSLab(t, "rs1", "rs2")
	set := l.config("set", true)
	silent := filepath.Join(t.TempDir(), "silent")
	if err := os.WriteFile(silent, []byte("#!/bin/sh\nexec sleep 600\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	before := l.snapshot()
	env := []string{"LVSCTL_TEST_AGENT_EXE_rs2=" + silent}
	for _, args := range [][]string{{"plan"}, {"apply", "--auto-approve"}, {"drift"}, {"drift", "-o", "json"}} {
		start := time.Now()
		p := l.start(env, append(args, "--connect-timeout", "2s", set)...)
		<-p.done
		took := time.Since(start)
		out := p.stdout.String() + p.stderr.String()
		if p.code != 1 || !strings.Contains(out, "host rs2: ") || !strings.Contains(out, "no answer within 2s") || took > 20*time.Second {
			t.Errorf("%v: exit %d after %v\n%s", args, p.code, took, out)
		}
		checked := strings.Contains(out, "rs1: sysctl") || strings.Contains(out, `"host": "rs1"`)
		if args[0] == "drift" && (!checked || !strings.Contains(p.stdout.String(), "rs2")) {
			t.Errorf("%v: rs1 not checked or rs2 not reported unknown:\n%s", args, out)
		}
		t.Logf("%v ended after %v", args, took.Round(time.Millisecond))
	}
	if got := l.snapshot(); got != before {
		t.Errorf("a silent host changed something:\n%s\n%s", before, got)
	}
	l.noAgentsLeft("silent host")
	// --target rs1 leaves rs2 alone and works.
	if p := l.run("apply", "--auto-approve", "--target", "rs1", set); p.code != 0 || !strings.Contains(p.stdout.String(), "Apply complete! 0 added, 3 changed") {
		t.Errorf("apply --target rs1: exit %d\n%s\n%s", p.code, p.stdout.String(), p.stderr.String())
	}
}

// A signal to plan or drift ends every agent at once, even one that never
// answers, and nothing is left running.
func TestSignalEndsReadOnlyCommands(t *testing.T) {
	l := newNSLab(t, "rs1", "rs2")
	set := l.config("set", true)
	silent := filepath.Join(t.TempDir(), "silent")
	if err := os.WriteFile(silent, []byte("#!/bin/sh\nexec sleep 613\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	sleeping := func() int {
		n := 0
		procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, f := range procs {
			if b, _ := os.ReadFile(f); string(b) == "sleep\x00613\x00" {
				n++
			}
		}
		return n
	}
	for _, cmd := range []string{"plan", "drift"} {
		p := l.start([]string{"LVSCTL_TEST_AGENT_EXE_rs2=" + silent}, cmd, "--connect-timeout", "10m", set)
		for sleeping() == 0 {
			select {
			case <-p.done:
				t.Fatalf("%s ended before its agent started: %s", cmd, p.stderr.String())
			case <-time.After(20 * time.Millisecond):
			}
		}
		start := time.Now()
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGINT)
		<-p.done
		if p.code != 1 || !strings.Contains(p.stderr.String(), "interrupted") || time.Since(start) > 10*time.Second {
			t.Errorf("%s after SIGINT: exit %d after %v\n%s", cmd, p.code, time.Since(start), p.stderr.String())
		}
		for deadline := time.Now().Add(10 * time.Second); sleeping() > 0; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the silent agent still runs 10s after SIGINT", cmd)
			}
		}
		t.Logf("%s: exit %d %v after SIGINT", cmd, p.code, time.Since(start))
		l.noAgentsLeft(cmd + " after SIGINT")
	}
}

// A retired host gets back what it had before lvsctl, and loses its
// inventory; the other host keeps its settings.
func TestRetiredHost(t *testing.T) {
	l := newNSLab(t, "rs1", "rs2")
	set := l.config("set", true)
	original := l.snapshot()
	if p := l.run("apply", "--auto-approve", set); p.code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", p.code, p.stdout.String(), p.stderr.String())
	}
	cfg, _ := os.ReadFile(filepath.Join(set, "c.cue"))
	retired := filepath.Join(l.dir, "retired")
	os.MkdirAll(retired, 0o755)
	var b strings.Builder
	for _, line := range strings.Split(string(cfg), "\n") {
		if strings.HasPrefix(line, "hosts: rs2: sysctls:") {
			continue
		}
		b.WriteString(line + "\n")
	}
	b.WriteString("hosts: rs2: retired: true\n")
	os.WriteFile(filepath.Join(retired, "c.cue"), []byte(b.String()), 0o644)
	p := l.run("plan", "--detailed-exitcode", retired)
	if p.code != 2 || !strings.Contains(p.stdout.String(), "# rs2 (retired: removing what lvsctl set here)") {
		t.Fatalf("plan of a retired host: exit %d\n%s\n%s", p.code, p.stdout.String(), p.stderr.String())
	}
	if p := l.run("apply", "--auto-approve", retired); p.code != 0 {
		t.Fatalf("apply retired: exit %d\n%s\n%s", p.code, p.stdout.String(), p.stderr.String())
	}
	got := l.snapshot()
	for _, k := range badDayKeys {
		line := "rs2 " + k + "="
		if want := original[strings.Index(original, line):]; !strings.HasPrefix(got[strings.Index(got, line):], want[:strings.Index(want, "\n")+1]) {
			t.Errorf("rs2 %s not back to its value before lvsctl:\n%s", k, got)
		}
	}
	if !strings.Contains(got, "rs1 net.ipv4.ip_forward=1") || strings.Contains(got, "netns-"+l.ns["rs2"]) {
		t.Errorf("after retiring rs2: rs1 must keep its sysctls and rs2 lose its inventory:\n%s", got)
	}
	if p := l.run("plan", "--detailed-exitcode", retired); p.code != 0 {
		t.Errorf("plan after retiring: exit %d\n%s", p.code, p.stdout.String())
	}
}
