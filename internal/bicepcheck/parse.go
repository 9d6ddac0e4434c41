package bicepcheck

import (
	"fmt"
	"strings"
)

// maxDepth bounds nesting, so that hostile input returns an error instead
// of exhausting the stack.
const maxDepth = 200

// ParseBicep reads the declarations of a .bicep file: extensions,
// resources with their bodies (nested resources included), and the
// function calls of every expression it parses. Parameters' and outputs'
// types, `type` and `func` declarations and imports are stepped over.
func ParseBicep(src []byte) (*File, error) {
	toks, err := lex(string(src))
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks, file: &File{}}
	if err := p.parseFile(); err != nil {
		return nil, err
	}
	return p.file, nil
}

type parser struct {
	toks    []token
	i       int
	depth   int
	file    *File
	current *Resource // the resource whose body is being read
}

type parseError struct{ err error }

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) peekN(n int) token {
	if p.i+n >= len(p.toks) {
		return p.toks[len(p.toks)-1]
	}
	return p.toks[p.i+n]
}

func (p *parser) advance() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

func (p *parser) is(text string) bool {
	t := p.peek()
	return (t.kind == tokPunct || t.kind == tokIdent) && t.text == text
}

func (p *parser) fail(t token, format string, args ...any) {
	panic(parseError{fmt.Errorf("bicepcheck: %s: %s (at %s)", t.pos, fmt.Sprintf(format, args...), t)})
}

func (p *parser) expect(text string) token {
	if !p.is(text) {
		p.fail(p.peek(), "want '%s'", text)
	}
	return p.advance()
}

func (p *parser) ident() token {
	if p.peek().kind != tokIdent {
		p.fail(p.peek(), "want a name")
	}
	return p.advance()
}

func (p *parser) skipNewlines() {
	for p.peek().kind == tokNewline {
		p.advance()
	}
}

// continues reports whether the line ends but the expression goes on: the
// next line starts with an operator that cannot start anything else.
func (p *parser) continues(ops ...string) bool {
	if p.peek().kind != tokNewline {
		return false
	}
	next := p.peekN(1)
	for _, op := range ops {
		if next.kind == tokPunct && next.text == op {
			p.advance()
			return true
		}
	}
	return false
}

func (p *parser) enter() {
	p.depth++
	if p.depth > maxDepth {
		p.fail(p.peek(), "nested too deep")
	}
}

func (p *parser) leave() { p.depth-- }

// parseFile recovers the parser's own panics (and only those) as errors.
func (p *parser) parseFile() (err error) {
	defer func() {
		if r := recover(); r != nil {
			pe, ok := r.(parseError)
			if !ok {
				panic(r)
			}
			err = pe.err
		}
	}()
	for {
		p.skipNewlines()
		if p.peek().kind == tokEOF {
			return nil
		}
		p.declaration()
		if t := p.peek(); t.kind != tokNewline && t.kind != tokEOF {
			p.fail(t, "want a newline after the declaration")
		}
	}
}

func (p *parser) declaration() {
	for p.is("@") { // decorators
		p.advance()
		p.expr()
		p.skipNewlines()
	}
	t := p.ident()
	switch t.text {
	case "targetScope":
		p.expect("=")
		p.expr()
	case "extension", "provider":
		p.extension(t)
	case "import":
		// `import 'ext@1.0.0' [with {...}] as name` (legacy extension
		// syntax) or a compile-time import of types and values.
		if p.peek().kind == tokString && strings.Contains(p.peek().text, "@") {
			p.extension(t)
			return
		}
		p.skipDeclaration()
	case "metadata", "var", "param", "output", "assert":
		p.ident()
		// A parameter's, output's or typed variable's type, up to `=` or
		// the end of the line.
		if p.skipTo("=") {
			p.expect("=")
			p.expr()
		}
	case "resource":
		p.resource(t, "", "")
	case "module", "test":
		p.ident()
		if p.peek().kind != tokString {
			p.fail(p.peek(), "want the module's path")
		}
		p.advance()
		p.expect("=")
		p.body()
	case "type", "func", "using":
		p.skipDeclaration()
	default:
		p.fail(t, "unknown declaration")
	}
}

