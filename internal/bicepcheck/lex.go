package bicepcheck

import (
	"fmt"
	"strconv"
	"strings"
)

type tokenKind int

const (
	tokEOF tokenKind = iota
	tokNewline
	tokIdent
	tokString
	tokInt
	tokPunct
)

// Pos is a 1-based line and column in a .bicep file.
type Pos struct{ Line, Col int }

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

type token struct {
	kind tokenKind
	pos  Pos
	text string // identifier, punctuation, digits; a string's value when not interpolated
	// interpolated: a string with ${...} (its text is then the source).
	interpolated bool
}

func (t token) String() string {
	switch t.kind {
	case tokEOF:
		return "end of file"
	case tokNewline:
		return "newline"
	case tokString:
		return strconv.Quote(t.text)
	}
	return "'" + t.text + "'"
}

// puncts, longest first.
var puncts = []string{"...", "=>", "==", "!=", "=~", "!~", "<=", ">=", "&&", "||", "??", "::", ".?",
	"{", "}", "[", "]", "(", ")", ",", ":", ".", "?", "!", "=", "<", ">", "+", "-", "*", "/", "%", "@", "|"}

// lex splits Bicep source into tokens: comments (// and /* */) are dropped,
// runs of newlines become one newline token, strings are decoded.
func lex(src string) ([]token, error) {
	l := &lexer{src: src, line: 1, lineStart: 0}
	var out []token
	for {
		t, err := l.next()
		if err != nil {
			return nil, err
		}
		if t.kind == tokNewline && (len(out) == 0 || out[len(out)-1].kind == tokNewline) {
			continue
		}
		out = append(out, t)
		if t.kind == tokEOF {
			return out, nil
		}
	}
}

type lexer struct {
	src       string
	i         int
	line      int
	lineStart int
}

func (l *lexer) pos() Pos { return Pos{l.line, l.i - l.lineStart + 1} }

func (l *lexer) errorf(p Pos, format string, args ...any) error {
	return fmt.Errorf("bicepcheck: %s: %s", p, fmt.Sprintf(format, args...))
}

func (l *lexer) newline() {
	l.i++
	l.line++
	l.lineStart = l.i
}

func (l *lexer) next() (token, error) {
	for l.i < len(l.src) {
		c := l.src[l.i]
		switch {
		case c == ' ' || c == '\t' || c == '\r':
			l.i++
		case c == '\n':
			p := l.pos()
			l.newline()
			return token{kind: tokNewline, pos: p}, nil
		case strings.HasPrefix(l.src[l.i:], "//"):
			for l.i < len(l.src) && l.src[l.i] != '\n' {
				l.i++
			}
		case strings.HasPrefix(l.src[l.i:], "/*"):
			p := l.pos()
			end := strings.Index(l.src[l.i+2:], "*/")
			if end < 0 {
				return token{}, l.errorf(p, "unterminated comment")
			}
			l.skip(end + 4)
		default:
			return l.token()
		}
	}
	return token{kind: tokEOF, pos: l.pos()}, nil
}

// skip moves n bytes on, counting lines.
func (l *lexer) skip(n int) {
	for end := l.i + n; l.i < end; {
		if l.src[l.i] == '\n' {
			l.newline()
		} else {
			l.i++
		}
	}
}

