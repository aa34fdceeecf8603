// Command swapload measures what changing an IPVS service's scheduler does to
// the traffic through it. It runs in the client's network namespace and,
// for the whole run, keeps opening short connections to the virtual service
// (one request each, from source addresses in turn: "churn") and holds a few
// long-lived keep-alive connections, opened before the first change, that
// ask every 100ms. Meanwhile it changes the service's scheduler on the
// director (through one `ip netns exec DIRECTOR sh`) -swaps times, cycling
// through -scheds, by one method:
//
//	none     nothing is changed: the control
//	plain    ipvsadm -E
//	fwmark   a temporary firewall-mark service (the service's destinations
//	         and options, the new scheduler) and an nftables rule marking
//	         every packet to VIP:port, so that new connections find the
//	         temporary service while the real one is edited; then the rule
//	         is deleted, the temporary service drained (at most -drain) and
//	         deleted
//	syndrop  an nftables rule dropping new connections' SYNs to VIP:port
//	         while ipvsadm -E runs: the clients retransmit them
//
// Around each change it also opens -window long-lived connections ("window"
// connections: for fwmark after the mark rule is in, so that the temporary
// service takes them; otherwise while the edit runs) and keeps them asking
// every 100ms to the end, to see what becomes of them.
//
// It prints one JSON object (see Result). Its exit status is 0 unless the
// director or its tools could not be driven.
//
//	swapload -vip 192.168.0.10:80 -method fwmark -swaps 10 -from 192.168.0.150 -sources 30 -long-from 192.168.0.200
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Result is what one run printed.
type Result struct {
	Method     string
	Persistent bool    // the real service was persistent (-p)
	Service    string  // the real service's line in ipvsadm -S -n
	Swaps      int     // scheduler changes done
	Seconds    float64 // the whole run, from the first churn connection
	Rate       float64 // churn connections started per second, on average

	Churn Churn
	// Long: connections held from before the first change to the end.
	Long Held
	// Window: connections opened around each change, held to the end.
	Window Held

	// Steps: the median and largest time of each step of the procedure, ms.
	Steps map[string][2]float64
	// Temp (fwmark): per change, the connections the temporary service held
	// when it was deleted (its destinations' ActiveConn + InActConn: in DR,
	// finished connections stay inactive for minutes, so this is about all
	// it took; its Conns counter lags, being updated by the estimator), and
	// those of them still active.
	TempConns, TempActiveAtDelete []int
	// Errors: samples of the failures, with their times.
	Errors []string
}

// Churn counts the short connections.
type Churn struct {
	OK      int // answered
	Refused int // connect: ECONNREFUSED (ICMP port unreachable from IPVS)
	// RefusedOutside: refusals more than 300ms away from every change.
	RefusedOutside int
	Slow           int // connected, but only after more than 700ms (a SYN retransmitted)
	ConnTimeout    int // connect timed out
	Reset          int // connected, then reset before the answer
	Timeout        int // connected, no answer in time
	Other          int
	// PersistMoved: answers from another real server than the one that
	// answered most of that source's connections (meaningful when the
	// service is persistent).
	PersistMoved int
	// BySource: answers per source address and real server.
	BySource map[string]map[string]int
}

// Held counts long-lived connections.
type Held struct {
	Opened   int // connected and answered once
	Failed   int // could not connect or be answered the first time
	Refused  int // of Failed: refused
	Requests int // answers in all
	Broken   int // answered at least once, then failed
	// BrokenAfterUnrule and BrokenAfterDelete (fwmark, window connections):
	// broken after the mark rule's deletion began but before the temporary
	// service's did, and after the temporary service's deletion began.
	BrokenAfterUnrule, BrokenAfterDelete int
	// ByServer: opened connections per real server.
	ByServer map[string]int
	Failures []string
}