func (p *parser) extension(kw token) {
	e := Extension{Pos: kw.pos}
	switch t := p.advance(); t.kind {
	case tokIdent, tokString:
		e.Name = t.text
	default:
		p.fail(t, "want an extension name")
	}
	if p.is("with") {
		p.advance()
		p.expr()
	}
	if p.is("as") {
		p.advance()
		e.Alias = p.ident().text
	}
	p.file.Extensions = append(p.file.Extensions, e)
}

// resource reads `resource sym 'Type@ver' [existing] = body` after the
// keyword; parentSym and parentType are set for a nested resource.
func (p *parser) resource(kw token, parentSym, parentType string) {
	r := &Resource{Pos: kw.pos, Symbol: p.ident().text, Parent: parentSym}
	t := p.advance()
	if t.kind != tokString || t.interpolated {
		p.fail(t, "want the resource type as a plain string")
	}
	r.Type = t.text
	if parentType != "" {
		r.Type = childType(parentType, t.text)
	}
	if p.is("existing") {
		p.advance()
		r.Existing = true
	}
	p.expect("=")
	p.file.Resources = append(p.file.Resources, r)
	r.Body = p.bodyOf(r)
	if obj := bodyObject(r.Body); obj != nil && r.Parent == "" {
		for _, prop := range obj.Props {
			if prop.Key == "parent" && !prop.Dynamic {
				r.Parent = rootName(prop.Value)
			}
		}
	}
}

// rootName is the name an expression starts from: app in app,
// apps[0] and app::child.
func rootName(e Expr) string {
	for {
		switch x := e.(type) {
		case *Ident:
			return x.Name
		case *Other:
			if len(x.Kids) == 0 {
				return ""
			}
			e = x.Kids[0]
		default:
			return ""
		}
	}
}

// childType turns a nested resource's relative type into a full one:
// 'federatedIdentityCredentials' inside Microsoft.Graph/applications@v1.0
// is Microsoft.Graph/applications/federatedIdentityCredentials@v1.0.
func childType(parent, child string) string {
	base, version, _ := strings.Cut(parent, "@")
	name, childVersion, ok := strings.Cut(child, "@")
	if ok {
		version = childVersion
	}
	return base + "/" + name + "@" + version
}

// bodyObject returns the object literal a resource body sets, through its
// loop and condition.
func bodyObject(e Expr) *Object {
	for {
		switch x := e.(type) {
		case *Object:
			return x
		case *For:
			e = x.Body
		case *If:
			e = x.Body
		default:
			return nil
		}
	}
}

// bodyOf reads r's body with r as the parent of nested resources.
func (p *parser) bodyOf(r *Resource) Expr {
	saved := p.current
	p.current = r
	defer func() { p.current = saved }()
	return p.body()
}

// body reads what follows `=` in a resource or module, or `:` in a loop:
// `if (cond) {...}`, a loop, or an expression.
func (p *parser) body() Expr {
	if p.is("if") && p.peekN(1).kind == tokPunct && p.peekN(1).text == "(" {
		t := p.advance()
		p.expect("(")
		p.skipNewlines()
		cond := p.expr()
		p.skipNewlines()
		p.expect(")")
		return &If{Pos: t.pos, Cond: cond, Body: p.expr()}
	}
	return p.expr()
}

// skipTo steps over tokens at bracket depth 0 up to text (true) or the end
// of the line (false).
func (p *parser) skipTo(text string) bool {
	depth := 0
	for {
		t := p.peek()
		switch {
		case t.kind == tokEOF:
			return false
		case depth == 0 && t.kind == tokNewline:
			return false
		case depth == 0 && t.kind == tokPunct && t.text == text:
			return true
		case t.kind == tokPunct && (t.text == "(" || t.text == "[" || t.text == "{"):
			depth++
		case t.kind == tokPunct && (t.text == ")" || t.text == "]" || t.text == "}"):
			if depth--; depth < 0 {
				p.fail(t, "unbalanced '%s'", t.text)
			}
		}
		p.advance()
	}
}

