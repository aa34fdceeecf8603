package agent

import (
	"errors"
	"io"
	"net/netip"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/lvsctl/lvsctl/internal/state"
)

// fakeBackend records operations as the commands they stand for.
type fakeBackend struct {
	did    []string
	failOn OpKind
	err    error
	host   *state.Host
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
			if len(fb.did) != 0 {
				t.Errorf("backend ran %v", fb.did)
			}
		})
	}
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
