package graph

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// $search on directory objects, as Graph documents it
// (https://learn.microsoft.com/graph/search-query-parameter#using-search-on-directory-object-collections):
//
//	$search="clause1" [AND | OR] "clause2" ...   clause = "<property>:<text>"
//
// Every clause is in double quotes (\" and \\ escape inside them); AND and
// OR are upper case, outside the quotes; parentheses group; two clauses side
// by side are an AND. displayName and description are searched by tokens:
// value and text are split into words (spaces, a change from lower to upper
// case, letters next to digits, symbols) and every word of the text must
// start a word of the value, in any order, ignoring case. Other properties
// (any that $filter accepts) match when the value starts with the text.

// searchExpr is a parsed $search.
type searchExpr interface {
	match(obj map[string]any) bool
}

type (
	searchAnd    struct{ l, r searchExpr }
	searchOr     struct{ l, r searchExpr }
	searchClause struct {
		prop      string
		text      string   // lower case, for startsWith properties
		tokens    []string // for tokenized properties
		tokenized bool
	}
)

func (e searchAnd) match(o map[string]any) bool { return e.l.match(o) && e.r.match(o) }
func (e searchOr) match(o map[string]any) bool  { return e.l.match(o) || e.r.match(o) }

func (c searchClause) match(o map[string]any) bool {
	s, _ := o[c.prop].(string)
	if !c.tokenized {
		return strings.HasPrefix(strings.ToLower(s), c.text)
	}
	have := searchTokens(s)
	for _, want := range c.tokens {
		if !slices.ContainsFunc(have, func(h string) bool { return strings.HasPrefix(h, want) }) {
			return false
		}
	}
	return true
}

// tokenizedSearch are the properties Graph searches by tokens.
var tokenizedSearch = map[string]bool{"displayName": true, "description": true}

// searchTokens splits s into Graph's search tokens, lower case: words
// separated by spaces, by a change from a lower to an upper case letter
// (not the other way: "HELLOworld" is one word), and between letters and
// digits; each symbol is a token of its own, and the words of a run joined
// only by symbols make one more token ("hello.world": hello . world
// helloworld).
func searchTokens(s string) []string {
	var out []string
	for _, chunk := range strings.Fields(s) {
		var words []string
		var b strings.Builder
		flush := func() {
			if b.Len() > 0 {
				w := strings.ToLower(b.String())
				out, words = append(out, w), append(words, w)
				b.Reset()
			}
		}
		prev, symbols := rune(0), false
		for _, r := range chunk {
			switch {
			case unicode.IsLetter(r):
				if unicode.IsDigit(prev) || (unicode.IsLower(prev) && unicode.IsUpper(r)) {
					flush()
				}
				b.WriteRune(r)
			case unicode.IsDigit(r):
				if unicode.IsLetter(prev) {
					flush()
				}
				b.WriteRune(r)
			default:
				flush()
				out, symbols = append(out, string(r)), true
			}
			prev = r
		}
		flush()
		if symbols && len(words) > 1 {
			out = append(out, strings.Join(words, ""))
		}
	}
	return out
}

type searchParser struct {
	src   string
	res   resourceShape
	i     int
	depth int
}

// parseSearch parses a $search value for a collection of res.
func parseSearch(src string, res resourceShape) (searchExpr, *queryError) {
	p := &searchParser{src: src, res: res}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.skipSpace(); p.i < len(p.src) {
		return nil, p.syntaxError()
	}
	return e, nil
}

func (p *searchParser) skipSpace() {
	for p.i < len(p.src) && p.src[p.i] == ' ' {
		p.i++
	}
}

// keyword consumes the upper-case operator kw (AND, OR) if it comes next.
func (p *searchParser) keyword(kw string) bool {
	p.skipSpace()
	rest := p.src[p.i:]
	if !strings.HasPrefix(rest, kw) || (len(rest) > len(kw) && rest[len(kw)] != ' ' && rest[len(kw)] != '"' && rest[len(kw)] != '(') {
		return false
	}
	p.i += len(kw)
	return true
}

