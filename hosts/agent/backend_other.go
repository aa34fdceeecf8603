//go:build !linux

package agent

import "errors"

var errNotLinux = errors.New("the lvsctl agent runs on Linux hosts only")

// EnterNetns reports that namespaces are Linux's.
func EnterNetns(string) error { return errNotLinux }

// NewBackend reports that the agent runs on Linux only.
func NewBackend(string, string) (Backend, error) { return nil, errNotLinux }
