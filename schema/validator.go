package schema

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
)

// The validator applies the CUE schema to plain data without unifying the
// whole configuration in the CUE evaluator, which costs seconds and gigabytes
// for a large cluster. It is compiled from #Cluster itself: the structure
// (fields, optional fields, pattern constraints, list elements, defaults)
// comes from the schema's introspection API, and every scalar value is still
// checked by CUE, unified with its field's constraint once per distinct value.
// TestValidatorAgreesWithCUE holds it to the evaluator's verdicts.

// snode is the compiled schema of one value.
type snode struct {
	kind cue.Kind // the kinds the schema allows (IncompleteKind)

	fields  map[string]*sfield // struct: declared fields
	order   []string           // struct: declared fields, in schema order
	pattern *snode             // struct: [string]: constraint, if any

	elem   *snode // list: element constraint
	minLen int    // list: fewest elements allowed

	check    cue.Value         // scalar: the constraint, without its default
	pureKind bool              // scalar: the constraint is its kind alone
	enum     []string          // scalar: the allowed values, when a plain enumeration
	memo     map[string]string // scalar: value -> problem ("" when allowed)

	def *value // the default, when the schema has one
}

type sfield struct {
	optional bool
	node     *snode
}

type validator struct {
	ctx  *cue.Context
	root *snode
}

var (
	compiledOnce sync.Once
	compiled     *validator
	compileMu    sync.Mutex // scalar checks share one CUE context
)

// theValidator compiles the embedded schema once per process.
func theValidator() *validator {
	compiledOnce.Do(func() {
		ctx := cuecontext.New()
		compiled = &validator{ctx: ctx, root: compileNode(ctx, clusterDef(ctx))}
	})
	return compiled
}

func compileNode(ctx *cue.Context, v cue.Value) *snode {
	n := &snode{kind: v.IncompleteKind()}
	if d, ok := v.Default(); ok && d.IsConcrete() && d.Validate(cue.Concrete(true)) == nil {
		js, err := d.MarshalJSON()
		if err == nil {
			n.def, _ = valueFromJSON(js)
		}
	}
	switch n.kind {
	case cue.StructKind:
		n.fields = map[string]*sfield{}
		it, err := v.Fields(cue.Optional(true))
		if err != nil {
			panic("lvsctl schema: " + err.Error())
		}
		for it.Next() {
			sel := it.Selector()
			name := sel.Unquoted()
			n.fields[name] = &sfield{optional: sel.ConstraintType() == cue.OptionalConstraint, node: compileNode(ctx, it.Value())}
			n.order = append(n.order, name)
		}
		if p := v.LookupPath(cue.MakePath(cue.AnyString)); p.Exists() {
			n.pattern = compileNode(ctx, p)
		}
		n.def = nil // a struct's default is built from its fields' defaults
	case cue.ListKind:
		n.elem = compileNode(ctx, v.LookupPath(cue.MakePath(cue.AnyIndex)))
		for n.minLen < 8 && v.Unify(ctx.CompileString("["+strings.Repeat("_,", n.minLen)+"]")).Validate() != nil {
			n.minLen++
		}
	default:
		n.check = v
		if op, args := v.Expr(); n.def != nil && op == cue.NoOp && len(args) == 1 {
			n.check = args[0] // the constraint without the default's disjunct
		}
		op, args := cue.Dereference(v).Expr()
		if op == cue.OrOp {
			for _, a := range args {
				if s, err := a.String(); err == nil {
					n.enum = append(n.enum, strconv.Quote(s))
				}
			}
			if len(n.enum) != len(args) {
				n.enum = nil
			}
		}
		switch fmt.Sprint(n.check) {
		case "string", "int", "bool", "int | string":
			n.pureKind = true
		}
		n.memo = map[string]string{}
	}
	return n
}

// validate checks v against the schema, fills in defaults, and reports each
// problem at the place loc gives for its path (or where v was written).
func (vd *validator) validate(v *value, loc locator) Problems {
	w := &walker{vd: vd, loc: loc}
	w.node(vd.root, v, nil)
	return w.probs
}

// cueValueNone stands for "no evaluated value to find places in".
var cueValueNone = cue.Value{}

type walker struct {
	vd    *validator
	loc   locator
	probs Problems
}

func (w *walker) errf(v *value, c *chain, format string, args ...any) {
	p := c.path()
	pos := v.pos
	if !pos.IsValid() {
		pos = w.loc.at(p)
	}
	w.probs = append(w.probs, problemAt(pos, p.String(), format, args...))
}

