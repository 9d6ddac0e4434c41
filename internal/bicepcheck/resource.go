package bicepcheck

import (
	"encoding/json"
	"fmt"
	"strings"
)

// bicepOnly are the properties Bicep itself reads in a resource body; they
// are not sent to the resource provider.
var bicepOnly = map[string]bool{"parent": true, "dependsOn": true}

// CheckResource checks what r's body sets, against r's type: every
// property at any depth where the value is an object or array literal (in
// loops, conditions and both arms of a ternary) must exist and must not be
// read-only; an `existing` body may set only identifiers (uniqueName, or a
// service principal's appId); literal values are checked like CheckValue's.
// The items of map(xs, x => {...}) and the arguments of concat() and
// union() are checked as the array or object they build (Values).
// A property set from another expression (app.web) is not looked into;
// an object spread (...app) is reported as Unchecked, since it could set
// anything.
func (ts *Types) CheckResource(r *Resource) []Problem {
	body, ok := ts.Resource(r.Type)
	if !ok {
		return []Problem{{Path: r.Symbol, Line: r.Pos.Line, Kind: UnknownResourceType,
			Message: fmt.Sprintf("%s is not one of %s", r.Type, strings.Join(ts.ResourceTypes(), ", "))}}
	}
	c := &resourceCheck{ts: ts, r: r}
	if ts.resourceIsReadOnly(r.Type) && !r.Existing {
		c.add(r.Symbol, r.Pos, ReadOnlyProperty, fmt.Sprintf("%s can only be declared existing", r.Type))
	}
	c.body(r.Body, body)
	return c.out
}

type resourceCheck struct {
	ts  *Types
	r   *Resource
	out []Problem
	// merging counts the union() calls being looked into: each argument
	// is part of the object, so required properties may be elsewhere.
	merging int
}

func (c *resourceCheck) add(path string, at Pos, kind ProblemKind, msg string) {
	c.out = append(c.out, Problem{Path: path, Line: at.Line, Kind: kind, Message: msg})
}

// body checks a resource body: the object literal, through its loop,
// condition or ternary.
func (c *resourceCheck) body(e Expr, t TypeRef) {
	switch x := e.(type) {
	case *If:
		c.body(x.Body, t)
	case *For:
		c.body(x.Body, t)
	case *Ternary:
		c.body(x.Then, t)
		c.body(x.Else, t)
	case *Object:
		set := map[string]bool{}
		open := false // a spread or a computed key: required properties may be set
		for _, p := range x.Props {
			if !p.Spread && !p.Dynamic && bicepOnly[p.Key] {
				continue
			}
			c.prop(t, p, c.r.Symbol, true)
			set[p.Key] = true
			open = open || p.Spread || p.Dynamic
		}
		if open {
			return
		}
		also := Flags(0)
		if c.r.Existing { // an existing body needs only what selects the object
			also = Identifier
		}
		c.out = append(c.out, c.ts.missingRequired(t, also, func(k string) bool { return set[k] }, c.r.Symbol, x.Pos.Line)...)
	default:
		c.add(c.r.Symbol, e.At(), Unchecked, "the body is an expression, not an object literal: its properties cannot be checked")
	}
}

// prop checks one property of an object literal of type t.
func (c *resourceCheck) prop(t TypeRef, p Prop, path string, top bool) {
	switch {
	case p.Spread:
		c.add(path, p.Pos, Unchecked, "a spread (...) can set any property, read-only ones included (a manifest application carries appId): set the properties one by one")
		return
	case p.Dynamic:
		c.add(path, p.Pos, Unchecked, "a computed property name cannot be checked: "+p.Key)
		return
	}
	at := path + "." + p.Key
	def, ok := c.ts.lookup(t, p.Key)
	switch {
	case !ok:
		c.out = append(c.out, c.ts.unknown(t, p.Key, at, p.Pos.Line))
		return
	case def.Flags&ReadOnly != 0:
		c.add(at, p.Pos, ReadOnlyProperty, fmt.Sprintf("%s is read-only in %s: Graph sets it", p.Key, c.ts.Describe(t)))
		return
	case top && c.r.Existing && def.Flags&Identifier == 0:
		c.add(at, p.Pos, NotIdentifier, fmt.Sprintf("an existing %s is selected by its identifiers only; %s is not one", c.r.Type, p.Key))
		return
	}
	c.value(def.Type, p.Value, at)
}

