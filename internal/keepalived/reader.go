package keepalived

// This file is the line reader: it turns keepalived.conf and everything it
// includes into the stream of lines keepalived's parser sees, the way
// keepalived 2.x's lib/parser.c read_line() does: comments removed
// (decomment), conditional lines (@ID, @^ID), $NAME=VALUE definitions
// (multiline ones too) and their expansion (replace_param), ~SEQ/~SEQx/~LST
// blocks, include/includer/includem/includew/includeb/includea with globs
// (relative to the including file's directory, as keepalived's chdir makes
// them), and the splitting of lines at unquoted braces so that "{" and "}"
// are lines of their own.
//
// Unlike keepalived it is bounded: include depth and count, file sizes, the
// number of lines that expansions produce and the number of replacements on
// one line.

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Limits on what one configuration may make the reader do.
const (
	maxLineLen     = 1023     // keepalived's MAXBUF (1024) less the terminator
	maxFileSize    = 4 << 20  // bytes in one file
	maxTotalBytes  = 32 << 20 // bytes in all files together
	maxIncludeDeep = 16       // files open at once (the main file counts)
	maxFiles       = 256      // files read in all
	maxLines       = 500000   // lines the reader produces, expansions included
	maxReplace     = 10000    // $NAME replacements on one line
	maxReplaceAll  = 1000000  // $NAME replacements in all
	maxBlockDepth  = 100      // nested { } blocks
	maxRangeAddrs  = 65536    // addresses in one virtual_server_group range
	maxServices    = 100000   // services in the result
	maxDests       = 1000000  // destinations in all services of the result
)

// pos is where a line came from. Lines an expansion produced carry the
// position of the line that asked for the expansion.
type pos struct {
	file string
	line int
}

func (p pos) String() string { return fmt.Sprintf("%s:%d", p.file, p.line) }

// Error is a configuration keepalived would refuse, or one lvsctl cannot
// represent, at File:Line.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

func errAt(p pos, format string, args ...any) error {
	return &Error{File: p.file, Line: p.line, Msg: fmt.Sprintf(format, args...)}
}

type srcLine struct {
	pos  pos
	text string
}

type openFile struct {
	path  string // as it was opened (joined with the includer's directory)
	abs   string // cleaned absolute path, symlinks resolved, for loop detection
	dir   string // absolute directory: keepalived chdir()s there
	lines []string
	next  int
	// pending: lines are the further matches of a glob include, opened one
	// after the other when the previous one ends; at is the include line.
	pending bool
	at      pos
}

// def is a $NAME definition.
type def struct {
	name      string
	value     string
	multiline bool
	std       string // "_PWD", "_INSTANCE", "_RANDOM", "_ENV", "" for user definitions
	minParams int
	maxParams int
	numbers   bool
}

// source produces lines ahead of the files: a multiline definition being
// expanded, or a ~SEQ/~LST block.
type source interface {
	next(r *reader) (string, bool)
	at() pos
}

type multilineSource struct {
	p     pos
	lines []string
}

func (m *multilineSource) at() pos { return m.p }
func (m *multilineSource) next(*reader) (string, bool) {
	if len(m.lines) == 0 {
		return "", false
	}
	l := m.lines[0]
	m.lines = m.lines[1:]
	return l, true
}

type seqSource struct {
	p               pos
	v               string
	cur, step, last int64
	hex, done       bool
	text            string
	lstVars         []string
	lstValues       [][]string
	lstNext         int
	lst             bool
}

func (s *seqSource) at() pos { return s.p }
func (s *seqSource) next(r *reader) (string, bool) {
	if s.lst {
		if s.lstNext >= len(s.lstValues) {
			return "", false
		}
		vals := s.lstValues[s.lstNext]
		s.lstNext++
		for i, name := range s.lstVars {
			r.setDef(name, vals[i])
		}
		return s.text, true
	}
	if s.done {
		return "", false
	}
	var val string
	if s.hex {
		val = strconv.FormatUint(uint64(s.cur), 16)
	} else {
		val = strconv.FormatInt(s.cur, 10)
	}
	r.setDef(s.v, val)
	n := s.cur + s.step
	if (s.step > 0 && (n > s.last || n < s.cur)) || (s.step < 0 && (n < s.last || n > s.cur)) {
		s.done = true
	}
	s.cur = n
	return s.text, true
}

