package entra

import (
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// Claims are the claims of an Entra ID token or access token that entrakit
// checks or hands to the application. Raw holds the whole payload (JSON) for
// anything else.
type Claims struct {
	Issuer            string   // iss
	Subject           string   // sub (pairwise per app)
	Audience          []string // aud
	Expiry            int64    // exp, Unix seconds
	NotBefore         int64    // nbf
	IssuedAt          int64    // iat
	ObjectID          string   // oid: the user's (or service principal's) directory object id
	TenantID          string   // tid
	Version           string   // ver: "1.0" or "2.0"
	Nonce             string   // nonce (ID tokens)
	Name              string   // name
	PreferredUsername string   // preferred_username (v2)
	UPN               string   // upn (v1)
	Email             string   // email
	Scopes            string   // scp: space-separated delegated permissions
	Roles             []string // roles: app roles of a user, or application permissions
	Groups            []string // groups
	GroupsOverage     bool     // _claim_names.groups: too many groups, read them from Graph
	AuthorizedParty   string   // azp (v2) or appid (v1): the client the token was issued to
	AppIDACR          string   // azpacr (v2) or appidacr (v1): 0 public, 1 secret, 2 certificate
	IDType            string   // idtyp: "app" for app-only tokens, "user" in v1 delegated tokens
	SessionID         string   // sid
	TokenID           string   // uti: unique token id, safe to log
	ClientCapability  []string // xms_cc

	present uint32    // bit set of claims present, for required-claim checks
	aud1    [1]string // backs Audience when aud is one string (no allocation)
	Raw     []byte    // the payload JSON
}

const (
	hasIss = 1 << iota
	hasSub
	hasAud
	hasExp
	hasNbf
	hasIat
	hasNonce
	hasScp
	hasRoles
	hasAzp
)

// Map decodes Raw into a map, for the claims Claims does not name.
func (c *Claims) Map() (map[string]any, error) {
	var m map[string]any
	err := json.Unmarshal(c.Raw, &m)
	return m, err
}

var errClaimsJSON = errors.New("claims are not a valid JSON object")

// maxClaimsDepth bounds nesting in values we skip (DoS).
const maxClaimsDepth = 16

// parseClaims reads a token payload with a small scanner that visits each
// member once and decodes only the claims entrakit uses: several times
// cheaper than encoding/json into a struct, which matters because a bearer
// check is otherwise dominated by it, not by RSA. Duplicate members are
// rejected (a parser differential is a security bug). It never panics.
func parseClaims(p []byte) (*Claims, error) {
	c := &Claims{Raw: p}
	s := scanner{b: p, src: string(p)}
	s.ws()
	if !s.eat('{') {
		return nil, errClaimsJSON
	}
	var seen uint64 // duplicate check for the members we decode
	var dup error
	ok := s.elements('}', func(key string) bool {
		bit, target := c.field(key)
		if bit != 0 {
			if seen&bit != 0 {
				dup = errors.New("duplicate claim " + strconv.Quote(key))
				return false
			}
			seen |= bit
		}
		switch {
		case s.lit("null"): // a null claim is an absent claim
		case !s.value(target):
			return false
		case target != nil:
			c.present |= presence(key)
		}
		return true
	})
	switch {
	case dup != nil:
		return nil, dup
	case !ok:
		return nil, errClaimsJSON
	}
	return c, s.end()
}

// presence is the bit recording that a claim checked for presence was sent.
func presence(key string) uint32 {
	switch key {
	case "iss":
		return hasIss
	case "sub":
		return hasSub
	case "aud":
		return hasAud
	case "exp":
		return hasExp
	case "nbf":
		return hasNbf
	case "iat":
		return hasIat
	case "nonce":
		return hasNonce
	case "scp":
		return hasScp
	case "roles":
		return hasRoles
	case "azp", "appid":
		return hasAzp
	}
	return 0
}

// field maps a member name to its destination; bit 0 means "skip".
func (c *Claims) field(key string) (uint64, any) {
	switch key {
	case "iss":
		return 1 << 0, &c.Issuer
	case "sub":
		return 1 << 1, &c.Subject
	case "aud":
		c.Audience = c.aud1[:0]
		return 1 << 2, &c.Audience
	case "exp":
		return 1 << 3, &c.Expiry
	case "nbf":
		return 1 << 4, &c.NotBefore
	case "iat":
		return 1 << 5, &c.IssuedAt
	case "oid":
		return 1 << 6, &c.ObjectID
	case "tid":
		return 1 << 7, &c.TenantID
	case "ver":
		return 1 << 8, &c.Version
	case "nonce":
		return 1 << 9, &c.Nonce
	case "name":
		return 1 << 10, &c.Name
	case "preferred_username":
		return 1 << 11, &c.PreferredUsername
	case "upn":
		return 1 << 12, &c.UPN
	case "email":
		return 1 << 13, &c.Email
	case "scp":
		return 1 << 14, &c.Scopes
	case "roles":
		return 1 << 15, &c.Roles
	case "groups":
		return 1 << 16, &c.Groups
	case "azp", "appid":
		return 1 << 17, &c.AuthorizedParty // azp and appid together is a duplicate
	case "azpacr", "appidacr":
		return 1 << 18, &c.AppIDACR
	case "idtyp":
		return 1 << 19, &c.IDType
	case "sid":
		return 1 << 20, &c.SessionID
	case "uti":
		return 1 << 21, &c.TokenID
	case "xms_cc":
		return 1 << 22, &c.ClientCapability
	case "_claim_names":
		return 1 << 23, &c.GroupsOverage
	}
	return 0, nil
}

type scanner struct {
	b []byte
	// src, when set, is b as a string: unescaped strings are then
	// substrings of it, one allocation per token instead of one per claim
	// (the API's hot path, BenchmarkBearerValidation).
	src   string
	i     int
	depth int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) eat(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) end() error {
	s.ws()
	if s.i != len(s.b) {
		return errClaimsJSON
	}
	return nil
}

// str reads a JSON string. The common case (no escapes) does not allocate
// beyond the result; escapes take encoding/json's path.
func (s *scanner) str() (string, bool) {
	if !s.eat('"') {
		return "", false
	}
	start := s.i
	escaped := false
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			raw := s.b[start:s.i]
			s.i++
			if !escaped {
				if !utf8.Valid(raw) {
					return "", false
				}
				if s.src != "" {
					return s.src[start : s.i-1], true
				}
				return string(raw), true
			}
			var out string
			if json.Unmarshal(s.b[start-1:s.i], &out) != nil {
				return "", false
			}
			return out, true
		case c == '\\':
			escaped = true
			s.i += 2
		case c < 0x20:
			return "", false
		default:
			s.i++
		}
	}
	return "", false
}

