package devtenant_test

// The on-behalf-of flow through MSAL Go, as the web app's API runs it: a
// user signs in to the single-page app for the API (access_as_user), and the
// API (the web app's registration, with its secret) exchanges that token for
// one to Microsoft Graph.

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"

	"github.com/entrakit/entrakit/entra/devtenant"
)

const (
	oboSPARedirect = "http://localhost:8080/spa/"
	oboSPAOrigin   = "http://localhost:8080"
	graphUserRead  = "https://graph.microsoft.com/User.Read"
)

var oboAPIScope = "api://" + webAppID + "/access_as_user"

// spaTokens signs alias in to the single-page app for scope and redeems the
// code cross-origin, as msal-browser does: the token response's body.
func spaTokens(t testing.TB, srv *devtenant.Server, alias, scope string) wireResp {
	t.Helper()
	w := wire{srv: srv, hc: srv.Client()}
	code, verifier := w.code(t, alias, spaAppID, oboSPARedirect, scope)
	r := w.token(t, url.Values{
		"grant_type": {"authorization_code"}, "client_id": {spaAppID}, "code": {code},
		"redirect_uri": {oboSPARedirect}, "code_verifier": {verifier}, "scope": {scope}, "client_info": {"1"},
	}, http.Header{"Origin": {oboSPAOrigin}})
	if r.Status != http.StatusOK || r.s("access_token") == "" {
		t.Fatalf("SPA sign-in of %s for %q: %d %s", alias, scope, r.Status, r.Raw)
	}
	return r
}

// apiAssertion is alias's access token for the API, which the API receives
// from the single-page app and presents as the OBO assertion.
func apiAssertion(t testing.TB, srv *devtenant.Server, alias string) string {
	t.Helper()
	return spaTokens(t, srv, alias, "openid profile offline_access "+oboAPIScope).s("access_token")
}

// tokenRecorder keeps the token endpoint's answers a client received.
type tokenRecorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	sent []url.Values     // the request forms, in order
	got  []map[string]any // the JSON answers, in order
}

func (rec *tokenRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var form url.Values
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(b))
		form, _ = url.ParseQuery(string(b))
	}
	resp, err := rec.base.RoundTrip(req)
	if err != nil || !strings.HasSuffix(req.URL.Path, "/oauth2/v2.0/token") {
		return resp, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	rec.mu.Lock()
	rec.sent, rec.got = append(rec.sent, form), append(rec.got, m)
	rec.mu.Unlock()
	return resp, nil
}

func (rec *tokenRecorder) calls() ([]url.Values, []map[string]any) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]url.Values(nil), rec.sent...), append([]map[string]any(nil), rec.got...)
}

// oboClient is MSAL Go's confidential client for appID with its secret,
// over a transport that records the token endpoint's answers.
func oboClient(t testing.TB, srv *devtenant.Server, appID string) (confidential.Client, *tokenRecorder) {
	t.Helper()
	hc := srv.Client()
	rec := &tokenRecorder{base: hc.Transport}
	if rec.base == nil {
		rec.base = http.DefaultTransport
	}
	hc.Transport = rec
	cred, err := confidential.NewCredFromSecret(srv.ClientSecret(appID))
	if err != nil {
		t.Fatal(err)
	}
	app, err := confidential.New(srv.Authority(), appID, cred,
		confidential.WithHTTPClient(hc), confidential.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatal(err)
	}
	return app, rec
}

// entraAnswer is the token endpoint's error as MSAL Go reports it (a
// CallErr with the response): the fields an app classifies it by.
type entraAnswer struct {
	Status      int
	Error       string `json:"error"`
	Description string `json:"error_description"`
	Codes       []int  `json:"error_codes"`
	Suberror    string `json:"suberror"`
}

func (a entraAnswer) code() int {
	if len(a.Codes) == 0 {
		return 0
	}
	return a.Codes[0]
}

