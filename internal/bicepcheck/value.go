package bicepcheck

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
)

// ProblemKind says what is wrong; tests match on it.
type ProblemKind string

const (
	UnknownProperty     ProblemKind = "unknown property"
	WrongType           ProblemKind = "wrong type"
	NotAllowed          ProblemKind = "value not allowed"     // outside a literal or a union of literals
	Constraint          ProblemKind = "constraint"            // pattern, length, range
	ReadOnlyProperty    ProblemKind = "read-only property"    // set, but the service owns it
	MissingRequired     ProblemKind = "missing required"      // a Required property not set
	NotIdentifier       ProblemKind = "not an identifier"     // set in an `existing` body
	Unchecked           ProblemKind = "unchecked"             // a spread or an expression hides the properties
	UnknownResourceType ProblemKind = "unknown resource type" // not in index.json
)

// Problem is one finding, at a JSON path ("$.web.redirectUris[0]") or, in a
// .bicep file, at a line and a property path ("app.web.redirectUris").
type Problem struct {
	Path    string
	Line    int // 1-based line in a .bicep file; 0 for JSON values
	Kind    ProblemKind
	Message string
}

func (p Problem) String() string {
	s := p.Path + ": " + string(p.Kind) + ": " + p.Message
	if p.Line > 0 {
		s = "line " + strconv.Itoa(p.Line) + ": " + s
	}
	return s
}

// CheckValue checks a JSON value (as encoding/json decodes it into any,
// with or without UseNumber) against type r. JSON null is accepted for any
// property that is not required, as Graph accepts it to clear a value.
func (ts *Types) CheckValue(r TypeRef, v any) []Problem {
	return ts.checkValue(r, v, "$", 0)
}

func (ts *Types) checkValue(r TypeRef, v any, path string, depth int) []Problem {
	if depth > 64 {
		return []Problem{{Path: path, Kind: Unchecked, Message: "nested too deep"}}
	}
	if v == nil {
		return nil
	}
	t := ts.Type(r)
	wrong := func() []Problem {
		return []Problem{{Path: path, Kind: WrongType, Message: fmt.Sprintf("want %s, got %s", ts.Describe(r), describeJSON(v))}}
	}
	switch t.Kind {
	case AnyKind:
		return nil
	case NullKind:
		return wrong()
	case StringKind:
		s, ok := v.(string)
		if !ok {
			return wrong()
		}
		return checkString(t, s, path)
	case StringLiteralKind:
		s, ok := v.(string)
		if !ok {
			return wrong()
		}
		if s != t.Value {
			return []Problem{{Path: path, Kind: NotAllowed, Message: fmt.Sprintf("%q is not %s", s, ts.Describe(r))}}
		}
		return nil
	case BooleanKind:
		if _, ok := v.(bool); !ok {
			return wrong()
		}
		return nil
	case IntegerKind:
		n, ok := integer(v)
		if !ok {
			return wrong()
		}
		if (t.MinValue != nil && n < *t.MinValue) || (t.MaxValue != nil && n > *t.MaxValue) {
			return []Problem{{Path: path, Kind: Constraint, Message: fmt.Sprintf("%d is out of range", n)}}
		}
		return nil
	case ArrayKind:
		items, ok := v.([]any)
		if !ok {
			return wrong()
		}
		var out []Problem
		if (t.MinLength != nil && len(items) < *t.MinLength) || (t.MaxLength != nil && len(items) > *t.MaxLength) {
			out = append(out, Problem{Path: path, Kind: Constraint, Message: fmt.Sprintf("%d items, outside the allowed length", len(items))})
		}
		for i, item := range items {
			out = append(out, ts.checkValue(t.ItemType, item, path+"["+strconv.Itoa(i)+"]", depth+1)...)
		}
		return out
	case ObjectKind:
		obj, ok := v.(map[string]any)
		if !ok {
			return wrong()
		}
		return ts.checkObject(r, obj, path, depth)
	case ResourceKind:
		return ts.checkValue(t.Body, v, path, depth+1)
	case UnionKind:
		return ts.checkUnion(r, t, v, path, depth)
	}
	return wrong()
}