var (
	vip      = flag.String("vip", "192.168.0.10:80", "virtual service address:port (TCP)")
	director = flag.String("director", "director", "the director's network namespace")
	method   = flag.String("method", "plain", "none, plain, fwmark or syndrop")
	swaps    = flag.Int("swaps", 10, "scheduler changes")
	scheds   = flag.String("scheds", "wlc,wrr", "schedulers to change to, in turn")
	from     = flag.String("from", "192.168.0.150", "first churn source address")
	sources  = flag.Int("sources", 30, "churn source addresses")
	workers  = flag.Int("workers", 4, "churn connections at a time, at most")
	rate     = flag.Float64("rate", 40, "churn connections started per second, at most")
	longFrom = flag.String("long-from", "192.168.0.200", "first source address of held connections")
	nLong    = flag.Int("long", 4, "long-lived connections held through all changes")
	nWindow  = flag.Int("window", 2, "connections opened around each change and held")
	every    = flag.Duration("every", 100*time.Millisecond, "request interval on held connections")
	warm     = flag.Duration("warm", time.Second, "churn before the first change")
	gap      = flag.Duration("gap", 300*time.Millisecond, "pause between changes")
	settle   = flag.Duration("settle", time.Second, "churn after the last change")
	mark     = flag.Int("mark", 77, "firewall mark of the temporary service")
	keep     = flag.Duration("keep", 1500*time.Millisecond, "how long window connections are held after their change ends")
	drain    = flag.Duration("drain", 500*time.Millisecond, "fwmark: longest wait for the temporary service's active connections to end")
	table    = flag.String("table", "swapload", "nftables table (family ip) for the rules")
)

var (
	start = time.Now()
	mu    sync.Mutex
	res   = Result{Steps: map[string][2]float64{}}
	// windows: [start, end] of each change, for refusals' attribution.
	windows [][2]time.Duration
	// current: the start of the change under way, or -1.
	current time.Duration = -1
	// unruled, deleted: when each change's mark rule and temporary service
	// began to be deleted (fwmark).
	unruled = map[int]time.Duration{}
	deleted = map[int]time.Duration{}
)

func since() time.Duration { return time.Since(start) }

func sample(format string, a ...any) {
	mu.Lock()
	defer mu.Unlock()
	if len(res.Errors) < 40 {
		res.Errors = append(res.Errors, fmt.Sprintf("%.3fs ", since().Seconds())+fmt.Sprintf(format, a...))
	}
}

