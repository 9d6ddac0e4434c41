package graph

import (
	"slices"
	"strings"
)

// filterExpr is a parsed $filter. needsAdvanced is the error Graph answers
// when the filter is used without the advanced query parameters
// (ConsistencyLevel: eventual and $count=true), nil if it needs none.
type filterExpr interface {
	eval(obj map[string]any) bool
	needsAdvanced() *queryError
}

type (
	andExpr struct{ l, r filterExpr }
	orExpr  struct{ l, r filterExpr }
	notExpr struct{ e filterExpr }
	cmpExpr struct {
		prop string
		op   string // eq, ne, startswith, endswith, in
		vals []any
		res  *resourceShape
	}
)

func (e andExpr) eval(o map[string]any) bool { return e.l.eval(o) && e.r.eval(o) }
func (e andExpr) needsAdvanced() *queryError {
	return firstErr(e.l.needsAdvanced(), e.r.needsAdvanced())
}
func (e orExpr) eval(o map[string]any) bool { return e.l.eval(o) || e.r.eval(o) }
func (e orExpr) needsAdvanced() *queryError {
	return firstErr(e.l.needsAdvanced(), e.r.needsAdvanced())
}
func (e notExpr) eval(o map[string]any) bool { return !e.e.eval(o) }
func (e notExpr) needsAdvanced() *queryError { return advancedOperator("not") }

func firstErr(a, b *queryError) *queryError {
	if a != nil {
		return a
	}
	return b
}

// advancedOperator is Graph's answer to an operator used without the
// advanced query parameters; the documented one names endsWith
// (https://learn.microsoft.com/graph/aad-advanced-queries#error-handling-for-advanced-queries-on-directory-objects).
func advancedOperator(op string) *queryError {
	return &queryError{"Request_UnsupportedQuery", "Operator '" + op + "' is not supported because the required parameters might be missing. " +
		"Try adding $count=true query parameter and ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries for more information"}
}

// unsupportedClause is Graph's answer to a filter on a property that does
// not support it (here, or without the advanced query parameters).
func unsupportedClause(prop string, res resourceShape) *queryError {
	return &queryError{"Request_UnsupportedQuery", "Unsupported or invalid query filter clause specified for property '" + prop + "' of resource '" + res.entityName() + "'."}
}

func (e cmpExpr) needsAdvanced() *queryError {
	switch {
	case e.op == "ne":
		// As captured from Graph (microsoft-graph-docs-contrib#9043).
		return &queryError{"Request_UnsupportedQuery", "Filter operator 'NotEqualsMatch' is not supported."}
	case e.op == "endswith":
		return advancedOperator("endsWith")
	case e.res.advancedOnly[e.prop] || slices.Contains(e.vals, nil):
		// Properties indexed only for advanced queries, and null values
		// (the "null values" column of Graph's table).
		return unsupportedClause(e.prop, *e.res)
	}
	return nil
}

func (e cmpExpr) eval(o map[string]any) bool {
	v := o[e.prop]
	switch e.op {
	case "eq", "in":
		for _, want := range e.vals {
			if equalFold(v, want) {
				return true
			}
		}
		return false
	case "ne":
		return !equalFold(v, e.vals[0])
	case "startswith", "endswith":
		s, ok := v.(string)
		w, _ := e.vals[0].(string)
		if !ok {
			return false
		}
		if e.op == "startswith" {
			return strings.HasPrefix(strings.ToLower(s), strings.ToLower(w))
		}
		return strings.HasSuffix(strings.ToLower(s), strings.ToLower(w))
	}
	return false
}

func equalFold(a, b any) bool {
	as, aok := a.(string)
	bs, bok := b.(string)
	if aok && bok {
		return strings.EqualFold(as, bs)
	}
	return a == b
}

// endsWithProps are the properties Graph filters with endsWith (advanced
// queries only): "mail, otherMails, userPrincipalName, and proxyAddresses".
var endsWithProps = map[string]bool{"mail": true, "otherMails": true, "userPrincipalName": true, "proxyAddresses": true}

