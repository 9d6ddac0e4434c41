package entra_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"
	"github.com/entrakit/entrakit/entra"
	"github.com/entrakit/entrakit/entra/devtenant"
)

// TestFromMSALDevTenant turns real MSAL errors, answered by the dev tenant,
// into AADSTSErrors. The subtests share one tenant and run in order: the
// later ones change consent and revoke the user.
func TestFromMSALDevTenant(t *testing.T) {
	tt := startTenant(t)
	ctx := context.Background()
	graphDefault := []string{"https://graph.microsoft.com/.default"}

	t.Run("bad secret", func(t *testing.T) {
		cfg := tt.cfg
		cfg.Credential = entra.Credential{ClientSecret: "abc8Q~not-the-secret-of-this-app-000000"}
		app, err := entra.NewConfidentialClient(cfg, entra.ClientOptions{HTTPClient: tt.client})
		if err != nil {
			t.Fatal(err)
		}
		_, err = app.AcquireTokenByCredential(ctx, graphDefault)
		if err == nil {
			t.Fatal("a wrong secret was accepted")
		}
		got := entra.FromMSAL(err)
		ae := wantAADSTS(t, got, 7000215)
		if !errors.Is(got, entra.ErrInvalidClient) {
			t.Error("not ErrInvalidClient")
		}
		for _, not := range []error{entra.ErrInvalidGrant, entra.ErrInteractionRequired, entra.ErrConsentRequired, entra.ErrTemporarilyUnavailable, entra.ErrUserCancelled} {
			if errors.Is(got, not) {
				t.Errorf("a bad secret matches %v", not)
			}
		}
		if ae.Err != "invalid_client" || ae.StatusCode != http.StatusUnauthorized {
			t.Errorf("error %q status %d, want invalid_client 401", ae.Err, ae.StatusCode)
		}
		if ae.CorrelationID == "" || !entra.IsGUID(ae.CorrelationID) || !entra.IsGUID(ae.TraceID) {
			t.Errorf("correlation id %q trace id %q", ae.CorrelationID, ae.TraceID)
		}
		if !strings.Contains(ae.Description, "Correlation ID: "+ae.CorrelationID) {
			t.Errorf("correlation id %q is not the description's: %q", ae.CorrelationID, ae.Description)
		}
		if msg := ae.Error(); strings.ContainsAny(msg, "\r\n") || !strings.Contains(msg, "AADSTS7000215") || !strings.Contains(msg, ae.CorrelationID) {
			t.Errorf("Error() = %q", msg)
		}
		// Converting again gives the same answer.
		wantAADSTS(t, entra.FromMSAL(err), 7000215)
		// The MSAL error stays reachable, with its body still readable.
		var ce msalerrors.CallErr
		if !errors.As(got, &ce) || ce.Resp == nil {
			t.Fatal("the MSAL CallErr is not wrapped")
		}
		body, _ := io.ReadAll(ce.Resp.Body)
		if !bytes.Contains(body, []byte("7000215")) {
			t.Errorf("response body no longer readable: %q", body)
		}
	})

	t.Run("throttled", func(t *testing.T) {
		app, err := entra.NewConfidentialClient(tt.cfg, entra.ClientOptions{HTTPClient: tt.client})
		if err != nil {
			t.Fatal(err)
		}
		tt.srv.InjectFault(devtenant.Fault{Endpoint: "token", Status: http.StatusTooManyRequests, RetryAfter: time.Second, Count: 1})
		_, err = app.AcquireTokenByCredential(ctx, graphDefault)
		if err == nil {
			t.Fatal("the injected 429 was not reported")
		}
		got := entra.FromMSAL(err)
		ae := wantAADSTS(t, got, 50196)
		if !errors.Is(got, entra.ErrTemporarilyUnavailable) || ae.StatusCode != http.StatusTooManyRequests {
			t.Errorf("%v (status %d): want ErrTemporarilyUnavailable, 429", got, ae.StatusCode)
		}
		if errors.Is(got, entra.ErrInvalidClient) || errors.Is(got, entra.ErrInteractionRequired) {
			t.Error("a throttled request matches a non-retryable outcome")
		}
		var ce msalerrors.CallErr
		if errors.As(got, &ce) && ce.Resp.Header.Get("Retry-After") != "1" {
			t.Errorf("Retry-After = %q", ce.Resp.Header.Get("Retry-After"))
		}
		// The fault was for one request: the retry works.
		if _, err := app.AcquireTokenByCredential(ctx, graphDefault); err != nil {
			t.Errorf("retry after the fault: %v", err)
		}
	})

	// A signed-in user, with MSAL's cache holding their refresh token.
	si := tt.signIn(t)
	adele := tt.persona(t, "AdeleV")
	txn, resp := signInFlow(t, si, tt.srv.NewBrowser(adele.Username, adele.Password), entra.BeginOptions{Scopes: []string{"User.Read"}})
	res, err := si.Complete(ctx, txn, resp.Params)
	if err != nil {
		t.Fatal(err)
	}
	account := confidential.WithSilentAccount(res.Account)
	// refresh asks for a scope not in the cache, so MSAL goes to the token
	// endpoint with the refresh token; it returns Entra's refusal.
	refresh := func(t *testing.T, when string) error {
		t.Helper()
		_, err := si.Client.AcquireTokenSilent(ctx, []string{"Mail.Read"}, account)
		if err == nil {
			t.Fatal("refresh succeeded " + when)
		}
		return entra.FromMSAL(err)
	}

	t.Run("consent required", func(t *testing.T) {
		if _, err := si.Client.AcquireTokenSilent(ctx, []string{"User.Read"}, account); err != nil {
			t.Fatalf("cached token: %v", err)
		}
		tt.srv.RevokeConsent(webAppID, devtenant.GraphAppID, "")
		defer func() {
			if err := tt.srv.GrantConsent(webAppID, devtenant.GraphAppID, "", "openid", "profile", "email", "offline_access", "User.Read", "User.ReadBasic.All", "Mail.Read"); err != nil {
				t.Fatal(err)
			}
		}()
		got := refresh(t, "without consent") // Entra wants consent
		ae := wantAADSTS(t, got, 65001)
		if !errors.Is(got, entra.ErrConsentRequired) || ae.Suberror != "consent_required" || ae.Err != "invalid_grant" {
			t.Errorf("%+v: want ErrConsentRequired, suberror consent_required", ae)
		}
	})

	t.Run("revoked user", func(t *testing.T) {
		if err := tt.srv.RevokeUser(adele.OID); err != nil {
			t.Fatal(err)
		}
		got := refresh(t, "after the user's sessions were revoked")
		ae := wantAADSTS(t, got, 50173)
		if !errors.Is(got, entra.ErrInteractionRequired) || !errors.Is(got, entra.ErrInvalidGrant) {
			t.Errorf("%v: want ErrInteractionRequired and ErrInvalidGrant", got)
		}
		if errors.Is(got, entra.ErrConsentRequired) || errors.Is(got, entra.ErrTemporarilyUnavailable) || ae.StatusCode != http.StatusBadRequest {
			t.Errorf("%+v", ae)
		}
	})
}