func main() {
	flag.Parse()
	res.Method = *method
	sh, err := newShell(*director)
	if err != nil {
		fatal(err)
	}
	svcLine, dests := readService(sh)
	res.Service = svcLine
	res.Persistent = strings.Contains(svcLine, " -p ")
	if *method == "fwmark" || *method == "syndrop" {
		sh.must(fmt.Sprintf("nft add table ip %s && nft add chain ip %s pre '{ type filter hook prerouting priority mangle; }' && nft flush chain ip %[1]s pre", *table, *table))
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup

	// Held connections from before the first change.
	long := &heldSet{}
	lsrc := netip.MustParseAddr(*longFrom)
	var lwg sync.WaitGroup
	for i := 0; i < *nLong; i, lsrc = i+1, lsrc.Next() {
		lwg.Add(1)
		go func(src netip.Addr) {
			defer lwg.Done()
			long.hold(src, -1, stop, &wg)
		}(lsrc)
	}
	lwg.Wait()

	// Churn.
	churn := newChurn()
	next := atomic.Int64{}
	first := netip.MustParseAddr(*from)
	srcs := make([]netip.Addr, *sources)
	for i := range srcs {
		srcs[i] = first
		first = first.Next()
	}
	churnStop := make(chan struct{})
	var cwg sync.WaitGroup
	// A paced load: the guest's CPU is shared with the director's tools,
	// whose speed the procedures depend on.
	tokens := make(chan struct{}, 1)
	pace := time.NewTicker(time.Duration(float64(time.Second) / *rate))
	defer pace.Stop()
	go func() {
		for range pace.C {
			select {
			case tokens <- struct{}{}:
			default:
			}
		}
	}()
	for range *workers {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			for {
				select {
				case <-churnStop:
					return
				case <-tokens:
				}
				churn.one(srcs[int(next.Add(1)-1)%len(srcs)])
			}
		}()
	}
	churnStart := time.Now()
	time.Sleep(*warm)

	window := &heldSet{}
	wsrc := lsrc.Next()
	names := strings.Split(*scheds, ",")
	steps := map[string][]time.Duration{}
	step := func(name, cmd string) {
		t := time.Now()
		sh.must(cmd)
		steps[name] = append(steps[name], time.Since(t))
	}
	// Window connections are closed -keep after their change ends (or at
	// the end), so that they do not pile up.
	wstop := make([]chan struct{}, *swaps)
	for i := range wstop {
		wstop[i] = make(chan struct{})
	}
	openWindow := func(i int, wait bool) {
		var owg sync.WaitGroup
		for range *nWindow {
			owg.Add(1)
			go func(src netip.Addr) {
				defer owg.Done()
				window.hold(src, i, wstop[i], &wg)
			}(wsrc)
			wsrc = wsrc.Next()
		}
		if wait {
			owg.Wait()
		}
	}
	vaddr, vport, _ := strings.Cut(*vip, ":")
	for i := range *swaps {
		sched := names[i%len(names)]
		edit := editLine(svcLine, sched)
		mu.Lock()
		w0 := since()
		current = w0
		mu.Unlock()
		switch *method {
		case "none":
			openWindow(i, false)
		case "plain":
			openWindow(i, false)
			step("edit", edit)
		case "syndrop":
			step("rule", fmt.Sprintf("nft add rule ip %s pre ip daddr %s tcp dport %s 'tcp flags & (syn|ack) == syn' drop", *table, vaddr, vport))
			openWindow(i, false)
			step("edit", edit)
			step("unrule", fmt.Sprintf("nft flush chain ip %s pre", *table))
		case "fwmark":
			temp := tempLines(svcLine, dests, sched, *mark)
			step("temp", strings.Join(temp, " && "))
			step("rule", fmt.Sprintf("nft add rule ip %s pre ip daddr %s tcp dport %s meta mark set %d", *table, vaddr, vport, *mark))
			openWindow(i, true) // established on the temporary service
			step("edit", edit)
			mu.Lock()
			unruled[i] = since()
			mu.Unlock()
			step("unrule", fmt.Sprintf("nft flush chain ip %s pre", *table))
			t := time.Now()
			active, inactive := 0, 0
			for {
				active, inactive = tempConns(sh, *mark)
				if active == 0 || time.Since(t) > *drain {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			steps["drain"] = append(steps["drain"], time.Since(t))
			conns := active + inactive
			mu.Lock()
			deleted[i] = since()
			res.TempConns = append(res.TempConns, conns)
			res.TempActiveAtDelete = append(res.TempActiveAtDelete, active)
			mu.Unlock()
			step("delete", fmt.Sprintf("ipvsadm -D -f %d", *mark))
		default:
			fatal(fmt.Errorf("unknown method %q", *method))
		}
		mu.Lock()
		windows = append(windows, [2]time.Duration{w0, since()})
		current = -1
		mu.Unlock()
		time.AfterFunc(*keep, func() { close(wstop[i]) })
		res.Swaps++
		time.Sleep(*gap)
	}
	time.Sleep(*settle)
	close(churnStop)
	cwg.Wait()
	res.Seconds = since().Seconds()
	res.Rate = float64(next.Load()) / time.Since(churnStart).Seconds()
	close(stop)
	time.Sleep(*keep) // the last window connections' time
	wg.Wait()
	if *method == "fwmark" || *method == "syndrop" {
		sh.must(fmt.Sprintf("nft delete table ip %s", *table))
	}

	for name, ds := range steps {
		sort.Slice(ds, func(a, b int) bool { return ds[a] < ds[b] })
		res.Steps[name] = [2]float64{ms(ds[len(ds)/2]), ms(ds[len(ds)-1])}
	}
	res.Churn = churn.c
	res.Long = long.result(nil, nil)
	res.Window = window.result(unruled, deleted)
	for _, m := range res.Churn.BySource {
		most, all := 0, 0
		for _, n := range m {
			all += n
			most = max(most, n)
		}
		res.Churn.PersistMoved += all - most
	}
	json.NewEncoder(os.Stdout).Encode(res)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// readService returns the virtual service's line in ipvsadm -S -n and its
// destinations' lines.
func readService(sh *shell) (string, []string) {
	out := sh.must("ipvsadm -S -n")
	var svc string
	var dests []string
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) < 3 || f[1] != "-t" || f[2] != *vip {
			continue
		}
		switch f[0] {
		case "-A":
			svc = strings.Join(f, " ")
		case "-a":
			dests = append(dests, strings.Join(f, " "))
		}
	}
	if svc == "" || len(dests) == 0 {
		fatal(fmt.Errorf("no service TCP %s with destinations in:\n%s", *vip, out))
	}
	return svc, dests
}

// editLine is the ipvsadm command that sets the service's scheduler to
// sched, every other option as it is.
func editLine(svc, sched string) string {
	f := strings.Fields(svc)
	f[0] = "-E"
	for i := range f {
		if f[i] == "-s" && i+1 < len(f) {
			f[i+1] = sched
		}
	}
	return "ipvsadm " + strings.Join(f, " ")
}

// tempLines are the commands that make the temporary fwmark service: the
// service's options with the new scheduler, and its destinations (their
// ports dropped unless masqueraded, as for any fwmark service).
func tempLines(svc string, dests []string, sched string, mark int) []string {
	f := strings.Fields(svc)
	f[1], f[2] = "-f", strconv.Itoa(mark)
	for i := range f {
		if f[i] == "-s" && i+1 < len(f) {
			f[i+1] = sched
		}
	}
	out := []string{"ipvsadm " + strings.Join(f, " ")}
	for _, d := range dests {
		f := strings.Fields(d)
		f[1], f[2] = "-f", strconv.Itoa(mark)
		masq := strings.Contains(d, " -m")
		for i := range f {
			if f[i] == "-r" && i+1 < len(f) && !masq {
				if h, _, ok := strings.Cut(f[i+1], ":"); ok {
					f[i+1] = h
				}
			}
		}
		out = append(out, "ipvsadm "+strings.Join(f, " "))
	}
	return out
}

// tempConns sums the temporary service's destinations' ActiveConn and
// InActConn.
func tempConns(sh *shell, mark int) (active, inactive int) {
	for _, l := range strings.Split(sh.must(fmt.Sprintf("ipvsadm -L -n -f %d", mark)), "\n") {
		f := strings.Fields(l)
		if len(f) >= 6 && f[0] == "->" && f[1] != "RemoteAddress:Port" {
			a, _ := strconv.Atoi(f[4])
			i, _ := strconv.Atoi(f[5])
			active += a
			inactive += i
		}
	}
	return active, inactive
}

// shell is one sh in the director's namespace, fed commands one at a time.
type shell struct {
	in  io.Writer
	out *bufio.Reader
}

func newShell(ns string) (*shell, error) {
	cmd := exec.Command("/sbin/ip", "netns", "exec", ns, "sh")
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &shell{in: in, out: bufio.NewReader(out)}
	s.must("exec 2>&1")
	return s, nil
}

// run runs one command line and returns its output and exit status.
func (s *shell) run(line string) (string, int, error) {
	if _, err := fmt.Fprintf(s.in, "%s\necho __swapload_end $?\n", line); err != nil {
		return "", 0, err
	}
	var b strings.Builder
	for {
		l, err := s.out.ReadString('\n')
		if err != nil {
			return b.String(), 0, fmt.Errorf("director shell: %w after %q", err, b.String())
		}
		if rest, ok := strings.CutPrefix(l, "__swapload_end "); ok {
			st, _ := strconv.Atoi(strings.TrimSpace(rest))
			return b.String(), st, nil
		}
		b.WriteString(l)
	}
}

func (s *shell) must(line string) string {
	out, st, err := s.run(line)
	if err == nil && st != 0 {
		err = fmt.Errorf("exit status %d: %s", st, out)
	}
	if err != nil {
		fatal(fmt.Errorf("%s: %w", line, err))
	}
	return out
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "swapload:", err)
	os.Exit(1)
}

