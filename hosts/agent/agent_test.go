package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/lvsctl/lvsctl/hosts/sysctl"
	"github.com/lvsctl/lvsctl/internal/state"
)

// fakeBackend records operations as the commands they stand for.
type fakeBackend struct {
	did    []string
	failOn OpKind
	err    error
	host   *state.Host
	// wal records each write-ahead: the operations it was given, and how
	// many operations had run before it.
	wal    []fakeWAL
	walErr error
}

type fakeWAL struct {
	ops       int
	didBefore int
}

func (f *fakeBackend) WriteAhead(ops []Op) error {
	f.wal = append(f.wal, fakeWAL{ops: len(ops), didBefore: len(f.did)})
	return f.walErr
}

func (f *fakeBackend) Gather(GatherRequest) (*Gathered, error) {
	return &Gathered{Host: f.host, IPVSAvailable: true, IPVSVersion: "1.2.1"}, nil
}

func (f *fakeBackend) Apply(o Op) error {
	if o.Kind == f.failOn {
		return f.err
	}
	f.did = append(f.did, o.String())
	return nil
}

func (f *fakeBackend) Lock() error   { f.did = append(f.did, "lock"); return nil }
func (f *fakeBackend) Unlock() error { f.did = append(f.did, "unlock"); return nil }

// pipeClient serves b over in-memory pipes, as a transport would.
func pipeClient(t *testing.T, b Backend) *Client {
	t.Helper()
	reqR, reqW := io.Pipe()
	respR, respW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := Serve(reqR, respW, b)
		respW.Close()
		done <- err
	}()
	c := NewClient("rs1", reqW, respR, func() error { return <-done })
	t.Cleanup(func() { c.Close() })
	return c
}

var vip = netip.MustParseAddr("192.168.0.10")

func TestGatherRoundTrip(t *testing.T) {
	want := &state.Host{Services: []*state.Service{{
		Key:       state.ServiceKey{Family: state.IPv4, Protocol: state.TCP, Addr: vip, Port: 80},
		Scheduler: "wrr",
		Dests:     []*state.Destination{{Addr: netip.MustParseAddrPort("192.168.0.101:80"), Weight: 5, Forward: state.DR, Conns: &state.Conns{Active: 3}}},
	}}}
	c := pipeClient(t, &fakeBackend{host: want})
	g, err := c.Gather(GatherRequest{IPVS: true})
	if err != nil {
		t.Fatal(err)
	}
	want.Name = "rs1"
	if diff := cmp.Diff(want, g.Host, cmpopts.EquateComparable(netip.Addr{}, netip.AddrPort{})); diff != "" {
		t.Errorf("gathered host (-want +got):\n%s", diff)
	}
}

// Operations run in order until one fails; the failure keeps its errno.
func TestApplyStopsAtFirstFailure(t *testing.T) {
	fb := &fakeBackend{failOn: AddAddress, err: syscall.EEXIST}
	c := pipeClient(t, fb)
	ops := []Op{
		{Kind: SetSysctl, Sysctl: &state.Sysctl{Key: "net.ipv4.conf.all.arp_ignore", Value: "1"}},
		{Kind: AddAddress, Address: &state.Address{Interface: "lo", Prefix: netip.MustParsePrefix("192.168.0.10/32")}},
		{Kind: SetSysctl, Sysctl: &state.Sysctl{Key: "net.ipv4.conf.all.arp_announce", Value: "2"}},
	}
	res, err := c.Apply(ops)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || !res[0].OK || res[1].OK || res[1].Error.Errno != "EEXIST" {
		t.Fatalf("results: %+v", res)
	}
	if !errors.Is(res[1].Error, syscall.EEXIST) {
		t.Errorf("result error %v does not unwrap to EEXIST", res[1].Error)
	}
	if diff := cmp.Diff([]string{"sysctl.set net.ipv4.conf.all.arp_ignore=1"}, fb.did); diff != "" {
		t.Errorf("backend did (-want +got):\n%s", diff)
	}
}

