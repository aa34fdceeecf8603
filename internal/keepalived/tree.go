package keepalived

import "strings"

// node is one keyword line with its words and, when a "{" line followed
// it, the block's lines as children. keepalived's process_stream decides by
// its keyword tables whether a block belongs to a keyword; every keyword
// that takes a block in keepalived is followed by one, so the tree is the
// same for every configuration keepalived reads as meant, and skipped
// blocks (keywords another keepalived process reads, or that lvsctl does
// not model) are matched brace by brace, as keepalived skips them.
type node struct {
	pos   pos
	words []string
	block bool
	kids  []*node
}

func (n *node) key() string { return n.words[0] }

// arg returns word i, or "" when the line has fewer words.
func (n *node) arg(i int) string {
	if i < len(n.words) {
		return n.words[i]
	}
	return ""
}

// tokenize is keepalived's alloc_strvec_r: words are separated by blanks;
// a word starting with '"' runs to the next '"' (the quotes are dropped,
// nothing is escaped); a '"' inside a word ends it. An unmatched quote
// drops the rest of the line, as keepalived does after reporting it.
func tokenize(s string, warn func(string)) []string {
	var out []string
	i := 0
	for {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i >= len(s) {
			break
		}
		if s[i] == '"' {
			j := strings.IndexByte(s[i+1:], '"')
			if j < 0 {
				warn("unmatched quote: keepalived drops the rest of the line")
				break
			}
			out = append(out, s[i+1:i+1+j])
			i += j + 2
			continue
		}
		j := i
		for j < len(s) && !isSpace(s[j]) && s[j] != '"' {
			j++
		}
		out = append(out, s[i:j])
		i = j
	}
	return out
}

// buildTree reads every line of r into a tree of nodes.
func buildTree(r *reader, warn func(pos, string, ...any)) ([]*node, error) {
	type frame struct {
		n    *node
		kids *[]*node
	}
	var top []*node
	stack := []frame{{kids: &top}}
	var last *node // the node the previous line made, if it can take a block
	for {
		l, ok, err := r.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		switch l.text {
		case "{":
			if last == nil || last.block {
				warn(l.pos, "unexpected '{': keepalived ignores it")
				last = nil
				continue
			}
			if len(stack) > maxBlockDepth {
				return nil, errAt(l.pos, "blocks nested deeper than %d", maxBlockDepth)
			}
			last.block = true
			stack = append(stack, frame{n: last, kids: &last.kids})
			last = nil
			continue
		case "}":
			if len(stack) == 1 {
				warn(l.pos, "extra '}': keepalived ignores it")
			} else {
				stack = stack[:len(stack)-1]
			}
			last = nil
			continue
		}
		words := tokenize(l.text, func(msg string) { warn(l.pos, "%s", msg) })
		if len(words) == 0 {
			last = nil
			continue
		}
		n := &node{pos: l.pos, words: words}
		f := stack[len(stack)-1]
		*f.kids = append(*f.kids, n)
		last = n
	}
	if len(stack) > 1 {
		warn(stack[len(stack)-1].n.pos, "block of %s has no closing '}' before the end of the configuration", stack[len(stack)-1].n.key())
	}
	return top, nil
}

// render writes n on one line, its block as "{ a; b }", for a comment.
func render(n *node, limit int) string {
	var b strings.Builder
	var walk func(n *node)
	walk = func(n *node) {
		for i, w := range n.words {
			if i > 0 {
				b.WriteByte(' ')
			}
			if w == "" || strings.ContainsAny(w, " \t") {
				b.WriteString(`"` + w + `"`)
			} else {
				b.WriteString(w)
			}
		}
		if n.block {
			b.WriteString(" {")
			for i, k := range n.kids {
				if i > 0 {
					b.WriteByte(';')
				}
				b.WriteByte(' ')
				walk(k)
				if b.Len() > limit {
					return
				}
			}
			b.WriteString(" }")
		}
	}
	walk(n)
	s := b.String()
	if len(s) > limit {
		s = s[:limit] + " ..."
	}
	return sanitize(s)
}

// sanitize keeps a comment printable on one line.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
