package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lvsctl/lvsctl/schema"
)

// addLimitFlags adds the bounds on evaluating a cluster definition, which is
// untrusted input (a pull request), to every command that loads one.
func addLimitFlags(root *cobra.Command) {
	f := root.PersistentFlags()
	f.Var(&byteSize{schema.DefaultMemory}, "eval-memory", "memory evaluating the CUE definition may take (e.g. 512MiB, 8GiB)")
	f.Duration("eval-timeout", schema.DefaultTime, "how long evaluating the CUE definition may take")
}

func limitsOf(cmd *cobra.Command) schema.Limits {
	var lim schema.Limits
	if f := cmd.Flags().Lookup("eval-memory"); f != nil {
		lim.Memory = f.Value.(*byteSize).n
	}
	if d, err := cmd.Flags().GetDuration("eval-timeout"); err == nil {
		lim.Time = d
	}
	return lim
}

// byteSize is a flag value in bytes, written with an optional KiB, MiB or
// GiB (or K, M, G) suffix.
type byteSize struct{ n int64 }

func (b *byteSize) String() string {
	switch {
	case b.n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", b.n>>30)
	case b.n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", b.n>>20)
	}
	return strconv.FormatInt(b.n, 10)
}

func (b *byteSize) Type() string { return "bytes" }

func (b *byteSize) Set(s string) error {
	num, shift := s, 0
	for _, u := range []struct {
		suffix string
		shift  int
	}{{"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"K", 10}, {"M", 20}, {"G", 30}} {
		if strings.HasSuffix(s, u.suffix) {
			num, shift = strings.TrimSuffix(s, u.suffix), u.shift
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)>>shift {
		return fmt.Errorf("%q is not a size: write bytes, or a number with KiB, MiB or GiB", s)
	}
	b.n = n << shift
	return nil
}
