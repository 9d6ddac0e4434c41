package devtenant_test

// The managed identity endpoint, App Service style, driven by azidentity's
// ManagedIdentityCredential (MSAL Go's managedidentity client underneath).

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/entrakit/entrakit/entra/devtenant"
)

// setManagedIdentityEnv points MSAL's source detection at the dev tenant's
// App Service endpoint (and clears what would select another source).
func setManagedIdentityEnv(t *testing.T, mi devtenant.ManagedIdentityInfo) {
	t.Helper()
	for k, v := range map[string]string{
		"IDENTITY_ENDPOINT": mi.Endpoint, "IDENTITY_HEADER": mi.Header,
		"IDENTITY_SERVER_THUMBPRINT": "", "MSI_ENDPOINT": "", "MSI_SECRET": "", "IMDS_ENDPOINT": "",
	} {
		t.Setenv(k, v)
	}
}

// miTokenOptions asks for a Graph token. MSAL Go keeps managed identity
// tokens in a process-wide cache keyed by identity and resource, not by
// endpoint, so a token of a dev tenant started by an earlier test would be
// served from it: any claims make MSAL skip the cache (App Service is not
// sent them).
func miTokenOptions(fresh bool) policy.TokenRequestOptions {
	o := policy.TokenRequestOptions{Scopes: []string{graphDefault}}
	if fresh {
		o.Claims = `{"access_token":{"nbf":{"essential":true,"value":"1"}}}`
	}
	return o
}

func newMICredential(t *testing.T, srv *devtenant.Server, id azidentity.ManagedIDKind) *azidentity.ManagedIdentityCredential {
	t.Helper()
	cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
		ID: id, ClientOptions: azcore.ClientOptions{Transport: srv.Client()},
	})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

