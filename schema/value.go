package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/token"
)

// A value is configuration data as the schema sees it: the user's package
// reduced to plain data (structs, lists, strings, numbers, booleans), with the
// place each piece was written where that is known.
type value struct {
	kind   kind
	pos    token.Pos      // where the value was written; NoPos when unknown
	fields []*field       // kStruct, in the order written
	index  map[string]int // kStruct with many fields: name -> index in fields
	elems  []*value       // kList
	text   string         // kString: the string; kInt, kFloat: the number as written
	b      bool           // kBool
}

type field struct {
	name string
	pos  token.Pos // where the label was written
	v    *value
}

type kind uint8

const (
	kNull kind = iota
	kBool
	kInt
	kFloat
	kString
	kStruct
	kList
)

func (k kind) String() string {
	return [...]string{"null", "bool", "int", "float", "string", "struct", "list"}[k]
}

func newStruct(pos token.Pos) *value { return &value{kind: kStruct, pos: pos} }

// indexAbove is the number of fields from which a struct keeps a map; most
// structs (a real server has 3 to 8 fields) are searched faster without one,
// and 100,000 maps would be most of a large cluster's memory.
const indexAbove = 16

func (v *value) lookup(name string) *field {
	if v.index != nil {
		if i, ok := v.index[name]; ok {
			return v.fields[i]
		}
		return nil
	}
	for _, f := range v.fields {
		if f.name == name {
			return f
		}
	}
	return nil
}

func (v *value) add(f *field) {
	v.fields = append(v.fields, f)
	switch {
	case v.index != nil:
		v.index[f.name] = len(v.fields) - 1
	case len(v.fields) > indexAbove:
		v.index = make(map[string]int, len(v.fields)*2)
		for i, f := range v.fields {
			v.index[f.name] = i
		}
	}
}

// clone copies a struct or list (defaults are shared by every place they
// fill); scalars are never changed, so they are shared.
func (v *value) clone() *value {
	if v.kind != kStruct && v.kind != kList {
		return v
	}
	c := *v
	if v.kind == kStruct {
		c.fields, c.index = nil, nil
		for _, f := range v.fields {
			c.add(&field{name: f.name, pos: f.pos, v: f.v.clone()})
		}
	}
	if v.kind == kList {
		c.elems = make([]*value, len(v.elems))
		for i, e := range v.elems {
			c.elems[i] = e.clone()
		}
	}
	return &c
}

// show renders a scalar for messages, as CUE would write it.
func (v *value) show() string {
	switch v.kind {
	case kString:
		return strconv.Quote(v.text)
	case kInt, kFloat:
		return v.text
	case kBool:
		return strconv.FormatBool(v.b)
	case kNull:
		return "null"
	case kStruct:
		return "{...}"
	}
	return "[...]"
}

// appendJSON writes v as JSON, for decoding into the Go types.
func (v *value) appendJSON(b []byte) []byte {
	switch v.kind {
	case kNull:
		return append(b, "null"...)
	case kBool:
		return strconv.AppendBool(b, v.b)
	case kInt, kFloat:
		return append(b, v.text...)
	case kString:
		return appendJSONString(b, v.text)
	case kList:
		b = append(b, '[')
		for i, e := range v.elems {
			if i > 0 {
				b = append(b, ',')
			}
			b = e.appendJSON(b)
		}
		return append(b, ']')
	}
	b = append(b, '{')
	for i, f := range v.fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(appendJSONString(b, f.name), ':')
		b = f.v.appendJSON(b)
	}
	return append(b, '}')
}

// appendJSONString quotes s for JSON. CUE strings are valid UTF-8, so only
// quotes, backslashes and control characters need escaping.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// A chain is a path under construction while walking data: each level lives
// on its walker's stack, and only a problem turns it into a path.
type chain struct {
	parent *chain
	name   string
	index  int // for a list element; name is "" then
}

func (c *chain) path() at {
	n := 0
	for x := c; x != nil; x = x.parent {
		n++
	}
	p := make(at, n)
	for x := c; x != nil; x = x.parent {
		n--
		if x.name == "" {
			p[n] = cue.Index(x.index)
		} else {
			p[n] = cue.Str(x.name)
		}
	}
	return p
}

// valueFromJSON reads JSON (from cue.Value.MarshalJSON) into a value, keeping
// field order. Positions are unknown; a locator finds them when needed.
func valueFromJSON(data []byte) (*value, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := readJSON(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("trailing data after JSON value")
	}
	return v, nil
}

func readJSON(dec *json.Decoder) (*value, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			l := &value{kind: kList}
			for dec.More() {
				e, err := readJSON(dec)
				if err != nil {
					return nil, err
				}
				l.elems = append(l.elems, e)
			}
			_, err := dec.Token()
			return l, err
		}
		s := newStruct(token.NoPos)
		for dec.More() {
			name, err := dec.Token()
			if err != nil {
				return nil, err
			}
			e, err := readJSON(dec)
			if err != nil {
				return nil, err
			}
			s.add(&field{name: name.(string), v: e})
		}
		_, err := dec.Token()
		return s, err
	case string:
		return &value{kind: kString, text: t}, nil
	case json.Number:
		if _, err := strconv.ParseInt(string(t), 10, 64); err == nil {
			return &value{kind: kInt, text: string(t)}, nil
		}
		return &value{kind: kFloat, text: string(t)}, nil
	case bool:
		return &value{kind: kBool, b: t}, nil
	}
	return &value{kind: kNull}, nil
}

// A locator says where the field at a path was written.
type locator interface {
	at(path at) token.Pos
}

// treeLocator finds places in a value read from the files themselves: the
// label of the deepest field of path that exists.
type treeLocator struct{ root *value }

func (l treeLocator) at(path at) token.Pos {
	v, pos := l.root, l.root.pos
	for _, sel := range path {
		switch {
		case v.kind == kStruct && sel.Type() == cue.StringLabel:
			f := v.lookup(sel.Unquoted())
			if f == nil {
				return pos
			}
			v, pos = f.v, f.pos
		case v.kind == kList && sel.Type() == cue.IndexLabel && sel.Index() < len(v.elems):
			v = v.elems[sel.Index()]
			pos = v.pos
		default:
			return pos
		}
	}
	return pos
}