// parseFilter parses the $filter subset Graph offers on directory objects:
// eq, ne, in, startswith, endswith, not, and, or, parentheses; string,
// boolean and null literals.
func parseFilter(src string, res resourceShape) (filterExpr, *queryError) {
	p := &filterParser{src: src, res: res}
	toks, err := tokenizeFilter(src)
	if err != nil {
		return nil, err
	}
	p.toks = toks
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.i != len(p.toks) {
		return nil, badQuery("Syntax error at position %d in '%s'.", p.pos(), src)
	}
	return e, nil
}

type filterToken struct {
	kind string // ident, string, punct
	text string
	at   int
}

func tokenizeFilter(s string) ([]filterToken, *queryError) {
	var out []filterToken
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ':
			i++
		case c == '(' || c == ')' || c == ',':
			out = append(out, filterToken{"punct", string(c), i})
			i++
		case c == '\'':
			start := i
			var b strings.Builder
			i++
			for {
				if i >= len(s) {
					return nil, badQuery("Unterminated string literal at position %d in '%s'.", start, s)
				}
				if s[i] == '\'' {
					if i+1 < len(s) && s[i+1] == '\'' { // '' escapes a quote
						b.WriteByte('\'')
						i += 2
						continue
					}
					i++
					break
				}
				b.WriteByte(s[i])
				i++
			}
			out = append(out, filterToken{"string", b.String(), start})
		default:
			start := i
			for i < len(s) && (s[i] == '_' || s[i] == '.' || s[i] == '-' || s[i] == '@' || 'a' <= s[i]|0x20 && s[i]|0x20 <= 'z' || '0' <= s[i] && s[i] <= '9') {
				i++
			}
			if i == start {
				return nil, badQuery("Syntax error: character '%c' is not valid at position %d in '%s'.", c, i, s)
			}
			out = append(out, filterToken{"ident", s[start:i], start})
		}
		if len(out) > 200 {
			return nil, badQuery("The $filter expression is too complex.")
		}
	}
	return out, nil
}

type filterParser struct {
	src   string
	res   resourceShape
	toks  []filterToken
	i     int
	depth int
}

func (p *filterParser) pos() int {
	if p.i < len(p.toks) {
		return p.toks[p.i].at
	}
	return len(p.src)
}

func (p *filterParser) peekWord(w string) bool {
	return p.i < len(p.toks) && p.toks[p.i].kind == "ident" && strings.EqualFold(p.toks[p.i].text, w)
}

func (p *filterParser) punct(c string) bool {
	if p.i < len(p.toks) && p.toks[p.i].kind == "punct" && p.toks[p.i].text == c {
		p.i++
		return true
	}
	return false
}

func (p *filterParser) or() (filterExpr, *queryError) {
	return p.chain("or", p.and, func(l, r filterExpr) filterExpr { return orExpr{l, r} })
}

func (p *filterParser) and() (filterExpr, *queryError) {
	return p.chain("and", p.term, func(l, r filterExpr) filterExpr { return andExpr{l, r} })
}

// chain parses operand {op operand}, joining left to right.
func (p *filterParser) chain(op string, operand func() (filterExpr, *queryError), join func(l, r filterExpr) filterExpr) (filterExpr, *queryError) {
	l, err := operand()
	if err != nil {
		return nil, err
	}
	for p.peekWord(op) {
		p.i++
		r, err := operand()
		if err != nil {
			return nil, err
		}
		l = join(l, r)
	}
	return l, nil
}

