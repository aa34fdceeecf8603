package schema

import (
	"errors"
	"fmt"
	"regexp"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"
)

// The plain-data path. Most cluster definitions, and every generated one, are
// pure data: fields, structs, lists and literals, with no references,
// comprehensions, imports or definitions. For those, CUE's meaning is simply
// the union of the files' fields, and reading the syntax tree gives it, with
// the exact place of every field, for a fraction of what the evaluator needs
// (see BenchmarkLoad). Anything else goes to the full CUE evaluator.

// errNotPlain says a package needs the CUE evaluator.
var errNotPlain = errors.New("not plain data")

// readPlain parses files and returns their merged value, errNotPlain when any
// file uses more of CUE than data, or Problems for syntax errors and
// conflicting values.
func readPlain(files []srcFile) (*value, error) {
	root := newStruct(token.NoPos)
	pkg := ""
	var probs Problems
	for i, sf := range files {
		f, err := parser.ParseFile(sf.path, sf.data)
		if err != nil {
			return nil, fromCUE(err, cueValueNone)
		}
		if f.PackageName() == "" || (i > 0 && f.PackageName() != pkg) {
			return nil, errNotPlain // let the evaluator's path say what is wrong
		}
		pkg = f.PackageName()
		if err := plainDecls(root, f.Decls, &probs, nil); err != nil {
			return nil, err
		}
	}
	if root.pos == token.NoPos && len(root.fields) > 0 {
		root.pos = root.fields[0].pos
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return root, nil
}

func plainDecls(into *value, decls []ast.Decl, probs *Problems, p *chain) error {
	for _, d := range decls {
		switch d := d.(type) {
		case *ast.Package, *ast.CommentGroup:
		case *ast.Field:
			if err := plainField(into, d, probs, p); err != nil {
				return err
			}
		default:
			return errNotPlain
		}
	}
	return nil
}

func plainField(into *value, f *ast.Field, probs *Problems, p *chain) error {
	if f.Constraint != token.ILLEGAL || len(f.Attrs) > 0 {
		return errNotPlain
	}
	var name string
	switch l := f.Label.(type) {
	case *ast.Ident:
		name = l.Name
		if name == "" || name[0] == '#' || name[0] == '_' {
			return errNotPlain
		}
	case *ast.BasicLit:
		if l.Kind != token.STRING {
			return errNotPlain
		}
		s, err := literal.Unquote(l.Value)
		if err != nil {
			return errNotPlain
		}
		name = s
	default:
		return errNotPlain
	}
	fp := &chain{parent: p, name: name}
	v, err := plainValue(f.Value, probs, fp)
	if err != nil {
		return err
	}
	nf := &field{name: name, pos: f.Label.Pos(), v: v}
	if old := into.lookup(name); old != nil {
		merge(old.v, v, probs, fp)
		return nil
	}
	into.add(nf)
	return nil
}

var plainInt = regexp.MustCompile(`^(0|[1-9][0-9]*)$`)

func plainValue(e ast.Expr, probs *Problems, p *chain) (*value, error) {
	switch e := e.(type) {
	case *ast.StructLit:
		s := newStruct(e.Pos())
		if err := plainDecls(s, e.Elts, probs, p); err != nil {
			return nil, err
		}
		return s, nil
	case *ast.ListLit:
		l := &value{kind: kList, pos: e.Pos()}
		for i, el := range e.Elts {
			v, err := plainValue(el, probs, &chain{parent: p, index: i})
			if err != nil {
				return nil, err
			}
			l.elems = append(l.elems, v)
		}
		return l, nil
	case *ast.UnaryExpr:
		if e.Op != token.SUB {
			return nil, errNotPlain
		}
		v, err := plainValue(e.X, probs, p)
		if err != nil || (v.kind != kInt && v.kind != kFloat) || v.text == "0" {
			return nil, errNotPlain
		}
		v.text, v.pos = "-"+v.text, e.Pos()
		return v, nil
	case *ast.BasicLit:
		switch e.Kind {
		case token.STRING:
			s, err := literal.Unquote(e.Value)
			if err != nil || len(e.Value) > 0 && e.Value[0] == '\'' {
				return nil, errNotPlain // bytes, or something to let CUE explain
			}
			return &value{kind: kString, pos: e.Pos(), text: s}, nil
		case token.INT:
			if !plainInt.MatchString(e.Value) || len(e.Value) > 18 {
				return nil, errNotPlain // 0x10, 1_000, 1Ki, huge: CUE knows
			}
			return &value{kind: kInt, pos: e.Pos(), text: e.Value}, nil
		case token.FLOAT:
			return &value{kind: kFloat, pos: e.Pos(), text: e.Value}, nil
		case token.TRUE, token.FALSE:
			return &value{kind: kBool, pos: e.Pos(), b: e.Kind == token.TRUE}, nil
		case token.NULL:
			return &value{kind: kNull, pos: e.Pos()}, nil
		}
	}
	return nil, errNotPlain
}

// merge unifies b into a as CUE does for data: structs take the union of
// their fields, lists unify element by element, scalars must be equal.
func merge(a, b *value, probs *Problems, p *chain) {
	switch {
	case a.kind == kStruct && b.kind == kStruct:
		for _, f := range b.fields {
			if old := a.lookup(f.name); old != nil {
				merge(old.v, f.v, probs, &chain{parent: p, name: f.name})
			} else {
				a.add(f)
			}
		}
	case a.kind == kList && b.kind == kList && len(a.elems) == len(b.elems):
		for i := range a.elems {
			merge(a.elems[i], b.elems[i], probs, &chain{parent: p, index: i})
		}
	case a.kind == kList && b.kind == kList:
		*probs = append(*probs, problemAt(b.pos, p.path().String(), "incompatible list lengths (%d and %d) (also at %s)", len(a.elems), len(b.elems), posString(a.pos)))
	case a.kind != b.kind:
		*probs = append(*probs, problemAt(a.pos, p.path().String(), "conflicting values %s and %s (mismatched types %s and %s) (also at %s)",
			a.show(), b.show(), a.kind, b.kind, posString(b.pos)))
	case a.text != b.text || a.b != b.b:
		*probs = append(*probs, problemAt(a.pos, p.path().String(), "conflicting values %s and %s (also at %s)", a.show(), b.show(), posString(b.pos)))
	}
}

func posString(p token.Pos) string {
	return fmt.Sprintf("%s:%d:%d", displayPath(p.Filename()), p.Line(), p.Column())
}
