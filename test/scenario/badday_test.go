package scenario

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lvsctl/lvsctl/internal/vmlab"
)

// Bad days on the real kernel (issue 9): signals, kill -9 and broken hosts
// at every step of an apply of the guide's DR example. Each test boots one
// VM and runs many cases in loops in the guest; every case leaves its
// evidence under /out, and the checks are made here.

// The defaults lvsctl must keep a silent host within.
const (
	defaultConnectTimeout = 15 * time.Second // --connect-timeout
	defaultTimeout        = 30 * time.Second // --timeout, without progress
)

// badDayShell is the guest's toolkit for these tests.
//
//	snap                 every host's state: addresses, sysctls, nftables, IPVS, inventory
//	                     (an IPv6 address's "tentative", which lasts until duplicate
//	                     address detection ends, a second or so after a link comes
//	                     up, is left out: whether a snapshot sees it is timing)
//	snaphost NS          one host's
//	L CMD ARGS...        lvsctl CMD --state-dir $SD ARGS...
//	labreset             puts every host back as /out/empty has it, without lvsctl,
//	                     so the next case starts from there whatever the last left
//	alive PID            the process runs (not a zombie)
//	waitend PID SECS     waits for PID's end, killing it after SECS; its status in $rc
//	startpaused K OUT ARGS...
//	                     lvsctl apply ARGS in the background (pid in $pid), paused
//	                     after operation K; fails when it ended without pausing
//	procs                lvsctl, agent, badagent and ssh client processes still running
//	settle               waits (bounded) until procs shows none
//	mark WHAT            notes the guest's uptime and WHAT in /out/timeline
//	timed OUT SECS CMD...  runs CMD (output to OUT), ended after SECS;
//	                     OUT.code and OUT.secs hold its status and run time
const badDayShell = `
SD=/var/lib/lvsctl-lab
up() { read _u _x < /proc/uptime; UP=${_u%.*}; }
now() { cut -d' ' -f1 /proc/uptime; }
mark() { echo "$(now) $*" >> /out/timeline; }
L() { _c=$1; shift; lvsctl $_c --state-dir $SD "$@"; }
snaphost() {
	echo "## $1"
	ip netns exec $1 sh -c '/sbin/ip addr | sed "s/ tentative//"
		cd /proc/sys/net/ipv4 && grep -H . conf/*/arp_ignore conf/*/arp_announce conf/*/rp_filter ip_forward vs/expire_nodest_conn | sed "s/^/$0 sysctl /"
		nft list ruleset; ipvsadm -S -n' $1
	for _f in $SD/inventory*-$1.json; do
		[ -e "$_f" ] && { echo "inventory $_f:"; cat "$_f"; echo; }
	done
	true
}
# The hosts are read at once (the guest has two CPUs), and printed in order.
snap() {
	snaphost director > /tmp/snap-director & _p1=$!
	snaphost rs1 > /tmp/snap-rs1 & _p2=$!
	snaphost rs2 > /tmp/snap-rs2 & _p3=$!
	wait $_p1 $_p2 $_p3
	cat /tmp/snap-director /tmp/snap-rs1 /tmp/snap-rs2
}
resethost() {
	grep "^$1 sysctl " /out/empty | sed 's/^[^ ]* sysctl \([^:]*\):\(.*\)$/echo \2 > \1/' > /tmp/reset-$1
	ip netns exec $1 sh -c "cd /proc/sys/net/ipv4 && . /tmp/reset-$1; ipvsadm -C; nft flush ruleset
		for d in lo ens33; do /sbin/ip addr del 192.168.0.10/32 dev \$d 2>/dev/null; done; true"
	rm -f $SD/inventory*-$1.json
}
labreset() {
	resethost director & _p1=$!
	resethost rs1 & _p2=$!
	resethost rs2 & _p3=$!
	wait $_p1 $_p2 $_p3
}
alive() { { read _a _b _st _r < /proc/$1/stat; } 2>/dev/null && [ "$_st" != Z ]; }
waitend() {
	up; _end=$((UP + $2))
	while alive $1; do
		up
		if [ $UP -ge $_end ]; then
			echo "lvsctl-lab: still running after $2 s: killed" >&2
			kill -9 $1
			break
		fi
		sleep 0.05
	done
	rc=0; wait $1 || rc=$?
}
startpaused() {
	_k=$1; _o=$2; shift 2
	rm -f /tmp/paused /tmp/resume
	LVSCTL_TEST_PAUSE_AT=$_k LVSCTL_TEST_PAUSE_FILE=/tmp/paused LVSCTL_TEST_RESUME_FILE=/tmp/resume \
		lvsctl apply --state-dir $SD --auto-approve "$@" > $_o 2>&1 &
	pid=$!
	up; _end=$((UP + WAIT))
	while [ ! -e /tmp/paused ]; do
		alive $pid || return 1
		up; [ $UP -lt $_end ] || { echo "lvsctl-lab: no pause within $WAIT s" >> $_o; return 1; }
		sleep 0.05
	done
}
procs() {
	for _f in $(grep -ls -e 'l[v]sctl' -e 'b[a]dagent' -e '^s[s]h[^d:]' /proc/[0-9]*/cmdline 2>/dev/null); do
		_p=${_f#/proc/}
		echo "${_p%/cmdline} $(tr '\0' ' ' < $_f 2>/dev/null)"
	done
}
settle() {
	up; _end=$((UP + WAIT))
	while [ -n "$(procs)" ]; do up; [ $UP -lt $_end ] || break; sleep 0.1; done
}
timed() {
	_o=$1; _s=$2; shift 2
	_t0=$(now)
	"$@" > $_o 2>&1 &
	waitend $! $_s 2>>$_o
	echo $rc > $_o.code
	awk -v a=$_t0 -v b=$(now) 'BEGIN { printf "%.2f\n", b - a }' > $_o.secs
}
`

