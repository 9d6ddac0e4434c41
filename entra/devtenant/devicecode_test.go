package devtenant_test

// The device authorization grant (RFC 8628) as Entra serves it: MSAL Go's
// AcquireTokenByDeviceCode and azidentity's DeviceCodeCredential against the
// dev tenant, a person at the verification page played by Browser.DeviceLogin,
// and every answer of the poll on the wire.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"

	"github.com/entrakit/entrakit/entra/devtenant"
)

// userCodeRE: Entra's user codes are 9 upper-case letters and digits.
var userCodeRE = regexp.MustCompile(`^[A-Z0-9]{9}$`)

// TestDeviceCodeMSAL: entractl's flow. MSAL Go asks for a device code, a
// person signs in at the verification page once MSAL has been told
// authorization_pending and slow_down (it keeps polling through both), and
// MSAL gets the tokens and caches the account; a second sign-in from the
// same browser keeps its SSO session.
func TestDeviceCodeMSAL(t *testing.T) {
	tests := []struct {
		name    string
		picker  bool // sign in with the persona picker, not the password
		scopes  []string
		wantAud string
		wantScp string
	}{
		{name: "Graph, password", scopes: []string{"User.Read"}, wantAud: "https://graph.microsoft.com", wantScp: "User.Read"},
		{name: "the API, persona picker", picker: true, scopes: []string{"api://" + webAppID + "/access_as_user"}, wantAud: webAppID, wantScp: "access_as_user"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			polls := &pollLog{}
			srv := startTenant(t, func(o *devtenant.Options) {
				o.PersonaPicker = tc.picker
				o.Logger = slog.New(polls)
			})
			adele := persona(t, srv, "AdeleV")
			b := srv.NewBrowser(adele.Username, adele.Password)
			if tc.picker {
				b.Username, b.Password, b.Persona = "", "", adele.OID
			}
			ctx := testContext(t)
			app := cliApp(t, srv)
			res := deviceCodeSignIn(t, ctx, srv, app, b, tc.scopes, polls.slowedDown())
			if res.Account.PreferredUsername != adele.Username || res.Account.LocalAccountID != adele.OID ||
				res.Account.HomeAccountID != adele.OID+"."+srv.TenantID() || res.IDToken.Oid != adele.OID {
				t.Errorf("account %+v, ID token oid %q; want %s (%s)", res.Account, res.IDToken.Oid, adele.Username, adele.OID)
			}
			at := claimsOf(t, res.AccessToken)
			client, acr := at["appid"], at["appidacr"] // v1 (Graph)
			if at["ver"] == "2.0" {
				client, acr = at["azp"], at["azpacr"]
			}
			if at["aud"] != tc.wantAud || !slices.Contains(strings.Fields(str(at["scp"])), tc.wantScp) || at["oid"] != adele.OID || client != cliAppID || acr != "0" {
				t.Errorf("access token claims = %v", at)
			}
			silent, err := app.AcquireTokenSilent(ctx, tc.scopes, public.WithSilentAccount(res.Account))
			if err != nil || silent.AccessToken != res.AccessToken {
				t.Errorf("silent: %v; cached token returned: %t", err, err == nil && silent.AccessToken == res.AccessToken)
			}

			// The same browser, signed in: "continue" with its account.
			b.Username, b.Password, b.Persona = "", "", ""
			again := deviceCodeSignIn(t, ctx, srv, cliApp(t, srv), b, tc.scopes, nil)
			if again.Account.LocalAccountID != adele.OID {
				t.Errorf("SSO sign-in: account %+v, want %s", again.Account, adele.OID)
			}
		})
	}
}

func cliApp(t *testing.T, srv *devtenant.Server) public.Client {
	t.Helper()
	app, err := public.New(cliAppID, public.WithAuthority(srv.Authority()),
		public.WithHTTPClient(srv.Client()), public.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatal(err)
	}
	return app
}