type reader struct {
	opt      Options
	files    []*openFile // the include stack, innermost last
	residue  *srcLine
	sources  []source
	defs     map[string]*def
	collect  *def // a multiline definition being read
	produced int
	replaced int
	opened   int
	bytes    int
	warn     func(p pos, format string, args ...any)
	cond     *condStats
}

type condStats struct {
	kept, dropped int
	ids           map[string]bool
}

func newReader(opt Options, warn func(pos, string, ...any)) *reader {
	r := &reader{opt: opt, defs: map[string]*def{}, warn: warn, cond: &condStats{ids: map[string]bool{}}}
	// keepalived's set_std_definitions.
	r.defs["_PWD"] = &def{name: "_PWD", std: "_PWD"}
	r.defs["_INSTANCE"] = &def{name: "_INSTANCE", std: "_INSTANCE"}
	r.defs["_RANDOM"] = &def{name: "_RANDOM", std: "_RANDOM", maxParams: 2, numbers: true}
	r.defs["_ENV"] = &def{name: "_ENV", std: "_ENV", minParams: 1, maxParams: 1}
	r.defs["_HASH"] = &def{name: "_HASH", value: "#"}
	r.defs["_BANG"] = &def{name: "_BANG", value: "!"}
	return r
}

func (r *reader) setDef(name, value string) {
	if d, ok := r.defs[name]; ok {
		d.value, d.std, d.multiline = value, "", false
		d.minParams, d.maxParams, d.numbers = 0, 0, false
		return
	}
	r.defs[name] = &def{name: name, value: value}
}

