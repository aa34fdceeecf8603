package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lvsctl/lvsctl/internal/names"
)

// Default bounds of a client; the transports and lvsctl's flags set others.
const (
	// DefaultConnectTimeout bounds the wait for an agent's first answer:
	// connecting, logging in and starting the agent.
	DefaultConnectTimeout = 15 * time.Second
	// DefaultTimeout bounds how long a request may go without progress: no
	// bytes of its answer and no heartbeat saying the agent got further.
	DefaultTimeout = 30 * time.Second
	// MaxMessage is the largest answer lvsctl reads; a gather of 5,000
	// services with 20 real servers each is about 10 MB.
	MaxMessage = 64 << 20
)

// Client talks to one host's agent over a transport's pipes.
//
// Nothing a host says is believed unchecked: every answer is checked against
// the request it answers (protocol version, id, one result per operation run
// at most, an error wherever ok is false, no null entries, the parts that were
// asked for), and text from the host is stripped of control characters before
// it can reach a terminal. Every wait is bounded: the first answer by
// ConnectTimeout, every later request by Timeout without progress. A client
// that failed once stays failed, and its transport is ended.
type Client struct {
	Host string // for messages: every error names the host
	// ReadOnly refuses Apply without sending anything: plan and drift use
	// read-only clients, so they cannot change a host by construction.
	ReadOnly bool
	// ConnectTimeout bounds the first answer; DefaultConnectTimeout when zero.
	ConnectTimeout time.Duration
	// Timeout bounds a request's silence; DefaultTimeout when zero.
	Timeout time.Duration

	mu       sync.Mutex // one request at a time
	w        io.WriteCloser
	lines    chan []byte   // whole lines from the agent
	readErr  error         // why lines was closed; read after it is
	partial  atomic.Int64  // bytes of unfinished lines read so far: progress
	gone     chan struct{} // closed when the transport is ended
	goneOnce sync.Once
	broke    error // sticky: set when the client gave up on the agent
	kill     func()
	wait     func() error
	stderr   *tail
	nextID   int
	answered bool
}

// NewClient wraps an agent's stdin and stdout. wait, when set, waits for the
// agent to exit after stdin is closed; stderr, when set, is kept for errors.
func NewClient(host string, stdin io.WriteCloser, stdout io.Reader, wait func() error) *Client {
	c := &Client{Host: host, w: stdin, wait: wait, stderr: &tail{}, lines: make(chan []byte), gone: make(chan struct{})}
	go c.read(stdout)
	return c
}

// SetKill gives the client a way to end the transport at once (kill the
// agent's process group); it is used when a bound passes or the session is
// cancelled.
func (c *Client) SetKill(kill func()) { c.kill = kill }

// Stderr is where a transport should send the agent's stderr, so that a dying
// agent's last words reach the error the user sees.
func (c *Client) Stderr() io.Writer { return c.stderr }

// Watch ends the transport when ctx is done: a request in flight fails at once
// and later ones are refused. The transports call it with the context the
// agent was started under; lvsctl apply gives them one that only its second
// signal cancels, so agents live through a rollback.
func (c *Client) Watch(ctx context.Context) {
	if ctx.Done() == nil {
		return
	}
	go func() {
		select {
		case <-ctx.Done():
			c.end(fmt.Errorf("host %s: stopped: %v", c.Host, context.Cause(ctx)))
		case <-c.gone:
		}
	}()
}

// read delivers the agent's lines, bounded by MaxMessage, until it ends.
func (c *Client) read(r io.Reader) {
	br := bufio.NewReaderSize(r, 64<<10)
	var buf bytes.Buffer
	for {
		chunk, err := br.ReadSlice('\n')
		buf.Write(chunk)
		if buf.Len() > MaxMessage {
			c.readErr = fmt.Errorf("the agent sent an answer larger than %d MiB; lvsctl reads no more of it", MaxMessage>>20)
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			c.partial.Add(int64(len(chunk)))
			continue
		}
		if err != nil {
			c.readErr = err
			if buf.Len() > 0 && err == io.EOF {
				c.readErr = io.ErrUnexpectedEOF
			}
			break
		}
		line := bytes.Clone(buf.Bytes())
		buf.Reset()
		select {
		case c.lines <- line:
		case <-c.gone:
			return
		}
	}
	close(c.lines)
}