func (p *filterParser) term() (filterExpr, *queryError) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > 20 {
		return nil, badQuery("The $filter expression is nested too deeply.")
	}
	if p.peekWord("not") {
		p.i++
		e, err := p.term()
		if err != nil {
			return nil, err
		}
		return notExpr{e}, nil
	}
	if p.punct("(") {
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		if !p.punct(")") {
			return nil, badQuery("Syntax error: ')' expected at position %d in '%s'.", p.pos(), p.src)
		}
		return e, nil
	}
	if p.peekWord("startswith") || p.peekWord("endswith") {
		return p.stringFunction()
	}
	prop, err := p.property()
	if err != nil {
		return nil, err
	}
	switch {
	case p.peekWord("eq"), p.peekWord("ne"):
		op := strings.ToLower(p.toks[p.i].text)
		p.i++
		v, err := p.literal()
		if err != nil {
			return nil, err
		}
		return cmpExpr{prop, op, []any{v}, &p.res}, nil
	case p.peekWord("in"):
		p.i++
		if !p.punct("(") {
			return nil, badQuery("Syntax error: '(' expected after in, in '%s'.", p.src)
		}
		var vals []any
		for {
			v, err := p.literal()
			if err != nil {
				return nil, err
			}
			vals = append(vals, v)
			if p.punct(")") {
				break
			}
			if !p.punct(",") {
				return nil, badQuery("Syntax error: ',' or ')' expected in '%s'.", p.src)
			}
			if len(vals) >= 15 {
				return nil, badQuery("Too many values in the 'in' operator (15 at most).")
			}
		}
		return cmpExpr{prop, "in", vals, &p.res}, nil
	case p.peekWord("gt"), p.peekWord("ge"), p.peekWord("lt"), p.peekWord("le"):
		return nil, unsupportedClause(prop, p.res)
	}
	return nil, badQuery("Syntax error: an operator (eq, ne, in) is expected after '%s' in '%s'.", prop, p.src)
}

// stringFunction parses startswith(prop,'text') or endswith(prop,'text');
// Graph filters with endsWith only a few properties.
func (p *filterParser) stringFunction() (filterExpr, *queryError) {
	fn := strings.ToLower(p.toks[p.i].text)
	p.i++
	if !p.punct("(") {
		return nil, badQuery("Syntax error: '(' expected after %s in '%s'.", fn, p.src)
	}
	prop, err := p.property()
	if err != nil {
		return nil, err
	}
	if !p.punct(",") {
		return nil, badQuery("Syntax error: ',' expected in %s(...) in '%s'.", fn, p.src)
	}
	v, err := p.literal()
	if err != nil {
		return nil, err
	}
	if _, ok := v.(string); !ok {
		return nil, badQuery("%s needs a string literal.", fn)
	}
	if !p.punct(")") {
		return nil, badQuery("Syntax error: ')' expected in %s(...) in '%s'.", fn, p.src)
	}
	if fn == "endswith" && !endsWithProps[prop] {
		return nil, unsupportedClause(prop, p.res)
	}
	return cmpExpr{prop, fn, []any{v}, &p.res}, nil
}

func (p *filterParser) property() (string, *queryError) {
	if p.i >= len(p.toks) || p.toks[p.i].kind != "ident" {
		return "", badQuery("Syntax error: a property name is expected at position %d in '%s'.", p.pos(), p.src)
	}
	name := p.toks[p.i].text
	p.i++
	canon, ok := p.res.props[strings.ToLower(name)]
	if !ok {
		return "", badQuery("Could not find a property named '%s' on type 'microsoft.graph.%s'.", name, p.res.odataType)
	}
	if !p.res.filterable[canon] {
		return "", unsupportedClause(canon, p.res)
	}
	return canon, nil
}

func (p *filterParser) literal() (any, *queryError) {
	if p.i >= len(p.toks) {
		return nil, badQuery("Syntax error: a value is expected at the end of '%s'.", p.src)
	}
	t := p.toks[p.i]
	p.i++
	switch {
	case t.kind == "string":
		return t.text, nil
	case t.kind == "ident" && strings.EqualFold(t.text, "true"):
		return true, nil
	case t.kind == "ident" && strings.EqualFold(t.text, "false"):
		return false, nil
	case t.kind == "ident" && strings.EqualFold(t.text, "null"):
		return nil, nil
	}
	return nil, badQuery("Syntax error: '%s' is not a value (strings are quoted with ') in '%s'.", t.text, p.src)
}
