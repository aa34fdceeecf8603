//go:build !linux

package sysctl

import (
	"fmt"

	"github.com/lvsctl/lvsctl/internal/state"
)

// Read returns an error wrapping ErrNotSupported.
func Read(key string) (string, error) {
	return "", fmt.Errorf("read sysctl %s: %w", key, ErrNotSupported)
}

// Write returns an error wrapping ErrNotSupported.
func Write(key, value string) error {
	return fmt.Errorf("write sysctl %s=%s: %w", key, value, ErrNotSupported)
}

// ReadMany returns no values and an error wrapping ErrNotSupported for each key.
func ReadMany(keys []string) ([]state.Sysctl, map[string]error) {
	if len(keys) == 0 {
		return nil, nil
	}
	errs := map[string]error{}
	for _, k := range keys {
		_, errs[k] = Read(k)
	}
	return nil, errs
}
