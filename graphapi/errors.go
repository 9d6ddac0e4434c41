package graphapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/entrakit/entrakit/entra"
)

// Sentinels matched with errors.Is by the *Error of that status.
var (
	ErrNotFound  = errors.New("graphapi: not found") // 404
	ErrForbidden = errors.New("graphapi: forbidden") // 403
)

// Error is an error response from Graph: its status and the fields of its
// OData error body. ErrNotFound and ErrForbidden match it by status.
type Error struct {
	Status          int
	Code            string // e.g. Request_ResourceNotFound, Authorization_RequestDenied
	Message         string
	RequestID       string // innerError.request-id (or the request-id header): quote it to Microsoft
	ClientRequestID string
	err             error // the SDK's error, for errors.As
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "graphapi: %d", e.Status)
	if t := http.StatusText(e.Status); t != "" && e.Code == "" {
		b.WriteString(" " + t)
	}
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" (request-id " + e.RequestID + ")")
	}
	return b.String()
}

// Is matches the sentinel of e's status.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrForbidden:
		return e.Status == http.StatusForbidden
	}
	return false
}

// Unwrap returns the SDK's error (*odataerrors.ODataError or *abs.ApiError).
func (e *Error) Unwrap() error { return e.err }

// ThrottledError is a 429 still answered after the client's retries.
type ThrottledError struct {
	RetryAfter time.Duration // from Retry-After; 0 when Graph sent none
	Err        *Error
}

func (e *ThrottledError) Error() string {
	if e.RetryAfter > 0 {
		return fmt.Sprintf("%v (throttled: retry after %v)", e.Err, e.RetryAfter)
	}
	return fmt.Sprintf("%v (throttled)", e.Err)
}

func (e *ThrottledError) Unwrap() error { return e.Err }

// ClaimsChallengeError is a 401 with a CAE claims challenge that kiota's one
// retry with the claims did not satisfy: the caller must get a new token
// with Claims (MSAL WithClaims / azidentity TokenRequestOptions.Claims),
// which for a user usually means an interactive sign-in.
type ClaimsChallengeError struct {
	Claims string // the decoded claims request (JSON)
	Err    *Error
}

func (e *ClaimsChallengeError) Error() string {
	return fmt.Sprintf("%v (claims challenge)", e.Err)
}

func (e *ClaimsChallengeError) Unwrap() error { return e.Err }

// MapError turns an error of kiota or the SDK's models into *Error,
// *ThrottledError or *ClaimsChallengeError. Other errors (context,
// transport, credential), errors it already mapped and nil are returned as
// they are. The helpers and Send return mapped errors.
func (c *Client) MapError(err error) error {
	switch err.(type) {
	case nil, *Error, *ThrottledError, *ClaimsChallengeError:
		return err
	}
	var (
		status  int
		headers *abs.ResponseHeaders
		ge      = &Error{err: err}
	)
	var odata *odataerrors.ODataError
	var api *abs.ApiError
	switch {
	case errors.As(err, &odata):
		status, headers = odata.GetStatusCode(), odata.GetResponseHeaders()
		if main := odata.GetErrorEscaped(); main != nil {
			ge.Code, ge.Message = deref(main.GetCode()), deref(main.GetMessage())
			if inner := main.GetInnerError(); inner != nil {
				ge.RequestID, ge.ClientRequestID = deref(inner.GetRequestId()), deref(inner.GetClientRequestId())
			}
		}
	case errors.As(err, &api):
		status, headers = api.ResponseStatusCode, api.ResponseHeaders
	default:
		return err
	}
	if status == 0 {
		// An error body kiota could not read: not an HTTP status we know.
		return err
	}
	ge.Status = status
	return c.typed(ge, httpHeader(headers))
}

// typed completes ge from the response headers and wraps it in the typed
// error its status calls for.
func (c *Client) typed(ge *Error, h http.Header) error {
	if ge.RequestID == "" {
		ge.RequestID = h.Get("request-id")
	}
	if ge.ClientRequestID == "" {
		ge.ClientRequestID = h.Get("client-request-id")
	}
	switch ge.Status {
	case http.StatusTooManyRequests:
		return &ThrottledError{RetryAfter: retryAfter(h.Get("Retry-After"), c.now()), Err: ge}
	case http.StatusUnauthorized:
		if claims, ok, err := entra.ClaimsChallenge(h); err == nil && ok {
			return &ClaimsChallengeError{Claims: claims, Err: ge}
		}
	}
	return ge
}

// httpHeader copies kiota's response headers (lower-cased keys) into an
// http.Header.
func httpHeader(rh *abs.ResponseHeaders) http.Header {
	h := http.Header{}
	if rh == nil {
		return h
	}
	for _, k := range rh.ListKeys() {
		for _, v := range rh.Get(k) {
			h.Add(k, v)
		}
	}
	return h
}

// retryAfter reads RFC 9110 §10.2.3 Retry-After: delay-seconds or an HTTP
// date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 || s > int64(24*time.Hour/time.Second) {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
