package devtenant_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/entrakit/entrakit/entra/devtenant"
	"github.com/entrakit/entrakit/entra/devtenant/devtenanttest"
	"github.com/entrakit/entrakit/entra/devtenant/directory"
)

// multiTenantWebApp starts a tenant whose web app is registered for any
// organization (AzureADMultipleOrgs).
func multiTenantWebApp(t *testing.T) *devtenant.Server {
	return startTenant(t, func(o *devtenant.Options) {
		o.Manifest = withWebApp(t, o.Manifest, func(a map[string]any) { a["signInAudience"] = "AzureADMultipleOrgs" })
	})
}

// fabrikamPersona is one of the guest home tenant's people.
var fabrikamPersona = devtenanttest.GuestHomePersona

// codeAt signs p in through the authority segment (a tenant id, common,
// organizations) and returns the authorization response.
func codeAt(t *testing.T, srv *devtenant.Server, segment string, p devtenant.Persona, v url.Values) *devtenant.AuthResponse {
	t.Helper()
	resp, err := srv.NewBrowser(p.Username, p.Password).Authorize(t.Context(), srv.URL()+"/"+segment+"/oauth2/v2.0/authorize?"+v.Encode())
	if err != nil {
		t.Fatalf("authorize at %s as %s: %v", segment, p.Username, err)
	}
	return resp
}

func redeemAt(t *testing.T, w wire, segment, code, verifier string) wireResp {
	t.Helper()
	return w.post(t, w.srv.URL()+"/"+segment+"/oauth2/v2.0/token", w.redeemForm(code, verifier), nil)
}