// open pushes path (already joined with the includer's directory) on the
// include stack.
func (r *reader) open(at pos, path string) error {
	depth := 0
	for _, f := range r.files {
		if !f.pending {
			depth++
		}
	}
	if depth >= maxIncludeDeep {
		return errAt(at, "includes nested deeper than %d files (%s)", maxIncludeDeep, path)
	}
	if r.opened >= maxFiles {
		return errAt(at, "more than %d files included", maxFiles)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return errAt(at, "include %s: %v", path, err)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	for _, f := range r.files {
		if f.abs == abs {
			chain := []string{}
			for _, g := range r.files {
				chain = append(chain, g.path)
			}
			return errAt(at, "include loop: %s includes %s again", strings.Join(chain, " includes "), path)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return errAt(at, "%v", err)
	}
	if fi.Size() > maxFileSize {
		return errAt(at, "%s is larger than %d bytes", path, maxFileSize)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return errAt(at, "%v", err)
	}
	if len(data) > maxFileSize {
		return errAt(at, "%s is larger than %d bytes", path, maxFileSize)
	}
	r.bytes += len(data)
	if r.bytes > maxTotalBytes {
		return errAt(at, "the configuration and its includes are larger than %d bytes", maxTotalBytes)
	}
	r.opened++
	lines := strings.Split(string(data), "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	r.files = append(r.files, &openFile{path: path, abs: abs, dir: filepath.Dir(abs), lines: lines})
	return nil
}

func (r *reader) curDir() string {
	if len(r.files) == 0 {
		return "."
	}
	return r.files[len(r.files)-1].dir
}

// next returns the next line as keepalived's read_line would, or ok=false
// at the end.
func (r *reader) next() (srcLine, bool, error) {
	for {
		var l srcLine
		switch {
		case r.residue != nil:
			l = *r.residue
			r.residue = nil
		case len(r.sources) > 0:
			s := r.sources[len(r.sources)-1]
			text, ok := s.next(r)
			if !ok {
				r.sources = r.sources[:len(r.sources)-1]
				continue
			}
			l = srcLine{pos: s.at(), text: text}
		default:
			raw, p, ok, err := r.fileLine()
			if err != nil {
				return srcLine{}, false, err
			}
			if !ok {
				if r.collect != nil {
					r.endCollect()
				}
				return srcLine{}, false, nil
			}
			if r.collect != nil && raw == "" {
				r.endCollect()
			}
			if raw == "" {
				continue
			}
			text := decomment(raw)
			if text == "" {
				continue
			}
			if r.collect != nil {
				r.addToCollect(text)
				continue
			}
			l = srcLine{pos: p, text: text}
		}
		r.produced++
		if r.produced > maxLines {
			return srcLine{}, false, errAt(l.pos, "the configuration expands to more than %d lines", maxLines)
		}
		text, err := r.process(l)
		if err != nil {
			return srcLine{}, false, err
		}
		if text == "" {
			continue
		}
		if inc, ok := includeOf(text); ok {
			if err := r.include(l.pos, inc); err != nil {
				return srcLine{}, false, err
			}
			continue
		}
		l.text = text
		return r.split(l), true, nil
	}
}

// fileLine reads the next raw line from the innermost open file, closing
// files as they end.
func (r *reader) fileLine() (string, pos, bool, error) {
	for len(r.files) > 0 {
		f := r.files[len(r.files)-1]
		if f.next >= len(f.lines) {
			r.files = r.files[:len(r.files)-1]
			continue
		}
		raw := f.lines[f.next]
		f.next++
		if f.pending {
			if err := r.open(f.at, raw); err != nil {
				return "", pos{}, false, err
			}
			continue
		}
		p := pos{file: f.path, line: f.next}
		raw = strings.TrimRight(raw, "\r\n")
		if len(raw) > maxLineLen {
			return "", p, false, errAt(p, "line longer than keepalived's limit of %d characters (keepalived would ignore its first %d characters and read the rest as a line of its own)", maxLineLen, maxLineLen)
		}
		if strings.IndexByte(raw, 0) >= 0 {
			r.warn(p, "line has an embedded NUL: keepalived ignores it")
			raw = ""
		}
		return raw, p, true, nil
	}
	return "", pos{}, false, nil
}

func (r *reader) addToCollect(text string) {
	d := r.collect
	more := false
	if strings.HasSuffix(text, "\\") {
		text = strings.TrimRight(text[:len(text)-1], " \t") + "\n"
		more = true
	}
	if len(text) >= 2 || (len(text) > 0 && !more) {
		d.value += text
	}
	if !more {
		r.endCollect()
	}
}

func (r *reader) endCollect() {
	if r.collect.value == "" {
		r.collect.multiline = false
	}
	r.collect = nil
}

// process does read_line's per-line work: conditional configuration,
// definitions, ~SEQ/~LST and $NAME replacement. It returns "" when the line
// is consumed.
func (r *reader) process(l srcLine) (string, error) {
	buf := l.text
	if buf[0] == '@' {
		rev, ofs := false, 1
		if len(buf) > 1 && buf[1] == '^' {
			rev, ofs = true, 2
		}
		sp := strings.IndexAny(buf[ofs:], " \t")
		if sp < 0 {
			return "", nil
		}
		id := buf[ofs : ofs+sp]
		r.cond.ids[id] = true
		if (id != r.opt.Instance) != rev {
			r.cond.dropped++
			return "", nil
		}
		r.cond.kept++
		buf = strings.TrimLeft(buf[ofs+sp:], " \t")
		if buf == "" {
			return "", nil
		}
	}
	if buf[0] == '$' {
		if ok := r.checkDefinition(buf); ok {
			return "", nil
		}
	}
	if strings.HasPrefix(buf, "~SEQ") || strings.HasPrefix(buf, "~LST") {
		var s *seqSource
		var err error
		if buf[1] == 'S' {
			s, err = r.addSeq(l.pos, buf)
		} else {
			s, err = r.addLst(l.pos, buf)
		}
		if err != nil {
			return "", err
		}
		if s == nil {
			r.warn(l.pos, "invalid %s specification %q: keepalived ignores the line", buf[:4], buf)
			return "", nil
		}
		r.sources = append(r.sources, s)
		return "", nil
	}
	if buf[0] == '~' {
		return buf, nil
	}
	if strings.IndexByte(buf, '$') >= 0 {
		out, changed, err := r.replace(l.pos, buf, maxLineLen)
		if err != nil {
			return "", err
		}
		if changed {
			buf = decomment(out)
		}
	}
	return buf, nil
}

// checkDefinition is keepalived's check_definition: $NAME=VALUE, with no
// blank before '='. A VALUE ending in '\' starts a multiline definition.
func (r *reader) checkDefinition(buf string) bool {
	if len(buf) < 2 || !(isAlpha(buf[1]) || buf[1] == '_') {
		return false
	}
	i := 2
	for ; i < len(buf) && buf[i] != '='; i++ {
		if !isAlnum(buf[i]) && buf[i] != '_' {
			return false
		}
	}
	if i >= len(buf) {
		return false
	}
	name := buf[1:i]
	v := strings.TrimLeft(buf[i+1:], " \t")
	multiline := false
	if strings.HasSuffix(v, "\\") {
		v = strings.TrimRight(v[:len(v)-1], " \t")
		if v != "" {
			v += "\n"
		}
		multiline = true
	}
	r.setDef(name, v)
	d := r.defs[name]
	d.multiline = multiline
	if multiline {
		r.collect = d
	}
	return true
}

// findDef is keepalived's find_definition for a use at s (just after '$').
// It returns the definition, the length of the text it replaces after '$'
// and, for standard definitions, their parameters.
func (r *reader) findDef(p pos, s string) (*def, int, []string) {
	braces := false
	name := s
	if name != "" && name[0] == '{' {
		braces = true
		name = name[1:]
	}
	if name == "" || !(isAlpha(name[0]) || name[0] == '_') {
		return nil, 0, nil
	}
	n := 1
	for n < len(name) && (isAlnum(name[n]) || name[n] == '_') {
		n++
	}
	q := n
	var params []string
	paramStart, paramEnd := -1, -1
	numbers := true
	if braces {
		inParam := false
		for q < len(name) && (name[q] == ' ' || name[q] == '\t' || isAlnum(name[q]) || name[q] == '_') {
			if name[q] != ' ' && name[q] != '\t' {
				if paramStart < 0 {
					paramStart = q
				}
				paramEnd = q
				if !isDigit(name[q]) {
					numbers = false
				}
				if !inParam {
					inParam = true
					params = append(params, "")
				}
				params[len(params)-1] += string(name[q])
			} else {
				inParam = false
			}
			q++
		}
		if paramStart >= 0 && paramEnd+1 != q {
			return nil, 0, nil
		}
		if q >= len(name) || name[q] != '}' {
			return nil, 0, nil
		}
	} else if q < len(name) && name[q] != ' ' && name[q] != '\t' && name[q] != ',' && name[q] != ')' {
		return nil, 0, nil
	}
	allowMultiline := (!braces && n == len(name)) || (braces && n+1 == len(name))
	d := r.defs[name[:n]]
	if d == nil || (d.multiline && !allowMultiline) {
		return nil, 0, nil
	}
	if paramStart >= 0 {
		if d.maxParams == 0 {
			return nil, 0, nil
		}
		if d.numbers && !numbers {
			r.warn(p, "definition %s requires numeric parameters only", d.name)
			return nil, 0, nil
		}
		if len(params) > d.maxParams || len(params) < d.minParams {
			r.warn(p, "definition %s requires between %d and %d parameters, %d given", d.name, d.minParams, d.maxParams, len(params))
			return nil, 0, nil
		}
	} else {
		params = nil
	}
	// The replaced text after '$': the name (and with parameters, up to
	// the last one), plus the braces.
	replaced := n
	if paramStart >= 0 {
		replaced = paramEnd + 1
	}
	if braces {
		replaced += 2
	}
	return d, replaced, params
}

// replace is keepalived's replace_param: every $NAME or ${NAME} with a
// definition is replaced, and the replacement is scanned again (so
// replacement is recursive).
func (r *reader) replace(p pos, buf string, max int) (string, bool, error) {
	found := false
	cur := 0
	count := 0
	var pushes []source
	for {
		i := strings.IndexByte(buf[cur:], '$')
		if i < 0 {
			break
		}
		cur += i
		if cur+1 >= len(buf) {
			break
		}
		d, replaced, params := r.findDef(p, buf[cur+1:])
		if d == nil {
			cur++
			continue
		}
		count++
		r.replaced++
		if r.replaced > maxReplaceAll {
			return "", false, errAt(p, "more than %d replacements of definitions in all", maxReplaceAll)
		}
		if count > maxReplace {
			return "", false, errAt(p, "more than %d replacements on one line: is a definition recursive ($%s)?", maxReplace, d.name)
		}
		found = true
		value := d.value
		switch d.std {
		case "_PWD":
			value = r.curDir()
		case "_INSTANCE":
			value = r.opt.Instance
		case "_RANDOM":
			lo := "0"
			if len(params) > 0 {
				lo = params[0]
			}
			r.warn(p, "${_RANDOM} is a random number each time keepalived starts: lvsctl uses its minimum, %s", lo)
			value = lo
		case "_ENV":
			value = r.opt.Env[params[0]]
			if _, ok := r.opt.Env[params[0]]; !ok {
				r.warn(p, "${_ENV %s} is the director's environment, which lvsctl does not know: replaced by an empty string", params[0])
			}
		}
		if d.multiline {
			first, rest, hasRest := strings.Cut(value, "\n")
			value = first
			if hasRest {
				ls := strings.Split(rest, "\n")
				pushes = append(pushes, &multilineSource{p: p, lines: ls})
			}
		}
		buf = buf[:cur] + value + buf[cur+1+replaced:]
		if len(buf) > max {
			return "", false, errAt(p, "replacing $%s makes the line longer than keepalived's limit of %d characters", d.name, max)
		}
		if t := strings.TrimLeft(value, " \t"); t != "" && t[0] == '~' {
			break
		}
	}
	r.sources = append(r.sources, pushes...)
	return buf, found, nil
}

// addSeq is keepalived's add_seq: ~SEQ(var, [start,] [step,] end) TEXT and
// ~SEQx(...) (hexadecimal values). A nil source means keepalived reports
// the line as invalid and ignores it.
func (r *reader) addSeq(p pos, buf string) (*seqSource, error) {
	s := buf[4:]
	hex := false
	if strings.HasPrefix(s, "x") {
		hex, s = true, s[1:]
	}
	s = strings.TrimLeft(s, " \t")
	if !strings.HasPrefix(s, "(") {
		return nil, nil
	}
	s = strings.TrimLeft(s[1:], " \t")
	ve := strings.IndexAny(s, " \t,)")
	if ve < 0 {
		ve = len(s)
	}
	v := s[:ve]
	s = strings.TrimLeft(s[ve:], " \t")
	if s == "" || s[0] == ')' || v == "" || v[0] == '{' {
		return nil, nil
	}
	s = strings.TrimLeft(s[1:], " \t")
	end := strings.IndexByte(s, ')')
	if end < 0 {
		return nil, nil
	}
	if end+2 > 3*20+3+1 {
		return nil, nil
	}
	params := s[:end+1]
	text := strings.TrimLeft(s[end+1:], " \t")
	saved := len(r.sources)
	params, _, err := r.replace(p, params, 3*20+3)
	if err != nil {
		return nil, err
	}
	if len(r.sources) != saved {
		r.sources = r.sources[:saved]
		return nil, nil // a multiline definition as a parameter
	}
	var start, step, last int64
	one, q := strtol(params)
	q = strings.TrimLeft(q, " \t")
	switch {
	case strings.HasPrefix(q, ")"):
		last = one
		step = 1
		if last < 1 {
			step = -1
		}
		start = 1
		if last < 0 {
			start = -1
		}
	case strings.HasPrefix(q, ","):
		two, q2 := strtol(q[1:])
		q2 = strings.TrimLeft(q2, " \t")
		switch {
		case strings.HasPrefix(q2, ")"):
			start, last = one, two
			step = 1
			if start > last {
				step = -1
			}
		case strings.HasPrefix(q2, ","):
			three, q3 := strtol(q2[1:])
			q3 = strings.TrimLeft(q3, " \t")
			if !strings.HasPrefix(q3, ")") {
				return nil, nil
			}
			start, step, last = one, two, three
			if step == 0 || (start < last && step < 0) || (start > last && step > 0) {
				return nil, nil
			}
		default:
			return nil, nil
		}
	default:
		return nil, nil
	}
	if hex && (start < 0 || last < 0) {
		return nil, nil
	}
	return &seqSource{p: p, v: v, cur: start, step: step, last: last, hex: hex, text: text}, nil
}

// addLst is keepalived's add_lst: ~LST(var, v1, v2, ...) TEXT and
// ~LST({v1, v2}, {a, b}, {c, d}) TEXT.
func (r *reader) addLst(p pos, buf string) (*seqSource, error) {
	s := strings.TrimLeft(buf[4:], " \t")
	if !strings.HasPrefix(s, "(") {
		return nil, nil
	}
	s = strings.TrimLeft(s[1:], " \t")
	endChar := byte(',')
	if strings.HasPrefix(s, "{") {
		endChar = '}'
		s = strings.TrimLeft(s[1:], " \t")
	}
	var vars []string
	for {
		e := strings.IndexAny(s, " \t,}")
		if e < 0 {
			e = len(s)
		}
		vars = append(vars, s[:e])
		s = strings.TrimLeft(s[e:], " \t")
		if s != "" && s[0] == endChar {
			break
		}
		if s == "" || s[0] != ',' {
			return nil, nil
		}
		s = strings.TrimLeft(s[1:], " \t")
	}
	if s[0] == '}' {
		s = strings.TrimLeft(s[1:], " \t")
	}
	if s == "" || s[0] != ',' {
		return nil, nil
	}
	s = strings.TrimLeft(s[1:], " \t")
	var sets [][]string
	for {
		endChar = ','
		if strings.HasPrefix(s, "{") {
			endChar = '}'
			s = strings.TrimLeft(s[1:], " \t")
		}
		var vals []string
		for {
			e := strings.IndexAny(s, " \t,})")
			if e < 0 {
				e = len(s)
			}
			vals = append(vals, s[:e])
			s = strings.TrimLeft(s[e:], " \t")
			if s != "" && (s[0] == endChar || (s[0] == ')' && endChar == ',')) {
				break
			}
			if s == "" || s[0] != ',' {
				return nil, nil
			}
			s = strings.TrimLeft(s[1:], " \t")
			if len(vals) > len(vars)-1 {
				r.warn(p, "~LST specification has too many values")
				return nil, nil
			}
		}
		for len(vals) < len(vars) {
			vals = append(vals, "")
		}
		sets = append(sets, vals)
		if len(sets) > maxLines {
			return nil, errAt(p, "~LST with more than %d values", maxLines)
		}
		if s[0] == '}' && endChar == '}' {
			s = strings.TrimLeft(s[1:], " \t")
		}
		if s != "" && s[0] == ')' {
			break
		}
		if s == "" || s[0] != ',' {
			return nil, nil
		}
		s = strings.TrimLeft(s[1:], " \t")
	}
	text := strings.TrimLeft(s[1:], " \t")
	return &seqSource{p: p, lst: true, lstVars: vars, lstValues: sets, text: text}, nil
}

// strtol is C's strtol(s, &end, 0): leading blanks, a sign, 0x for
// hexadecimal, a leading 0 for octal. It returns the value and the rest.
func strtol(s string) (int64, string) {
	t := strings.TrimLeft(s, " \t\n\v\f\r")
	neg := false
	if t != "" && (t[0] == '+' || t[0] == '-') {
		neg = t[0] == '-'
		t = t[1:]
	}
	base := 10
	switch {
	case len(t) > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X') && isHex(t[2]):
		base, t = 16, t[2:]
	case len(t) > 0 && t[0] == '0':
		base = 8
	}
	n := 0
	var v uint64
	over := false
	for n < len(t) {
		d := digitVal(t[n])
		if d < 0 || d >= base {
			break
		}
		if v > (1<<63)/uint64(base) {
			over = true
		}
		v = v*uint64(base) + uint64(d)
		if v > 1<<63 {
			over = true
		}
		n++
	}
	if n == 0 {
		return 0, s
	}
	var out int64
	switch {
	case over && neg:
		out = -1 << 63
	case over || (!neg && v == 1<<63):
		out = 1<<63 - 1
	case neg:
		out = -int64(v)
	default:
		out = int64(v)
	}
	return out, t[n:]
}

func digitVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	}
	return -1
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlnum(c byte) bool { return isAlpha(c) || isDigit(c) }
func isHex(c byte) bool   { return digitVal(c) >= 0 && digitVal(c) < 16 }

// decomment is keepalived's decomment(): leading blanks go, an unquoted '!'
// or '#' ends the line, '\#' and '\!' outside quotes are the characters
// themselves, trailing blanks go, and a final '\' (continuation) stays.
func decomment(str string) string {
	b := []byte(strings.TrimLeft(str, " \t"))
	quote, cont := false, false
	out := b[:0:0]
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '"':
			quote = !quote
		case c == '\\':
			if i+1 < len(b) {
				if !quote && (b[i+1] == '#' || b[i+1] == '!') {
					out = append(out, b[i+1])
				} else {
					out = append(out, c, b[i+1])
				}
				i++
				continue
			}
			cont = true
			i = len(b)
			continue
		case !quote && (c == '!' || c == '#'):
			i = len(b)
			continue
		}
		out = append(out, c)
	}
	out = bytes.TrimRight(out, " \t")
	if cont {
		out = append(out, '\\')
	}
	return string(out)
}

