package agent

import (
	"bufio"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
)

// scriptedClient is a client whose "agent" answers the n-th request with
// answer(n, id): raw lines, or nothing at all (hang) when it returns "".
// ID in a line is replaced by the request's id.
func scriptedClient(t *testing.T, answer func(n, id int) string) *Client {
	t.Helper()
	reqR, reqW := io.Pipe()
	respR, respW := io.Pipe()
	go func() {
		sc := bufio.NewScanner(reqR)
		sc.Buffer(nil, 1<<20)
		n := 0
		for sc.Scan() {
			n++
			var req Request
			json.Unmarshal(sc.Bytes(), &req)
			a := answer(n, req.ID)
			if a == "" {
				continue // never answers
			}
			if a == "CLOSE" {
				io.WriteString(respW, "{")
				break
			}
			if _, err := io.WriteString(respW, strings.ReplaceAll(a, "ID", strconv.Itoa(req.ID))); err != nil {
				return
			}
		}
		respW.Close()
	}()
	c := NewClient("rs1", reqW, respR, nil)
	c.ConnectTimeout, c.Timeout = 300*time.Millisecond, 300*time.Millisecond
	t.Cleanup(func() { c.Close(); reqR.Close() })
	return c
}

const goodInventory = `{"v":1,"id":ID,"gather":{"host":{"name":"x"},"ipvsAvailable":false,"inventory":{}}}` + "\n"

// Every kind of answer outside the protocol fails the host with a message
// that names it, never a panic, and ends the session.
func TestClientRefusesBadAnswers(t *testing.T) {
	okApply := func(s string) func(n, id int) string { return func(int, int) string { return s } }
	for _, tc := range []struct {
		name   string
		answer func(n, id int) string
		apply  int // operations to send; 0 means a gather of the inventory
		want   string
	}{
		{"ok false without error", okApply(`{"v":1,"id":ID,"results":[{"ok":false}]}` + "\n"), 1, "result 1 failed without an error"},
		{"more results than operations", okApply(`{"v":1,"id":ID,"results":[{"ok":true},{"ok":true}]}` + "\n"), 1, "2 results for 1 operations"},
		{"results after a failure", okApply(`{"v":1,"id":ID,"results":[{"ok":false,"error":{"message":"x"}},{"ok":true}]}` + "\n"), 2, "results after the failed operation 1"},
		{"fewer results and no failure", okApply(`{"v":1,"id":ID,"results":[{"ok":true}]}` + "\n"), 2, "1 results for 2 operations and no failure"},
		{"both ok and failed", okApply(`{"v":1,"id":ID,"results":[{"ok":true,"error":{"message":"x"}}]}` + "\n"), 1, "both ok and failed"},
		{"null service", okApply(`{"v":1,"id":ID,"gather":{"host":{"services":[null]},"ipvsAvailable":true,"inventory":{}}}` + "\n"), 0, "service 1 is null"},
		{"no inventory", okApply(`{"v":1,"id":ID,"gather":{"host":{}}}` + "\n"), 0, "no inventory"},
		{"no state", okApply(`{"v":1,"id":ID,"gather":null}` + "\n"), 0, "no state"},
		{"wrong id", okApply(`{"v":1,"id":99,"gather":{"host":{},"inventory":{}}}` + "\n"), 0, "an answer to request 99 while waiting for 1"},
		{"wrong version", okApply(`{"v":7,"id":ID}` + "\n"), 0, "protocol version 7"},
		{"not json", okApply("hello\n"), 0, "not the agent protocol"},
		{"bad sysctl key in inventory", okApply(`{"v":1,"id":ID,"gather":{"host":{},"inventory":{"sysctls":{"kernel.core_pattern":"|/x"}}}}` + "\n"), 0, "kernel.core_pattern"},
		{"silent", okApply(""), 0, "no answer within"},
		{"went away mid-answer", okApply("CLOSE"), 0, "reading the answer to gather: unexpected EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := scriptedClient(t, tc.answer)
			var err error
			if tc.apply > 0 {
				ops := make([]Op, tc.apply)
				for i := range ops {
					ops[i] = Op{Kind: LinkDown}
				}
				_, err = c.Apply(ops)
			} else {
				_, err = c.Gather(GatherRequest{IPVS: true, Inventory: true})
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "host rs1: ") {
				t.Fatalf("got %v, want an error naming rs1 with %q", err, tc.want)
			}
			// The session is over: the next request fails at once, the same way.
			if _, err2 := c.Gather(GatherRequest{Inventory: true}); err2 == nil {
				t.Fatalf("a second request after %q succeeded", tc.want)
			}
		})
	}
}