func (p *parser) skipDeclaration() { p.skipTo("\x00") }

// Expressions, loosest first: ternary, ??, ||, &&, equality, comparison,
// + -, * / %, unary, postfix.
var binaryLevels = [][]string{{"??"}, {"||"}, {"&&"}, {"==", "!=", "=~", "!~"}, {"<", "<=", ">", ">="}, {"+", "-"}, {"*", "/", "%"}}

func (p *parser) expr() Expr {
	p.enter()
	defer p.leave()
	cond := p.binary(0)
	if p.is("?") || p.continues("?") {
		t := p.advance()
		p.skipNewlines()
		then := p.expr()
		p.continues(":")
		p.skipNewlines()
		p.expect(":")
		p.skipNewlines()
		return &Ternary{Pos: t.pos, Cond: cond, Then: then, Else: p.expr()}
	}
	return cond
}

func (p *parser) binary(level int) Expr {
	if level == len(binaryLevels) {
		return p.unary()
	}
	x := p.binary(level + 1)
	for {
		op := ""
		for _, o := range binaryLevels[level] {
			if (p.peek().kind == tokPunct && p.peek().text == o) || (level <= 2 && p.continues(o)) {
				op = o
				break
			}
		}
		if op == "" {
			return x
		}
		t := p.advance()
		p.skipNewlines()
		p.enter()
		y := p.binary(level + 1)
		p.leave()
		x = &Other{Pos: t.pos, Kids: []Expr{x, y}}
	}
}

func (p *parser) unary() Expr {
	if p.is("!") || p.is("-") || p.is("+") {
		t := p.advance()
		p.enter()
		defer p.leave()
		return &Other{Pos: t.pos, Kids: []Expr{p.unary()}}
	}
	return p.postfix(p.primary())
}

func (p *parser) postfix(x Expr) Expr {
	for {
		t := p.peek()
		if t.kind != tokPunct {
			return x
		}
		switch t.text {
		case ".", ".?", "::":
			p.advance()
			name := p.ident()
			if p.is("(") { // sys.loadJsonContent(...), app.listKeys()
				fn := name.text
				if id, ok := x.(*Ident); ok {
					fn = id.Name + "." + fn
				}
				x = p.call(x.At(), fn)
				continue
			}
			x = &Other{Pos: t.pos, Kids: []Expr{x}}
		case "[":
			p.advance()
			if p.is("?") {
				p.advance()
			}
			p.skipNewlines()
			i := p.expr()
			p.skipNewlines()
			p.expect("]")
			x = &Other{Pos: t.pos, Kids: []Expr{x, i}}
		case "!": // non-null assertion
			p.advance()
			x = &Other{Pos: t.pos, Kids: []Expr{x}}
		default:
			return x
		}
	}
}

func (p *parser) call(pos Pos, name string) Expr {
	c := &Call{Pos: pos, Func: name}
	p.expect("(")
	p.skipNewlines()
	for !p.is(")") {
		c.Args = append(c.Args, p.expr())
		p.skipNewlines()
		if !p.is(")") {
			p.expect(",")
			p.skipNewlines()
		}
	}
	p.advance()
	p.file.Calls = append(p.file.Calls, c)
	return c
}

