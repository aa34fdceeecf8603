package sysctl

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/lvsctl/lvsctl/internal/names"
	"github.com/lvsctl/lvsctl/internal/state"
)

// openProcSys opens the root every key is resolved beneath. Tests replace it
// to prove that refused keys never reach the filesystem.
var openProcSys = func() (*os.Root, error) { return os.OpenRoot("/proc/sys") }

// Read returns the value of key, without the trailing newline. Values with
// several fields (net.ipv4.ip_local_port_range) keep the kernel's tabs.
func Read(key string) (string, error) {
	// Reading is checked by shape only: an inventory from an older, wider
	// policy may name a key the policy now refuses (see names.CheckSysctlPath).
	if err := names.CheckSysctlPath(key); err != nil {
		return "", invalidError{err}
	}
	root, err := openProcSys()
	if err != nil {
		return "", fmt.Errorf("read sysctl %s: %w", key, errnoOf(err))
	}
	defer root.Close()
	b, err := root.ReadFile(path(key))
	if err != nil {
		return "", fsError("read sysctl "+key, key, err)
	}
	return strings.TrimSuffix(string(b), "\n"), nil
}

// Write sets key to value, as `sysctl -w key=value` does.
func Write(key, value string) error {
	if err := names.CheckSysctlKey(key); err != nil {
		return invalidError{err}
	}
	if err := names.CheckSysctlValue(value); err != nil {
		return invalidError{fmt.Errorf("sysctl %s: %w", key, err)}
	}
	op := "write sysctl " + key + "=" + value
	root, err := openProcSys()
	if err != nil {
		return fmt.Errorf("%s: %w", op, errnoOf(err))
	}
	defer root.Close()
	f, err := root.OpenFile(path(key), os.O_WRONLY, 0)
	if err != nil {
		return fsError(op, key, err)
	}
	// One write(2) of the whole value, newline-terminated as sysctl(8) writes it.
	_, werr := f.Write([]byte(value + "\n"))
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		return fsError(op, key, err)
	}
	return nil
}

// ReadMany reads every key. Values come back in the order of keys; a key that
// could not be read is left out of the values and its error is in errs (nil
// when every key was read).
func ReadMany(keys []string) (values []state.Sysctl, errs map[string]error) {
	for _, k := range keys {
		v, err := Read(k)
		if err != nil {
			if errs == nil {
				errs = map[string]error{}
			}
			errs[k] = err
			continue
		}
		values = append(values, state.Sysctl{Key: k, Value: v})
	}
	return values, errs
}

// fsError names the operation and keeps the errno, dropping the *PathError
// (whose path only repeats the key with slashes).
func fsError(op, key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return noSuchError{key: key, err: errnoOf(err)}
	}
	return fmt.Errorf("%s: %w", op, errnoOf(err))
}

func errnoOf(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// path is key's file below /proc/sys. Keys reaching here have passed
// names.CheckSysctlKey or names.CheckSysctlPath, so their components are
// plain names, every dot is a separator and a "/" is a dot within an
// interface's name, as sysctl(8) reads a dotted key
// (net.ipv4.conf.eth0/100.arp_ignore is net/ipv4/conf/eth0.100/arp_ignore).
func path(key string) string { return names.SysctlProcPath(key) }