// Control characters from a host never reach lvsctl's own output.
func TestClientCleansHostText(t *testing.T) {
	c := scriptedClient(t, func(int, int) string {
		return `{"v":1,"id":ID,"results":[{"ok":false,"error":{"op":"x\u001b[2J","message":"boom\u001b[2J\r\u202e"}}]}` + "\n"
	})
	res, err := c.Apply([]Op{{Kind: LinkDown}})
	if err != nil {
		t.Fatal(err)
	}
	msg := res[0].Error.Error()
	if strings.ContainsAny(msg, "\x1b\r\u202e") || !strings.Contains(msg, `boom\x1b[2J\r\u202e`) {
		t.Fatalf("host text not cleaned: %q", msg)
	}
}

// An answer larger than MaxMessage is refused without reading it all into
// memory.
func TestClientRefusesHugeAnswer(t *testing.T) {
	big := `{"v":1,"id":ID,"gather":{"host":{"name":"` + strings.Repeat("a", MaxMessage) + `"}}}` + "\n"
	c := scriptedClient(t, func(int, int) string { return big })
	c.Timeout, c.ConnectTimeout = 10*time.Second, 10*time.Second
	_, err := c.Gather(GatherRequest{Inventory: true})
	if err == nil || !strings.Contains(err.Error(), "larger than 64 MiB") {
		t.Fatalf("got %v", err)
	}
}

// Heartbeats whose count grows keep a long request alive past the bound;
// heartbeats that repeat the same count do not.
func TestClientHeartbeats(t *testing.T) {
	beats := func(grow bool) func(n, id int) string {
		return func(n, id int) string {
			if n == 1 {
				return goodInventory
			}
			var b strings.Builder
			for i := 1; i <= 8; i++ {
				p := 1
				if grow {
					p = i
				}
				b.WriteString(`{"v":1,"id":ID,"progress":` + strconv.Itoa(p) + "}\n")
			}
			return b.String()
		}
	}
	for _, grow := range []bool{true, false} {
		t.Run(map[bool]string{true: "growing", false: "stuck"}[grow], func(t *testing.T) {
			reqR, reqW := io.Pipe()
			respR, respW := io.Pipe()
			go func() {
				sc := bufio.NewScanner(reqR)
				n := 0
				for sc.Scan() {
					n++
					var req Request
					json.Unmarshal(sc.Bytes(), &req)
					for _, line := range strings.SplitAfter(beats(grow)(n, req.ID), "\n") {
						if line == "" {
							continue
						}
						if n > 1 {
							time.Sleep(100 * time.Millisecond) // 8 beats: 800ms, beyond the 300ms bound
						}
						if _, err := io.WriteString(respW, strings.ReplaceAll(line, "ID", strconv.Itoa(req.ID))); err != nil {
							return
						}
					}
					if n > 1 {
						io.WriteString(respW, strings.ReplaceAll(goodInventory, "ID", strconv.Itoa(req.ID)))
					}
				}
			}()
			c := NewClient("rs1", reqW, respR, nil)
			c.ConnectTimeout, c.Timeout = 300*time.Millisecond, 300*time.Millisecond
			defer c.Close()
			if _, err := c.Gather(GatherRequest{Inventory: true}); err != nil {
				t.Fatal(err)
			}
			_, err := c.Gather(GatherRequest{Inventory: true})
			if grow && err != nil {
				t.Fatalf("a request that makes progress was cut: %v", err)
			}
			if !grow && (err == nil || !strings.Contains(err.Error(), "no progress for")) {
				t.Fatalf("a request without progress: %v", err)
			}
		})
	}
}
