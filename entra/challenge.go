package entra

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Challenge is one challenge of a WWW-Authenticate header (RFC 9110 §11.6.1).
type Challenge struct {
	Scheme  string
	Token68 string            // a bare value instead of parameters (Negotiate, Basic)
	Params  map[string]string // lower-case names
}

const maxChallengeHeader = 16 << 10

// ParseWWWAuthenticate parses every challenge of the WWW-Authenticate
// headers. Malformed input yields an error, never a panic.
func ParseWWWAuthenticate(h http.Header) ([]Challenge, error) {
	var out []Challenge
	for _, v := range h.Values("WWW-Authenticate") {
		if len(v) > maxChallengeHeader {
			return nil, errors.New("entra: WWW-Authenticate too large")
		}
		cs, err := parseChallenges(v)
		if err != nil {
			return nil, err
		}
		out = append(out, cs...)
	}
	return out, nil
}

// parseChallenges follows RFC 9110 §11.6.1:
//
//	challenge  = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
//	auth-param = token BWS "=" BWS ( token / quoted-string )
//
// with empty list elements allowed (§5.6.1.2).
func parseChallenges(v string) ([]Challenge, error) {
	p := &challengeParser{v: v}
	var out []Challenge
	for {
		p.skipListSeparators()
		if p.i >= len(v) {
			return out, nil
		}
		scheme := p.token()
		if scheme == "" {
			return nil, fmt.Errorf("entra: WWW-Authenticate: expected a scheme at %d", p.i)
		}
		c := Challenge{Scheme: scheme, Params: map[string]string{}}
		p.ows()
		if t68, ok := p.token68(); ok {
			c.Token68 = t68
			out = append(out, c)
			continue
		}
		for p.atParam() {
			name := strings.ToLower(p.token())
			p.ows()
			p.i++ // '='
			p.ows()
			val, err := p.value()
			if err != nil {
				return nil, err
			}
			c.Params[name] = val
			p.skipListSeparators()
		}
		out = append(out, c)
	}
}

type challengeParser struct {
	v string
	i int
}

func (p *challengeParser) ows() {
	for p.i < len(p.v) && (p.v[p.i] == ' ' || p.v[p.i] == '\t') {
		p.i++
	}
}

func (p *challengeParser) skipListSeparators() {
	for {
		p.ows()
		if p.i < len(p.v) && p.v[p.i] == ',' {
			p.i++
			continue
		}
		return
	}
}

func (p *challengeParser) token() string {
	start := p.i
	for p.i < len(p.v) && isTokenChar(p.v[p.i]) {
		p.i++
	}
	return p.v[start:p.i]
}

// atParam reports whether an auth-param (token BWS "=" not followed by
// another "=") starts here; the position is unchanged.
func (p *challengeParser) atParam() bool {
	j := p.i
	for j < len(p.v) && isTokenChar(p.v[j]) {
		j++
	}
	if j == p.i {
		return false
	}
	for j < len(p.v) && (p.v[j] == ' ' || p.v[j] == '\t') {
		j++
	}
	if j >= len(p.v) || p.v[j] != '=' {
		return false
	}
	j++
	for j < len(p.v) && (p.v[j] == ' ' || p.v[j] == '\t') {
		j++
	}
	return j < len(p.v) && p.v[j] != '=' && p.v[j] != ','
}

// token68 reads a token68 when one (and no auth-param) follows the scheme.
func (p *challengeParser) token68() (string, bool) {
	if p.atParam() {
		return "", false
	}
	j := p.i
	for j < len(p.v) && isToken68Char(p.v[j]) {
		j++
	}
	if j == p.i {
		return "", false
	}
	for j < len(p.v) && p.v[j] == '=' {
		j++
	}
	k := j
	for k < len(p.v) && (p.v[k] == ' ' || p.v[k] == '\t') {
		k++
	}
	if k < len(p.v) && p.v[k] != ',' {
		return "", false // not a token68: the next challenge's scheme
	}
	t := p.v[p.i:j]
	p.i = j
	return t, true
}

func (p *challengeParser) value() (string, error) {
	if p.i < len(p.v) && p.v[p.i] == '"' {
		p.i++
		var b strings.Builder
		for p.i < len(p.v) && p.v[p.i] != '"' {
			if p.v[p.i] == '\\' && p.i+1 < len(p.v) {
				p.i++
			}
			b.WriteByte(p.v[p.i])
			p.i++
		}
		if p.i >= len(p.v) {
			return "", errors.New("entra: WWW-Authenticate: unterminated quoted string")
		}
		p.i++
		return b.String(), nil
	}
	return p.token(), nil
}

func isToken68Char(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~+/", c) >= 0
}

func isTokenChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~/", c) >= 0
}

// ClaimsChallenge finds a CAE claims challenge (Bearer error=
// "insufficient_claims", claims="<base64 JSON>") in a resource's 401 and
// returns the decoded claims request, ready for BeginOptions.Claims (or
// MSAL's WithClaims). ok is false when there is none.
// https://learn.microsoft.com/entra/identity-platform/claims-challenge
func ClaimsChallenge(h http.Header) (claims string, ok bool, err error) {
	cs, err := ParseWWWAuthenticate(h)
	if err != nil {
		return "", false, err
	}
	for _, c := range cs {
		if !strings.EqualFold(c.Scheme, "Bearer") || c.Params["error"] != "insufficient_claims" {
			continue
		}
		raw := c.Params["claims"]
		if raw == "" {
			return "", false, errors.New("entra: insufficient_claims challenge without claims")
		}
		dec, err := base64.StdEncoding.DecodeString(raw)
		if err != nil {
			if dec, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(raw, "=")); err != nil {
				return "", false, errors.New("entra: claims challenge is not base64")
			}
		}
		if !json.Valid(dec) || dec[0] != '{' {
			return "", false, errors.New("entra: claims challenge is not a JSON object")
		}
		return string(dec), true, nil
	}
	return "", false, nil
}

// MergeClaims adds client capabilities (e.g. "cp1") to a claims request as
// access_token.xms_cc, as MSAL does, keeping what the challenge asked for.
func MergeClaims(claims string, capabilities []string) (string, error) {
	req := map[string]map[string]any{}
	if claims != "" {
		if err := json.Unmarshal([]byte(claims), &req); err != nil {
			return "", fmt.Errorf("entra: claims: %w", err)
		}
	}
	if len(capabilities) > 0 {
		if req["access_token"] == nil {
			req["access_token"] = map[string]any{}
		}
		req["access_token"]["xms_cc"] = map[string]any{"values": capabilities}
	}
	if len(req) == 0 {
		return "", nil
	}
	b, err := json.Marshal(req)
	return string(b), err
}
