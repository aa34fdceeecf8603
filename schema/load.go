package schema

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strings"
	"time"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"

	"github.com/lvsctl/lvsctl/internal/state"
)

//go:embed lvsctl.cue
var source []byte

// schemaFile is the name the embedded schema carries in positions, so that
// errors can be placed in the user's files rather than in the schema.
const schemaFile = "(lvsctl schema)/lvsctl.cue"

// Limits on what the loader reads. A cluster of 5,000 services with 20 real
// servers each is about 10 MB of CUE; anything far beyond that is a mistake.
const (
	MaxFileBytes  = 32 << 20
	MaxTotalBytes = 64 << 20
)

// Source returns the CUE schema, with its package clause renamed to pkg when
// pkg is not empty, and followed by an embedding of #Cluster when embed is set
// so that `cue vet` applies it to the whole package it is dropped into.
func Source(pkg string, embed bool) []byte {
	out := source
	if pkg != "" {
		out = bytes.Replace(out, []byte("\npackage lvsctl\n"), []byte("\npackage "+pkg+"\n"), 1)
	}
	if embed {
		out = append(bytes.Clone(out), []byte("\n// Every file of this package is a cluster definition.\n#Cluster\n")...)
	}
	return out
}

// Loaded is a configuration directory that passed every check.
type Loaded struct {
	Cluster *Cluster
	Hosts   map[string]*state.Host // what each host must have, with reasons
	Files   []string               // the CUE files that make up the package
}

// Limits bound what evaluating a cluster definition may take. The CUE
// evaluator runs whatever a package asks of it (a 100-byte comprehension can
// ask for gigabytes), and the definition is untrusted input, so the loader
// stops it at these bounds with a clear error.
type Limits struct {
	Memory int64         // heap the CUE evaluator may add; DefaultMemory when 0
	Time   time.Duration // how long it may run; DefaultTime when 0
}

// The default bounds are several times what the largest cluster lvsctl is
// built for needs: `lvsctl validate` of 5,000 services with 20 real servers
// each, through the evaluator, peaks at 0.7 GiB and takes 8 s on a 2-core CI
// machine (/usr/bin/time; the plain-data path: 0.4 GiB, 2.2 s).
const (
	DefaultMemory = 4 << 30
	DefaultTime   = 2 * time.Minute
)

// Load reads the CUE package in dir, checks it against the schema and the LVS
// rules, and returns the cluster. On failure the error is Problems: one line per
// problem, each naming file:line:col and the field.
func Load(dir string) (*Loaded, error) { return loadDir(dir, Limits{}, false) }

// LoadWith is Load with explicit bounds on evaluation.
func LoadWith(dir string, lim Limits) (*Loaded, error) { return loadDir(dir, lim, false) }

// loadDir is Load; forceEval sends plain data through the CUE evaluator too, so
// tests can hold the two paths to the same results.
func loadDir(dir string, lim Limits, forceEval bool) (*Loaded, error) {
	srcs, probs := readFiles(dir)
	if probs != nil {
		return nil, probs
	}
	files := make([]string, len(srcs))
	for i, f := range srcs {
		files[i] = f.path
	}
	var data *value
	err := errNotPlain
	if !forceEval {
		data, err = readPlain(srcs)
	}
	var loc locator
	switch {
	case err == nil:
		loc = treeLocator{data}
	case errors.Is(err, errNotPlain):
		data, loc, err = evaluate(dir, srcs, lim)
	}
	if err != nil {
		return nil, err
	}
	written := hostFieldsWritten(data) // before the validator fills in defaults
	if probs := theValidator().validate(data, loc); len(probs) > 0 {
		return nil, probs.sortAndDedup()
	}
	c := new(Cluster)
	if err := json.Unmarshal(data.appendJSON(nil), c); err != nil {
		// The validator fixes every type, so this is lvsctl's own bug.
		return nil, Problems{{File: displayPath(dir), Msg: "internal error: schema and Go types disagree: " + err.Error()}}
	}
	for name, h := range c.Hosts {
		h.written = written[name]
	}
	if probs := check(c, loc); len(probs) > 0 {
		return nil, probs.sortAndDedup()
	}
	hosts, probs := derive(c, loc)
	if len(probs) > 0 {
		return nil, probs.sortAndDedup()
	}
	return &Loaded{Cluster: c, Hosts: hosts, Files: files}, nil
}