// factsBody is the token endpoint error example of
// shared/reference/entra-protocol-facts.md §4.
const factsBody = `{"error":"invalid_scope","error_description":"AADSTS70011: ... \r\nTrace ID: ...\r\nCorrelation ID: ...\r\nTimestamp: 2016-01-09 02:02:12Z","error_codes":[70011],"timestamp":"2016-01-09 02:02:12Z","trace_id":"...","correlation_id":"...","error_uri":"https://login.microsoftonline.com/error?code=70011"}`

func TestParseTokenError(t *testing.T) {
	e, ok := entra.ParseTokenError(400, []byte(factsBody))
	if !ok {
		t.Fatal("the documented error body was not recognized")
	}
	if e.Err != "invalid_scope" || e.Code != 70011 || e.StatusCode != 400 || e.TraceID != "..." || e.CorrelationID != "..." {
		t.Errorf("parsed %+v", e)
	}
	if !strings.HasPrefix(e.Description, "AADSTS70011: ") || !strings.Contains(e.Description, "\r\nTimestamp: 2016-01-09 02:02:12Z") {
		t.Errorf("description %q", e.Description)
	}
	if msg := e.Error(); strings.ContainsAny(msg, "\r\n") || !strings.Contains(msg, "invalid_scope") || !strings.Contains(msg, "AADSTS70011") {
		t.Errorf("Error() = %q", msg)
	}
	for _, target := range []error{entra.ErrInvalidGrant, entra.ErrInteractionRequired, entra.ErrInvalidClient, entra.ErrTemporarilyUnavailable, entra.ErrConsentRequired, entra.ErrUserCancelled} {
		if errors.Is(e, target) {
			t.Errorf("invalid_scope matches %v", target)
		}
	}

	// A claims challenge with suberror; no error_codes: the code comes from
	// the description.
	mfa := `{"error":"interaction_required","error_description":"AADSTS50076: Due to a configuration change made by your administrator, you must use multi-factor authentication.\r\nTrace ID: 0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e\r\nCorrelation ID: 9f8e7d6c-5b4a-4392-8180-7f6e5d4c3b2a","suberror":"basic_action","claims":"{\"access_token\":{\"capolids\":{\"essential\":true,\"values\":[\"c1\"]}}}"}`
	e, ok = entra.ParseTokenError(400, []byte(mfa))
	if !ok || e.Code != 50076 || e.Suberror != "basic_action" || !strings.Contains(e.Claims, "capolids") || !errors.Is(e, entra.ErrInteractionRequired) {
		t.Errorf("claims challenge parsed as %+v (ok %v)", e, ok)
	}

	e, ok = entra.ParseTokenError(503, []byte(`{"error":"temporarily_unavailable","error_description":"AADSTS90000: busy"}`))
	if !ok || !errors.Is(e, entra.ErrTemporarilyUnavailable) {
		t.Errorf("503: %+v", e)
	}

	for _, garbage := range []string{
		"", "not json", "<html><body>Service Unavailable</body></html>", "{}", "null", "[]", `"error"`,
		`{"error":""}`, `{"error":5}`, `{"error":"invalid_grant"`, `{"error_description":"AADSTS70008: expired"}`,
		`{"error":"x","padding":"` + strings.Repeat("a", 1<<20) + `"}`,
	} {
		if e, ok := entra.ParseTokenError(400, []byte(garbage)); ok || e != nil {
			t.Errorf("ParseTokenError(%.40q) = %+v, %v; want nil, false", garbage, e, ok)
		}
	}
}

