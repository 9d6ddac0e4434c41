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
	ref := b.Refuse(r.Context(), err)
	if ref.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
		http.Error(w, ref.Description, ref.Status)
		return
	}
	w.Header().Set("WWW-Authenticate", ref.WWWAuthenticate)
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, http.StatusText(ref.Status), ref.Status)
}

// Refusal is how a web API answers a request Bearer did not let through:
// an HTTP status, the RFC 6750 challenge (empty with 503), and the error
// code and description, for an API that answers in JSON.
type Refusal struct {
	Status          int
	WWWAuthenticate string
	Error           string // RFC 6750 error code; "" when no token was sent
	Description     string
}

// Refuse maps what Authenticate returned (ok=false) to the answer, and logs
// it: a refused token at Info (the reason, never the token), a technical
// failure at Error.
func (b *Bearer) Refuse(ctx context.Context, err error) Refusal {
	log := b.Logger
	if log == nil {
		log = slog.Default()
	}
	params := []string{}
	if b.Realm != "" {
		params = append(params, `realm="`+b.Realm+`"`)
	}
	ref := Refusal{Status: http.StatusUnauthorized}
	switch {
	case err == nil:
		// No token: a bare challenge, no error code (RFC 6750 §3.1).
		ref.Description = "a bearer token is required"
	case errors.Is(err, ErrBadAuthorizationHeader):
		ref.Status, ref.Error, ref.Description = http.StatusBadRequest, "invalid_request", "malformed Authorization header"
	case errors.Is(err, ErrInsufficientScope):
		ref.Status, ref.Error, ref.Description = http.StatusForbidden, "insufficient_scope", "the token lacks the required scope or role"
	case errors.Is(err, ErrInvalidToken):
		ref.Error, ref.Description = "invalid_token", sanitize(err.Error())
	default:
		log.ErrorContext(ctx, "bearer: cannot validate tokens", "err", err)
		return Refusal{Status: http.StatusServiceUnavailable, Error: "temporarily_unavailable", Description: "token validation is temporarily unavailable"}
	}
	if err != nil {
		log.InfoContext(ctx, "bearer: token refused", "reason", err.Error())
		params = append(params, `error="`+ref.Error+`"`, `error_description="`+ref.Description+`"`)
		if ref.Status == http.StatusForbidden && len(b.Policy.Scopes) > 0 {
			params = append(params, `scope="`+strings.Join(b.Policy.Scopes, " ")+`"`)
		}
	}
	ref.WWWAuthenticate = "Bearer"
	if len(params) > 0 {
		ref.WWWAuthenticate += " " + strings.Join(params, ", ")
	}
	return ref
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