// A request with any operation the agent does not accept runs none of them.
func TestApplyRefusesWholeRequest(t *testing.T) {
	for name, bad := range map[string]Op{
		"unknown kind":         {Kind: "shell.exec"},
		"sysctl outside net":   {Kind: SetSysctl, Sysctl: &state.Sysctl{Key: "kernel.core_pattern", Value: "|/bin/sh"}},
		"sysctl path":          {Kind: SetSysctl, Sysctl: &state.Sysctl{Key: "net.ipv4/../../../etc/passwd", Value: "x"}},
		"interface with shell": {Kind: AddAddress, Address: &state.Address{Interface: "lo;reboot", Prefix: netip.MustParsePrefix("192.0.2.1/32")}},
		"missing fields":       {Kind: AddDest},
		"scheduler name":       {Kind: AddService, Service: &state.Service{Key: state.ServiceKey{Family: state.IPv4, Protocol: state.TCP, Addr: vip, Port: 80}, Scheduler: "../x"}},
		"weight too large":     {Kind: AddDest, ServiceKey: &state.ServiceKey{Family: state.IPv4, FWMark: 1}, Dest: &state.Destination{Addr: netip.MustParseAddrPort("192.0.2.1:0"), Forward: state.DR, Weight: 1 << 31}},
	} {
		t.Run(name, func(t *testing.T) {
			fb := &fakeBackend{}
			c := pipeClient(t, fb)
			ok := Op{Kind: SetSysctl, Sysctl: &state.Sysctl{Key: "net.ipv4.ip_forward", Value: "1"}}
			_, err := c.Apply([]Op{ok, bad})
			var he *HostError
			if !errors.As(err, &he) || !strings.Contains(err.Error(), "refused, nothing done") || !strings.Contains(err.Error(), "host rs1") {
				t.Fatalf("got %v", err)
			}
			if len(fb.did) != 0 || len(fb.wal) != 0 {
				t.Errorf("backend ran %v, wrote ahead %v", fb.did, fb.wal)
			}
		})
	}
}

