package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Backend does the agent's work on one host: the Linux one in production,
// fakes in tests of the protocol.
type Backend interface {
	Gather(GatherRequest) (*Gathered, error)
	// WriteAhead records durably, in the inventory, what ops are about to
	// make lvsctl own and the original value of every sysctl they change
	// (see wal.go). It runs once per apply request, before any of its
	// operations; it writes nothing when there is nothing new to record.
	WriteAhead(ops []Op) error
	Apply(Op) error
	Lock() error
	Unlock() error
}

// Serve answers requests from r on w until r ends. A request it cannot parse
// ends the session with an error response: the client is not lvsctl, or not
// this version of it.
func Serve(r io.Reader, w io.Writer, b Backend) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	enc := json.NewEncoder(w)
	for {
		var req Request
		if err := dec.Decode(&req); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			enc.Encode(Response{V: Version, Error: &Error{Message: "unreadable request, session ended: " + err.Error()}})
			return fmt.Errorf("unreadable request: %w", err)
		}
		resp := withHeartbeat(enc, req.ID, func() Response { return handle(req, b) })
		if err := enc.Encode(resp); err != nil {
			return err
		}
	}
}

// Work counts what the agent has done in this process: kernel requests
// answered, operations run, parts gathered. Heartbeats report it, so lvsctl
// can tell a long request that advances from one that hangs.
var Work atomic.Int64

// heartbeat is how often the agent reports Work while a request runs (only
// when it changed).
var heartbeat = 2 * time.Second

// withHeartbeat runs f, the request, on the calling goroutine (the one the
// agent locked into its network namespace) and, while it runs, writes a
// heartbeat with the Work count whenever the count grew. No heartbeat is
// written after f returns.
func withHeartbeat(enc *json.Encoder, id int, f func() Response) Response {
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(heartbeat)
		defer t.Stop()
		last := Work.Load()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if n := Work.Load(); n != last {
					last = n
					if enc.Encode(Response{V: Version, ID: id, Progress: n}) != nil {
						return
					}
				}
			}
		}
	}()
	resp := f()
	close(stop)
	<-stopped
	return resp
}

func handle(req Request, b Backend) Response {
	resp := Response{V: Version, ID: req.ID}
	if req.V != Version {
		resp.Error = &Error{Message: fmt.Sprintf("agent speaks protocol %d, the request is protocol %d: use the same lvsctl version on both ends", Version, req.V)}
		return resp
	}
	var err error
	switch req.Kind {
	case "gather":
		if req.Gather == nil {
			err = errors.New("gather request without what to gather")
			break
		}
		resp.Gather, err = b.Gather(*req.Gather)
	case "apply":
		for i, op := range req.Apply {
			if cerr := checkOp(op); cerr != nil {
				resp.Error = &Error{Op: fmt.Sprintf("operation %d (%s)", i+1, op.Kind), Message: "refused, nothing done: " + cerr.Error()}
				return resp
			}
		}
		// The inventory is written ahead of the changes, so no crash from
		// here on loses what lvsctl owns or the values from before it.
		if werr := b.WriteAhead(req.Apply); werr != nil {
			resp.Error = toError("write-ahead inventory", werr)
			resp.Error.Message = "refused, nothing done: " + resp.Error.Message
			return resp
		}
		afterWriteAhead()
		for _, op := range req.Apply {
			aerr := b.Apply(op)
			Work.Add(1)
			if aerr != nil {
				resp.Results = append(resp.Results, Result{Error: toError(op.String(), aerr)})
				break // the client decides what happens next (roll back)
			}
			resp.Results = append(resp.Results, Result{OK: true})
		}
	case "lock":
		err = b.Lock()
	case "unlock":
		err = b.Unlock()
	default:
		err = fmt.Errorf("unknown request kind %q", req.Kind)
	}
	if err != nil {
		resp.Error = toError(req.Kind, err)
	}
	return resp
}

// toError keeps the errno's name so the client can tell EEXIST from ENOENT.
func toError(op string, err error) *Error {
	e := &Error{Op: op, Message: err.Error()}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		e.Errno = errnoName(errno)
		if (errno == syscall.EPERM || errno == syscall.EACCES) && !strings.Contains(e.Message, "root") {
			e.Message += " (the agent must run as root to change the host)"
		}
	}
	return e
}

var errnoNames = map[syscall.Errno]string{
	syscall.EEXIST: "EEXIST", syscall.ENOENT: "ENOENT", syscall.ESRCH: "ESRCH",
	syscall.EPERM: "EPERM", syscall.EACCES: "EACCES", syscall.EINVAL: "EINVAL",
	syscall.ERANGE: "ERANGE", syscall.EBUSY: "EBUSY", syscall.EADDRNOTAVAIL: "EADDRNOTAVAIL",
	syscall.ENODEV: "ENODEV", syscall.EOPNOTSUPP: "EOPNOTSUPP", syscall.ETIMEDOUT: "ETIMEDOUT",
	syscall.EWOULDBLOCK: "EWOULDBLOCK",
}

func errnoName(e syscall.Errno) string {
	if n, ok := errnoNames[e]; ok {
		return n
	}
	return fmt.Sprintf("errno %d", int(e))
}

// Errno maps a reported errno name back to the errno, for errors.Is.
func (e *Error) Unwrap() error {
	for errno, name := range errnoNames {
		if name == e.Errno {
			return errno
		}
	}
	return nil
}