func (w *walker) node(s *snode, v *value, p *chain) {
	if !kindAllowed(s.kind, v.kind) {
		w.errf(v, p, "found %s %s; expected %s", v.kind, v.show(), kindName(s.kind))
		return
	}
	switch v.kind {
	case kStruct:
		w.structure(s, v, p)
	case kList:
		if len(v.elems) < s.minLen {
			w.errf(v, p, "needs at least %d element%s", s.minLen, plural(s.minLen))
		}
		for i, e := range v.elems {
			w.node(s.elem, e, &chain{parent: p, index: i})
		}
	default:
		w.scalar(s, v, p)
	}
}

func (w *walker) structure(s *snode, v *value, p *chain) {
	for _, f := range v.fields {
		fc := chain{parent: p, name: f.name}
		sf, ok := s.fields[f.name]
		switch {
		case ok:
			w.node(sf.node, f.v, &fc)
		case s.pattern != nil:
			w.node(s.pattern, f.v, &fc)
		default:
			fp := fc.path()
			pos := f.pos
			if !pos.IsValid() {
				pos = w.loc.at(fp)
			}
			w.probs = append(w.probs, problemAt(pos, fp.String(),
				"field not allowed: %s has no field %q (see `lvsctl schema`)", describePath(p.path()), f.name))
		}
	}
	for _, name := range s.order {
		sf := s.fields[name]
		if sf.optional || v.lookup(name) != nil {
			continue
		}
		switch {
		case sf.node.def != nil:
			v.add(&field{name: name, v: sf.node.def.clone()})
		case sf.node.kind == cue.StructKind:
			sub := newStruct(v.pos)
			w.structure(sf.node, sub, &chain{parent: p, name: name})
			v.add(&field{name: name, v: sub})
		default:
			pp := p.path()
			w.probs = append(w.probs, problemAt(w.loc.at(pp), pp.to(name).String(),
				"missing field: %s needs %s (%s)", describePath(pp), name, kindName(sf.node.kind)))
		}
	}
}

func (w *walker) scalar(s *snode, v *value, p *chain) {
	if s.pureKind {
		return
	}
	key := v.kind.String() + ":" + v.text
	if v.kind == kBool {
		key = strconv.FormatBool(v.b)
	}
	msg, seen := s.memo[key]
	if !seen {
		msg = w.vd.checkScalar(s, v)
		s.memo[key] = msg
	}
	if msg != "" {
		w.errf(v, p, "%s", msg)
	}
}

// checkScalar asks CUE whether v satisfies the constraint.
func (vd *validator) checkScalar(s *snode, v *value) string {
	compileMu.Lock()
	defer compileMu.Unlock()
	var x any
	switch v.kind {
	case kString:
		x = v.text
	case kBool:
		x = v.b
	case kNull:
		x = nil
	default:
		x = vd.ctx.CompileString(v.text)
	}
	var val cue.Value
	if cv, ok := x.(cue.Value); ok {
		val = cv
	} else {
		val = vd.ctx.Encode(x)
	}
	err := s.check.Unify(val).Validate(cue.Concrete(true))
	if err == nil {
		return ""
	}
	if s.enum != nil {
		return fmt.Sprintf("%s is not allowed: expected one of %s%s", v.show(), strings.Join(s.enum, ", "), checkTypeHint(v.show()))
	}
	probs := fromCUE(err, cue.Value{})
	msgs := make([]string, len(probs))
	for i, pr := range probs {
		msgs[i] = pr.Msg
	}
	return strings.Join(slices.Compact(msgs), "; ")
}

// cueKinds maps the data's kinds to CUE's.
var cueKinds = [...]cue.Kind{
	kNull: cue.NullKind, kBool: cue.BoolKind, kInt: cue.IntKind, kFloat: cue.FloatKind,
	kString: cue.StringKind, kStruct: cue.StructKind, kList: cue.ListKind,
}

func kindAllowed(allowed cue.Kind, k kind) bool { return allowed&cueKinds[k] != 0 }

func kindName(k cue.Kind) string {
	switch k {
	case cue.StructKind:
		return "a struct { ... }"
	case cue.ListKind:
		return "a list [ ... ]"
	}
	return k.String()
}

// describePath names the object at p for "field not allowed".
func describePath(p at) string {
	if len(p) == 0 {
		return "the top level of a cluster definition"
	}
	return p.String()
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