// The write-ahead runs once per apply request, with all of its operations,
// before the first of them; other requests have none.
func TestApplyWritesAheadFirst(t *testing.T) {
	fb := &fakeBackend{host: &state.Host{}}
	c := pipeClient(t, fb)
	if err := c.Lock(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Gather(GatherRequest{IPVS: true}); err != nil {
		t.Fatal(err)
	}
	ops := []Op{
		{Kind: SetSysctl, Sysctl: &state.Sysctl{Key: "net.ipv4.conf.all.arp_ignore", Value: "1"}},
		{Kind: AddAddress, Address: &state.Address{Interface: "lo", Prefix: netip.MustParsePrefix("192.168.0.10/32")}},
	}
	if res, err := c.Apply(ops); err != nil || len(res) != 2 {
		t.Fatalf("apply: %v %+v", err, res)
	}
	if diff := cmp.Diff([]fakeWAL{{ops: 2, didBefore: 1}}, fb.wal, cmp.AllowUnexported(fakeWAL{})); diff != "" {
		t.Errorf("write-ahead (-want +got):\n%s", diff) // didBefore 1: the lock
	}
}

// When the inventory cannot be written ahead, the request is refused and
// nothing runs; the errno survives, with the hint about root.
func TestApplyRefusedWhenWriteAheadFails(t *testing.T) {
	fb := &fakeBackend{walErr: fmt.Errorf("inventory: open /var/lib/lvsctl/.inventory-1: %w", syscall.EACCES)}
	c := pipeClient(t, fb)
	res, err := c.Apply([]Op{{Kind: SetSysctl, Sysctl: &state.Sysctl{Key: "net.ipv4.ip_forward", Value: "1"}}})
	if len(res) != 0 || err == nil {
		t.Fatalf("got %+v, %v", res, err)
	}
	for _, want := range []string{"host rs1", "write-ahead inventory", "refused, nothing done", "permission denied", "must run as root"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if !errors.Is(err, syscall.EACCES) {
		t.Errorf("error %v does not unwrap to EACCES", err)
	}
	if len(fb.did) != 0 {
		t.Errorf("backend ran %v", fb.did)
	}
}

// writeAhead: the intents of a request, merged into the inventory in the
// planner's form; originals read only where none is recorded.
func TestWriteAheadIntents(t *testing.T) {
	web := state.ServiceKey{Family: state.IPv4, Protocol: state.TCP, Addr: vip, Port: 80}
	lo10 := state.Address{Interface: "lo", Prefix: netip.MustParsePrefix("192.168.0.10/32")}
	route := state.Route{Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("10.0.0.234"), Manage: true}
	mark := state.MarkRule{Family: state.IPv4, Addr: vip, Protocol: state.TCP, Ports: []uint16{80, 443}, Mark: 7}
	dest := &state.Destination{Addr: netip.MustParseAddrPort("192.168.0.101:80"), Weight: 5, Forward: state.DR}
	live := map[string]string{"net.ipv4.conf.all.arp_ignore": "0", "net.ipv4.conf.all.arp_announce": "0", "net.ipv4.ip_forward": "0"}
	for _, tc := range []struct {
		name    string
		cur     *state.Inventory
		ops     []Op
		want    *state.Inventory
		news    []string
		reads   []string
		wantErr string
		noNeed  bool // needsWriteAhead is false: the inventory is not even read
	}{
		{name: "weights and deletes need nothing",
			cur: &state.Inventory{Services: []state.ServiceKey{web}},
			ops: []Op{
				{Kind: UpdateDest, ServiceKey: &web, Dest: dest},
				{Kind: UpdateService, Service: &state.Service{Key: web, Scheduler: "wlc"}},
				{Kind: DeleteDest, ServiceKey: &web, Dest: dest},
				{Kind: DeleteService, ServiceKey: &web},
				{Kind: DeleteAddress, Address: &lo10},
				{Kind: LinkDown, Link: &state.Link{Name: "tunl0"}},
				{Kind: DeleteMark, Mark: &mark},
				{Kind: DeleteRoute, Route: &route},
				{Kind: SetTimeouts, Timeouts: &state.Timeouts{TCP: 900}},
				{Kind: ReplaceRoute, Route: &state.Route{Dst: route.Dst, Gateway: route.Gateway}}, // a rollback's, unmanaged
				{Kind: WriteInventory, Inventory: &state.Inventory{Links: []string{"x"}}},
			},
			want:   &state.Inventory{Services: []state.ServiceKey{web}},
			noNeed: true},
		{name: "every kind that creates",
			ops: []Op{
				{Kind: SetSysctl, Sysctl: &state.Sysctl{Key: "net.ipv4.conf.all.arp_ignore", Value: "1"}},
				{Kind: SetSysctl, Sysctl: &state.Sysctl{Key: "net.ipv4.conf.all.arp_ignore", Value: "2"}},
				{Kind: EnsureLink, Link: &state.Link{Name: "tunl0", Kind: "ipip", Up: true}},
				{Kind: AddAddress, Address: &lo10},
				{Kind: ReplaceRoute, Route: &route},
				{Kind: AddMark, Mark: &mark},
				{Kind: AddService, Service: &state.Service{Key: web, Scheduler: "wrr"}},
				{Kind: AddDest, ServiceKey: &web, Dest: dest},
			},
			want: &state.Inventory{Services: []state.ServiceKey{web}, Addresses: []state.Address{lo10}, Links: []string{"tunl0"},
				Sysctls: map[string]string{"net.ipv4.conf.all.arp_ignore": "0"}, Routes: []state.Route{route}, Marks: []state.MarkRule{mark}},
			news: []string{`sysctl net.ipv4.conf.all.arp_ignore (was "0")`, "link tunl0", "address 192.168.0.10/32 dev lo",
				"route 0.0.0.0/0 via 10.0.0.234", "mark rule 7 for 192.168.0.10 tcp [80 443]", "service TCP 192.168.0.10:80"},
			reads: []string{"net.ipv4.conf.all.arp_ignore"}},
		{name: "a recorded original is not read again",
			cur: &state.Inventory{Sysctls: map[string]string{"net.ipv4.conf.all.arp_ignore": "3"}, Addresses: []state.Address{lo10}},
			ops: []Op{
				{Kind: SetSysctl, Sysctl: &state.Sysctl{Key: "net.ipv4.conf.all.arp_ignore", Value: "1"}},
				{Kind: SetSysctl, Sysctl: &state.Sysctl{Key: "net.ipv4.conf.all.arp_announce", Value: "2"}},
				{Kind: AddAddress, Address: &lo10},
			},
			want: &state.Inventory{Addresses: []state.Address{lo10},
				Sysctls: map[string]string{"net.ipv4.conf.all.arp_ignore": "3", "net.ipv4.conf.all.arp_announce": "0"}},
			news:  []string{`sysctl net.ipv4.conf.all.arp_announce (was "0")`},
			reads: []string{"net.ipv4.conf.all.arp_announce"}},
		{name: "a key the kernel lacks is not recorded",
			ops:   []Op{{Kind: SetSysctl, Sysctl: &state.Sysctl{Key: "net.ipv4.conf.eth9.arp_ignore", Value: "1"}}},
			want:  &state.Inventory{},
			reads: []string{"net.ipv4.conf.eth9.arp_ignore"}},
		{name: "an unreadable key refuses the request",
			ops:     []Op{{Kind: SetSysctl, Sysctl: &state.Sysctl{Key: "net.ipv4.route.flush", Value: "1"}}},
			reads:   []string{"net.ipv4.route.flush"},
			wantErr: "reading net.ipv4.route.flush to record its value from before lvsctl: permission denied"},
		{name: "a changed mark of an owned rule is an update",
			cur:  &state.Inventory{Marks: []state.MarkRule{mark}},
			ops:  []Op{{Kind: ReplaceMark, Mark: &state.MarkRule{Family: state.IPv4, Addr: vip, Protocol: state.TCP, Ports: []uint16{80, 443}, Mark: 8}}},
			want: &state.Inventory{Marks: []state.MarkRule{mark}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var reads []string
			read := func(key string) (string, error) {
				reads = append(reads, key)
				if key == "net.ipv4.route.flush" {
					return "", syscall.EACCES
				}
				v, ok := live[key]
				if !ok {
					return "", fmt.Errorf("sysctl %s: %w", key, sysctl.ErrNoSuchSysctl)
				}
				return v, nil
			}
			if needsWriteAhead(tc.ops) == tc.noNeed {
				t.Errorf("needsWriteAhead = %v", !tc.noNeed)
			}
			got, news, err := writeAhead(tc.cur, tc.ops, read)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g, w := mustJSON(t, got), mustJSON(t, tc.want); g != w {
				t.Errorf("inventory:\n got %s\nwant %s", g, w)
			}
			if diff := cmp.Diff(tc.news, news); diff != "" {
				t.Errorf("news (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.reads, reads); diff != "" {
				t.Errorf("sysctl reads (-want +got):\n%s", diff)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestUnknownRequestKindAndVersion(t *testing.T) {
	fb := &fakeBackend{}
	c := pipeClient(t, fb)
	if _, err := c.roundTrip(Request{Kind: "exec"}); err == nil || !strings.Contains(err.Error(), `unknown request kind "exec"`) {
		t.Errorf("unknown kind: %v", err)
	}
	resp := handle(Request{V: 2, Kind: "lock"}, fb)
	if resp.Error == nil || !strings.Contains(resp.Error.Message, "protocol 1, the request is protocol 2") {
		t.Errorf("version: %+v", resp.Error)
	}
	if len(fb.did) != 0 {
		t.Errorf("backend ran %v", fb.did)
	}
}

// A request with fields the agent does not know ends the session: it is not
// from this lvsctl.
func TestUnknownFieldEndsSession(t *testing.T) {
	var out strings.Builder
	err := Serve(strings.NewReader(`{"v":1,"id":1,"kind":"lock","command":"rm -rf /"}`+"\n"), &out, &fakeBackend{})
	if err == nil || !strings.Contains(out.String(), "unreadable request") {
		t.Fatalf("err %v, out %s", err, out.String())
	}
}

// When the agent dies, the error names the host and says what it printed.
func TestAgentDeathIsReported(t *testing.T) {
	reqR, reqW := io.Pipe()
	respR, respW := io.Pipe()
	c := NewClient("lb1", reqW, respR, nil)
	go func() {
		buf := make([]byte, 1)
		io.ReadFull(reqR, buf) // the request arrived...
		c.Stderr().Write([]byte("panic: out of memory\n"))
		respW.Close() // ...and the agent died without answering
		io.Copy(io.Discard, reqR)
	}()
	_, err := c.Gather(GatherRequest{IPVS: true})
	if err == nil || !strings.Contains(err.Error(), "host lb1: the agent went away") || !strings.Contains(err.Error(), "panic: out of memory") {
		t.Fatalf("got %v", err)
	}
}