// includeOf is keepalived's is_include/check_include: "include PATTERN" and
// the includer/includem/includew/includeb/includea variants.
func includeOf(buf string) (string, bool) {
	if !strings.HasPrefix(buf, "include") || len(buf) < 8 {
		return "", false
	}
	var rest string
	switch {
	case isSpace(buf[7]):
		rest = buf[8:]
	case len(buf) > 8 && isSpace(buf[8]) && strings.IndexByte("rmwba", buf[7]) >= 0:
		rest = buf[9:]
	default:
		return "", false
	}
	return strings.TrimLeft(rest, " \t"), true
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// include opens every file pattern matches, in glob(3)'s order, relative
// to the including file's directory.
func (r *reader) include(at pos, pattern string) error {
	var paths []string
	for _, alt := range braceExpand(pattern, 0) {
		p := alt
		if !filepath.IsAbs(p) {
			p = filepath.Join(r.curDir(), p)
		}
		m, err := filepath.Glob(strings.ReplaceAll(p, "[!", "[^"))
		if err != nil {
			r.warn(at, "include %s: %v: keepalived skips it", pattern, err)
			continue
		}
		sort.Strings(m)
		paths = append(paths, m...)
	}
	if len(paths) == 0 {
		r.warn(at, "include %s matched no file: nothing included (keepalived resolves it on the director; a relative path is relative to %s)", pattern, r.curDir())
		return nil
	}
	var usable []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 != 0 {
			r.warn(at, "include %s: %s is not a regular non-executable file: keepalived skips it", pattern, p)
			continue
		}
		usable = append(usable, p)
	}
	// Each file is read to its end (with what it includes) before the next
	// match is opened.
	return r.openSeq(at, usable)
}