// badDayFiles are the configurations: the guide's DR example (dr), the same
// without rs2 (nors2), and the hosts with nothing on them (none).
func badDayFiles(t *testing.T, hosts string) map[string][]byte {
	t.Helper()
	hosts = noBoot(hosts)
	dr := labConfig(t, "direct-routing", hosts)
	nors2 := strings.Replace(dr, `			rs2: {address: "222.117.155.123", weight: 10, forward: "dr", host: "rs2"}
`, "", 1)
	if nors2 == dr {
		t.Fatal("could not remove rs2 from the DR example")
	}
	return map[string][]byte{
		"/lab/dr/cluster.cue":    []byte(dr),
		"/lab/nors2/cluster.cue": []byte(nors2),
		"/lab/none/cluster.cue":  []byte("package cluster\n\nhosts: {\n" + hosts + "\n}\n"),
	}
}

// noBoot adds boot: "none" to every host of a hosts block. The tests that
// stop an apply at every one of its steps use it to keep their time: the
// files kept for boot add three steps per host, and their rollback after a
// signal at every step is proven on real agents by cmd/lvsctl's
// TestSignalAtEveryStep, and after a reboot by TestReboot.
func noBoot(hosts string) string {
	var extra []string
	for line := range strings.Lines(hosts) {
		if name, _, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && name != "" {
			extra = append(extra, "\t"+name+": boot: \"none\"")
		}
	}
	return hosts + "\n" + strings.Join(extra, "\n")
}

// header gives the script the lab's slowdown and the bound of its waits.
func header(wait time.Duration) string {
	return fmt.Sprintf("F=%.2f\nWAIT=%d\n", vmlab.Slowdown(), int(vmlab.Scale(wait).Seconds()+0.5))
}

type files map[string][]byte

// keep writes a run's /out into $LVSCTL_LAB_KEEP/NAME, when that is set, for
// a closer look.
func keep(t *testing.T, name string, r *vmlab.Result) {
	dir := os.Getenv("LVSCTL_LAB_KEEP")
	if dir == "" {
		return
	}
	for n, b := range r.Files {
		p := filepath.Join(dir, name, n)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, b, 0o644)
	}
	os.WriteFile(filepath.Join(dir, name, "_stdout"), []byte(r.Stdout), 0o644)
	os.WriteFile(filepath.Join(dir, name, "_stderr"), []byte(r.Stderr), 0o644)
	t.Logf("/out kept in %s", filepath.Join(dir, name))
}

func (f files) s(name string) string { return string(f[name]) }
func (f files) has(name string) bool { _, ok := f[name]; return ok }
func (f files) code(name string) int {
	n, err := strconv.Atoi(strings.TrimSpace(f.s(name)))
	if err != nil {
		return -1
	}
	return n
}

