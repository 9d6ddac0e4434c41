package entra

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
)

// Bearer is net/http middleware for a web API: it validates the access token
// in the Authorization header (RFC 6750) and puts its claims in the request
// context. webapp adapts it to gin.
type Bearer struct {
	Validator *Validator
	Policy    AccessPolicy
	// Realm is sent in WWW-Authenticate; optional.
	Realm string
	// Logger gets refused tokens (reason, uti, tid — never the token) and
	// technical failures; default slog.Default().
	Logger *slog.Logger
}

type claimsKey struct{}

// ClaimsFromContext returns the claims Bearer validated for this request.
func ClaimsFromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok
}

// WithClaims returns ctx carrying c (for adapters and tests).
func WithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// Authenticate validates the request's bearer token: ok=false with err=nil
// when there is no token; err wrapping ErrInvalidToken when it is refused;
// any other err is a technical failure (answer 503, not 401).
func (b *Bearer) Authenticate(r *http.Request) (c *Claims, ok bool, err error) {
	raw, err := BearerToken(r.Header)
	if err != nil || raw == "" {
		return nil, false, err
	}
	c, err = b.Validator.ValidateAccessToken(r.Context(), raw, b.Policy)
	if err != nil {
		return nil, false, err
	}
	return c, true, nil
}

// ErrBadAuthorizationHeader means the header was not one well-formed bearer token.
var ErrBadAuthorizationHeader = errors.New("entra: malformed Authorization header")

// BearerToken extracts the token of an "Authorization: Bearer" header,
// bounded in size and to RFC 6750's token68 characters. No header: "", nil.
func BearerToken(h http.Header) (string, error) {
	values := h.Values("Authorization")
	if len(values) == 0 {
		return "", nil
	}
	if len(values) > 1 {
		return "", ErrBadAuthorizationHeader
	}
	v := values[0]
	if len(v) > DefaultMaxTokenBytes+len("Bearer ") {
		return "", refuse(ErrTokenTooLarge, "Authorization header of %d bytes", len(v))
	}
	scheme, token, found := strings.Cut(v, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", nil // another scheme: not ours to judge
	}
	token = strings.TrimLeft(token, " ")
	if token == "" || strings.IndexByte(token, ' ') >= 0 {
		return "", ErrBadAuthorizationHeader
	}
	if strings.Count(token, ".") != 2 {
		// A well-formed request with a token that is not a JWS: RFC 6750
		// §3.1 says invalid_token (401), not invalid_request.
		return "", refuse(ErrMalformedToken, "not a compact JWS")
	}
	for i := 0; i < len(token); i++ {
		c := token[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || c == '+' || c == '/' || c == '=') {
			return "", ErrBadAuthorizationHeader
		}
	}
	return token, nil
}

// Handler requires a valid token for next.
func (b *Bearer) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok, err := b.Authenticate(r)
		if ok {
			next.ServeHTTP(w, r.WithContext(WithClaims(r.Context(), c)))
			return
		}
		b.Challenge(w, r, err)
	})
}

// Challenge answers a request whose token was missing or refused, per RFC
// 6750 §3: 401 with WWW-Authenticate, 403 insufficient_scope, 400
// invalid_request, or 503 when the key set could not be read.
func (b *Bearer) Challenge(w http.ResponseWriter, r *http.Request, err error) {
	log := b.Logger
	if log == nil {
		log = slog.Default()
	}
	params := []string{}
	if b.Realm != "" {
		params = append(params, `realm="`+b.Realm+`"`)
	}
	status := http.StatusUnauthorized
	switch {
	case err == nil:
		// No token: a bare challenge, no error code (RFC 6750 §3.1).
	case errors.Is(err, ErrBadAuthorizationHeader):
		status = http.StatusBadRequest
		params = append(params, `error="invalid_request"`, `error_description="malformed Authorization header"`)
	case errors.Is(err, ErrInsufficientScope):
		status = http.StatusForbidden
		params = append(params, `error="insufficient_scope"`, `error_description="the token lacks the required scope or role"`)
		if len(b.Policy.Scopes) > 0 {
			params = append(params, `scope="`+strings.Join(b.Policy.Scopes, " ")+`"`)
		}
	case errors.Is(err, ErrInvalidToken):
		params = append(params, `error="invalid_token"`, `error_description="`+sanitize(err.Error())+`"`)
	default:
		log.ErrorContext(r.Context(), "bearer: cannot validate tokens", "err", err)
		w.Header().Set("Retry-After", "5")
		http.Error(w, "token validation is temporarily unavailable", http.StatusServiceUnavailable)
		return
	}
	if err != nil {
		log.InfoContext(r.Context(), "bearer: token refused", "reason", err.Error())
	}
	ch := "Bearer"
	if len(params) > 0 {
		ch += " " + strings.Join(params, ", ")
	}
	w.Header().Set("WWW-Authenticate", ch)
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, http.StatusText(status), status)
}

// sanitize keeps a description inside a quoted-string (RFC 6750 §3:
// %x20-21 / %x23-5B / %x5D-7E).
func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			b[i] = '\''
		}
	}
	if len(b) > 200 {
		b = b[:200]
	}
	return string(b)
}