// entraErrorOf reads err's Entra error; it fails t when err is not one.
// (entra.FromMSAL does the same for the library; devtenant's tests may not
// import it, internal/deptest.)
func entraErrorOf(t testing.TB, err error) entraAnswer {
	t.Helper()
	var ce msalerrors.CallErr
	if !errors.As(err, &ce) || ce.Resp == nil || ce.Resp.Body == nil {
		t.Fatalf("not an error answer of the token endpoint: %v", err)
	}
	b, rerr := io.ReadAll(ce.Resp.Body)
	ce.Resp.Body = io.NopCloser(bytes.NewReader(b))
	var a entraAnswer
	if rerr != nil || json.Unmarshal(b, &a) != nil {
		t.Fatalf("token endpoint error body: %v %s", rerr, b)
	}
	a.Status = ce.Resp.StatusCode
	return a
}

// TestOBOThroughMSAL: the API exchanges a user's token for a Graph token
// with AcquireTokenOnBehalfOf; the refused assertions and requests get
// Entra's invalid_grant answers.
func TestOBOThroughMSAL(t *testing.T) {
	srv := startTenant(t)

	t.Run("valid", func(t *testing.T) {
		t.Parallel()
		adele := persona(t, srv, "AdeleV")
		assertion := apiAssertion(t, srv, "AdeleV")
		if c := claimsOf(t, assertion); c["aud"] != webAppID || c["scp"] != "access_as_user" {
			t.Fatalf("the SPA's token for the API: aud %v scp %v", c["aud"], c["scp"])
		}
		api, rec := oboClient(t, srv, webAppID)
		res, err := api.AcquireTokenOnBehalfOf(t.Context(), assertion, []string{graphUserRead})
		if err != nil {
			t.Fatalf("AcquireTokenOnBehalfOf: %v", err)
		}
		c := claimsOf(t, res.AccessToken)
		for claim, want := range map[string]any{
			"aud": "https://graph.microsoft.com", "ver": "1.0", "appid": webAppID, "oid": adele.OID,
			"tid": srv.TenantID(), "iss": "https://sts.windows.net/" + srv.TenantID() + "/", "idtyp": "user",
		} {
			if c[claim] != want {
				t.Errorf("Graph token %s = %v, want %v", claim, c[claim], want)
			}
		}
		if scp, _ := c["scp"].(string); !strings.Contains(" "+scp+" ", " User.Read ") {
			t.Errorf("Graph token scp = %q, want User.Read", scp)
		}
		sent, got := rec.calls()
		if len(sent) != 1 || sent[0].Get("requested_token_use") != "on_behalf_of" || sent[0].Get("assertion") != assertion {
			t.Fatalf("MSAL sent %d token requests, want one OBO request with the assertion", len(sent))
		}
		if _, ok := got[0]["id_token"]; ok {
			t.Error("the OBO answer carries an id_token")
		}
		if rt, _ := got[0]["refresh_token"].(string); rt == "" {
			t.Error("no refresh token for an OBO request with offline_access (MSAL asks for it)")
		}
		// The same assertion again: MSAL answers from its cache, keyed by
		// the assertion.
		again, err := api.AcquireTokenOnBehalfOf(t.Context(), assertion, []string{graphUserRead})
		if err != nil {
			t.Fatalf("second AcquireTokenOnBehalfOf: %v", err)
		}
		if again.Metadata.TokenSource != confidential.TokenSourceCache || again.AccessToken != res.AccessToken {
			t.Errorf("second call: token source %v, same token %v; want the cached token", again.Metadata.TokenSource, again.AccessToken == res.AccessToken)
		}
	})

	t.Run("signed in again after a revocation", func(t *testing.T) {
		t.Parallel()
		pradeep := persona(t, srv, "PradeepG")
		if err := srv.RevokeUser(pradeep.OID); err != nil {
			t.Fatal(err)
		}
		api, _ := oboClient(t, srv, webAppID)
		if _, err := api.AcquireTokenOnBehalfOf(t.Context(), apiAssertion(t, srv, "PradeepG"), []string{graphUserRead}); err != nil {
			t.Errorf("an assertion issued after the revocation: %v", err)
		}
	})

	tests := []struct {
		name string
		// assertion prepares the case and returns what the API presents.
		assertion func(t *testing.T) string
		caller    string   // the app calling OBO; "" is the API
		scopes    []string // nil: Graph User.Read
		code      int
		suberror  string
	}{
		{
			name: "forged signature",
			assertion: func(t *testing.T) string {
				tok := apiAssertion(t, srv, "AlexW")
				return tok[:strings.LastIndexByte(tok, '.')+1] + "c2lnbmF0dXJl"
			},
			code: 50013,
		},
		{
			name: "a Graph token as the assertion",
			assertion: func(t *testing.T) string {
				return spaTokens(t, srv, "AlexW", "openid offline_access User.Read").s("access_token")
			},
			code: 50013,
		},
		{
			name:      "the API's token presented by another app",
			assertion: func(t *testing.T) string { return apiAssertion(t, srv, "AlexW") },
			caller:    daemonAppID,
			code:      50013,
		},
		{
			name: "an ID token as the assertion",
			assertion: func(t *testing.T) string {
				return spaTokens(t, srv, "DiegoS", "openid profile "+oboAPIScope).s("id_token")
			},
			code: 240002,
		},
		{
			name: "an app-only token as the assertion",
			assertion: func(t *testing.T) string {
				w := wire{srv: srv, hc: srv.Client()}
				r := w.token(t, w.daemonForm(srv.ClientSecret(daemonAppID), "api://"+webAppID+"/.default"), nil)
				if r.Status != http.StatusOK {
					t.Fatalf("daemon token for the API: %d %s", r.Status, r.Raw)
				}
				return r.s("access_token")
			},
			code: 7000114,
		},
		{
			// User.Read.All needs an admin's consent, which the API has not.
			name:      "downstream scope not consented",
			assertion: func(t *testing.T) string { return apiAssertion(t, srv, "GradyA") },
			scopes:    []string{"https://graph.microsoft.com/User.Read.All"},
			code:      65001,
			suberror:  "consent_required",
		},
		{
			name: "sessions revoked after the assertion was issued",
			assertion: func(t *testing.T) string {
				tok := apiAssertion(t, srv, "MeganB")
				if err := srv.RevokeUser(persona(t, srv, "MeganB").OID); err != nil {
					t.Fatal(err)
				}
				return tok
			},
			code: 50173,
		},
		{
			name: "user disabled",
			assertion: func(t *testing.T) string {
				tok := apiAssertion(t, srv, "IsaiahL")
				if err := srv.SetUserEnabled(persona(t, srv, "IsaiahL").OID, false); err != nil {
					t.Fatal(err)
				}
				return tok
			},
			code: 50057,
		},
		{
			name: "user deleted",
			assertion: func(t *testing.T) string {
				tok := apiAssertion(t, srv, "JoniS")
				if err := srv.DeleteUser(persona(t, srv, "JoniS").OID); err != nil {
					t.Fatal(err)
				}
				return tok
			},
			code: 50034,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assertion := tc.assertion(t)
			caller := tc.caller
			if caller == "" {
				caller = webAppID
			}
			scopes := tc.scopes
			if scopes == nil {
				scopes = []string{graphUserRead}
			}
			api, _ := oboClient(t, srv, caller)
			_, err := api.AcquireTokenOnBehalfOf(t.Context(), assertion, scopes)
			if err == nil {
				t.Fatal("AcquireTokenOnBehalfOf succeeded")
			}
			checkOBOError(t, entraErrorOf(t, err), tc.code, tc.suberror)
		})
	}
}

