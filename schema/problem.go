package schema

import (
	"cmp"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"cuelang.org/go/cue/token"

	"github.com/lvsctl/lvsctl/internal/names"
)

// A Problem is one thing wrong with a configuration, at one place in it.
type Problem struct {
	File   string // as given to the loader, or relative to the working directory
	Line   int    // 1-based; 0 when the problem has no place in a file
	Column int
	Field  string // the CUE path of the field, e.g. directors.lb1.services.web.port
	Msg    string
}

func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d:%d", p.Line, p.Column)
		}
		b.WriteString(": ")
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return tidy(b.String())
}

// Problems is a list of problems; as an error it prints one line per problem.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// sortAndDedup orders problems by place and drops exact repeats (CUE can report
// one conflict once per conjunct).
func (ps Problems) sortAndDedup() Problems {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Column, b.Column), cmp.Compare(a.Field, b.Field), cmp.Compare(a.Msg, b.Msg))
	})
	return slices.Compact(ps)
}

// displayPath makes a file name short and stable for messages: relative to the
// working directory when it lies below it.
func displayPath(name string) string {
	if name == "" || !filepath.IsAbs(name) {
		return name
	}
	if wd, err := filepath.Abs("."); err == nil {
		if rel, err := filepath.Rel(wd, name); err == nil && !strings.HasPrefix(rel, "..") {
			return rel
		}
	}
	return name
}

func problemAt(pos token.Pos, field, format string, args ...any) Problem {
	p := Problem{Field: field, Msg: fmt.Sprintf(format, args...)}
	if pos.IsValid() {
		p.File = displayPath(pos.Filename())
		p.Line = pos.Line()
		p.Column = pos.Column()
	}
	return p
}

// MaxEcho is how much of a value from the configuration a message repeats:
// enough to recognise it, never a whole file that found its way into a field.
const MaxEcho = 64

// clip shortens a value from the configuration for a message.
func clip(s string) string {
	if len(s) <= MaxEcho {
		return s
	}
	cut := MaxEcho
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s…(%d bytes more)", s[:cut], len(s)-cut)
}

// quoted matches a Go-quoted string in a message: every message that
// repeats a value from the configuration quotes it with %q.
var quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// maxMessage bounds a whole message, whatever it quotes.
const maxMessage = 1000

// tidy makes a message safe and short for a terminal: the configuration is
// untrusted, so its long quoted values are cut and its control characters
// escaped, as text from hosts is (names.Clean).
func tidy(msg string) string {
	msg = quoted.ReplaceAllStringFunc(msg, func(q string) string {
		if len(q) <= 2*MaxEcho {
			return q
		}
		return clip(q[:len(q)-1]) + `"`
	})
	out := names.Clean(msg)
	if len(out) > maxMessage {
		cut := maxMessage
		for cut > 0 && !utf8.RuneStart(out[cut]) {
			cut--
		}
		out = fmt.Sprintf("%s…(%d bytes more)", out[:cut], len(out)-cut)
	}
	return out
}