// end gives up on the agent: err becomes every later call's error, and the
// transport is killed.
func (c *Client) end(err error) {
	c.goneOnce.Do(func() {
		c.broke = err
		close(c.gone)
		if c.kill != nil {
			c.kill()
		}
		c.w.Close()
	})
}

func (c *Client) failed() error {
	select {
	case <-c.gone:
		return c.broke
	default:
		return nil
	}
}

func (c *Client) roundTrip(req Request) (*Response, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.failed(); err != nil {
		return nil, err
	}
	c.nextID++
	req.V, req.ID = Version, c.nextID
	b, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("host %s: encoding %s: %w", c.Host, req.Kind, err)
	}
	bound, what := c.Timeout, "no progress for"
	if bound <= 0 {
		bound = DefaultTimeout
	}
	if !c.answered {
		bound, what = c.ConnectTimeout, "no answer within"
		if bound <= 0 {
			bound = DefaultConnectTimeout
		}
	}
	// The write has the same bound: an agent that stopped reading fills the
	// pipe, and a write to it would block for good.
	wrote := make(chan error, 1)
	go func() { _, err := c.w.Write(append(b, '\n')); wrote <- err }()
	partial := c.partial.Load()
	var progress int64
	timer := time.NewTimer(bound)
	defer timer.Stop()
	for {
		select {
		case err := <-wrote:
			if err != nil {
				return nil, c.broken("sending "+req.Kind, err)
			}
			wrote = nil
		case line, ok := <-c.lines:
			if !ok {
				return nil, c.broken("reading the answer to "+req.Kind, c.readErr)
			}
			c.answered = true
			var resp Response
			if err := json.Unmarshal(line, &resp); err != nil {
				return nil, c.bad(req, "an answer that is not the agent protocol (%v)", err)
			}
			if resp.V != Version {
				return nil, c.bad(req, "protocol version %d; this lvsctl speaks %d: use the same lvsctl version on both ends", resp.V, Version)
			}
			if resp.ID != req.ID {
				return nil, c.bad(req, "an answer to request %d while waiting for %d", resp.ID, req.ID)
			}
			if resp.Progress != 0 && resp.Error == nil && resp.Gather == nil && resp.Results == nil {
				if resp.Progress > progress {
					progress = resp.Progress
					timer.Reset(bound)
				}
				continue
			}
			if resp.Error != nil {
				if len(resp.Results) > 0 || resp.Gather != nil {
					return nil, c.bad(req, "an error together with results")
				}
				resp.Error.clean()
				return &resp, &HostError{Host: c.Host, Err: resp.Error}
			}
			return &resp, nil
		case <-timer.C:
			if p := c.partial.Load(); p != partial {
				// A large answer is streaming in.
				partial = p
				timer.Reset(bound)
				continue
			}
			err := fmt.Errorf("host %s: %s timed out: %s %s; lvsctl gave up on it", c.Host, req.Kind, what, bound)
			if s := c.stderr.String(); s != "" {
				err = fmt.Errorf("%w; agent said: %s", err, s)
			}
			c.end(err)
			return nil, err
		case <-c.gone:
			return nil, c.broke
		}
	}
}

// bad ends a session whose agent answered outside the protocol.
func (c *Client) bad(req Request, format string, args ...any) error {
	err := fmt.Errorf("host %s: the agent answered %s with %s; lvsctl stopped talking to it", c.Host, req.Kind, fmt.Sprintf(format, args...))
	c.end(err)
	return err
}

// broken explains a transport failure with what the agent last said.
func (c *Client) broken(what string, err error) error {
	if b := c.failed(); b != nil {
		return b
	}
	msg := fmt.Sprintf("host %s: %s: %s", c.Host, what, Clean(fmt.Sprint(err)))
	if errors.Is(err, io.EOF) {
		msg = fmt.Sprintf("host %s: the agent went away while %s", c.Host, what)
	}
	if s := c.stderr.String(); s != "" {
		msg += "; agent said: " + s
	}
	e := errors.New(msg)
	c.end(e)
	return e
}