func checkOBOError(t testing.TB, a entraAnswer, code int, suberror string) {
	t.Helper()
	if a.Status != http.StatusBadRequest || a.Error != "invalid_grant" || a.code() != code || a.Suberror != suberror {
		t.Errorf("answer %d %s AADSTS%d suberror %q, want 400 invalid_grant AADSTS%d suberror %q: %s",
			a.Status, a.Error, a.code(), a.Suberror, code, suberror, a.Description)
	}
}

// TestOBOExpiredAssertion: an assertion past its exp is AADSTS500133 with
// the current time and the assertion's expiry in the text. (Its own tenant:
// it moves the clock.)
func TestOBOExpiredAssertion(t *testing.T) {
	t.Parallel()
	srv := startTenant(t)
	assertion := apiAssertion(t, srv, "AdeleV")
	exp, _ := claimsOf(t, assertion)["exp"].(float64)
	srv.AdvanceClock(2 * time.Hour)
	api, _ := oboClient(t, srv, webAppID)
	_, err := api.AcquireTokenOnBehalfOf(t.Context(), assertion, []string{graphUserRead})
	if err == nil {
		t.Fatal("an expired assertion was accepted")
	}
	a := entraErrorOf(t, err)
	checkOBOError(t, a, 500133, "")
	want := "expiry time of assertion " + time.Unix(int64(exp), 0).UTC().Format("2006-01-02T15:04:05.0000000Z")
	if !strings.Contains(a.Description, "Ensure that the access token is not expired before using it for user assertion") || !strings.Contains(a.Description, want) {
		t.Errorf("description %q, want Entra's text with %q", a.Description, want)
	}
}

