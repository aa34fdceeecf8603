package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
)

// Client talks to one host's agent over a transport's pipes.
type Client struct {
	Host string // for messages: every error names the host
	// ReadOnly refuses Apply without sending anything: plan and drift use
	// read-only clients, so they cannot change a host by construction.
	ReadOnly bool

	mu     sync.Mutex
	enc    *json.Encoder
	dec    *json.Decoder
	stdin  io.Closer
	wait   func() error
	stderr *tail
	nextID int
}

// NewClient wraps an agent's stdin and stdout. wait, when set, waits for the
// agent to exit after stdin is closed; stderr, when set, is kept for errors.
func NewClient(host string, stdin io.WriteCloser, stdout io.Reader, wait func() error) *Client {
	return &Client{Host: host, enc: json.NewEncoder(stdin), dec: json.NewDecoder(stdout), stdin: stdin, wait: wait, stderr: &tail{}}
}

// Stderr is where a transport should send the agent's stderr, so that a dying
// agent's last words reach the error the user sees.
func (c *Client) Stderr() io.Writer { return c.stderr }

func (c *Client) roundTrip(req Request) (*Response, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextID++
	req.V, req.ID = Version, c.nextID
	if err := c.enc.Encode(req); err != nil {
		return nil, c.broken("sending "+req.Kind, err)
	}
	var resp Response
	if err := c.dec.Decode(&resp); err != nil {
		return nil, c.broken("reading the answer to "+req.Kind, err)
	}
	if resp.ID != req.ID {
		return nil, fmt.Errorf("host %s: agent answered request %d with %d", c.Host, req.ID, resp.ID)
	}
	if resp.Error != nil {
		return &resp, &HostError{Host: c.Host, Err: resp.Error}
	}
	return &resp, nil
}

// broken explains a transport failure with what the agent last said.
func (c *Client) broken(what string, err error) error {
	msg := fmt.Sprintf("host %s: %s: %v", c.Host, what, err)
	if errors.Is(err, io.EOF) {
		msg = fmt.Sprintf("host %s: the agent went away while %s", c.Host, what)
	}
	if s := c.stderr.String(); s != "" {
		msg += "; agent said: " + s
	}
	return errors.New(msg)
}

// Gather reads what req names.
func (c *Client) Gather(req GatherRequest) (*Gathered, error) {
	resp, err := c.roundTrip(Request{Kind: "gather", Gather: &req})
	if err != nil {
		return nil, err
	}
	if resp.Gather == nil || resp.Gather.Host == nil {
		return nil, fmt.Errorf("host %s: agent answered gather with no state", c.Host)
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
	if resp != nil {
		return resp.Results, err
	}
	return nil, err
}

// Lock takes the host's lock for this session; another lvsctl gets an error.
func (c *Client) Lock() error { _, err := c.roundTrip(Request{Kind: "lock"}); return err }

// Unlock releases it.
func (c *Client) Unlock() error { _, err := c.roundTrip(Request{Kind: "unlock"}); return err }

// Close ends the session and waits for the agent to exit.
func (c *Client) Close() error {
	err := c.stdin.Close()
	if c.wait != nil {
		if werr := c.wait(); werr != nil && err == nil {
			err = c.broken("closing", werr)
		}
	}
	return err
}

// HostError is an error the agent reported, with the host it came from.
type HostError struct {
	Host string
	Err  *Error
}

func (e *HostError) Error() string { return "host " + e.Host + ": " + e.Err.Error() }
func (e *HostError) Unwrap() error { return e.Err }

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
	return strings.TrimSpace(strings.ReplaceAll(t.buf.String(), "\n", " | "))
}
