package entra_test

import (
	"context"
	"errors"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/entrakit/entrakit/entra"
	"github.com/entrakit/entrakit/infra"
	"github.com/entrakit/entrakit/internal/devmode"
	"github.com/entrakit/entrakit/internal/signintest"
)

// graphToken checks that tok is a Microsoft Graph access token the dev
// tenant signed (v1, aud https://graph.microsoft.com), allowed by p.
func (tt *tenant) graphToken(t *testing.T, tok string, p entra.AccessPolicy) *entra.Claims {
	t.Helper()
	v := entra.NewValidator(tt.cfg, tt.keys)
	v.Audiences = []string{"https://graph.microsoft.com"}
	v.V1Issuer = "https://sts.windows.net/" + tt.srv.TenantID() + "/"
	c, err := v.ValidateAccessToken(context.Background(), tok, p)
	if err != nil {
		t.Fatalf("not a Graph token: %v", err)
	}
	return c
}

// TestAppTokenCredential: with a client secret, NewAppTokenCredential gives
// a *TokenCredential whose app-only Graph token comes from the token
// endpoint once, then from MSAL's cache, unless a claims challenge asks for
// a new one.
func TestAppTokenCredential(t *testing.T) {
	tt := startTenant(t)
	ctx := context.Background()
	daemonCfg := devmode.DaemonConfig(tt.srv)
	cred, err := entra.NewAppTokenCredential(daemonCfg, entra.AppTokenOptions{HTTPClient: tt.client})
	if err != nil {
		t.Fatal(err)
	}
	tc, ok := cred.(*entra.TokenCredential)
	if !ok || tc.Account != nil {
		t.Fatalf("a client secret gave %T %+v, want an app-only *entra.TokenCredential", cred, cred)
	}
	graph := policy.TokenRequestOptions{Scopes: []string{devmode.GraphScope}}

	first, err := tc.Acquire(ctx, graph)
	if err != nil {
		t.Fatal(err)
	}
	if entra.FromCache(first) {
		t.Error("the first token came from an empty cache")
	}
	c := tt.graphToken(t, first.AccessToken, entra.AccessPolicy{AllowAppOnly: true, Roles: []string{"User.Read.All"}})
	if c.IDType != "app" || c.AuthorizedParty != infra.Apps().Daemon || c.TenantID != tt.srv.TenantID() {
		t.Errorf("token of %q (idtyp %q) in %q, want the daemon app's in the tenant", c.AuthorizedParty, c.IDType, c.TenantID)
	}

	second, err := tc.Acquire(ctx, graph)
	if err != nil {
		t.Fatal(err)
	}
	if !entra.FromCache(second) || second.AccessToken != first.AccessToken {
		t.Errorf("second token: from cache %v, same token %v; want the cached one", entra.FromCache(second), second.AccessToken == first.AccessToken)
	}
	az, err := cred.GetToken(ctx, graph)
	if err != nil {
		t.Fatal(err)
	}
	if want := entra.AccessToken(second); az.Token != want.Token || !az.ExpiresOn.Equal(want.ExpiresOn) {
		t.Errorf("GetToken = token %v, expires %v; want Acquire's (%v)", az.Token == want.Token, az.ExpiresOn, want.ExpiresOn)
	}

	challenged, err := tc.Acquire(ctx, policy.TokenRequestOptions{Scopes: graph.Scopes, Claims: caeClaims})
	if err != nil {
		t.Fatal(err)
	}
	if entra.FromCache(challenged) {
		t.Error("a claims challenge was answered from the cache")
	}

	t.Run("wrong secret", func(t *testing.T) {
		bad := daemonCfg
		bad.Credential.ClientSecret = "not-the-secret"
		cred, err := entra.NewAppTokenCredential(bad, entra.AppTokenOptions{HTTPClient: tt.client})
		if err != nil {
			t.Fatal(err)
		}
		_, err = cred.GetToken(ctx, graph)
		var ae *entra.AADSTSError
		if !errors.Is(err, entra.ErrInvalidClient) || !errors.As(err, &ae) {
			t.Errorf("err = %v, want an *AADSTSError matching ErrInvalidClient", err)
		}
	})
	t.Run("invalid config", func(t *testing.T) {
		bad := daemonCfg
		bad.ClientID = ""
		if cred, err := entra.NewAppTokenCredential(bad, entra.AppTokenOptions{}); err == nil {
			t.Errorf("no client id gave %T, want an error", cred)
		}
	})
}

// TestTokenCredentialForAccount: with an account, a TokenCredential serves
// that user's delegated Graph token from MSAL's cache, its Scopes replace
// the caller's, a claims challenge fails, and Entra's refusal comes back
// as entra's errors.
func TestTokenCredentialForAccount(t *testing.T) {
	tt := startTenant(t)
	ctx := context.Background()
	si := tt.signIn(t)
	adele := tt.persona(t, "AdeleV")
	res, _, err := signintest.SignIn(ctx, si, tt.srv.NewBrowser(adele.Username, adele.Password), entra.BeginOptions{Scopes: []string{"User.Read"}})
	if err != nil {
		t.Fatal(err)
	}
	cred := &entra.TokenCredential{Client: si.Client, Account: &res.Account}

	at, err := cred.Acquire(ctx, policy.TokenRequestOptions{Scopes: []string{"User.Read"}})
	if err != nil {
		t.Fatal(err)
	}
	if !entra.FromCache(at) {
		t.Error("the token of the sign-in was not served from the cache")
	}
	if c := tt.graphToken(t, at.AccessToken, entra.AccessPolicy{Scopes: []string{"User.Read"}}); c.ObjectID != adele.OID {
		t.Errorf("token of %s, want AdeleV's (%s)", c.ObjectID, adele.OID)
	}

	// A page's delegated scopes instead of the resource's /.default, which
	// the web app was not granted.
	cred.Scopes = []string{"User.Read"}
	az, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{devmode.GraphScope}})
	if err != nil || az.Token != at.AccessToken {
		t.Errorf("with Scopes: same token %v, err %v; want the cached User.Read token", az.Token == at.AccessToken, err)
	}

	// A claims challenge is not for a silent call: the user signs in again.
	if _, err := cred.Acquire(ctx, policy.TokenRequestOptions{Claims: caeClaims}); err == nil {
		t.Error("a claims challenge was answered without the user")
	}

	// Scopes not in the cache: MSAL refreshes, and Entra refuses a user
	// whose sessions were revoked.
	if err := tt.srv.RevokeUser(adele.OID); err != nil {
		t.Fatal(err)
	}
	cred.Scopes = []string{"https://graph.microsoft.com/User.Read"}
	_, err = cred.Acquire(ctx, policy.TokenRequestOptions{})
	var ae *entra.AADSTSError
	if !errors.Is(err, entra.ErrInteractionRequired) || !errors.As(err, &ae) || ae.Code != 50173 {
		t.Errorf("err = %v, want AADSTS50173 matching ErrInteractionRequired", err)
	}
}