// pollLog is a slog.Handler for the tenant's log that tells when a poll
// has been answered authorization_pending and then slow_down.
type pollLog struct {
	mu      sync.Mutex
	pending bool
	slowed  chan struct{} // closed at the first slow_down after a pending
}

// slowedDown is closed once a poll was answered slow_down after one was
// answered authorization_pending.
func (h *pollLog) slowedDown() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pending, h.slowed = false, make(chan struct{})
	return h.slowed
}

func (h *pollLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *pollLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *pollLog) WithGroup(string) slog.Handler            { return h }
func (h *pollLog) Handle(_ context.Context, rec slog.Record) error {
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key != "error" {
			return true
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		switch a.Value.String() {
		case "authorization_pending":
			h.pending = true
		case "slow_down":
			if h.pending && h.slowed != nil {
				close(h.slowed)
				h.slowed = nil
			}
		}
		return false
	})
	return nil
}

// deviceCodeSignIn runs AcquireTokenByDeviceCode with b signing in at the
// verification page while MSAL polls: once polled is closed, when it is
// not nil.
func deviceCodeSignIn(t *testing.T, ctx context.Context, srv *devtenant.Server, app public.Client, b *devtenant.Browser, scopes []string, polled <-chan struct{}) public.AuthResult {
	t.Helper()
	dc, err := app.AcquireTokenByDeviceCode(ctx, scopes)
	if err != nil {
		t.Fatal(err)
	}
	r := dc.Result
	wantMsg := fmt.Sprintf("To sign in, use a web browser to open the page %s/devicelogin and enter the code %s to authenticate.", srv.URL(), r.UserCode)
	if !userCodeRE.MatchString(r.UserCode) || r.VerificationURL != srv.URL()+"/devicelogin" || r.Interval != 5 ||
		r.Message != wantMsg || len(r.DeviceCode) < 64 || time.Until(r.ExpiresOn) < 14*time.Minute || time.Until(r.ExpiresOn) > 15*time.Minute {
		t.Errorf("device code result = %+v", r)
	}
	pollCtx, stopPolling := context.WithCancel(ctx)
	defer stopPolling()
	loginErr := make(chan error, 1)
	go func() {
		if polled != nil {
			select {
			case <-polled:
			case <-ctx.Done():
			}
		}
		err := b.DeviceLogin(ctx, r.VerificationURL, r.UserCode)
		if err != nil {
			stopPolling() // MSAL would poll until the code expires
		}
		loginErr <- err
	}()
	res, err := dc.AuthenticationResult(pollCtx)
	if lerr := <-loginErr; lerr != nil {
		t.Fatalf("device login: %v", lerr)
	}
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestDeviceCodeAzidentity: DeviceCodeCredential (MSAL Go underneath, with
// CAE), its prompt played by the browser; the second GetToken is served
// from its cache without a prompt.
func TestDeviceCodeAzidentity(t *testing.T) {
	srv := startTenant(t)
	adele := persona(t, srv, "AdeleV")
	b := srv.NewBrowser(adele.Username, adele.Password)
	prompts := 0
	cred, err := azidentity.NewDeviceCodeCredential(&azidentity.DeviceCodeCredentialOptions{
		ClientOptions: azClientOptions(srv), ClientID: cliAppID, TenantID: srv.TenantID(), DisableInstanceDiscovery: true,
		UserPrompt: func(ctx context.Context, m azidentity.DeviceCodeMessage) error {
			prompts++
			if !strings.Contains(m.Message, m.UserCode) {
				t.Errorf("message %q lacks the code %q", m.Message, m.UserCode)
			}
			return b.DeviceLogin(ctx, m.VerificationURL, m.UserCode) // before MSAL polls
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	opts := policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/User.Read"}, EnableCAE: true}
	tk, err := cred.GetToken(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	at := claimsOf(t, tk.Token)
	if at["oid"] != adele.OID || at["appid"] != cliAppID || !hasString(at["xms_cc"], "CP1") {
		t.Errorf("access token claims = %v", at)
	}
	again, err := cred.GetToken(ctx, opts)
	if err != nil || again.Token != tk.Token || prompts != 1 {
		t.Errorf("second GetToken: %v, same token %t, %d prompts; want the cached token and 1 prompt", err, err == nil && again.Token == tk.Token, prompts)
	}
}

// deviceWire is the device code flow on the wire, as a client that is not
// MSAL would see it.
type deviceWire struct {
	wire
	adele devtenant.Persona
}

// start asks tenant's device code endpoint for a code.
func (w deviceWire) start(t *testing.T, tenant, clientID, scope string) wireResp {
	t.Helper()
	return w.post(t, w.srv.URL()+"/"+tenant+"/oauth2/v2.0/devicecode", url.Values{"client_id": {clientID}, "scope": {scope}}, nil)
}

// code is a device code for entractl from the tenant's endpoint.
func (w deviceWire) code(t *testing.T, scope string) wireResp {
	t.Helper()
	r := w.start(t, w.srv.TenantID(), cliAppID, scope)
	if r.Status != http.StatusOK {
		t.Fatalf("device code: %d %s", r.Status, r.Raw)
	}
	return r
}

// poll polls the tenant's token endpoint for dc with grant (MSAL's literal
// when empty), as entractl.
func (w deviceWire) poll(t *testing.T, grant, deviceCode string, extra ...string) wireResp {
	t.Helper()
	if grant == "" {
		grant = "device_code"
	}
	f := url.Values{"grant_type": {grant}, "device_code": {deviceCode}, "client_id": {cliAppID}, "client_info": {"1"},
		"scope": {"User.Read openid offline_access profile"}}
	for i := 0; i+1 < len(extra); i += 2 {
		f.Set(extra[i], extra[i+1])
	}
	return w.token(t, f, nil)
}

// login is Adele entering dc's user code and signing in with her password.
func (w deviceWire) login(t *testing.T, dc wireResp, consent string) error {
	t.Helper()
	b := w.srv.NewBrowser(w.adele.Username, w.adele.Password)
	b.Consent = consent
	return b.DeviceLogin(t.Context(), dc.s("verification_uri"), dc.s("user_code"))
}

// TestDeviceCodeWire: every answer of the device code and token endpoints
// in the flow, in Entra's error shape.
func TestDeviceCodeWire(t *testing.T) {
	srv := startTenant(t)
	w := deviceWire{wire: wire{srv: srv, hc: srv.Client()}, adele: persona(t, srv, "AdeleV")}
	const scope = "User.Read openid profile offline_access"
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"device code response", func(t *testing.T) {
			dc := w.code(t, scope)
			uri := srv.URL() + "/devicelogin"
			if !userCodeRE.MatchString(dc.s("user_code")) || len(dc.s("device_code")) < 64 || dc.s("verification_uri") != uri ||
				dc.Body["expires_in"] != 900.0 || dc.Body["interval"] != 5.0 ||
				dc.s("message") != "To sign in, use a web browser to open the page "+uri+" and enter the code "+dc.s("user_code")+" to authenticate." {
				t.Errorf("device code response = %s", dc.Raw)
			}
		}},
		{"pending, slow_down when polled too fast", func(t *testing.T) {
			dc := w.code(t, scope)
			checkEntraError(t, w.poll(t, "", dc.s("device_code")), 400, "authorization_pending", 70016, "", "")
			checkEntraError(t, w.poll(t, "", dc.s("device_code")), 400, "slow_down", 70016, "", "")
			srv.AdvanceClock(5 * time.Second)
			checkEntraError(t, w.poll(t, "", dc.s("device_code")), 400, "authorization_pending", 70016, "", "")
		}},
		{"approved: the tokens once, by the RFC's grant_type", func(t *testing.T) {
			dc := w.code(t, scope)
			if err := w.login(t, dc, ""); err != nil {
				t.Fatal(err)
			}
			r := w.poll(t, "urn:ietf:params:oauth:grant-type:device_code", dc.s("device_code"))
			if r.Status != http.StatusOK || r.s("scope") != "User.Read openid profile" || r.s("refresh_token") == "" || r.s("client_info") == "" {
				t.Fatalf("token response: %d %s", r.Status, r.Raw)
			}
			if id := claimsOf(t, r.s("id_token")); id["aud"] != cliAppID || id["oid"] != w.adele.OID || id["nonce"] != nil {
				t.Errorf("ID token claims = %v", id)
			}
			// Single use: spent, as an unknown device code.
			checkEntraError(t, w.poll(t, "", dc.s("device_code")), 400, "bad_verification_code", 70018, "", "")
			rt := w.token(t, url.Values{"grant_type": {"refresh_token"}, "client_id": {cliAppID}, "refresh_token": {r.s("refresh_token")}, "scope": {scope}}, nil)
			if rt.Status != http.StatusOK || rt.s("access_token") == "" {
				t.Errorf("refresh as a public client: %d %s", rt.Status, rt.Raw)
			}
		}},
		{"declined: Cancel at 'Are you trying to sign in'", func(t *testing.T) {
			dc := w.code(t, scope)
			if err := w.login(t, dc, "decline"); err != nil {
				t.Fatal(err)
			}
			checkEntraError(t, w.poll(t, "", dc.s("device_code")), 400, "authorization_declined", 65004, "", "")
		}},
		{"declined at the consent page", func(t *testing.T) {
			dc := w.code(t, "Mail.Read "+scope) // no app has Mail.Read: the consent page asks
			if body := declineConsentByHand(t, w, dc); !strings.Contains(body, `id="devicedeclined"`) {
				t.Fatalf("after declining consent: %s", body)
			}
			checkEntraError(t, w.poll(t, "", dc.s("device_code")), 400, "authorization_declined", 65004, "", "")
		}},
		{"expired", func(t *testing.T) {
			dc := w.code(t, scope)
			srv.AdvanceClock(15*time.Minute + time.Second)
			checkEntraError(t, w.poll(t, "", dc.s("device_code")), 400, "expired_token", 70019, "", "")
			var pe *devtenant.PageError
			if err := w.login(t, dc, ""); !errors.As(err, &pe) || pe.Code != 70019 {
				t.Errorf("entering the expired code: %v, want a page error AADSTS70019", err)
			}
		}},
		{"a code the page does not know", func(t *testing.T) {
			b := srv.NewBrowser(w.adele.Username, w.adele.Password)
			var pe *devtenant.PageError
			if err := b.DeviceLogin(t.Context(), srv.URL()+"/devicelogin", "ZZZZ99999"); !errors.As(err, &pe) || pe.Code != 70018 {
				t.Errorf("DeviceLogin = %v, want a page error AADSTS70018", err)
			}
		}},
		{"the code form without its cookie", func(t *testing.T) {
			dc := w.code(t, scope)
			resp, body := send(t, srv.Client(), formRequest(t, srv.URL()+"/devicelogin", url.Values{"user_code": {dc.s("user_code")}, "flowtoken": {"forged"}}))
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `data-aadsts="9002313"`) {
				t.Errorf("POST /devicelogin without the cookie: %d %s", resp.StatusCode, body)
			}
		}},
		{"unknown device code", func(t *testing.T) {
			checkEntraError(t, w.poll(t, "", "DAQABAAEAAADnot-a-code"), 400, "bad_verification_code", 70018, "", "")
		}},
		{"another tenant's token endpoint", func(t *testing.T) {
			dc := w.code(t, scope)
			r := w.post(t, srv.URL()+"/"+srv.GuestHome().TenantID()+"/oauth2/v2.0/token", url.Values{
				"grant_type": {"device_code"}, "device_code": {dc.s("device_code")}, "client_id": {cliAppID}}, nil)
			checkEntraError(t, r, 400, "bad_verification_code", 70018, "", "")
		}},
		{"a confidential client", func(t *testing.T) {
			dc := w.start(t, srv.TenantID(), webAppID, scope)
			if dc.Status != http.StatusOK {
				t.Fatalf("device code for the web app: %d %s", dc.Status, dc.Raw)
			}
			checkEntraError(t, w.poll(t, "", dc.s("device_code"), "client_id", webAppID), 401, "invalid_client", 7000218, "", "")
			checkEntraError(t, w.poll(t, "", dc.s("device_code"), "client_id", webAppID, "client_secret", srv.ClientSecret(webAppID)),
				400, "authorization_pending", 70016, "", "")
		}},
		{"a public client presenting a secret", func(t *testing.T) {
			dc := w.code(t, scope)
			checkEntraError(t, w.poll(t, "", dc.s("device_code"), "client_secret", "s3cret"), 401, "invalid_client", 700025, "", "")
		}},
		{"unknown client", func(t *testing.T) {
			checkEntraError(t, w.start(t, srv.TenantID(), wireGUID(), scope), 400, "unauthorized_client", 700016, "", "")
		}},
		{"invalid scope", func(t *testing.T) {
			checkEntraError(t, w.start(t, srv.TenantID(), cliAppID, "User.Nope openid"), 400, "invalid_scope", 70011, "", "")
		}},
		{"no scope", func(t *testing.T) {
			checkEntraError(t, w.start(t, srv.TenantID(), cliAppID, ""), 400, "invalid_request", 900144, "", "")
		}},
		{"a single-tenant app on organizations", func(t *testing.T) {
			checkEntraError(t, w.start(t, "organizations", cliAppID, scope), 400, "invalid_request", 50194, "", "")
		}},
		{"discovery names the endpoint", func(t *testing.T) {
			_, raw := send(t, srv.Client(), mustRequest(t, http.MethodGet, srv.Authority()+"/v2.0/.well-known/openid-configuration"))
			if want := `"device_authorization_endpoint":"` + srv.Authority() + `/oauth2/v2.0/devicecode"`; !strings.Contains(string(raw), want) {
				t.Errorf("discovery lacks %s: %s", want, raw)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

// declineConsentByHand walks the verification pages with plain form posts,
// as the docs list their forms: the code, the sign-in, Continue, then
// Cancel on the consent page. It returns the last page.
func declineConsentByHand(t *testing.T, w deviceWire, dc wireResp) string {
	t.Helper()
	srv := w.srv
	hc := srv.NewBrowser("", "").Client // a cookie jar: the code form's token
	_, page := send(t, hc, mustRequest(t, http.MethodGet, dc.s("verification_uri")))
	step := func(path string, form url.Values) string {
		t.Helper()
		_, body := send(t, hc, formRequest(t, srv.URL()+path, form))
		return string(body)
	}
	body := step("/devicelogin", url.Values{"flowtoken": {formValue(t, string(page), "flowtoken")}, "user_code": {strings.ToLower(dc.s("user_code"))}})
	ctx := formValue(t, body, "ctx")
	body = step("/"+srv.TenantID()+"/login", url.Values{"ctx": {ctx}, "username": {w.adele.Username}, "password": {w.adele.Password}})
	if !strings.Contains(body, "Are you trying to sign in to entractl?") {
		t.Fatalf("after sign-in: %s", body)
	}
	body = step("/devicelogin/confirm", url.Values{"ctx": {ctx}, "decision": {"continue"}})
	if !strings.Contains(body, `data-scope="Mail.Read"`) {
		t.Fatalf("after Continue, not the consent page for Mail.Read: %s", body)
	}
	return step("/"+srv.TenantID()+"/consent", url.Values{"ctx": {ctx}, "decision": {"decline"}})
}

// formValue is the value of the input named name on an HTML page.
func formValue(t *testing.T, page, name string) string {
	t.Helper()
	m := regexp.MustCompile(`name="` + regexp.QuoteMeta(name) + `" value="([^"]*)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no input %q on the page: %s", name, page)
	}
	return m[1]
}

func formRequest(t *testing.T, u string, form url.Values) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}
