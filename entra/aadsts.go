package entra

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"
)

// AADSTSError is an error answered by Entra: from the token endpoint (JSON)
// or from the authorize endpoint (error= on the redirect).
// https://learn.microsoft.com/entra/identity-platform/reference-error-codes
type AADSTSError struct {
	// Code is the AADSTS number, e.g. 70008.
	Code int
	// Err is the OAuth 2.0 error: invalid_grant, interaction_required, ...
	Err string
	// Suberror refines Err: consent_required, basic_action, cancel, ...
	Suberror      string
	Description   string
	CorrelationID string
	TraceID       string
	// Claims is a claims challenge to pass to the next interactive sign-in.
	Claims string
	// StatusCode is the HTTP status of a token endpoint answer (0 for authorize).
	StatusCode int

	cause error
}

func (e *AADSTSError) Error() string {
	desc := e.Description
	if i := strings.IndexAny(desc, "\r\n"); i >= 0 {
		desc = desc[:i]
	}
	if e.Code != 0 && !strings.HasPrefix(desc, "AADSTS") {
		desc = "AADSTS" + strconv.Itoa(e.Code) + ": " + desc
	}
	s := "entra: " + e.Err
	if e.Suberror != "" {
		s += " (" + e.Suberror + ")"
	}
	if desc != "" {
		s += ": " + desc
	}
	if e.CorrelationID != "" {
		s += " [correlation id " + e.CorrelationID + "]"
	}
	return s
}

func (e *AADSTSError) Unwrap() error { return e.cause }

// Outcomes a caller branches on; each matches (errors.Is) the AADSTSErrors
// that mean it.
var (
	// ErrInteractionRequired: send the user through sign-in again (with
	// AADSTSError.Claims when present).
	ErrInteractionRequired = errors.New("entra: interaction required")
	// ErrConsentRequired: sign in again asking for the missing permissions.
	ErrConsentRequired = errors.New("entra: consent required")
	// ErrInvalidGrant: the code or refresh token is expired, revoked or used.
	ErrInvalidGrant = errors.New("entra: invalid grant")
	// ErrUserCancelled: the user declined consent or cancelled the sign-in.
	ErrUserCancelled = errors.New("entra: the user cancelled")
	// ErrInvalidClient: the app's credential was refused (configuration).
	ErrInvalidClient = errors.New("entra: invalid client credential")
	// ErrTemporarilyUnavailable: retry later (throttling, outage).
	ErrTemporarilyUnavailable = errors.New("entra: temporarily unavailable")
)

// Is maps Entra's answer to the outcome sentinels.
func (e *AADSTSError) Is(target error) bool {
	switch target {
	case ErrInteractionRequired:
		return e.Err == "interaction_required" || e.Err == "login_required" || e.Suberror == "basic_action" ||
			e.Suberror == "additional_action" || e.Suberror == "message_only" || e.Suberror == "user_password_expired" ||
			e.Code == 50076 || e.Code == 50079 || e.Code == 50058 || e.Code == 50173 || e.Code == 700082 || e.Code == 700084 ||
			(e.Err == "invalid_grant" && e.Suberror == "")
	case ErrConsentRequired:
		return e.Err == "consent_required" || e.Suberror == "consent_required" || e.Code == 65001
	case ErrInvalidGrant:
		return e.Err == "invalid_grant"
	case ErrUserCancelled:
		return e.Err == "access_denied" && (e.Code == 65004 || e.Suberror == "cancel")
	case ErrInvalidClient:
		return e.Err == "invalid_client" || e.Err == "unauthorized_client"
	case ErrTemporarilyUnavailable:
		return e.Err == "temporarily_unavailable" || e.StatusCode == 429 || e.StatusCode >= 500
	}
	return false
}

var (
	aadstsCode  = regexp.MustCompile(`AADSTS(\d{4,9})`)
	correlation = regexp.MustCompile(`Correlation ID: ([0-9a-fA-F-]{36})`)
	traceID     = regexp.MustCompile(`Trace ID: ([0-9a-fA-F-]{36})`)
)

// tokenErrorBody is the token endpoint's error JSON.
type tokenErrorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorCodes       []int  `json:"error_codes"`
	TraceID          string `json:"trace_id"`
	CorrelationID    string `json:"correlation_id"`
	Suberror         string `json:"suberror"`
	Claims           string `json:"claims"`
}

// ParseTokenError reads a token endpoint error body. ok is false when the
// body is not Entra's error JSON.
func ParseTokenError(status int, body []byte) (*AADSTSError, bool) {
	var b tokenErrorBody
	if len(body) > 1<<20 || json.Unmarshal(body, &b) != nil || b.Error == "" {
		return nil, false
	}
	e := &AADSTSError{Err: b.Error, Suberror: b.Suberror, Description: b.ErrorDescription,
		CorrelationID: b.CorrelationID, TraceID: b.TraceID, Claims: b.Claims, StatusCode: status}
	if len(b.ErrorCodes) > 0 {
		e.Code = b.ErrorCodes[0]
	} else {
		e.Code = codeIn(b.ErrorDescription)
	}
	return e, true
}

// FromMSAL returns err as an *AADSTSError (wrapping err) when it carries an
// Entra error response; otherwise err unchanged.
func FromMSAL(err error) error {
	var ce msalerrors.CallErr
	if !errors.As(err, &ce) || ce.Resp == nil || ce.Resp.Body == nil {
		return err
	}
	body, rerr := io.ReadAll(io.LimitReader(ce.Resp.Body, 1<<20))
	ce.Resp.Body = io.NopCloser(bytes.NewReader(body)) // leave it readable
	if rerr != nil {
		return err
	}
	e, ok := ParseTokenError(ce.Resp.StatusCode, body)
	if !ok {
		return err
	}
	e.cause = err
	return e
}

// AuthorizeError turns an authorization response's error= parameters
// (RFC 6749 §4.1.2.1) into an *AADSTSError.
func AuthorizeError(callback url.Values) error {
	desc := callback.Get("error_description")
	e := &AADSTSError{
		Err:         callback.Get("error"),
		Description: desc,
		Suberror:    callback.Get("error_subcode"),
		Code:        codeIn(desc),
		Claims:      callback.Get("claims"),
	}
	if m := correlation.FindStringSubmatch(desc); m != nil {
		e.CorrelationID = m[1]
	}
	if m := traceID.FindStringSubmatch(desc); m != nil {
		e.TraceID = m[1]
	}
	if e.Err == "" {
		return fmt.Errorf("entra: authorize: callback without error")
	}
	return e
}

func codeIn(desc string) int {
	if m := aadstsCode.FindStringSubmatch(desc); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}