func TestAuthorizeError(t *testing.T) {
	const (
		trace = "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"
		corr  = "9f8e7d6c-5b4a-4392-8180-7f6e5d4c3b2a"
	)
	cb := url.Values{
		"error":             {"login_required"},
		"error_description": {"AADSTS50058: A silent sign-in request was sent but no user is signed in.\r\nTrace ID: " + trace + "\r\nCorrelation ID: " + corr + "\r\nTimestamp: 2025-02-13 10:17:05Z"},
		"state":             {"abc"},
	}
	err := entra.AuthorizeError(cb)
	ae := wantAADSTS(t, err, 50058)
	if ae.Err != "login_required" || ae.TraceID != trace || ae.CorrelationID != corr || ae.StatusCode != 0 {
		t.Errorf("parsed %+v", ae)
	}
	if !errors.Is(err, entra.ErrInteractionRequired) {
		t.Error("login_required is not ErrInteractionRequired")
	}
	if msg := err.Error(); strings.ContainsAny(msg, "\r\n") || !strings.Contains(msg, corr) {
		t.Errorf("Error() = %q", msg)
	}

	err = entra.AuthorizeError(url.Values{
		"error":             {"access_denied"},
		"error_subcode":     {"cancel"},
		"error_description": {"AADSTS65004: User declined to consent to access the app."},
	})
	ae = wantAADSTS(t, err, 65004)
	if ae.Suberror != "cancel" || ae.CorrelationID != "" || ae.TraceID != "" || !errors.Is(err, entra.ErrUserCancelled) {
		t.Errorf("cancel parsed %+v", ae)
	}

	err = entra.AuthorizeError(url.Values{"error": {"interaction_required"}, "claims": {caeClaims}, "error_description": {"no code here"}})
	ae = wantAADSTS(t, err, 0)
	if ae.Claims != caeClaims || !errors.Is(err, entra.ErrInteractionRequired) {
		t.Errorf("claims parsed %+v", ae)
	}

	// A callback without error= is not an Entra error.
	err = entra.AuthorizeError(url.Values{"code": {"x"}, "state": {"y"}})
	var ae2 *entra.AADSTSError
	if err == nil || errors.As(err, &ae2) {
		t.Errorf("callback without error: %v (%T)", err, err)
	}
}