// kind names an error.
func kind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "reset"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	}
	return "other"
}

// ask sends one request on c and returns the answer's body.
func ask(c net.Conn, r *bufio.Reader, close bool) (string, error) {
	// 10s: the emulated guest can stall for seconds when its host is busy;
	// a connection IPVS breaks is reset, or stays silent for longer.
	c.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET / HTTP/1.1\r\nHost: vip\r\n\r\n"
	if close {
		req = "GET / HTTP/1.1\r\nHost: vip\r\nConnection: close\r\n\r\n"
	}
	if _, err := io.WriteString(c, req); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("status %d", resp.StatusCode)
	}
	return string(b), nil
}

func dial(src netip.Addr) (net.Conn, error) {
	// 7s: a SYN dropped at 0s and 1s is retransmitted at 3s.
	d := net.Dialer{Timeout: 7 * time.Second, LocalAddr: &net.TCPAddr{IP: src.AsSlice()}}
	return d.Dial("tcp", *vip)
}

type churnSet struct {
	mu sync.Mutex
	c  Churn
}

func newChurn() *churnSet {
	return &churnSet{c: Churn{BySource: map[string]map[string]int{}}}
}

// one opens one connection from src, asks once and closes.
func (s *churnSet) one(src netip.Addr) {
	t := time.Now()
	at := since()
	c, err := dial(src)
	took := time.Since(t)
	if err != nil {
		k := kind(err)
		near := nearChange(at)
		s.mu.Lock()
		switch k {
		case "refused":
			s.c.Refused++
			if !near {
				s.c.RefusedOutside++
			}
		case "timeout":
			s.c.ConnTimeout++
		default:
			s.c.Other++
		}
		s.mu.Unlock()
		sample("churn connect from %s: %s: %v", src, k, err)
		return
	}
	name, err := ask(c, bufio.NewReader(c), true)
	c.Close()
	if err != nil {
		sample("churn request from %s: %s: %v", src, kind(err), err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if took > 700*time.Millisecond {
		s.c.Slow++
	}
	if err != nil {
		switch kind(err) {
		case "reset", "eof":
			s.c.Reset++
		case "timeout":
			s.c.Timeout++
		default:
			s.c.Other++
		}
		return
	}
	s.c.OK++
	m := s.c.BySource[src.String()]
	if m == nil {
		m = map[string]int{}
		s.c.BySource[src.String()] = m
	}
	m[name]++
}

// nearChange reports whether t is within 300ms of a change, or after the
// start of the one under way.
func nearChange(t time.Duration) bool {
	mu.Lock()
	defer mu.Unlock()
	if current >= 0 && t >= current-300*time.Millisecond {
		return true
	}
	for _, w := range windows {
		if t >= w[0]-300*time.Millisecond && t <= w[1]+300*time.Millisecond {
			return true
		}
	}
	return false
}

// heldSet is a set of long-lived connections.
type heldSet struct {
	mu    sync.Mutex
	conns []*held
}

type held struct {
	swap     int // the change it was opened at, -1 before the first
	src      netip.Addr
	server   string
	ok       int
	failed   string // the first failure
	failedAt time.Duration
	open     bool
}

// hold connects from src and asks once; if that works it keeps asking
// every -every until stop, in a goroutine counted in wg.
func (s *heldSet) hold(src netip.Addr, swap int, stop chan struct{}, wg *sync.WaitGroup) {
	h := &held{swap: swap, src: src}
	s.mu.Lock()
	s.conns = append(s.conns, h)
	s.mu.Unlock()
	c, err := dial(src)
	if err != nil {
		s.mu.Lock()
		h.failed, h.failedAt = "connect: "+kind(err)+": "+err.Error(), since()
		s.mu.Unlock()
		return
	}
	r := bufio.NewReader(c)
	name, err := ask(c, r, false)
	s.mu.Lock()
	if err != nil {
		h.failed, h.failedAt = "first request: "+kind(err)+": "+err.Error(), since()
		s.mu.Unlock()
		c.Close()
		return
	}
	h.server, h.ok, h.open = name, 1, true
	s.mu.Unlock()
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer c.Close()
		tick := time.NewTicker(*every)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			name, err := ask(c, r, false)
			s.mu.Lock()
			if err == nil && name != h.server {
				err = fmt.Errorf("answered by %s, opened on %s", name, h.server)
			}
			if err != nil {
				h.failed, h.failedAt = kind(err)+": "+err.Error(), since()
				s.mu.Unlock()
				return
			}
			h.ok++
			s.mu.Unlock()
		}
	}()
}