// Gather reads what req names.
func (c *Client) Gather(req GatherRequest) (*Gathered, error) {
	resp, err := c.roundTrip(Request{Kind: "gather", Gather: &req})
	if err != nil {
		return nil, err
	}
	if err := checkGathered(req, resp.Gather); err != nil {
		e := fmt.Errorf("host %s: the agent answered gather with %v; lvsctl stopped talking to it", c.Host, err)
		c.end(e)
		return nil, e
	}
	resp.Gather.Host.Name = c.Host
	return resp.Gather, nil
}

// Apply runs ops in order and returns one result per operation run: all of
// them, or up to and including the first that failed. An error means the
// request was refused or the transport failed; then nothing is known to have
// run beyond the results returned.
func (c *Client) Apply(ops []Op) ([]Result, error) {
	if c.ReadOnly {
		return nil, fmt.Errorf("host %s: this lvsctl command only reads; refusing to change the host", c.Host)
	}
	resp, err := c.roundTrip(Request{Kind: "apply", Apply: ops})
	if err != nil {
		return nil, err
	}
	if err := checkResults(len(ops), resp.Results); err != nil {
		e := fmt.Errorf("host %s: the agent answered apply with %v; lvsctl stopped talking to it", c.Host, err)
		c.end(e)
		return nil, e
	}
	return resp.Results, nil
}

// checkResults holds an apply answer to the protocol: at most one result per
// operation, every one OK but possibly the last, and a failed one with an
// error.
func checkResults(ops int, res []Result) error {
	if len(res) > ops {
		return fmt.Errorf("%d results for %d operations", len(res), ops)
	}
	for i := range res {
		r := &res[i]
		switch {
		case r.OK && r.Error != nil:
			return fmt.Errorf("result %d both ok and failed", i+1)
		case !r.OK && r.Error == nil:
			return fmt.Errorf("result %d failed without an error", i+1)
		case !r.OK && i != len(res)-1:
			return fmt.Errorf("results after the failed operation %d", i+1)
		}
		if r.Error != nil {
			r.Error.clean()
		}
	}
	if len(res) < ops && (len(res) == 0 || res[len(res)-1].OK) {
		return fmt.Errorf("%d results for %d operations and no failure", len(res), ops)
	}
	return nil
}

// Lock takes the host's lock for this session; another lvsctl gets an error.
func (c *Client) Lock() error { _, err := c.roundTrip(Request{Kind: "lock"}); return err }

// Unlock releases it.
func (c *Client) Unlock() error { _, err := c.roundTrip(Request{Kind: "unlock"}); return err }

// Close ends the session and waits for the agent to exit, for at most the
// client's Timeout; then it kills the transport.
func (c *Client) Close() error {
	err := c.failed()
	c.w.Close()
	if c.wait == nil {
		c.end(errors.New("closed"))
		return nil
	}
	bound := c.Timeout
	if bound <= 0 {
		bound = DefaultTimeout
	}
	done := make(chan error, 1)
	go func() { done <- c.wait() }()
	select {
	case werr := <-done:
		if werr != nil && err == nil {
			err = c.broken("closing", werr)
		}
	case <-time.After(bound):
		c.end(fmt.Errorf("host %s: the agent did not exit within %s of the end of the session; killed", c.Host, bound))
		<-done
		if err == nil {
			err = c.broke
		}
	}
	c.end(errors.New("closed"))
	return err
}

// Kill ends the transport at once (its whole process group).
func (c *Client) Kill(why error) { c.end(why) }

// HostError is an error the agent reported, with the host it came from.
type HostError struct {
	Host string
	Err  *Error
}

func (e *HostError) Error() string { return "host " + e.Host + ": " + e.Err.Error() }
func (e *HostError) Unwrap() error { return e.Err }

// clean strips control characters from what the agent said.
func (e *Error) clean() {
	e.Op, e.Errno, e.Message = Clean(e.Op), Clean(e.Errno), Clean(e.Message)
}

// Clean makes text from a host safe for a terminal (names.Clean).
func Clean(s string) string { return names.Clean(s) }

// tail keeps the last lines an agent wrote on stderr.
type tail struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if t.buf.Len() > 4096 {
		b := t.buf.Bytes()[t.buf.Len()-2048:]
		t.buf.Reset()
		t.buf.Write(b)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return Clean(strings.TrimSpace(strings.ReplaceAll(t.buf.String(), "\n", " | ")))
}
