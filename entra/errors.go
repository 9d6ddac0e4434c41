package entra

import (
	"errors"
	"fmt"
)

// ErrInvalidToken is matched (errors.Is) by every token validation failure:
// the caller answers 401. A technical failure (the key set cannot be fetched)
// is not an ErrInvalidToken: the caller answers 503, never 401.
var ErrInvalidToken = errors.New("entra: invalid token")

// Reasons a token is refused. Each also matches ErrInvalidToken.
var (
	ErrMalformedToken     = tokenReason("malformed token")
	ErrTokenTooLarge      = tokenReason("token too large")
	ErrUnsupportedAlg     = tokenReason("unsupported signing algorithm")
	ErrUnknownKey         = tokenReason("signing key not in the issuer's key set")
	ErrInvalidSignature   = tokenReason("signature does not verify")
	ErrInvalidIssuer      = tokenReason("issuer mismatch")
	ErrInvalidAudience    = tokenReason("audience mismatch")
	ErrTokenExpired       = tokenReason("token expired")
	ErrTokenNotYetValid   = tokenReason("token not yet valid")
	ErrMissingClaim       = tokenReason("required claim missing")
	ErrNonceMismatch      = tokenReason("nonce mismatch")
	ErrTenantNotAllowed   = tokenReason("tenant not allowed")
	ErrWrongTokenVersion  = tokenReason("token version not accepted")
	ErrClientNotAllowed   = tokenReason("client application not allowed")
	ErrWrongTokenType     = tokenReason("wrong token type")
	ErrInsufficientScope  = tokenReason("insufficient scope")
	ErrKeySetUnavailable  = errors.New("entra: key set unavailable")
	ErrDiscoveryMismatch  = errors.New("entra: discovery document does not match the configured authority")
	errNoKeyForValidation = errors.New("entra: no key set configured")
)

type reason struct{ msg string }

func (r *reason) Error() string        { return "entra: " + r.msg }
func (r *reason) Is(target error) bool { return target == ErrInvalidToken }

func tokenReason(msg string) error { return &reason{msg} }

// TokenError says why a token was refused: Reason is one of the Err...
// sentinels above, Detail says more (never the token itself).
type TokenError struct {
	Reason error
	Detail string
}

func (e *TokenError) Error() string {
	if e.Detail == "" {
		return e.Reason.Error()
	}
	return e.Reason.Error() + ": " + e.Detail
}

func (e *TokenError) Unwrap() error { return e.Reason }

func refuse(reason error, format string, args ...any) error {
	return &TokenError{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}
