// Command badagent is a broken host's agent, for tests: it runs the real
// agent (lvsctl agent, with the arguments it was given) and relays the
// protocol's lines both ways unchanged, except for one request, chosen by
// $BADAGENT, whose answer it breaks:
//
//	BADAGENT=MODE@KIND:N   the N-th request of KIND (gather, apply, lock, ...)
//
// Modes:
//
//	hang      the request is never passed on and never answered
//	okfalse   the first result becomes {"ok":false}, with no error
//	extra     one more result than the request had operations
//	nullsvc   the gathered host's services become [null]
//	noinv     the gather answer loses its inventory
//	wrongid   the answer carries another request's id
//	wrongv    the answer carries protocol version 2
//	huge      the answer is padded past 64 MiB
//	escerr    an error whose text holds terminal controls (ESC [2J, colours)
//	escstderr ESC [2J and colours on stderr, then the agent dies unanswered
//
// Heartbeats ({"v":1,"id":N,"progress":C}) pass through unchanged. Each
// break is recorded as a line in $BADAGENT_LOG (when set), so a test can
// tell that it happened. $BADAGENT_EXE is the real lvsctl (/bin/lvsctl).
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
)

var (
	mode, kind string
	nth        int
	logFile    = os.Getenv("BADAGENT_LOG")

	mu       sync.Mutex
	targetID = -1 // the id of the request whose answer to break
	out      = bufio.NewWriter(os.Stdout)
)

func main() {
	spec := os.Getenv("BADAGENT")
	m, at, ok := strings.Cut(spec, "@")
	k, n, ok2 := strings.Cut(at, ":")
	var err error
	nth, err = strconv.Atoi(n)
	if !ok || !ok2 || err != nil || nth < 1 {
		fatal(fmt.Errorf("BADAGENT=%q: want MODE@KIND:N", spec))
	}
	mode, kind = m, k
	exe := os.Getenv("BADAGENT_EXE")
	if exe == "" {
		exe = "/bin/lvsctl"
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Stderr = os.Stderr
	toAgent, err := cmd.StdinPipe()
	if err != nil {
		fatal(err)
	}
	fromAgent, err := cmd.StdoutPipe()
	if err != nil {
		fatal(err)
	}
	if err := cmd.Start(); err != nil {
		fatal(err)
	}
	done := make(chan struct{})
	go func() {
		relayAnswers(fromAgent)
		close(done)
	}()
	relayRequests(os.Stdin, toAgent, cmd)
	toAgent.Close()
	<-done
	err = cmd.Wait()
	out.Flush()
	if err != nil {
		if e, ok := err.(*exec.ExitError); ok {
			os.Exit(e.ExitCode())
		}
		os.Exit(1)
	}
}

// relayRequests passes lvsctl's requests to the agent, counting them by
// kind, until lvsctl closes its end.
func relayRequests(in io.Reader, agent io.Writer, cmd *exec.Cmd) {
	r := bufio.NewReader(in)
	seen := map[string]int{}
	hung := false
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 && !hung {
			var req struct {
				ID   int    `json:"id"`
				Kind string `json:"kind"`
			}
			json.Unmarshal(line, &req)
			seen[req.Kind]++
			if req.Kind == kind && seen[req.Kind] == nth {
				mu.Lock()
				targetID = req.ID
				mu.Unlock()
				switch mode {
				case "hang":
					record("hang at %s:%d (id %d): not passed on, never answered", kind, nth, req.ID)
					hung = true // from now on nothing reaches the agent
					continue
				case "escstderr":
					record("escstderr at %s:%d (id %d): terminal controls on stderr, then died", kind, nth, req.ID)
					fmt.Fprint(os.Stderr, "\x1b[2J\x1b[Hbadagent: \x1b[1;31mthe host is on fire\x1b[0m\n")
					cmd.Process.Kill()
					os.Exit(3)
				}
			}
			if _, err := agent.Write(line); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// relayAnswers passes the agent's answers to lvsctl, breaking the one for
// the target request.
func relayAnswers(agent io.Reader) {
	r := bufio.NewReaderSize(agent, 1<<20)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 {
			var head struct {
				ID       int              `json:"id"`
				Progress *json.RawMessage `json:"progress"`
			}
			json.Unmarshal(line, &head)
			mu.Lock()
			hit := targetID >= 0 && head.ID == targetID && head.Progress == nil
			if hit {
				targetID = -2 // once
			}
			mu.Unlock()
			if hit {
				breakAnswer(line)
			} else {
				out.Write(line)
			}
			out.Flush()
		}
		if err != nil {
			return
		}
	}
}

func breakAnswer(line []byte) {
	if mode == "huge" {
		const size = 65 << 20
		record("huge at %s:%d: answer padded to %d MiB", kind, nth, size>>20)
		out.WriteString(`{"pad":"`)
		chunk := bytes.Repeat([]byte("a"), 1<<20)
		for i := 0; i < size>>20; i++ {
			if _, err := out.Write(chunk); err != nil {
				return
			}
		}
		out.WriteString(`",`)
		out.Write(bytes.TrimPrefix(bytes.TrimSpace(line), []byte("{")))
		out.WriteString("\n")
		return
	}
	d := json.NewDecoder(bytes.NewReader(line))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		fatal(fmt.Errorf("the agent's answer %q: %v", line, err))
	}
	results, _ := m["results"].([]any)
	gather, _ := m["gather"].(map[string]any)
	esc := map[string]any{"op": "\x1b[2Jsysctl.set", "errno": "E\x1b[1;31mIO", "message": "\x1b[2J\x1b[Hthe host is \x1b[1;31mon fire\x1b[0m\x07\r"}
	switch mode {
	case "okfalse":
		need(len(results) > 0, "results")
		results[0] = map[string]any{"ok": false}
	case "extra":
		need(results != nil, "results")
		m["results"] = append(results, map[string]any{"ok": true})
	case "nullsvc":
		need(gather != nil && gather["host"] != nil, "gather.host")
		gather["host"].(map[string]any)["services"] = []any{nil}
	case "noinv":
		need(gather != nil && gather["inventory"] != nil, "gather.inventory")
		delete(gather, "inventory")
	case "wrongid":
		id, _ := m["id"].(json.Number).Int64()
		m["id"] = id + 1000
	case "wrongv":
		m["v"] = 2
	case "escerr":
		if len(results) > 0 {
			results[0] = map[string]any{"ok": false, "error": esc}
		} else {
			delete(m, "gather")
			m["error"] = esc
		}
	default:
		fatal(fmt.Errorf("BADAGENT: unknown mode %q", mode))
	}
	b, err := json.Marshal(m)
	if err != nil {
		fatal(err)
	}
	record("%s at %s:%d: %.300s", mode, kind, nth, b)
	out.Write(append(b, '\n'))
}

func need(ok bool, what string) {
	if !ok {
		record("cannot break %s at %s:%d: the answer has no %s", mode, kind, nth, what)
		fatal(fmt.Errorf("BADAGENT=%s@%s:%d: the answer has no %s", mode, kind, nth, what))
	}
}

// record notes a break in $BADAGENT_LOG.
func record(format string, a ...any) {
	if logFile == "" {
		return
	}
	f, err := os.OpenFile(logFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%s %s\n", strings.Join(os.Args[1:], " "), fmt.Sprintf(format, a...))
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "badagent:", err)
	out.Flush()
	os.Exit(2)
}
