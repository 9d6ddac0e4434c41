package bicepcheck

import "strings"

// File is what ParseBicep reads of a .bicep file.
type File struct {
	Extensions []Extension
	Resources  []*Resource // in source order; a nested resource follows its parent
	Calls      []*Call     // every function call outside string interpolations
}

// Extension is an `extension` (or older `provider`/`import`) declaration:
// `extension microsoftGraphV1` names a bicepconfig.json alias,
// `extension 'br:...'` a registry reference.
type Extension struct {
	Pos   Pos
	Name  string // the identifier or the string
	Alias string // after `as`
}

// Resource is one `resource` declaration.
type Resource struct {
	Pos      Pos
	Symbol   string
	Type     string // full type and version: "Microsoft.Graph/applications@v1.0"
	Existing bool
	// Parent is the symbol of the resource this one is nested in, or the
	// one its `parent:` property names.
	Parent string
	// Body is what follows `=`: an *Object, or an *If or *For around one.
	Body Expr
}

// Expr is a Bicep expression. Only object and array literals, strings
// and scalars, loops, conditions and ternaries matter to the checks; the
// other nodes are kept so the parser can step over them.
type Expr interface{ At() Pos }

type (
	// Object is an object literal.
	Object struct {
		Pos   Pos
		Props []Prop
	}
	// Prop is one entry of an object literal: Key: Value, or ...Value.
	Prop struct {
		Pos     Pos
		Key     string
		Dynamic bool // an interpolated key: Key is its source
		Spread  bool // ...Value: Key is empty
		Value   Expr
	}
	// Array is an array literal; a spread item is a *Spread.
	Array struct {
		Pos   Pos
		Items []Expr
	}
	// Spread is ...X in an array.
	Spread struct {
		Pos Pos
		X   Expr
	}
	// For is [for item in Iter: Body].
	For struct {
		Pos  Pos
		Iter Expr
		Body Expr
	}
	// If is `if (Cond) Body`, a resource's or a loop body's condition.
	If struct {
		Pos  Pos
		Cond Expr
		Body Expr
	}
	// Ternary is Cond ? Then : Else.
	Ternary struct {
		Pos              Pos
		Cond, Then, Else Expr
	}
	// String is a string literal; Interpolated strings keep their source
	// in Value.
	String struct {
		Pos          Pos
		Value        string
		Interpolated bool
	}
	// Literal is an integer, true, false or null, as written.
	Literal struct {
		Pos  Pos
		Text string
	}
	// Ident is a name: a variable, parameter, resource or loop item.
	Ident struct {
		Pos  Pos
		Name string
	}
	// Call is Func(Args...); Func is "loadJsonContent",
	// "sys.loadJsonContent", "app.listKeys" as written.
	Call struct {
		Pos  Pos
		Func string
		Args []Expr
	}
	// Lambda is x => Body or (x, i) => Body, as map() and filter() take.
	Lambda struct {
		Pos    Pos
		Params []string
		Body   Expr
	}
	// Other is any other expression (member access, index, operators):
	// the checks do not look inside it.
	Other struct {
		Pos  Pos
		Kids []Expr
	}
)

func (e *Object) At() Pos  { return e.Pos }
func (e *Array) At() Pos   { return e.Pos }
func (e *Spread) At() Pos  { return e.Pos }
func (e *For) At() Pos     { return e.Pos }
func (e *If) At() Pos      { return e.Pos }
func (e *Ternary) At() Pos { return e.Pos }
func (e *String) At() Pos  { return e.Pos }
func (e *Literal) At() Pos { return e.Pos }
func (e *Ident) At() Pos   { return e.Pos }
func (e *Call) At() Pos    { return e.Pos }
func (e *Lambda) At() Pos  { return e.Pos }
func (e *Other) At() Pos   { return e.Pos }

// PropertyPath is a property an object literal sets, as the names from the
// resource body down ("web", "redirectUris"); arrays and loops add no name.
type PropertyPath struct {
	Pos  Pos
	Path []string
}

// PropertyPaths lists the properties a body sets wherever the value is an
// object literal, in source order: through conditions, loops, both arms of
// ternaries, array items and the calls Values sees through. Spreads and
// computed names are left out.
func PropertyPaths(body Expr) []PropertyPath {
	var out []PropertyPath
	var walk func(e Expr, path []string)
	walk = func(e Expr, path []string) {
		switch x := e.(type) {
		case *Object:
			for _, p := range x.Props {
				if p.Spread || p.Dynamic {
					continue
				}
				at := append(path[:len(path):len(path)], p.Key)
				out = append(out, PropertyPath{Pos: p.Pos, Path: at})
				walk(p.Value, at)
			}
		case *Array:
			for _, it := range x.Items {
				walk(it, path)
			}
		case *For:
			walk(x.Body, path)
		case *If:
			walk(x.Body, path)
		case *Ternary:
			walk(x.Then, path)
			walk(x.Else, path)
		case *Call:
			for _, v := range Values(x) {
				walk(v, path)
			}
		}
	}
	walk(body, nil)
	return out
}

// Values returns what a call's result is built from, for the functions
// that build arrays and objects out of their arguments: each item
// map(xs, x => item) makes, the arguments of concat() and union(), the
// array filter(), sort(), take() and skip() pass on. Other calls: nil.
func Values(c *Call) []Expr {
	switch strings.TrimPrefix(c.Func, "sys.") {
	case "map":
		if len(c.Args) == 2 {
			if l, ok := c.Args[1].(*Lambda); ok {
				return []Expr{&For{Pos: l.Pos, Iter: c.Args[0], Body: l.Body}}
			}
		}
	case "concat", "union":
		return c.Args
	case "filter", "sort", "take", "skip":
		if len(c.Args) > 0 {
			return c.Args[:1]
		}
	}
	return nil
}