func TestManagedIdentityAzidentity(t *testing.T) {
	srv := startTenant(t)
	mi := srv.ManagedIdentity()
	if !strings.HasPrefix(mi.Endpoint, "http://127.0.0.1:") || !strings.HasSuffix(mi.Endpoint, "/msi/token") || len(mi.Header) < 32 ||
		!guidRE.MatchString(mi.ClientID) || !guidRE.MatchString(mi.ObjectID) || mi.ClientID == mi.ObjectID || !mi.SystemAssigned {
		t.Fatalf("ManagedIdentity() = %+v", mi)
	}
	if s := mi.String(); strings.Contains(s, mi.Header) {
		t.Errorf("String() shows the header secret: %s", s)
	}
	setManagedIdentityEnv(t, mi)
	uami, err := srv.AddUserAssignedIdentity("entrakit-jobs")
	if err != nil {
		t.Fatal(err)
	}
	if uami.SystemAssigned || uami.ClientID == mi.ClientID || !strings.HasSuffix(uami.ResourceID, "/Microsoft.ManagedIdentity/userAssignedIdentities/entrakit-jobs") {
		t.Fatalf("AddUserAssignedIdentity = %+v", uami)
	}
	if _, err := srv.AddUserAssignedIdentity("entrakit-jobs"); err == nil {
		t.Error("a second identity with the same name was added")
	}
	g := newGraphAPI(srv)

	tests := []struct {
		name string
		id   azidentity.ManagedIDKind
		want devtenant.ManagedIdentityInfo
	}{
		{"system-assigned", nil, mi},
		{"user-assigned by client id", azidentity.ClientID(uami.ClientID), uami},
		{"user-assigned by object id", azidentity.ObjectID(uami.ObjectID), uami},
		{"user-assigned by resource id", azidentity.ResourceID(uami.ResourceID), uami},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t)
			cred := newMICredential(t, srv, tc.id)
			tok, err := cred.GetToken(ctx, miTokenOptions(true))
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Until(tok.ExpiresOn); d < 23*time.Hour || d > 25*time.Hour {
				t.Errorf("token expires in %v, want about a day", d)
			}
			c := claimsOf(t, tok.Token)
			for k, want := range map[string]string{
				"aud": "https://graph.microsoft.com", "iss": "https://sts.windows.net/" + srv.TenantID() + "/", "tid": srv.TenantID(),
				"idtyp": "app", "oid": tc.want.ObjectID, "sub": tc.want.ObjectID, "appid": tc.want.ClientID, "appidacr": "2",
				"xms_mirid": tc.want.ResourceID, "ver": "1.0",
			} {
				if c[k] != want {
					t.Errorf("claim %s = %v, want %s", k, c[k], want)
				}
			}
			if !hasString(c["roles"], "User.Read.All") || c["scp"] != nil {
				t.Errorf("roles %v, scp %v", c["roles"], c["scp"])
			}
			if page := g.get(t, tok.Token, "/users?$top=2").ok(t); len(values(t, page)) != 2 {
				t.Errorf("/users: %v", page)
			}
			// Without claims MSAL answers from its cache.
			again, err := cred.GetToken(ctx, miTokenOptions(false))
			if err != nil || again.Token != tok.Token {
				t.Errorf("second call not from MSAL's cache: %v", err)
			}
		})
	}

	t.Run("unknown user-assigned identity", func(t *testing.T) {
		cred := newMICredential(t, srv, azidentity.ClientID("00000000-1111-4222-8333-444444444444"))
		_, err := cred.GetToken(testContext(t), miTokenOptions(true))
		checkMIError(t, err, http.StatusBadRequest, "Unable to load the proper Managed Identity.")
	})
	t.Run("wrong header", func(t *testing.T) {
		t.Setenv("IDENTITY_HEADER", "not-"+mi.Header)
		cred := newMICredential(t, srv, nil)
		_, err := cred.GetToken(testContext(t), miTokenOptions(true))
		checkMIError(t, err, http.StatusUnauthorized, "X-IDENTITY-HEADER")
		if err != nil && strings.Contains(err.Error(), mi.Header) {
			t.Error("the error shows the header secret")
		}
	})
	t.Run("unknown resource", func(t *testing.T) {
		cred := newMICredential(t, srv, nil)
		_, err := cred.GetToken(testContext(t), policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}, Claims: "{}"})
		checkMIError(t, err, http.StatusBadRequest, "AADSTS500011")
	})
}

// checkMIError: azidentity reports the endpoint's answer as an
// AuthenticationFailedError carrying the response.
func checkMIError(t *testing.T, err error, status int, msg string) {
	t.Helper()
	var afe *azidentity.AuthenticationFailedError
	if !errors.As(err, &afe) {
		t.Fatalf("err = %v, want an AuthenticationFailedError", err)
	}
	if afe.RawResponse == nil || afe.RawResponse.StatusCode != status || !strings.Contains(err.Error(), msg) {
		t.Errorf("err = %v, want status %d and %q", err, status, msg)
	}
}

// msiGet calls the endpoint directly, as MSAL does.
func msiGet(t *testing.T, mi devtenant.ManagedIdentityInfo, q url.Values, header string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, mi.Endpoint+"?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if header != "" {
		req.Header.Set("X-IDENTITY-HEADER", header)
	}
	resp, raw := send(t, http.DefaultClient, req)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("status %d, body not JSON: %.200s", resp.StatusCode, raw)
	}
	return resp.StatusCode, body
}