func (p *searchParser) or() (searchExpr, *queryError) {
	l, err := p.and()
	for err == nil && p.keyword("OR") {
		var r searchExpr
		if r, err = p.and(); err == nil {
			l = searchOr{l, r}
		}
	}
	return l, err
}

// and is terms joined by AND, or by nothing (OData's implicit AND).
func (p *searchParser) and() (searchExpr, *queryError) {
	l, err := p.term()
	for err == nil {
		explicit := p.keyword("AND")
		if p.skipSpace(); !explicit && (p.i == len(p.src) || p.src[p.i] == ')' || strings.HasPrefix(p.src[p.i:], "OR")) {
			break
		}
		var r searchExpr
		if r, err = p.term(); err == nil {
			l = searchAnd{l, r}
		}
	}
	return l, err
}

func (p *searchParser) term() (searchExpr, *queryError) {
	p.skipSpace()
	if p.i >= len(p.src) {
		return nil, badQuery("Syntax error: a $search clause is expected at the end of '%s'.", p.src)
	}
	switch p.src[p.i] {
	case '(':
		if p.depth++; p.depth > 20 {
			return nil, badQuery("The $search expression is nested too deeply.")
		}
		p.i++
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.skipSpace(); p.i >= len(p.src) || p.src[p.i] != ')' {
			return nil, p.syntaxError()
		}
		p.i++
		p.depth--
		return e, nil
	case '"':
		return p.clause()
	}
	return nil, p.word()
}

// clause reads "property:text".
func (p *searchParser) clause() (searchExpr, *queryError) {
	start := p.i
	p.i++
	var b strings.Builder
	for {
		if p.i >= len(p.src) {
			return nil, badQuery("Syntax error: unterminated string at position %d in '%s'.", start, p.src)
		}
		c := p.src[p.i]
		if c == '\\' && p.i+1 < len(p.src) && (p.src[p.i+1] == '"' || p.src[p.i+1] == '\\') {
			b.WriteByte(p.src[p.i+1])
			p.i += 2
			continue
		}
		p.i++
		if c == '"' {
			break
		}
		b.WriteByte(c)
	}
	prop, text, ok := strings.Cut(b.String(), ":")
	if !ok {
		return nil, &queryError{"Request_UnsupportedQuery", fmt.Sprintf("The $search clause '%s' names no property: use \"property:text\".", b.String())}
	}
	canon, known := p.res.props[strings.ToLower(strings.TrimSpace(prop))]
	if !known {
		return nil, badQuery("Could not find a property named '%s' on type 'microsoft.graph.%s'.", prop, p.res.odataType)
	}
	if !p.res.filterable[canon] && !tokenizedSearch[canon] {
		return nil, unsupportedClause(canon, p.res)
	}
	return searchClause{prop: canon, text: strings.ToLower(text), tokens: searchTokens(text), tokenized: tokenizedSearch[canon]}, nil
}

// word is an unquoted search term: OData's parser refuses its first
// character that a search word cannot hold (as the ':' of
// $search=displayName:adele); a plain word names no property, which
// directory objects refuse.
func (p *searchParser) word() *queryError {
	start := p.i
	for p.i < len(p.src) && !strings.ContainsRune(" ()\"", rune(p.src[p.i])) {
		r := rune(p.src[p.i])
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune(".,-'", r) && r < 0x80 {
			return p.syntaxError()
		}
		p.i++
	}
	if p.i == start {
		return p.syntaxError()
	}
	return &queryError{"Request_UnsupportedQuery", fmt.Sprintf("The $search clause '%s' names no property: use \"property:text\".", p.src[start:p.i])}
}

// syntaxError is OData's URI parser error at p.i (code BadRequest, as
// Graph answers it).
func (p *searchParser) syntaxError() *queryError {
	if p.i >= len(p.src) {
		return &queryError{"BadRequest", fmt.Sprintf("Syntax error at position %d in '%s'.", p.i, p.src)}
	}
	return &queryError{"BadRequest", fmt.Sprintf("Syntax error: character '%c' is not valid at position %d in '%s'.", p.src[p.i], p.i, p.src)}
}