func TestFromMSALLeavesOtherErrorsAlone(t *testing.T) {
	plain := errors.New("dial tcp: connection refused")
	wrapped := fmt.Errorf("acquiring: %w", plain)
	for _, err := range []error{nil, plain, wrapped, context.DeadlineExceeded} {
		if got := entra.FromMSAL(err); got != err {
			t.Errorf("FromMSAL(%v) = %v, want it unchanged", err, got)
		}
	}
	noResp := msalerrors.CallErr{Err: plain}
	if got := entra.FromMSAL(noResp); got != error(noResp) {
		t.Errorf("CallErr without response: %v", got)
	}
	html := "<html>502 Bad Gateway</html>"
	notEntra := msalerrors.CallErr{Err: plain, Resp: &http.Response{StatusCode: 502, Body: io.NopCloser(strings.NewReader(html))}}
	if got := entra.FromMSAL(notEntra); got != error(notEntra) {
		t.Errorf("CallErr with a non-Entra body became %T %v", got, got)
	}
	if b, _ := io.ReadAll(notEntra.Resp.Body); string(b) != html {
		t.Errorf("body consumed: %q", b)
	}
}

func TestAADSTSErrorOutcomes(t *testing.T) {
	for _, tc := range []struct {
		e    entra.AADSTSError
		want []error
	}{
		{entra.AADSTSError{Err: "invalid_grant", Code: 70008}, []error{entra.ErrInvalidGrant, entra.ErrInteractionRequired}},
		{entra.AADSTSError{Err: "invalid_grant", Code: 700082}, []error{entra.ErrInvalidGrant, entra.ErrInteractionRequired}},
		{entra.AADSTSError{Err: "invalid_grant", Code: 700084}, []error{entra.ErrInvalidGrant, entra.ErrInteractionRequired}},
		{entra.AADSTSError{Err: "invalid_grant", Code: 65001, Suberror: "consent_required"}, []error{entra.ErrInvalidGrant, entra.ErrConsentRequired}},
		{entra.AADSTSError{Err: "interaction_required", Code: 50076, Suberror: "basic_action"}, []error{entra.ErrInteractionRequired}},
		{entra.AADSTSError{Err: "consent_required", Code: 65001}, []error{entra.ErrConsentRequired}},
		{entra.AADSTSError{Err: "access_denied", Code: 65004}, []error{entra.ErrUserCancelled}},
		{entra.AADSTSError{Err: "access_denied", Code: 90094}, nil},
		{entra.AADSTSError{Err: "unauthorized_client", Code: 700016, StatusCode: 400}, []error{entra.ErrInvalidClient}},
		{entra.AADSTSError{Err: "invalid_client", Code: 7000218, StatusCode: 401}, []error{entra.ErrInvalidClient}},
		{entra.AADSTSError{Err: "server_error", StatusCode: 500}, []error{entra.ErrTemporarilyUnavailable}},
		{entra.AADSTSError{Err: "invalid_scope", Code: 70011, StatusCode: 400}, nil},
	} {
		for _, target := range []error{entra.ErrInteractionRequired, entra.ErrConsentRequired, entra.ErrInvalidGrant, entra.ErrUserCancelled, entra.ErrInvalidClient, entra.ErrTemporarilyUnavailable} {
			want := false
			for _, w := range tc.want {
				want = want || w == target
			}
			if got := errors.Is(&tc.e, target); got != want {
				t.Errorf("%s/%d/%s is %v: %v, want %v", tc.e.Err, tc.e.Code, tc.e.Suberror, target, got, want)
			}
		}
	}
}