func (l *lexer) token() (token, error) {
	p := l.pos()
	c := l.src[l.i]
	switch {
	case isIdentStart(c):
		start := l.i
		for l.i < len(l.src) && isIdentPart(l.src[l.i]) {
			l.i++
		}
		return token{kind: tokIdent, pos: p, text: l.src[start:l.i]}, nil
	case c >= '0' && c <= '9':
		start := l.i
		for l.i < len(l.src) && l.src[l.i] >= '0' && l.src[l.i] <= '9' {
			l.i++
		}
		return token{kind: tokInt, pos: p, text: l.src[start:l.i]}, nil
	case strings.HasPrefix(l.src[l.i:], "'''"):
		return l.multiline(p, 0)
	case c == '$':
		n := 0
		for l.i+n < len(l.src) && l.src[l.i+n] == '$' {
			n++
		}
		if strings.HasPrefix(l.src[l.i+n:], "'''") {
			l.i += n
			return l.multiline(p, n)
		}
	case c == '\'':
		text, interp, err := l.quoted()
		if err != nil {
			return token{}, err
		}
		return token{kind: tokString, pos: p, text: text, interpolated: interp}, nil
	}
	for _, s := range puncts {
		if strings.HasPrefix(l.src[l.i:], s) {
			l.i += len(s)
			return token{kind: tokPunct, pos: p, text: s}, nil
		}
	}
	return token{}, l.errorf(p, "unexpected character %q", c)
}

// multiline reads a multi-line string (three single quotes around it): no
// escapes; a newline right after the opening quotes is not part of the
// value. With n leading dollars, n dollars and a brace start an
// interpolation.
func (l *lexer) multiline(p Pos, dollars int) (token, error) {
	l.i += 3
	end := strings.Index(l.src[l.i:], "'''")
	if end < 0 {
		return token{}, l.errorf(p, "unterminated ''' string")
	}
	text := l.src[l.i : l.i+end]
	l.skip(end + 3)
	text = strings.TrimPrefix(strings.TrimPrefix(text, "\r"), "\n")
	interp := dollars > 0 && strings.Contains(text, strings.Repeat("$", dollars)+"{")
	return token{kind: tokString, pos: p, text: text, interpolated: interp}, nil
}

// quoted reads a '...' string at l.i: escapes \\ \' \n \r \t \$ \u{hex},
// and ${expr} interpolations, whose expressions may hold strings and
// braces of their own. It returns the decoded value, or the source when
// the string is interpolated.
func (l *lexer) quoted() (string, bool, error) {
	p := l.pos()
	start := l.i
	l.i++ // opening quote
	var b strings.Builder
	interp := false
	for {
		if l.i >= len(l.src) || l.src[l.i] == '\n' {
			return "", false, l.errorf(p, "unterminated string")
		}
		c := l.src[l.i]
		switch {
		case c == '\'':
			l.i++
			if interp {
				return l.src[start:l.i], true, nil
			}
			return b.String(), false, nil
		case c == '\\':
			if l.i+1 >= len(l.src) {
				return "", false, l.errorf(p, "unterminated string")
			}
			e := l.src[l.i+1]
			l.i += 2
			switch e {
			case '\\', '\'', '$':
				b.WriteByte(e)
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				end := strings.IndexByte(l.src[l.i:], '}')
				if !strings.HasPrefix(l.src[l.i:], "{") || end < 0 {
					return "", false, l.errorf(p, `bad \u escape`)
				}
				n, err := strconv.ParseUint(l.src[l.i+1:l.i+end], 16, 32)
				if err != nil || n > 0x10FFFF {
					return "", false, l.errorf(p, `bad \u escape`)
				}
				b.WriteRune(rune(n))
				l.i += end + 1
			default:
				return "", false, l.errorf(p, "bad escape \\%c", e)
			}
		case strings.HasPrefix(l.src[l.i:], "${"):
			interp = true
			l.i += 2
			if err := l.interpolation(p); err != nil {
				return "", false, err
			}
		default:
			b.WriteByte(c)
			l.i++
		}
	}
}

// interpolation skips an ${...} expression up to its closing brace,
// through nested braces and strings.
func (l *lexer) interpolation(p Pos) error {
	depth := 1
	for l.i < len(l.src) {
		switch c := l.src[l.i]; c {
		case '\'':
			if _, _, err := l.quoted(); err != nil {
				return err
			}
			continue
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				l.i++
				return nil
			}
		case '\n':
			return l.errorf(p, "unterminated interpolation")
		}
		l.i++
	}
	return l.errorf(p, "unterminated interpolation")
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentPart(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }
