package hosts

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/lvsctl/lvsctl/applier"
	"github.com/lvsctl/lvsctl/hosts/agent"
	"github.com/lvsctl/lvsctl/internal/state"
	"github.com/lvsctl/lvsctl/planner"
)

// scripted returns a client whose agent answers its n-th request with the
// n-th line of script ("ID" replaced by the request's id), and goes away when
// the script ends.
func scripted(t testing.TB, script []byte) *agent.Client {
	lines := bytes.Split(script, []byte("\n"))
	reqR, reqW := io.Pipe()
	respR, respW := io.Pipe()
	go func() {
		defer respW.Close()
		sc := bufio.NewScanner(reqR)
		sc.Buffer(nil, 16<<20)
		for n := 0; sc.Scan() && n < len(lines); n++ {
			var req agent.Request
			json.Unmarshal(sc.Bytes(), &req)
			line := bytes.ReplaceAll(lines[n], []byte("ID"), []byte(strconv.Itoa(req.ID)))
			if _, err := respW.Write(append(line, '\n')); err != nil {
				return
			}
		}
	}()
	c := agent.NewClient("director", reqW, respR, nil)
	c.ConnectTimeout, c.Timeout = time.Second, time.Second
	t.Cleanup(func() { c.Close(); reqR.Close(); respR.Close() })
	return c
}

var (
	fuzzVIP  = netip.MustParseAddr("192.168.0.10")
	fuzzKey  = state.ServiceKey{Family: state.IPv4, Protocol: state.TCP, Addr: fuzzVIP, Port: 80}
	fuzzDest = netip.MustParseAddrPort("192.168.0.101:80")
)

func fuzzDesired() map[string]*state.Host {
	return map[string]*state.Host{"director": {
		Services:  []*state.Service{{Key: fuzzKey, Scheduler: "wrr", Dests: []*state.Destination{{Addr: fuzzDest, Weight: 5, Forward: state.DR}}}},
		Addresses: []state.Address{{Interface: "ens33", Prefix: netip.PrefixFrom(fuzzVIP, 32)}},
		Sysctls:   []state.Sysctl{{Key: "net.ipv4.vs.expire_nodest_conn", Value: "1"}},
	}}
}

func answer(v any) string {
	b, _ := json.Marshal(v)
	return string(bytes.ReplaceAll(b, []byte(`"id":1`), []byte(`"id":ID`)))
}

// FuzzAgentAnswers feeds arbitrary agent answers through gather, plan, apply
// (with rollback) and drain: whatever a host says, lvsctl does not panic.
func FuzzAgentAnswers(f *testing.F) {
	other := &state.Destination{Addr: netip.MustParseAddrPort("192.168.0.102:80"), Weight: 1, Forward: state.DR, Conns: &state.Conns{Active: 3}}
	live := &state.Host{Services: []*state.Service{{Key: fuzzKey, Scheduler: "rr", Dests: []*state.Destination{other}}}}
	inv := &state.Inventory{Services: []state.ServiceKey{fuzzKey}, Sysctls: map[string]string{"net.ipv4.vs.expire_nodest_conn": "0"}}
	ok := answer(agent.Response{V: 1, ID: 1, Results: []agent.Result{{OK: true}}})
	failed := answer(agent.Response{V: 1, ID: 1, Results: []agent.Result{{OK: true}, {Error: &agent.Error{Message: "no", Errno: "EINVAL"}}}})
	seeds := [][]string{
		{answer(agent.Response{V: 1, ID: 1, Gather: &agent.Gathered{Host: &state.Host{}, Inventory: inv}}),
			answer(agent.Response{V: 1, ID: 1, Gather: &agent.Gathered{Host: live, IPVSAvailable: true}}),
			ok, ok, ok, ok,
			answer(agent.Response{V: 1, ID: 1, Gather: &agent.Gathered{Host: live, IPVSAvailable: true}}),
			ok, ok, ok},
		{answer(agent.Response{V: 1, ID: 1, Gather: &agent.Gathered{Host: &state.Host{}, Inventory: &state.Inventory{}}}),
			answer(agent.Response{V: 1, ID: 1, Gather: &agent.Gathered{Host: &state.Host{}, IPVSAvailable: true}}),
			failed, ok, ok, ok},
		{`{"v":1,"id":ID,"gather":{"host":{"services":[null]},"inventory":{}}}`},
		{`{"v":1,"id":ID,"results":[{"ok":false}]}`},
		{`{"v":1,"id":ID,"progress":1}`},
	}
	for _, s := range seeds {
		var b bytes.Buffer
		for _, l := range s {
			b.WriteString(l + "\n")
		}
		f.Add(b.Bytes())
	}
	f.Fuzz(func(t *testing.T, script []byte) {
		c := &Cluster{Clients: map[string]*agent.Client{"director": scripted(t, script)}, Failed: map[string]error{}}
		live := c.Gather(fuzzDesired())
		if len(c.Failed) > 0 {
			return
		}
		p, err := planner.Make(fuzzDesired(), live)
		if err != nil {
			return
		}
		a := &applier.Applier{Hosts: c.Executors(), DrainTimeout: 20 * time.Millisecond, DrainPoll: 5 * time.Millisecond, DrainGrace: time.Millisecond}
		a.Apply(context.Background(), p)
	})
}