func (ts *Types) checkObject(r TypeRef, obj map[string]any, path string, depth int) []Problem {
	t := ts.Type(r)
	var out []Problem
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		at := path + "." + k
		p, ok := t.Properties[k]
		switch {
		case !ok && t.AdditionalProperties != nil:
			out = append(out, ts.checkValue(*t.AdditionalProperties, obj[k], at, depth+1)...)
		case !ok:
			out = append(out, ts.unknown(r, k, at, 0))
		case p.Flags&ReadOnly != 0:
			out = append(out, Problem{Path: at, Kind: ReadOnlyProperty, Message: fmt.Sprintf("%s is read-only in %s", k, ts.Describe(r))})
		case obj[k] == nil && p.Flags&Required != 0:
			out = append(out, Problem{Path: at, Kind: WrongType, Message: "null for a required property"})
		default:
			out = append(out, ts.checkValue(p.Type, obj[k], at, depth+1)...)
		}
	}
	return append(out, ts.missingRequired(r, 0, func(k string) bool { _, ok := obj[k]; return ok }, path, 0)...)
}

// missingRequired reports each required, writable property of object r
// that has the flags also, and that set does not have.
func (ts *Types) missingRequired(r TypeRef, also Flags, set func(string) bool, path string, line int) []Problem {
	t := ts.Type(r)
	var names []string
	for n, p := range t.Properties {
		if p.Flags&Required != 0 && p.Flags&ReadOnly == 0 && p.Flags&also == also && !set(n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var out []Problem
	for _, n := range names {
		out = append(out, Problem{Path: path, Line: line, Kind: MissingRequired, Message: fmt.Sprintf("%s requires %s", ts.Describe(r), n)})
	}
	return out
}

func (ts *Types) unknown(r TypeRef, name, path string, line int) Problem {
	msg := fmt.Sprintf("%s has no property %q", ts.Describe(r), name)
	if s := suggest(name, ts.propertyNames(r, 0)); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return Problem{Path: path, Line: line, Kind: UnknownProperty, Message: msg}
}

func (ts *Types) checkUnion(r TypeRef, t *Type, v any, path string, depth int) []Problem {
	literalsOnly := len(t.Elements) > 0
	var sameKind [][]Problem // problems of the members whose kind fits v
	for _, e := range t.Elements {
		probs := ts.checkValue(e, v, path, depth+1)
		if len(probs) == 0 {
			return nil
		}
		et := ts.Type(e)
		if et.Kind != StringLiteralKind {
			literalsOnly = false
		}
		if probs[0].Kind != WrongType || probs[0].Path != path {
			sameKind = append(sameKind, probs)
		}
	}
	if s, ok := v.(string); ok && literalsOnly {
		return []Problem{{Path: path, Kind: NotAllowed, Message: fmt.Sprintf("%q is not one of %s", s, ts.Describe(r))}}
	}
	if len(sameKind) == 1 { // one member of v's kind: its problems say more
		return sameKind[0]
	}
	return []Problem{{Path: path, Kind: WrongType, Message: fmt.Sprintf("want %s, got %s", ts.Describe(r), describeJSON(v))}}
}

func checkString(t *Type, s, path string) []Problem {
	var out []Problem
	// Bicep counts a string's length as .NET does: UTF-16 code units.
	n := len(utf16.Encode([]rune(s)))
	if (t.MinLength != nil && n < *t.MinLength) || (t.MaxLength != nil && n > *t.MaxLength) {
		out = append(out, Problem{Path: path, Kind: Constraint, Message: fmt.Sprintf("%q: length %d outside %s", s, n, lengths(t))})
	}
	if t.pattern != nil && !t.pattern.MatchString(s) {
		out = append(out, Problem{Path: path, Kind: Constraint, Message: fmt.Sprintf("%q does not match %s", s, t.Pattern)})
	}
	return out
}

func lengths(t *Type) string {
	lo, hi := "0", "any"
	if t.MinLength != nil {
		lo = strconv.Itoa(*t.MinLength)
	}
	if t.MaxLength != nil {
		hi = strconv.Itoa(*t.MaxLength)
	}
	return lo + ".." + hi
}

// integer accepts the number types encoding/json and a caller produce.
func integer(v any) (int64, bool) {
	switch n := v.(type) {
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	case float64:
		if n != math.Trunc(n) || math.Abs(n) > 1<<53 {
			return 0, false
		}
		return int64(n), true
	case int:
		return int64(n), true
	case int64:
		return n, true
	}
	return 0, false
}

func describeJSON(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		if len(x) > 40 {
			x = x[:40] + "..."
		}
		return "string " + strconv.Quote(x)
	case bool:
		return "bool " + strconv.FormatBool(x)
	case json.Number:
		return "number " + x.String()
	case float64:
		return "number " + strconv.FormatFloat(x, 'g', -1, 64)
	case int, int64:
		return fmt.Sprintf("number %d", x)
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return strings.TrimPrefix(fmt.Sprintf("%T", v), "*")
}
