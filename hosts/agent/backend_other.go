//go:build !linux

package agent

import (
	"errors"
	"io"
	"time"
)

var errNotLinux = errors.New("the lvsctl agent runs on Linux hosts only")

// EnterNetns reports that namespaces are Linux's.
func EnterNetns(string) error { return errNotLinux }

// BackendOptions say where an agent keeps its files.
type BackendOptions struct {
	StateDir string
	Netns    string
	Root     string
}

// NewBackend reports that the agent runs on Linux only.
func NewBackend(BackendOptions) (Backend, error) { return nil, errNotLinux }

// Restore reports that the agent runs on Linux only.
func Restore(io.Writer, BackendOptions, time.Duration) error { return errNotLinux }