// sysctls are the sysctl lines of a snapshot.
func sysctls(snap string) string {
	var out []string
	for _, l := range strings.Split(snap, "\n") {
		if strings.Contains(l, " sysctl ") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// hostPart is one host's section of a snapshot.
func hostPart(snap, host string) string {
	i := strings.Index(snap, "## "+host+"\n")
	if i < 0 {
		return ""
	}
	rest := snap[i+1:]
	if j := strings.Index(rest, "\n## "); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// progressLine matches the lines of progress that name every host as a
// matter of course; what is left of the output is what lvsctl says about
// the outcome.
var progressLine = regexp.MustCompile(`^(\S+: (reading live state|connecting|[a-z]+\.[a-z-]+ |draining |TCP |UDP |FWM )|undone on |rolling back |LVSCTL_TEST|lvsctl-test: |lvsctl-lab: )`)

// namesHost reports whether out, less its routine progress lines, names
// host.
func namesHost(out, host string) bool {
	word := regexp.MustCompile(`\b` + regexp.QuoteMeta(host) + `\b`)
	for _, l := range strings.Split(out, "\n") {
		if !progressLine.MatchString(l) && word.MatchString(l) {
			return true
		}
	}
	return false
}

// controls returns the control bytes in out other than newline and tab.
func controls(out string) []string {
	var bad []string
	for i := 0; i < len(out); i++ {
		if c := out[i]; (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f {
			bad = append(bad, fmt.Sprintf("%q at %d", c, i))
		}
	}
	return bad
}

func crashed(out string) bool {
	return strings.Contains(out, "panic:") || strings.Contains(out, "goroutine ")
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// diffLines is a short line diff of two snapshots: lines only in a (-) and
// only in b (+).
func diffLines(a, b string) string {
	count := map[string]int{}
	for _, l := range strings.Split(a, "\n") {
		count[l]--
	}
	for _, l := range strings.Split(b, "\n") {
		count[l]++
	}
	var out []string
	for l, n := range count {
		switch {
		case n < 0:
			out = append(out, "- "+l)
		case n > 0:
			out = append(out, "+ "+l)
		}
	}
	sort.Strings(out)
	if len(out) > 30 {
		out = append(out[:30], fmt.Sprintf("... and %d more", len(out)-30))
	}
	return strings.Join(out, "\n")
}

// SIGINT at every step of an apply of the guide's DR example (SIGTERM at
// every third, Ctrl-C to the process group at every sixth)
// from empty, and during a drain that a live connection holds open: lvsctl
// rolls back, exits non-zero saying so, leaves no process behind, and every
// host is byte-identical to before (addresses, sysctls, nftables, IPVS,
// inventories). The held connection lives on.
func TestBadDaySignals(t *testing.T) {
	vmlab.Require(t)
	t.Parallel()
	r, err := vmlab.Run(context.Background(), vmlab.Scenario{
		Name:     "badday-signals",
		Binaries: binaries(t),
		Files:    badDayFiles(t, DRHosts),
		Script: header(60*time.Second) + Topology + DRNetwork + badDayShell + `
cd /lab
snap > /out/empty
# INT to lvsctl's pid at every step; TERM, which lvsctl handles as it does
# INT, at every third (2, 5, 8, ...); INTPG to its process group, as a
# terminal's Ctrl-C does, at every sixth (1, 7, 13, ...).
for sig in INT TERM INTPG; do
	mark "$sig at its steps"
	k=1
	while [ $k -le 60 ]; do
		o=/out/$sig-$k
		if [ $sig = INTPG ] && [ $((k % 6)) != 1 ]; then k=$((k+1)); continue; fi
		if [ $sig = TERM ] && [ $((k % 3)) != 2 ]; then k=$((k+1)); continue; fi
		if [ $sig = INTPG ]; then
			rm -f /tmp/paused /tmp/resume
			LVSCTL_TEST_PAUSE_AT=$k LVSCTL_TEST_PAUSE_FILE=/tmp/paused LVSCTL_TEST_RESUME_FILE=/tmp/resume \
				setsid lvsctl apply --state-dir $SD --auto-approve dr > $o 2>&1 &
			pid=$!
			up; e=$((UP + WAIT))
			while [ ! -e /tmp/paused ] && alive $pid; do up; [ $UP -lt $e ] || break; sleep 0.05; done
			[ -e /tmp/paused ]; paused=$?
		else
			startpaused $k $o dr; paused=$?
		fi
		if [ $paused != 0 ]; then
			waitend $pid $WAIT 2>>$o
			echo $rc > $o.code
			echo $k > /out/$sig-last
			break
		fi
		case $sig in
		INTPG) kill -INT -$pid ;;
		*) kill -$sig $pid ;;
		esac
		waitend $pid $WAIT 2>>$o
		echo $rc > $o.code
		settle; procs > $o.procs
		snap > /tmp/after
		if ! cmp -s /out/empty /tmp/after; then
			cp /tmp/after $o.after
			labreset; snap > /tmp/after
			cmp -s /out/empty /tmp/after || cp /tmp/after $o.reset-failed
		fi
		k=$((k+1))
	done
	# That last apply ran to its end: back to empty for the next signal.
	L apply --auto-approve --drain-timeout 0s none > /out/$sig-reset 2>&1 || true
	snap > /tmp/after
	cmp -s /out/empty /tmp/after || { cp /tmp/after /out/$sig-reset.snap; labreset; }
done

mark "mid-drain"
# Mid-drain: a client holds a connection to rs2 through the VIP; applying the
# definition without rs2 drains it, and the drain waits; a signal comes.
L apply --auto-approve dr > /out/drain-apply 2>&1 || true
/sbin/ip netns exec client holder -addr 192.168.0.10:80 -from 192.168.0.150 -sources 30 -want rs2 -ready /tmp/held > /out/holder 2>&1 &
hpid=$!
up; e=$((UP + WAIT)); while [ ! -e /tmp/held ] && [ $UP -lt $e ]; do sleep 0.1; up; done
for sig in INT TERM INTPG; do
	o=/out/drain-$sig
	snap > $o.before
	if [ $sig = INTPG ]; then
		setsid lvsctl apply --state-dir $SD --auto-approve --drain-timeout 600s nors2 > $o 2>&1 &
	else
		lvsctl apply --state-dir $SD --auto-approve --drain-timeout 600s nors2 > $o 2>&1 &
	fi
	pid=$!
	up; e=$((UP + WAIT))
	while ! grep -q "draining " $o && alive $pid; do up; [ $UP -lt $e ] || break; sleep 0.1; done
	sleep 1
	case $sig in
	INTPG) kill -INT -$pid ;;
	*) kill -$sig $pid ;;
	esac
	waitend $pid $WAIT 2>>$o
	echo $rc > $o.code
	settle; procs > $o.procs
	snap > $o.after
	cmp -s $o.before $o.after || L apply --auto-approve dr > $o.reconverge 2>&1
	kill -USR1 $hpid; sleep 1
done
kill $hpid 2>/dev/null
mark end
true
`,
		Timeout: 15 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	keep(t, t.Name(), r)
	f := files(r.Files)
	if r.ExitCode != 0 {
		t.Fatalf("script exit %d\n%s", r.ExitCode, tail(r.Stderr, 3000))
	}
	t.Logf("VM run %v (%s); guest uptime at each phase:\n%s", r.Duration.Round(time.Second), vmlab.SlowdownReport(), f.s("timeline"))

	for _, sig := range []string{"INT", "TERM", "INTPG"} {
		last := f.code(sig + "-last")
		if last < 20 {
			t.Errorf("%s: the apply ran to its end when paused at operation %d; the DR example has about 23 operations\n%s", sig, last, tail(f.s(fmt.Sprintf("%s-%d", sig, last)), 2000))
			continue
		}
		if c := f.code(fmt.Sprintf("%s-%d.code", sig, last)); c != 0 {
			t.Errorf("%s: the unpaused apply (PAUSE_AT=%d) exit %d:\n%s", sig, last, c, tail(f.s(fmt.Sprintf("%s-%d", sig, last)), 2000))
		}
		failed := 0
		var steps []int
		for k := 1; k < last; k++ {
			o := fmt.Sprintf("%s-%d", sig, k)
			if !f.has(o) {
				continue // TERM: every third step; INTPG: every sixth
			}
			steps = append(steps, k)
			out := f.s(o)
			var why []string
			if !strings.Contains(out, fmt.Sprintf("lvsctl-test: paused after operation %d\n", k)) {
				why = append(why, "no pause at this step")
			}
			if c := f.code(o + ".code"); c == 0 || c == 137 || c == -1 {
				why = append(why, fmt.Sprintf("exit status %d", c))
			}
			if !strings.Contains(out, "Rolled back") || strings.Contains(out, "could NOT be undone") {
				why = append(why, "the output does not say everything was rolled back")
			}
			if strings.Contains(out, "still running after") {
				why = append(why, "lvsctl did not end by itself")
			}
			if crashed(out) {
				why = append(why, "panic")
			}
			if p := f.s(o + ".procs"); p != "" {
				why = append(why, "processes left: "+strings.TrimSpace(p))
			}
			if f.has(o + ".after") {
				why = append(why, "hosts differ from before:\n"+diffLines(f.s("empty"), f.s(o+".after")))
			}
			if f.has(o + ".reset-failed") {
				why = append(why, "(the lab could not put the hosts back for the next step)")
			}
			if len(why) > 0 {
				failed++
				t.Errorf("SIG%s after operation %d: %s\n--- output ---\n%s", strings.TrimSuffix(sig, "PG"), k, strings.Join(why, "; "), tail(out, 2500))
			}
		}
		if failed == 0 {
			t.Logf("%s after each of the operations %v (of %d): rolled back, exit non-zero, no process left, every host identical", sig, steps, last)
		} else {
			t.Logf("%s: %d of the steps %v failed", sig, failed, steps)
		}
		if f.has(sig + "-reset.snap") {
			t.Errorf("after %s, applying the empty definition left the hosts differing from before lvsctl:\n%s", sig, diffLines(f.s("empty"), f.s(sig+"-reset.snap")))
		}
	}

	// Mid-drain.
	if !strings.HasPrefix(f.s("holder"), "held rs2 from ") {
		t.Fatalf("no connection to rs2 held:\n%s\n%s", f.s("holder"), f.s("drain-apply"))
	}
	for _, sig := range []string{"INT", "TERM", "INTPG"} {
		o := "drain-" + sig
		out := f.s(o)
		var why []string
		if !strings.Contains(out, "draining ") {
			why = append(why, "no drain seen")
		}
		if c := f.code(o + ".code"); c == 0 || c == 137 || c == -1 {
			why = append(why, fmt.Sprintf("exit status %d", c))
		}
		if !strings.Contains(out, "Rolled back") || strings.Contains(out, "could NOT be undone") {
			why = append(why, "the output does not say everything was rolled back")
		}
		if crashed(out) {
			why = append(why, "panic")
		}
		if p := f.s(o + ".procs"); p != "" {
			why = append(why, "processes left: "+strings.TrimSpace(p))
		}
		if f.s(o+".before") != f.s(o+".after") {
			why = append(why, "hosts differ from before:\n"+diffLines(f.s(o+".before"), f.s(o+".after")))
		}
		if !strings.Contains(f.s(o+".after"), "-a -t 192.168.0.10:80 -r 222.117.155.123:80 -g -w 10\n") {
			why = append(why, "rs2's destination is not back at weight 10")
		}
		if len(why) > 0 {
			t.Errorf("%s during the drain: %s\n--- output ---\n%s", sig, strings.Join(why, "; "), tail(out, 2500))
		} else {
			t.Logf("%s during the drain of rs2: rolled back, rs2 at weight 10 again, every host identical", sig)
		}
	}
	if got := strings.Count(f.s("holder"), "again: rs2\n"); got != 3 {
		t.Errorf("the held connection through the interrupted drains (want three answers from rs2 on it):\n%s", f.s("holder"))
	}
}

// kill -9 of lvsctl at every step of an apply of the DR example from empty:
// its agents end by themselves, the next apply converges, the plan after it
// says "No changes", and applying the hosts with nothing on them puts every
// sysctl back to its value from before lvsctl's first apply.
func TestBadDayKillLvsctl(t *testing.T) { badDayKills(t, "lvsctl") }

// kill -9 of rs1's agent at every step of the same apply: lvsctl fails naming
// rs1 and rolls the other hosts back (or, when rs1 had nothing left to do,
// completes and says the agent was lost); then as above.
func TestBadDayKillAgent(t *testing.T) { badDayKills(t, "agent") }

func badDayKills(t *testing.T, who string) {
	vmlab.Require(t)
	t.Parallel()
	r, err := vmlab.Run(context.Background(), vmlab.Scenario{
		Name:     "badday-kill-" + who,
		Binaries: binaries(t),
		Files:    badDayFiles(t, DRHosts),
		Script: header(60*time.Second) + "who=" + who + "\n" + Topology + DRNetwork + badDayShell + `
cd /lab
snap > /out/empty
mark "kill -9 of $who at every step"
k=1
while [ $k -le 60 ]; do
	o=/out/$who-$k
	if startpaused $k $o dr; then
		if [ $who = lvsctl ]; then
			kill -9 $pid
		else
			a=$(grep -l -e 'lvsctl.agent.*-[-]netns.rs1.' /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3)
			echo "rs1 agent: $a" >> $o.killed
			[ -n "$a" ] && kill -9 $a
			touch /tmp/resume
		fi
		waitend $pid $WAIT 2>>$o
		echo $rc > $o.code
		settle; procs > $o.procs
		[ $who = agent ] && snap > $o.after
	else
		waitend $pid $WAIT 2>>$o
		echo $rc > $o.code
		echo $k > /out/$who-last
	fi
	L apply --auto-approve dr > $o.converge 2>&1; echo $? > $o.converge.code
	L plan --detailed-exitcode dr > $o.plan 2>&1; echo $? > $o.plan.code
	L apply --auto-approve --drain-timeout 0s none > $o.restore 2>&1; echo $? > $o.restore.code
	snap > /tmp/s
	if ! cmp -s /out/empty /tmp/s; then
		cp /tmp/s $o.snap
		labreset; snap > /tmp/s
		cmp -s /out/empty /tmp/s || cp /tmp/s $o.reset-failed
	fi
	[ -e /out/$who-last ] && break
	k=$((k+1))
done
mark end
`,
		Timeout: 12 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	keep(t, t.Name(), r)
	f := files(r.Files)
	if r.ExitCode != 0 {
		t.Fatalf("script exit %d\n%s", r.ExitCode, tail(r.Stderr, 3000))
	}
	t.Logf("VM run %v (%s); guest uptime at each phase:\n%s", r.Duration.Round(time.Second), vmlab.SlowdownReport(), f.s("timeline"))
	empty := f.s("empty")
	last := f.code(who + "-last")
	if last < 20 {
		t.Errorf("kill -9 of %s: the apply ran to its end when paused at operation %d; expected about 23 operations\n%s", who, last, tail(f.s(fmt.Sprintf("%s-%d", who, last)), 2000))
		return
	}
	failed := 0
	var completed []int
	for k := 1; k <= last; k++ {
		o := fmt.Sprintf("%s-%d", who, k)
		out := f.s(o)
		var why []string
		if k < last {
			if !strings.Contains(out, fmt.Sprintf("lvsctl-test: paused after operation %d\n", k)) {
				why = append(why, "no pause at this step")
			}
			if crashed(out) {
				why = append(why, "panic")
			}
			if who == "lvsctl" {
				if p := f.s(o + ".procs"); p != "" {
					why = append(why, "agents left running after lvsctl was killed: "+strings.TrimSpace(p))
				}
			} else {
				if strings.TrimSpace(f.s(o+".killed")) == "rs1 agent:" {
					why = append(why, "no agent of rs1 found to kill")
				}
				if !namesHost(out, "rs1") {
					why = append(why, "the output does not name rs1")
				}
				if strings.Contains(out, "still running after") {
					why = append(why, "lvsctl did not end by itself")
				}
				if p := f.s(o + ".procs"); p != "" {
					why = append(why, "processes left: "+strings.TrimSpace(p))
				}
				switch c := f.code(o + ".code"); {
				case c == 0 && strings.Contains(out, "Apply complete!") && strings.Contains(f.s(o+".converge"), "No changes."):
					// rs1 had nothing left to do after step k (its
					// inventory was written): the apply could end, and
					// the next apply proves nothing was lost there.
					completed = append(completed, k)
				case c != 1:
					why = append(why, fmt.Sprintf("exit status %d, want 1 (or 0 when rs1 had nothing left to do, which the next apply would show)", c))
				default:
					if !strings.Contains(out, "Rolled back") {
						why = append(why, "the output does not say it rolled back")
					}
					for _, h := range []string{"director", "rs2"} {
						if a, b := hostPart(empty, h), hostPart(f.s(o+".after"), h); a != b {
							why = append(why, h+" not rolled back:\n"+diffLines(a, b))
						}
					}
				}
			}
		}
		if c := f.code(o + ".converge.code"); c != 0 || !strings.Contains(f.s(o+".converge"), "Apply complete!") && !strings.Contains(f.s(o+".converge"), "No changes.") {
			why = append(why, fmt.Sprintf("the next apply did not converge (exit %d):\n%s", c, tail(f.s(o+".converge"), 1500)))
		}
		if c := f.code(o + ".plan.code"); c != 0 {
			why = append(why, fmt.Sprintf("the plan after it exit %d, want 0 (No changes):\n%s", c, tail(f.s(o+".plan"), 1500)))
		}
		if c := f.code(o + ".restore.code"); c != 0 {
			why = append(why, fmt.Sprintf("applying the hosts with nothing on them: exit %d:\n%s", c, tail(f.s(o+".restore"), 1500)))
		}
		if f.has(o + ".snap") {
			if a, b := sysctls(empty), sysctls(f.s(o+".snap")); a != b {
				why = append(why, "sysctls not back to their values from before lvsctl:\n"+diffLines(a, b))
			} else {
				why = append(why, "hosts differ from before lvsctl's first apply (sysctls are back):\n"+diffLines(empty, f.s(o+".snap")))
			}
		}
		if f.has(o + ".reset-failed") {
			why = append(why, "(the lab could not put the hosts back for the next step)")
		}
		if len(why) > 0 {
			failed++
			t.Errorf("kill -9 of %s after operation %d: %s\n--- output ---\n%s", who, k, strings.Join(why, "\n  "), tail(out, 2000))
		}
	}
	if len(completed) > 0 {
		t.Logf("kill -9 of rs1's agent after operations %v: rs1 had nothing left to do; the apply completed (exit 0) and said so, and the next apply found nothing missing", completed)
	}
	if failed == 0 {
		t.Logf("kill -9 of %s at every step 1..%d: converged, No changes, sysctls restored", who, last-1)
	} else {
		t.Logf("kill -9 of %s: %d of the steps 1..%d failed", who, failed, last)
	}
}

// sshRS1Hosts reach rs1 over SSH and the other hosts through their
// namespaces.
const sshRS1Hosts = `	director: netns: "director"
	rs1: {ssh: address: "192.168.0.101", interface: "eth0"}
	rs2: {netns: "rs2", interface: "eth0"}`

// A silent host and broken agents. rs1 is reached over SSH at an address
// that accepts TCP and never answers: plan, apply and drift each end within
// the default bounds, naming rs1, with nothing changed anywhere. Through a proxy agent (badagent), rs1's
// (or the director's) agent hangs mid-gather or mid-apply, or sends each kind
// of malformed answer: lvsctl ends within the bounds, exit 1, names the host,
// never panics, writes no control character, and the other hosts are
// unchanged or rolled back.
func TestBadDayHosts(t *testing.T) {
	vmlab.Require(t)
	t.Parallel()
	fl := badDayFiles(t, DRHosts)
	fl["/lab/ssh/cluster.cue"] = []byte(labConfig(t, "direct-routing", noBoot(sshRS1Hosts)))
	var script strings.Builder
	for _, c := range badAgentCases {
		fmt.Fprintf(&script, "agentcase %s %s %s\n", c.cmd, c.host, c.spec)
	}
	connectBound := vmlab.Scale(3 * defaultConnectTimeout)
	bound := vmlab.Scale(3 * defaultTimeout)
	r, err := vmlab.Run(context.Background(), vmlab.Scenario{
		Name:     "badday-hosts",
		Binaries: binaries(t),
		Files:    fl,
		MemoryMB: 1024,
		Script: header(60*time.Second) + fmt.Sprintf("CBOUND=%d\nBOUND=%d\n", int(connectBound.Seconds())+5, int(bound.Seconds())+5) +
			Topology + DRNetwork + sshSetup + badDayShell + `
cd /lab
snap > /out/empty
mk ops eth0 192.168.0.3/24
# rs1 accepts TCP on port 22 and never says a word.
ip netns exec rs1 tarpit 192.168.0.101:22 &
sleep 1
mark "silent SSH host"
for cmd in plan apply drift; do
	o=/out/ssh-$cmd
	snap > $o.before
	case $cmd in
	apply) timed $o $CBOUND /sbin/ip netns exec ops lvsctl apply --state-dir $SD --auto-approve ssh ;;
	*) timed $o $CBOUND /sbin/ip netns exec ops lvsctl $cmd --state-dir $SD ssh ;;
	esac
	settle; procs > $o.procs
	snap > $o.after
	cmp -s /out/empty $o.after || labreset
done

# agentcase CMD HOST MODE@KIND:N: HOST's agent is badagent.
agentcase() {
	mark "agent case $*"
	o=/out/agent-$1-$2-$(echo $3 | tr '@:' '--')
	snap > $o.before
	rm -f /tmp/badagent.log
	case $1 in
	apply) a="apply --auto-approve" ;;
	*) a=$1 ;;
	esac
	timed $o $BOUND env LVSCTL_TEST_AGENT_EXE_$2=/bin/badagent BADAGENT=$3 BADAGENT_LOG=/tmp/badagent.log lvsctl $a --state-dir $SD dr
	cp /tmp/badagent.log $o.log 2>/dev/null || true
	settle; procs > $o.procs
	snap > $o.after
	cmp -s /out/empty $o.after || labreset
}
` + script.String() + "mark end\n",
		Timeout: 20 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	keep(t, t.Name(), r)
	f := files(r.Files)
	if r.ExitCode != 0 {
		t.Fatalf("script exit %d\n%s", r.ExitCode, tail(r.Stderr, 3000))
	}
	t.Logf("VM run %v (%s); guest uptime at each phase:\n%s", r.Duration.Round(time.Second), vmlab.SlowdownReport(), f.s("timeline"))

	check := func(name, o, host string, limit time.Duration, readOnly bool) []string {
		out := f.s(o)
		var why []string
		secs, _ := strconv.ParseFloat(strings.TrimSpace(f.s(o+".secs")), 64)
		took := time.Duration(secs * float64(time.Second))
		if took > limit || strings.Contains(out, "still running after") {
			why = append(why, fmt.Sprintf("took %s, more than %s", took.Round(100*time.Millisecond), limit.Round(time.Second)))
		}
		if c := f.code(o + ".code"); c != 1 {
			why = append(why, fmt.Sprintf("exit status %d, want 1", c))
		}
		if !namesHost(out, host) {
			why = append(why, "the output does not name "+host)
		}
		if crashed(out) {
			why = append(why, "panic")
		}
		if bad := controls(out); len(bad) > 0 {
			why = append(why, fmt.Sprintf("control characters in the output: %s", strings.Join(bad[:min(len(bad), 5)], ", ")))
		}
		if p := f.s(o + ".procs"); p != "" {
			why = append(why, "processes left: "+strings.TrimSpace(p))
		}
		before, after := f.s(o+".before"), f.s(o+".after")
		for _, h := range []string{"director", "rs1", "rs2"} {
			if h == host && !readOnly {
				if a, b := hostPart(before, h), hostPart(after, h); a != b {
					t.Logf("%s: %s itself changed (lvsctl could not know what its agent did):\n%s", name, h, diffLines(a, b))
				}
				continue
			}
			if a, b := hostPart(before, h), hostPart(after, h); a != b {
				why = append(why, h+" changed:\n"+diffLines(a, b))
			}
		}
		t.Logf("%s: exit %d in %s: %s", name, f.code(o+".code"), took.Round(100*time.Millisecond), lastLines(stripControls(out), 2))
		return why
	}

	for _, cmd := range []string{"plan", "apply", "drift"} {
		o := "ssh-" + cmd
		if why := check("silent SSH host, "+cmd, o, "rs1", connectBound, true); len(why) > 0 {
			t.Errorf("%s with rs1 silent over SSH: %s\n--- output ---\n%s", cmd, strings.Join(why, "\n  "), tail(stripControls(f.s(o)), 2500))
		}
	}
	for _, c := range badAgentCases {
		o := fmt.Sprintf("agent-%s-%s-%s", c.cmd, c.host, strings.NewReplacer("@", "-", ":", "-").Replace(c.spec))
		name := fmt.Sprintf("%s's agent %s, %s", c.host, c.spec, c.cmd)
		mode := c.spec[:strings.Index(c.spec, "@")]
		why := check(name, o, c.host, bound, c.cmd != "apply" || strings.Contains(c.spec, "@gather") || strings.Contains(c.spec, "@lock"))
		if !strings.Contains(f.s(o+".log"), " "+mode+" at ") {
			why = append(why, "the break did not happen: "+strings.TrimSpace(f.s(o+".log")))
		}
		if len(why) > 0 {
			t.Errorf("%s: %s\n--- output ---\n%s", name, strings.Join(why, "\n  "), tail(stripControls(f.s(o)), 2500))
		}
	}
}

// badAgentCases: which command, whose agent, and what breaks (see
// testdata/badagent). gather:1 is a host's first read (its inventory),
// gather:2 the read of its live state, apply:1 its first batch of changes.
var badAgentCases = []struct{ cmd, host, spec string }{
	{"plan", "rs1", "hang@gather:2"},
	{"drift", "rs1", "hang@gather:2"},
	{"apply", "rs1", "hang@apply:1"},
	{"apply", "rs1", "okfalse@apply:1"},
	{"apply", "rs1", "extra@apply:1"},
	{"plan", "rs1", "nullsvc@gather:2"},
	{"apply", "director", "nullsvc@gather:2"},
	{"drift", "director", "nullsvc@gather:2"},
	{"plan", "rs1", "noinv@gather:1"},
	{"apply", "director", "noinv@gather:1"},
	{"plan", "rs1", "wrongid@gather:2"},
	{"apply", "rs1", "wrongid@apply:1"},
	{"plan", "rs1", "wrongv@gather:1"},
	{"apply", "rs1", "wrongv@apply:1"},
	{"plan", "rs1", "huge@gather:2"},
	{"plan", "rs1", "escerr@gather:2"},
	{"apply", "rs1", "escerr@apply:1"},
	{"apply", "rs1", "escstderr@apply:1"},
}

// stripControls makes output safe to print in a test log.
func stripControls(s string) string {
	return string(bytes.Map(func(r rune) rune {
		if (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f {
			return '?'
		}
		return r
	}, []byte(s)))
}