// TestOBORefreshToken: the refresh token of an OBO answer is in MSAL's
// cache, under the assertion: a call with claims skips the cached access
// token and redeems it instead of the assertion. (The claims here only
// declare the CP1 capability, which is no challenge.)
func TestOBORefreshToken(t *testing.T) {
	t.Parallel()
	srv := startTenant(t)
	assertion := apiAssertion(t, srv, "AdeleV")
	api, rec := oboClient(t, srv, webAppID)
	first, err := api.AcquireTokenOnBehalfOf(t.Context(), assertion, []string{graphUserRead})
	if err != nil {
		t.Fatalf("AcquireTokenOnBehalfOf: %v", err)
	}
	second, err := api.AcquireTokenOnBehalfOf(t.Context(), assertion, []string{graphUserRead},
		confidential.WithClaims(`{"access_token":{"xms_cc":{"values":["CP1"]}}}`))
	if err != nil {
		t.Fatalf("AcquireTokenOnBehalfOf with claims: %v", err)
	}
	sent, got := rec.calls()
	if len(sent) != 2 || sent[1].Get("grant_type") != "refresh_token" || sent[1].Get("refresh_token") != got[0]["refresh_token"] {
		var grants []string
		for _, f := range sent {
			grants = append(grants, f.Get("grant_type"))
		}
		t.Fatalf("token requests %v, want the OBO grant then a redemption of its refresh token", grants)
	}
	c := claimsOf(t, second.AccessToken)
	if second.AccessToken == first.AccessToken || c["oid"] != persona(t, srv, "AdeleV").OID || c["aud"] != "https://graph.microsoft.com" {
		t.Errorf("the refreshed token: new %v, oid %v, aud %v", second.AccessToken != first.AccessToken, c["oid"], c["aud"])
	}
}

// TestOBOMissingParameters: what MSAL always sends, checked on the wire.
func TestOBOMissingParameters(t *testing.T) {
	t.Parallel()
	srv := startTenant(t)
	w := wire{srv: srv, hc: srv.Client()}
	assertion := apiAssertion(t, srv, "AdeleV")
	for _, missing := range []string{"requested_token_use", "assertion", "scope"} {
		t.Run(missing, func(t *testing.T) {
			f := w.webForm("urn:ietf:params:oauth:grant-type:jwt-bearer")
			f.Set("requested_token_use", "on_behalf_of")
			f.Set("assertion", assertion)
			f.Del(missing)
			r := w.token(t, f, nil)
			checkEntraError(t, r, 400, "invalid_request", 900144, "", "")
			if !strings.Contains(r.s("error_description"), "'"+missing+"'") {
				t.Errorf("description does not name %s: %s", missing, r.s("error_description"))
			}
		})
	}
}
