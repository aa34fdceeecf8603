package names

import (
	"strconv"
	"strings"
)

// Clean makes untrusted text (from a host, or from a cluster repository)
// safe for a terminal: control characters
// (escape sequences, carriage returns, bidirectional overrides) are written
// as Go escapes, and the text is cut at 4 KiB.
func Clean(s string) string {
	const max = 4096
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= max {
			b.WriteString("…")
			break
		}
		switch {
		case r == '\t':
			b.WriteByte(' ')
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0xfffd ||
			(r >= 0x200b && r <= 0x200f) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069):
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