func (p *parser) primary() Expr {
	t := p.peek()
	switch t.kind {
	case tokString:
		p.advance()
		return &String{Pos: t.pos, Value: t.text, Interpolated: t.interpolated}
	case tokInt:
		p.advance()
		return &Literal{Pos: t.pos, Text: t.text}
	case tokIdent:
		p.advance()
		switch {
		case t.text == "true" || t.text == "false" || t.text == "null":
			return &Literal{Pos: t.pos, Text: t.text}
		case p.is("=>"):
			p.advance()
			p.skipNewlines()
			return &Lambda{Pos: t.pos, Params: []string{t.text}, Body: p.expr()}
		case p.is("("):
			return p.call(t.pos, t.text)
		}
		return &Ident{Pos: t.pos, Name: t.text}
	case tokPunct:
		switch t.text {
		case "(":
			if p.isLambda() {
				l := &Lambda{Pos: t.pos}
				for p.advance(); !p.is(")"); p.advance() { // names, commas, newlines
					if p.peek().kind == tokIdent {
						l.Params = append(l.Params, p.peek().text)
					}
				}
				p.advance()
				p.expect("=>")
				p.skipNewlines()
				l.Body = p.expr()
				return l
			}
			p.advance()
			p.skipNewlines()
			x := p.expr()
			p.skipNewlines()
			p.expect(")")
			return x
		case "{":
			return p.object()
		case "[":
			return p.array()
		}
	}
	p.fail(t, "want an expression")
	return nil
}

// isLambda looks past a parenthesised list of names for `=>`.
func (p *parser) isLambda() bool {
	j := p.i + 1
	for ; j < len(p.toks); j++ {
		t := p.toks[j]
		if t.kind == tokPunct && t.text == ")" {
			break
		}
		if t.kind != tokIdent && t.kind != tokNewline && !(t.kind == tokPunct && t.text == ",") {
			return false
		}
	}
	return j+1 < len(p.toks) && p.toks[j+1].kind == tokPunct && p.toks[j+1].text == "=>"
}

func (p *parser) object() Expr {
	p.enter()
	defer p.leave()
	o := &Object{Pos: p.expect("{").pos}
	p.skipNewlines()
	for !p.is("}") {
		t := p.peek()
		switch {
		case p.is("..."):
			p.advance()
			o.Props = append(o.Props, Prop{Pos: t.pos, Spread: true, Value: p.expr()})
		case t.kind == tokIdent && t.text == "resource" && p.peekN(1).kind == tokIdent:
			// A nested resource: its own declaration, not a property.
			p.advance()
			parent := p.current
			if parent == nil {
				p.fail(t, "a nested resource outside a resource")
			}
			p.resource(t, parent.Symbol, parent.Type)
		case t.kind == tokIdent || t.kind == tokString:
			p.advance()
			p.expect(":")
			p.skipNewlines()
			o.Props = append(o.Props, Prop{Pos: t.pos, Key: t.text, Dynamic: t.interpolated, Value: p.expr()})
		default:
			p.fail(t, "want a property name")
		}
		p.separator("}")
	}
	p.advance()
	return o
}

// separator steps over what ends an object's property or an array's item:
// a comma, newlines, or nothing before the closing bracket.
func (p *parser) separator(closing string) {
	switch {
	case p.is(","):
		p.advance()
		p.skipNewlines()
	case p.peek().kind == tokNewline:
		p.skipNewlines()
	case !p.is(closing):
		p.fail(p.peek(), "want a newline, ',' or '%s'", closing)
	}
}

func (p *parser) array() Expr {
	p.enter()
	defer p.leave()
	open := p.expect("[")
	p.skipNewlines()
	if next := p.peekN(1); p.is("for") && (next.kind == tokIdent || (next.kind == tokPunct && next.text == "(")) {
		p.advance()
		if p.is("(") { // (item, index)
			p.advance()
			p.ident()
			p.expect(",")
			p.ident()
			p.expect(")")
		} else {
			p.ident()
		}
		p.expect("in")
		iter := p.expr()
		p.expect(":")
		p.skipNewlines()
		f := &For{Pos: open.pos, Iter: iter, Body: p.body()}
		p.skipNewlines()
		p.expect("]")
		return f
	}
	a := &Array{Pos: open.pos}
	for !p.is("]") {
		if t := p.peek(); p.is("...") {
			p.advance()
			a.Items = append(a.Items, &Spread{Pos: t.pos, X: p.expr()})
		} else {
			a.Items = append(a.Items, p.expr())
		}
		p.separator("]")
	}
	p.advance()
	return a
}