func TestManagedIdentityEndpoint(t *testing.T) {
	srv := startTenant(t)
	mi := srv.ManagedIdentity()
	graph := url.Values{"api-version": {"2019-08-01"}, "resource": {"https://graph.microsoft.com/"}}

	t.Run("token response", func(t *testing.T) {
		status, body := msiGet(t, mi, graph, mi.Header)
		if status != http.StatusOK {
			t.Fatalf("status %d: %v", status, body)
		}
		exp, err := strconv.ParseInt(str(body["expires_on"]), 10, 64)
		if err != nil || body["resource"] != "https://graph.microsoft.com/" || body["token_type"] != "Bearer" || body["client_id"] != mi.ClientID {
			t.Errorf("body = %v (expires_on must be a string of Unix seconds)", body)
		}
		c := claimsOf(t, str(body["access_token"]))
		if c["aud"] != "https://graph.microsoft.com/" || int64(c["exp"].(float64)) != exp {
			t.Errorf("aud %v exp %v, expires_on %d", c["aud"], c["exp"], exp)
		}
	})
	t.Run("a permission granted later", func(t *testing.T) {
		if err := srv.GrantAppRole(mi.ClientID, devtenant.GraphAppID, "User.ReadWrite.All"); err != nil {
			t.Fatal(err)
		}
		_, body := msiGet(t, mi, graph, mi.Header)
		if c := claimsOf(t, str(body["access_token"])); !hasString(c["roles"], "User.ReadWrite.All") {
			t.Errorf("roles = %v", c["roles"])
		}
	})
	t.Run("a custom API", func(t *testing.T) {
		q := url.Values{"api-version": {"2019-08-01"}, "resource": {"api://" + webAppID}}
		status, body := msiGet(t, mi, q, mi.Header)
		if status != http.StatusOK {
			t.Fatalf("status %d: %v", status, body)
		}
		if c := claimsOf(t, str(body["access_token"])); c["aud"] != webAppID && c["aud"] != "api://"+webAppID {
			t.Errorf("aud = %v", c["aud"])
		}
	})

	errs := []struct {
		name    string
		q       url.Values
		header  string
		status  int
		message string
	}{
		{"no header", graph, "", 401, "X-IDENTITY-HEADER"},
		{"wrong header", graph, mi.Header + "x", 401, "X-IDENTITY-HEADER"},
		{"no resource", url.Values{"api-version": {"2019-08-01"}}, mi.Header, 400, "resource"},
		{"unknown resource", url.Values{"api-version": {"2019-08-01"}, "resource": {"https://vault.azure.net"}}, mi.Header, 400, "AADSTS500011"},
		{"unknown client id", url.Values{"api-version": {"2019-08-01"}, "resource": {"https://graph.microsoft.com"}, "client_id": {webAppID}}, mi.Header, 400, "Unable to load the proper Managed Identity."},
		{"two selectors", url.Values{"api-version": {"2019-08-01"}, "resource": {"https://graph.microsoft.com"}, "client_id": {mi.ClientID}, "object_id": {mi.ObjectID}}, mi.Header, 400, "Only one"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			status, body := msiGet(t, mi, tc.q, tc.header)
			if status != tc.status || body["statusCode"] != float64(tc.status) || !strings.Contains(str(body["message"]), tc.message) ||
				!guidRE.MatchString(str(body["correlationId"])) {
				t.Errorf("status %d, body %v; want %d with %q", status, body, tc.status, tc.message)
			}
		})
	}
	t.Run("old api-version", func(t *testing.T) {
		status, body := msiGet(t, mi, url.Values{"api-version": {"2017-09-01"}, "resource": {"https://graph.microsoft.com"}}, mi.Header)
		if e, _ := body["error"].(map[string]any); status != 400 || e["code"] != "UnsupportedApiVersion" {
			t.Errorf("status %d, body %v", status, body)
		}
	})
	t.Run("listed as a service principal", func(t *testing.T) {
		tok := graphAppToken(t, srv, daemonAppID, graphDefault)
		sps := values(t, newGraphAPI(srv).get(t, tok, "/servicePrincipals?$filter="+odataQuery("servicePrincipalType eq 'ManagedIdentity'")).ok(t))
		if len(sps) != 1 || sps[0]["appId"] != mi.ClientID || sps[0]["id"] != mi.ObjectID || sps[0]["displayName"] != mi.Name {
			t.Errorf("managed identity service principals = %v", sps)
		}
	})
}