// value reads one value into target (nil: validate and skip).
func (s *scanner) value(target any) bool {
	switch t := target.(type) {
	case *string:
		v, ok := s.str()
		*t = v
		return ok
	case *int64:
		return s.number(t)
	case *[]string:
		if s.i < len(s.b) && s.b[s.i] == '"' { // aud may be a single string
			v, ok := s.str()
			*t = append((*t)[:0], v) // into Claims.aud1 for aud
			return ok
		}
		return s.strings(t)
	case *bool: // _claim_names: true when it names "groups"
		return s.eat('{') && s.elements('}', func(key string) bool {
			if key == "groups" {
				*t = true
			}
			return s.skip()
		})
	}
	return s.skip()
}

func (s *scanner) number(t *int64) bool {
	start := s.i
	lit, ok := s.jsonNumber()
	if !ok {
		return false
	}
	// Fast path, no allocation: a plain integer (exp, nbf, iat).
	if n, ok := plainInt(s.b[start:s.i]); ok {
		*t = n
		return true
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil || f > 1<<62 || f < -(1<<62) {
		return false
	}
	*t = int64(f)
	return true
}

// plainInt parses -?[0-9]{1,18} without allocating.
func plainInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// jsonNumber reads a number exactly as RFC 8259 §6 defines it (the string
// is built lazily by callers that need it):
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? — no "+1", "01", ".5", "1.".
func (s *scanner) jsonNumber() (string, bool) {
	start := s.i
	digits := func() int {
		n := 0
		for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	s.eat('-')
	switch {
	case s.eat('0'):
	case s.i < len(s.b) && '1' <= s.b[s.i] && s.b[s.i] <= '9':
		digits()
	default:
		return "", false
	}
	if s.eat('.') && digits() == 0 {
		return "", false
	}
	if s.eat('e') || s.eat('E') {
		if !s.eat('+') {
			s.eat('-')
		}
		if digits() == 0 {
			return "", false
		}
	}
	return unsafeString(s.b[start:s.i]), true
}

// unsafeString views b as a string without copying; b is never modified
// afterwards (the payload buffer is owned by the claims).
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func (s *scanner) strings(t *[]string) bool {
	if !s.eat('[') {
		return false
	}
	// Collected on the stack, then copied once at the exact size.
	buf := make([]string, 0, 16)
	ok := s.elements(']', func(string) bool {
		v, ok := s.str()
		buf = append(buf, v)
		return ok
	})
	*t = append(make([]string, 0, len(buf)), buf...)
	return ok
}

// elements reads the members of an object (close '}') or the elements of
// an array (close ']') whose opening byte has been eaten, up to and
// including close. It calls value at each value, with the member's key
// (arrays: ""); value reads the value and reports whether it was valid.
func (s *scanner) elements(close byte, value func(key string) bool) bool {
	s.ws()
	if s.eat(close) {
		return true
	}
	for {
		s.ws()
		var key string
		if close == '}' {
			k, ok := s.str()
			if !ok {
				return false
			}
			s.ws()
			if !s.eat(':') {
				return false
			}
			s.ws()
			key = k
		}
		if !value(key) {
			return false
		}
		s.ws()
		if !s.eat(',') {
			return s.eat(close)
		}
	}
}

// skip validates and skips any JSON value, bounded in depth.
func (s *scanner) skip() bool {
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		_, ok := s.str()
		return ok
	case c == '{' || c == '[':
		s.depth++
		if s.depth > maxClaimsDepth {
			return false
		}
		defer func() { s.depth-- }()
		close := byte('}')
		if c == '[' {
			close = ']'
		}
		s.i++
		return s.elements(close, func(string) bool { return s.skip() })
	case c == 't':
		return s.lit("true")
	case c == 'f':
		return s.lit("false")
	case c == 'n':
		return s.lit("null")
	default:
		var n int64
		return s.numberAny(&n)
	}
}

func (s *scanner) numberAny(t *int64) bool {
	_, ok := s.jsonNumber()
	return ok
}

func (s *scanner) lit(word string) bool {
	if len(s.b)-s.i >= len(word) && string(s.b[s.i:s.i+len(word)]) == word {
		s.i += len(word)
		return true
	}
	return false
}
