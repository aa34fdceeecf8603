//go:build !linux

package marks

import (
	"fmt"

	"github.com/lvsctl/lvsctl/internal/state"
)

// EnsureTable returns an error wrapping ErrNotSupported.
func EnsureTable() error { return fmt.Errorf("table inet %s: %w", Table, ErrNotSupported) }

// DeleteTable returns an error wrapping ErrNotSupported.
func DeleteTable() error { return fmt.Errorf("table inet %s: %w", Table, ErrNotSupported) }

// Read returns an error wrapping ErrNotSupported.
func Read() ([]state.MarkRule, []string, error) {
	return nil, nil, fmt.Errorf("read table inet %s: %w", Table, ErrNotSupported)
}

// Add returns an error wrapping ErrNotSupported.
func Add(r state.MarkRule) error { return fmt.Errorf("add %s: %w", describe(r), ErrNotSupported) }

// Delete returns an error wrapping ErrNotSupported.
func Delete(r state.MarkRule) error {
	return fmt.Errorf("delete %s: %w", describe(r), ErrNotSupported)
}

// Replace returns an error wrapping ErrNotSupported.
func Replace(r state.MarkRule) error {
	return fmt.Errorf("replace %s: %w", describe(r), ErrNotSupported)
}