// evaluate runs the CUE evaluator over the files of dir (references,
// comprehensions, the standard library) within lim, and returns its data.
// The instance is built from the files lvsctl read itself: CUE's loader would
// read cue.mod, parent directories and module registries.
func evaluate(dir string, srcs []srcFile, lim Limits) (*value, locator, error) {
	files, probs := parseFiles(srcs)
	if len(probs) > 0 {
		return nil, nil, placeIn(dir, probs.sortAndDedup())
	}
	type result struct {
		data *value
		loc  locator
		err  error
	}
	res, err := bounded(lim, func() result {
		ctx := cuecontext.New()
		inst := build.NewContext().NewInstance(dir, nil)
		for _, f := range files {
			if err := inst.AddSyntax(f); err != nil {
				return result{err: placeIn(dir, fromCUE(err, cue.Value{}))}
			}
		}
		if inst.Err != nil {
			return result{err: placeIn(dir, fromCUE(inst.Err, cue.Value{}))}
		}
		user := ctx.BuildInstance(inst)
		if err := user.Err(); err != nil {
			return result{err: fromCUE(err, user)}
		}
		js, err := user.MarshalJSON()
		if err != nil {
			return result{err: fromCUE(err, user)}
		}
		data, err := valueFromJSON(js)
		if err != nil {
			return result{err: Problems{{File: displayPath(dir), Msg: "internal error: reading evaluated configuration: " + err.Error()}}}
		}
		return result{data, positioner{user}, nil}
	})
	if err != nil {
		return nil, nil, Problems{{File: displayPath(dir), Msg: err.Error()}}
	}
	return res.data, res.loc, res.err
}

// bounded runs f and waits for it within lim. When f goes beyond a bound it
// is abandoned, still running: the caller reports the error and exits, which
// is the only way to stop a computation Go cannot interrupt.
func bounded[T any](lim Limits, f func() T) (T, error) {
	if lim.Memory <= 0 {
		lim.Memory = DefaultMemory
	}
	if lim.Time <= 0 {
		lim.Time = DefaultTime
	}
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	heap := func() int64 {
		metrics.Read(sample)
		return int64(sample[0].Value.Uint64())
	}
	base := heap()
	// The collector works harder as the bound nears, so garbage is not
	// mistaken for use.
	old := debug.SetMemoryLimit(base + lim.Memory)
	defer debug.SetMemoryLimit(old)
	done := make(chan T, 1)
	go func() { done <- f() }()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(lim.Time)
	defer deadline.Stop()
	for {
		select {
		case v := <-done:
			return v, nil
		case <-deadline.C:
			var zero T
			return zero, fmt.Errorf("evaluating the CUE took longer than %s, lvsctl's bound (--eval-timeout); "+
				"a comprehension or list.Range that builds far more than a cluster needs?", lim.Time)
		case <-tick.C:
			if heap()-base > lim.Memory {
				var zero T
				return zero, fmt.Errorf("evaluating the CUE needed more than %s of memory, lvsctl's bound (--eval-memory); "+
					"a comprehension or list.Range that builds far more than a cluster needs?", gib(lim.Memory))
			}
		}
	}
}

func gib(n int64) string {
	if n >= 1<<30 {
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	}
	return mib(n)
}

// placeIn names dir for problems the loader could not place in a file.
func placeIn(dir string, probs Problems) Problems {
	for i := range probs {
		if probs[i].File == "" {
			probs[i].File = displayPath(dir)
		}
	}
	return probs
}

