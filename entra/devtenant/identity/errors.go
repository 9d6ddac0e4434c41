package identity

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/entrakit/entrakit/entra/devtenant/directory"
)

// aadError is an error as Entra's token endpoint sends it.
// https://learn.microsoft.com/entra/identity-platform/reference-error-codes
type aadError struct {
	status   int
	err      string // OAuth error code
	code     int    // AADSTS number
	msg      string
	suberror string
	claims   string
}

func (e *aadError) Error() string { return fmt.Sprintf("AADSTS%d: %s", e.code, e.msg) }

func newAADError(status int, oauthErr string, code int, format string, args ...any) *aadError {
	return &aadError{status: status, err: oauthErr, code: code, msg: fmt.Sprintf(format, args...)}
}

func invalidRequest(code int, format string, args ...any) *aadError {
	return newAADError(http.StatusBadRequest, "invalid_request", code, format, args...)
}

func invalidGrant(code int, format string, args ...any) *aadError {
	return newAADError(http.StatusBadRequest, "invalid_grant", code, format, args...)
}

func invalidClient(code int, format string, args ...any) *aadError {
	return newAADError(http.StatusUnauthorized, "invalid_client", code, format, args...)
}

func invalidScope(code int, format string, args ...any) *aadError {
	return newAADError(http.StatusBadRequest, "invalid_scope", code, format, args...)
}

func consentRequired(client *directory.App) *aadError {
	e := invalidGrant(65001, "The user or administrator has not consented to use the application with ID '%s' named '%s'. Send an interactive authorization request for this user and resource.", client.AppID, client.DisplayName)
	e.suberror = "consent_required"
	return e
}

// tokenErrorBody is the JSON body of a token endpoint error.
type tokenErrorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorCodes       []int  `json:"error_codes"`
	Timestamp        string `json:"timestamp"`
	TraceID          string `json:"trace_id"`
	CorrelationID    string `json:"correlation_id"`
	ErrorURI         string `json:"error_uri"`
	Suberror         string `json:"suberror,omitempty"`
	Claims           string `json:"claims,omitempty"`
}

// writeTokenError answers with e in Entra's shape: the description carries
// the trace and correlation ids and a timestamp, errors are not cacheable.
func (p *Provider) writeTokenError(w http.ResponseWriter, r *http.Request, e *aadError) {
	ts := p.cfg.Now().UTC().Format("2006-01-02 15:04:05Z")
	trace, corr := directory.NewObjectID(), correlationID(r)
	body := tokenErrorBody{
		Error:            e.err,
		ErrorDescription: fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", e.code, e.msg, trace, corr, ts),
		ErrorCodes:       []int{e.code},
		Timestamp:        ts,
		TraceID:          trace,
		CorrelationID:    corr,
		ErrorURI:         p.baseURL() + "/error?code=" + strconv.Itoa(e.code),
		Suberror:         e.suberror,
		Claims:           e.claims,
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store, no-cache")
	h.Set("Pragma", "no-cache")
	h.Set("x-ms-request-id", trace)
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(body)
	logAADError(p.log, r, e)
}

// correlationID echoes the client's client-request-id as Entra does, or makes one.
func correlationID(r *http.Request) string {
	if id := ClientRequestID(r); directory.IsGUID(id) {
		return id
	}
	return directory.NewObjectID()
}

// ClientRequestID is the correlation id a client sent: the client-request-id
// header (MSAL Go, azidentity) or query parameter (msal-node and
// msal-browser send it in the URL).
func ClientRequestID(r *http.Request) string {
	if id := r.Header.Get("client-request-id"); id != "" {
		return id
	}
	return r.URL.Query().Get("client-request-id")
}

// The device code grant's errors: the error values of Entra's device code
// docs, with the AADSTS numbers of its error reference (70016 pending,
// 70018 bad verification code, 70019 expired). The reference gives none for
// authorization_declined: the dev tenant uses 65004, its number for a user
// declining consent (not verified).

func badVerificationCode(msg string) *aadError {
	return newAADError(http.StatusBadRequest, "bad_verification_code", 70018, "%s", msg)
}

func expiredDeviceCode() *aadError {
	return newAADError(http.StatusBadRequest, "expired_token", 70019, "Verification code expired. Have the user retry the sign-in.")
}

func deviceDeclinedError(msg string) *aadError {
	return newAADError(http.StatusBadRequest, "authorization_declined", 65004, "%s", msg)
}