func (s *heldSet) result(unruled, deleted map[int]time.Duration) Held {
	s.mu.Lock()
	defer s.mu.Unlock()
	mu.Lock()
	defer mu.Unlock()
	r := Held{ByServer: map[string]int{}}
	for _, h := range s.conns {
		r.Requests += h.ok
		if !h.open {
			r.Failed++
			if strings.Contains(h.failed, "refused") {
				r.Refused++
			}
			r.Failures = append(r.Failures, fmt.Sprintf("change %d, from %s, at %.3fs: %s", h.swap, h.src, h.failedAt.Seconds(), h.failed))
			continue
		}
		r.Opened++
		r.ByServer[h.server]++
		if h.failed == "" {
			continue
		}
		r.Broken++
		when := ""
		if d, ok := deleted[h.swap]; ok && h.failedAt >= d {
			r.BrokenAfterDelete++
			when = fmt.Sprintf(" (%.0fms after the deletion of its temporary service began)", ms(h.failedAt-d))
		} else if u, ok := unruled[h.swap]; ok && h.failedAt >= u {
			r.BrokenAfterUnrule++
			when = fmt.Sprintf(" (%.0fms after the deletion of the mark rule began, before the temporary service's)", ms(h.failedAt-u))
		}
		r.Failures = append(r.Failures, fmt.Sprintf("change %d, from %s on %s, after %d answers, at %.3fs%s: %s", h.swap, h.src, h.server, h.ok, h.failedAt.Seconds(), when, h.failed))
	}
	return r
}