// TestAuthorities: common and organizations are for multi-tenant apps
// (AADSTS50194 otherwise), where iss and tid name the user's tenant;
// consumers is for personal accounts, which no app here accepts.
func TestAuthorities(t *testing.T) {
	t.Run("single-tenant app", func(t *testing.T) {
		srv := startTenant(t)
		w := wire{srv: srv, hc: srv.Client()}
		adele := persona(t, srv, "AdeleV")
		for _, seg := range []string{"common", "organizations"} {
			v, _ := wireAuthParams(webAppID, webRedirect, wireWebScope)
			_, err := srv.NewBrowser(adele.Username, adele.Password).Authorize(t.Context(), srv.URL()+"/"+seg+"/oauth2/v2.0/authorize?"+v.Encode())
			if pe, ok := err.(*devtenant.PageError); !ok || pe.Code != 50194 {
				t.Errorf("authorize at /%s: %v, want the AADSTS50194 page", seg, err)
			}
			r := w.post(t, srv.URL()+"/"+seg+"/oauth2/v2.0/token", w.daemonForm(srv.ClientSecret(daemonAppID), "https://graph.microsoft.com/.default"), nil)
			checkEntraError(t, r, 400, "invalid_request", 50194, "", "")
		}
		code, verifier := w.code(t, "AdeleV", webAppID, webRedirect, wireWebScope)
		checkEntraError(t, redeemAt(t, w, "organizations", code, verifier), 400, "invalid_request", 50194, "", "")
	})

	t.Run("consumers", func(t *testing.T) {
		srv := startTenant(t)
		w := wire{srv: srv, hc: srv.Client()}
		resp, body := send(t, srv.Client(), mustRequest(t, http.MethodGet, srv.URL()+"/consumers/v2.0/.well-known/openid-configuration"))
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"issuer":"`+srv.URL()+`/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"`) {
			t.Errorf("consumers discovery: %d %s", resp.StatusCode, body)
		}
		adele := persona(t, srv, "AdeleV")
		v, _ := wireAuthParams(webAppID, webRedirect, wireWebScope)
		_, err := srv.NewBrowser(adele.Username, adele.Password).Authorize(t.Context(), srv.URL()+"/consumers/oauth2/v2.0/authorize?"+v.Encode())
		if pe, ok := err.(*devtenant.PageError); !ok || pe.Code != 9002332 {
			t.Errorf("authorize at /consumers: %v, want the AADSTS9002332 page", err)
		}
		r := w.post(t, srv.URL()+"/consumers/oauth2/v2.0/token", w.daemonForm(srv.ClientSecret(daemonAppID), "https://graph.microsoft.com/.default"), nil)
		checkEntraError(t, r, 400, "invalid_request", 9002332, "", "")
	})

	t.Run("multi-tenant app through organizations", func(t *testing.T) {
		srv := multiTenantWebApp(t)
		w := wire{srv: srv, hc: srv.Client()}
		fab := srv.GuestHome().TenantID()
		for _, tc := range []struct {
			name   string
			p      devtenant.Persona
			tenant string
		}{
			{"a Contoso member", persona(t, srv, "AdeleV"), srv.TenantID()},
			{"a Fabrikam member (consents, which provisions the app there)", fabrikamPersona(t, srv, "kai"), fab},
		} {
			t.Run(tc.name, func(t *testing.T) {
				v, verifier := wireAuthParams(webAppID, webRedirect, wireWebScope)
				resp := codeAt(t, srv, "organizations", tc.p, v)
				if resp.Params.Get("code") == "" {
					t.Fatalf("authorize: %+v", resp.Params)
				}
				r := redeemAt(t, w, "organizations", resp.Params.Get("code"), verifier)
				if r.Status != http.StatusOK {
					t.Fatalf("redeem: %d %s", r.Status, r.Raw)
				}
				id, at := claimsOf(t, r.s("id_token")), claimsOf(t, r.s("access_token"))
				if id["iss"] != srv.URL()+"/"+tc.tenant+"/v2.0" || id["tid"] != tc.tenant || at["tid"] != tc.tenant {
					t.Errorf("iss %v tid %v / access token tid %v, want tenant %s", id["iss"], id["tid"], at["tid"], tc.tenant)
				}
				if at["iss"] != "https://sts.windows.net/"+tc.tenant+"/" {
					t.Errorf("Graph token iss = %v", at["iss"])
				}
				f := w.refreshForm(r.s("refresh_token"))
				rr := w.post(t, srv.URL()+"/organizations/oauth2/v2.0/token", f, nil)
				if rr.Status != http.StatusOK || claimsOf(t, rr.s("id_token"))["tid"] != tc.tenant {
					t.Fatalf("refresh at organizations: %d %s", rr.Status, rr.Raw)
				}
				// The tenant-specific endpoint of the other tenant refuses it.
				other := srv.TenantID()
				if tc.tenant == other {
					other = fab
				}
				checkEntraError(t, w.post(t, srv.URL()+"/"+other+"/oauth2/v2.0/token", f, nil), 400, "invalid_grant", 700005, "", "")
			})
		}
	})

	t.Run("client credentials need the app provisioned in the tenant", func(t *testing.T) {
		srv := multiTenantWebApp(t)
		w := wire{srv: srv, hc: srv.Client()}
		fab := srv.GuestHome().TenantID()
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {webAppID}, "client_secret": {srv.ClientSecret(webAppID)},
			"scope": {"https://graph.microsoft.com/.default"}}
		checkEntraError(t, w.post(t, srv.URL()+"/"+fab+"/oauth2/v2.0/token", form, nil), 400, "unauthorized_client", 700016, "", "")
		checkEntraError(t, w.post(t, srv.URL()+"/organizations/oauth2/v2.0/token", form, nil), 400, "invalid_request", 50059, "", "")
		v, _ := wireAuthParams(webAppID, webRedirect, wireWebScope)
		if resp := codeAt(t, srv, "organizations", fabrikamPersona(t, srv, "kai"), v); resp.Params.Get("code") == "" {
			t.Fatalf("consent in Fabrikam: %+v", resp.Params)
		}
		r := w.post(t, srv.URL()+"/"+srv.GuestHome().Domain()+"/oauth2/v2.0/token", form, nil)
		if r.Status != http.StatusOK || claimsOf(t, r.s("access_token"))["tid"] != fab {
			t.Fatalf("client credentials in Fabrikam after consent: %d %s", r.Status, r.Raw)
		}
		if oid := claimsOf(t, r.s("access_token"))["oid"]; oid == "" || oid == claimsOf(t, w.token(t, form, nil).s("access_token"))["oid"] {
			t.Errorf("the service principal in Fabrikam has the home tenant's object id %v", oid)
		}
	})

	t.Run("a user of another tenant who is not a guest", func(t *testing.T) {
		srv := startTenant(t)
		v, _ := wireAuthParams(webAppID, webRedirect, wireWebScope)
		_, err := codeAtErr(t, srv, srv.TenantID(), fabrikamPersona(t, srv, "kai"), v)
		if pe, ok := err.(*devtenant.PageError); !ok || pe.Code != 50020 {
			t.Fatalf("kai@fabrikam.com at Contoso: %v, want AADSTS50020", err)
		}
	})
}

func codeAtErr(t *testing.T, srv *devtenant.Server, segment string, p devtenant.Persona, v url.Values) (*devtenant.AuthResponse, error) {
	t.Helper()
	return srv.NewBrowser(p.Username, p.Password).Authorize(t.Context(), srv.URL()+"/"+segment+"/oauth2/v2.0/authorize?"+v.Encode())
}

// TestGuestClaims: a B2B guest signs in at home and gets the resource
// tenant's tokens: no upn, the home address as unique_name, email and
// preferred_username, idp naming the home tenant.
func TestGuestClaims(t *testing.T) {
	srv := startTenant(t)
	w := wire{srv: srv, hc: srv.Client()}
	pat, ok := srv.Persona("pat")
	if !ok || !pat.Guest || pat.Username != "pat@fabrikam.com" {
		t.Fatalf("guest persona = %+v", pat)
	}
	home := "https://sts.windows.net/" + directory.GuestHomeTenantID + "/"
	v, verifier := wireAuthParams(webAppID, webRedirect, "openid profile offline_access User.Read")
	resp := codeAt(t, srv, srv.TenantID(), pat, v)
	r := w.token(t, w.redeemForm(resp.Params.Get("code"), verifier), nil)
	if r.Status != http.StatusOK {
		t.Fatalf("redeem: %d %s", r.Status, r.Raw)
	}
	id, at := claimsOf(t, r.s("id_token")), claimsOf(t, r.s("access_token"))
	for name, want := range map[string]any{
		"id_token tid": srv.TenantID(), "id_token oid": pat.OID, "id_token preferred_username": "pat@fabrikam.com",
		"id_token email": "pat@fabrikam.com", "id_token idp": home,
		"access_token unique_name": "pat@fabrikam.com", "access_token email": "pat@fabrikam.com", "access_token idp": home,
		"access_token tid": srv.TenantID(), "access_token upn": nil,
	} {
		tok, claim, _ := strings.Cut(name, " ")
		c := id
		if tok == "access_token" {
			c = at
		}
		if got := c[claim]; got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	// client_info names the home account (MSAL's home_account_id), the
	// ID token the guest object here.
	ci, err := base64.RawURLEncoding.DecodeString(r.s("client_info"))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"uid":"` + fabrikamPersona(t, srv, "pat").OID + `","utid":"` + directory.GuestHomeTenantID + `"}`; string(ci) != want {
		t.Errorf("client_info = %s, want %s", ci, want)
	}
	// An API token (v2) for the guest.
	f := w.refreshForm(r.s("refresh_token"))
	f.Set("scope", "api://"+webAppID+"/access_as_user")
	if err := srv.GrantConsent(webAppID, webAppID, pat.OID, "access_as_user"); err != nil {
		t.Fatal(err)
	}
	api := w.token(t, f, nil)
	if api.Status != http.StatusOK {
		t.Fatalf("API token: %d %s", api.Status, api.Raw)
	}
	if c := claimsOf(t, api.s("access_token")); c["preferred_username"] != "pat@fabrikam.com" || c["idp"] != home || c["upn"] != nil {
		t.Errorf("API token for a guest: preferred_username %v idp %v upn %v", c["preferred_username"], c["idp"], c["upn"])
	}
	// The guest's home password is the one; there is none in Contoso.
	wrong := pat
	wrong.Username = "pat_fabrikam.com#EXT#@" + srv.Domain()
	if _, err := codeAtErr(t, srv, srv.TenantID(), wrong, v); err == nil {
		t.Error("a guest signed in with the #EXT# UPN")
	}
}

// TestGraphServesTheTokensTenant: Graph reads the directory of the tenant
// the token names: a Fabrikam user's /me and /users are Fabrikam's.
func TestGraphServesTheTokensTenant(t *testing.T) {
	srv := multiTenantWebApp(t)
	w := wire{srv: srv, hc: srv.Client()}
	kai := fabrikamPersona(t, srv, "kai")
	v, verifier := wireAuthParams(webAppID, webRedirect, "openid profile offline_access User.Read User.ReadBasic.All")
	resp := codeAt(t, srv, "organizations", kai, v)
	r := redeemAt(t, w, "organizations", resp.Params.Get("code"), verifier)
	if r.Status != http.StatusOK {
		t.Fatalf("redeem: %d %s", r.Status, r.Raw)
	}
	get := func(path string) map[string]any {
		req := mustRequest(t, http.MethodGet, srv.GraphURL()+path)
		req.Header.Set("Authorization", "Bearer "+r.s("access_token"))
		res, body := send(t, srv.Client(), req)
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, res.StatusCode, body)
		}
		return m
	}
	if me := get("/v1.0/me"); me["id"] != kai.OID || me["userPrincipalName"] != "kai@fabrikam.com" {
		t.Errorf("/me = %v", me)
	}
	users, _ := get("/v1.0/users")["value"].([]any)
	if len(users) != len(srv.GuestHome().Users()) {
		t.Errorf("/users lists %d users, Fabrikam has %d", len(users), len(srv.GuestHome().Users()))
	}
	if org, _ := get("/v1.0/organization")["value"].([]any); len(org) != 1 || org[0].(map[string]any)["id"] != srv.GuestHome().TenantID() {
		t.Errorf("/organization = %v", org)
	}
}