func clusterDef(ctx *cue.Context) cue.Value {
	s := ctx.CompileBytes(source, cue.Filename(schemaFile))
	if s.Err() != nil {
		panic("lvsctl: embedded schema does not compile: " + s.Err().Error())
	}
	return s.LookupPath(cue.ParsePath("#Cluster"))
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func describeFSError(err error) string {
	var pe *fs.PathError
	switch {
	case os.IsNotExist(err):
		return "no such directory"
	case os.IsPermission(err):
		return "permission denied"
	case errors.As(err, &pe):
		return pe.Err.Error()
	}
	return err.Error()
}

// fromCUE turns CUE's errors into Problems placed in the user's files: the
// first position outside the embedded schema, or else the nearest enclosing
// field that the user wrote. CUE reports a value outside an enumeration once
// per alternative, and a bad value for a field with a default once against the
// default; those become one problem per field.
func fromCUE(err error, user cue.Value) Problems {
	type item struct {
		pos    token.Pos
		also   []string // other places in the user's files the error involves
		format string
		args   []any
	}
	var order []string
	groups := map[string][]item{}
	for _, e := range cueerrors.Errors(err) {
		labels := e.Path()
		if len(labels) > 0 && labels[0] == "#Cluster" {
			labels = labels[1:]
		}
		field := cuePathString(labels)
		format, args := e.Msg()
		if strings.HasSuffix(format, "errors in empty disjunction:") {
			continue
		}
		if format == "import failed" {
			// The reason is only in the wrapped error's text.
			format, args = "import failed: %s", []any{placePrefix.ReplaceAllString(strings.TrimPrefix(e.Error(), "import failed: "), "")}
		}
		var pos token.Pos
		var also []string
		for _, p := range cueerrors.Positions(e) {
			switch {
			case !p.IsValid() || p.Filename() == schemaFile:
			case !pos.IsValid():
				pos = p
			case p != pos:
				also = append(also, fmt.Sprintf("%s:%d:%d", displayPath(p.Filename()), p.Line(), p.Column()))
			}
		}
		if !pos.IsValid() && user.Exists() {
			pos = positioner{user}.nearest(labels)
		}
		if _, ok := groups[field]; !ok {
			order = append(order, field)
		}
		groups[field] = append(groups[field], item{pos, also, format, args})
	}
	var probs Problems
	for _, field := range order {
		items := groups[field]
		var bounds, enum, types []item
		for _, it := range items {
			switch it.format {
			case "invalid value %v (out of bound %s)":
				bounds = append(bounds, it)
			case "conflicting values %s and %s":
				enum = append(enum, it)
			case "conflicting values %s and %s (mismatched types %s and %s)":
				types = append(types, it)
			}
		}
		switch {
		case len(bounds) > 0:
			items = bounds
		case len(types) > 0 && len(types)+len(enum) == len(items):
			items = types[:1]
		case len(enum) > 1 && len(enum) == len(items):
			alts := make([]string, len(enum))
			for i, it := range enum {
				alts[i] = fmt.Sprint(it.args[0])
			}
			slices.Sort(alts)
			probs = append(probs, problemAt(enum[0].pos, field, "%v is not allowed: expected one of %s%s",
				enum[0].args[1], strings.Join(alts, ", "), checkTypeHint(fmt.Sprint(enum[0].args[1]))))
			continue
		}
		for _, it := range items {
			msg := explainCUE(fmt.Sprintf(it.format, it.args...))
			if len(it.also) > 0 {
				msg += " (also at " + strings.Join(it.also, ", ") + ")"
			}
			probs = append(probs, problemAt(it.pos, field, "%s", msg))
		}
	}
	if len(probs) == 0 {
		probs = Problems{{Msg: err.Error()}}
	}
	return probs.sortAndDedup()
}

// placePrefix matches a "file:line:col: " that CUE puts inside messages.
var placePrefix = regexp.MustCompile(`(^|: )[^ :]+\.cue:\d+:\d+: `)

// cuePathString writes CUE's path labels as lvsctl's own paths do:
// list indices in brackets.
func cuePathString(labels []string) string {
	var b strings.Builder
	for _, l := range labels {
		switch {
		case l == "":
		case strings.Trim(l, "0123456789") == "":
			b.WriteString("[" + l + "]")
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(l)
		}
	}
	return b.String()
}

// explainCUE adds what a newcomer needs to CUE's terser messages.
func explainCUE(msg string) string {
	switch {
	case strings.HasPrefix(msg, "field not allowed"):
		return msg + " (not a field of the lvsctl schema; see `lvsctl schema`)"
	case strings.HasPrefix(msg, "incomplete value"):
		return strings.Replace(msg, "incomplete value", "missing or incomplete value, expected", 1)
	}
	return msg
}

// positioner finds where the user wrote a field.
type positioner struct{ user cue.Value }

// at returns the position of path, or of the nearest enclosing field the user
// wrote (a field filled in by a schema default has no place of its own).
func (p positioner) at(path at) token.Pos {
	for n := len(path); n > 0; n-- {
		v := p.user.LookupPath(cue.MakePath(path[:n]...))
		if v.Exists() {
			if pos := v.Pos(); pos.IsValid() {
				return pos
			}
		}
	}
	return token.NoPos
}

// nearest is at for a path as CUE's errors give it.
func (p positioner) nearest(labels []string) token.Pos {
	sels := make([]cue.Selector, 0, len(labels))
	for _, l := range labels {
		path := cue.ParsePath(l)
		if path.Err() != nil || len(path.Selectors()) != 1 {
			sels = append(sels, cue.Str(l))
			continue
		}
		sels = append(sels, path.Selectors()[0])
	}
	return p.at(sels)
}
