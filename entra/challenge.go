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
	Scheme string
	Params map[string]string // lower-case names
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

func parseChallenges(v string) ([]Challenge, error) {
	var out []Challenge
	i := 0
	skipWS := func() {
		for i < len(v) && (v[i] == ' ' || v[i] == '\t') {
			i++
		}
	}
	token := func() string {
		start := i
		for i < len(v) && isTokenChar(v[i]) {
			i++
		}
		return v[start:i]
	}
	for {
		skipWS()
		for i < len(v) && v[i] == ',' {
			i++
			skipWS()
		}
		if i >= len(v) {
			return out, nil
		}
		scheme := token()
		if scheme == "" {
			return nil, fmt.Errorf("entra: WWW-Authenticate: expected a scheme at %d", i)
		}
		c := Challenge{Scheme: scheme, Params: map[string]string{}}
		for {
			skipWS()
			start := i
			name := token()
			skipWS()
			if name == "" || i >= len(v) || v[i] != '=' {
				i = start // not a parameter: the next challenge starts here
				break
			}
			i++
			skipWS()
			var val string
			if i < len(v) && v[i] == '"' {
				i++
				var b strings.Builder
				for i < len(v) && v[i] != '"' {
					if v[i] == '\\' && i+1 < len(v) {
						i++
					}
					b.WriteByte(v[i])
					i++
				}
				if i >= len(v) {
					return nil, errors.New("entra: WWW-Authenticate: unterminated quoted string")
				}
				i++
				val = b.String()
			} else {
				val = token()
			}
			c.Params[strings.ToLower(name)] = val
			skipWS()
			if i < len(v) && v[i] == ',' {
				i++
				continue
			}
			break
		}
		out = append(out, c)
		skipWS()
		if i < len(v) && v[i] != ',' && !isTokenChar(v[i]) {
			return nil, fmt.Errorf("entra: WWW-Authenticate: unexpected %q at %d", v[i], i)
		}
	}
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