// openSeq opens the first of paths and arranges for the others to follow
// it, each after the previous one (and everything it includes) ends.
func (r *reader) openSeq(at pos, paths []string) error {
	if len(paths) == 0 {
		return nil
	}
	// The files after the first are read when the first is done.
	if len(paths) > 1 {
		r.pendingIncludes(at, paths[1:])
	}
	return r.open(at, paths[0])
}

// pendingIncludes puts, below the file about to be opened, a pending entry
// whose lines are the remaining matches.
func (r *reader) pendingIncludes(at pos, paths []string) {
	f := &openFile{path: at.file, dir: r.curDir(), lines: paths, pending: true, at: at}
	r.files = append(r.files, f)
}

// braceExpand expands glob(3)'s GLOB_BRACE alternatives: a{b,c}d is abd
// and acd. A backslash escapes the next character.
func braceExpand(s string, depth int) []string {
	if depth > 10 {
		return []string{s}
	}
	open := -1
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
			continue
		}
		if s[i] == '{' {
			open = i
			break
		}
	}
	if open < 0 {
		return []string{s}
	}
	level := 0
	var parts []string
	start := open + 1
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '{':
			level++
		case '}':
			level--
			if level == 0 {
				parts = append(parts, s[start:i])
				var out []string
				for _, p := range parts {
					for _, e := range braceExpand(s[:open]+p+s[i+1:], depth+1) {
						out = append(out, e)
						if len(out) > maxFiles {
							return out
						}
					}
				}
				return out
			}
		case ',':
			if level == 1 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	return []string{s}
}

// split makes "{" and "}" lines of their own, as read_line does: the text
// before the first unquoted brace is returned, and the rest is read next.
func (r *reader) split(l srcLine) srcLine {
	buf := l.text
	p := -1
	if buf[0] == '{' || buf[0] == '}' {
		p = 0
	} else {
		for i := 0; i < len(buf); i++ {
			if buf[i] == '"' {
				j := strings.IndexByte(buf[i+1:], '"')
				if j < 0 {
					break
				}
				i += j + 1
				continue
			}
			if buf[i] == '{' || buf[i] == '}' {
				p = i
				break
			}
		}
	}
	if p >= 0 {
		skip := 0
		if p == 0 {
			skip = 1 + len(buf[1:]) - len(strings.TrimLeft(buf[1:], " \t"))
		}
		if rest := strings.TrimRight(buf[p+skip:], " \t"); rest != "" {
			r.residue = &srcLine{pos: l.pos, text: rest}
			buf = buf[:p+skip]
		}
	}
	l.text = strings.TrimRight(buf, " \t")
	return l
}