// value checks an expression assigned where type t is expected.
func (c *resourceCheck) value(t TypeRef, e Expr, path string) {
	switch x := e.(type) {
	case *Object:
		if !c.is(t, ObjectKind) {
			c.add(path, x.Pos, WrongType, "an object literal where "+c.ts.Describe(t)+" is expected")
			return
		}
		set := map[string]bool{}
		open := false
		for _, p := range x.Props {
			c.prop(t, p, path, false)
			set[p.Key] = true
			open = open || p.Spread || p.Dynamic
		}
		if !open && c.merging == 0 && c.ts.Type(t).Kind == ObjectKind {
			c.out = append(c.out, c.ts.missingRequired(t, 0, func(k string) bool { return set[k] }, path, x.Pos.Line)...)
		}
	case *Array:
		item, ok := c.item(t)
		if !ok {
			c.add(path, x.Pos, WrongType, "an array literal where "+c.ts.Describe(t)+" is expected")
			return
		}
		for _, it := range x.Items {
			if _, spread := it.(*Spread); !spread { // a spread adds items from elsewhere
				c.value(item, it, path)
			}
		}
	case *For:
		item, ok := c.item(t)
		if !ok {
			c.add(path, x.Pos, WrongType, "a loop (an array) where "+c.ts.Describe(t)+" is expected")
			return
		}
		c.value(item, x.Body, path)
	case *If:
		c.value(t, x.Body, path)
	case *Ternary:
		c.value(t, x.Then, path)
		c.value(t, x.Else, path)
	case *Call:
		if strings.TrimPrefix(x.Func, "sys.") == "union" {
			c.merging++
			defer func() { c.merging-- }()
		}
		for _, v := range Values(x) {
			c.value(t, v, path)
		}
	case *String:
		if x.Interpolated {
			if !c.is(t, StringKind) && !c.is(t, StringLiteralKind) {
				c.add(path, x.Pos, WrongType, "a string where "+c.ts.Describe(t)+" is expected")
			}
			return
		}
		c.literal(t, x.Value, path, x.Pos)
	case *Literal:
		var v any
		switch x.Text {
		case "true":
			v = true
		case "false":
			v = false
		case "null":
			v = nil
		default:
			v = json.Number(x.Text)
		}
		c.literal(t, v, path, x.Pos)
	}
}

func (c *resourceCheck) literal(t TypeRef, v any, path string, at Pos) {
	for _, p := range c.ts.CheckValue(t, v) {
		p.Path = path + strings.TrimPrefix(p.Path, "$")
		p.Line = at.Line
		c.out = append(c.out, p)
	}
}

// is reports whether a value of kind k can be assigned to t: t is of that
// kind, any, or a union with such a member.
func (c *resourceCheck) is(t TypeRef, k Kind) bool {
	return c.find(t, func(x *Type) bool { return x.Kind == k || (k == ObjectKind && x.Kind == ResourceKind) }, 0)
}

func (c *resourceCheck) find(t TypeRef, match func(*Type) bool, depth int) bool {
	x := c.ts.Type(t)
	if match(x) || x.Kind == AnyKind {
		return true
	}
	if x.Kind == UnionKind && depth < 8 {
		for _, e := range x.Elements {
			if c.find(e, match, depth+1) {
				return true
			}
		}
	}
	return false
}

// item returns the item type of array type t (any's items are any).
func (c *resourceCheck) item(t TypeRef) (TypeRef, bool) {
	x := c.ts.Type(t)
	switch x.Kind {
	case ArrayKind:
		return x.ItemType, true
	case AnyKind:
		return t, true
	case UnionKind:
		for _, e := range x.Elements {
			if c.ts.Type(e).Kind == ArrayKind {
				return c.ts.Type(e).ItemType, true
			}
		}
	}
	return 0, false
}
