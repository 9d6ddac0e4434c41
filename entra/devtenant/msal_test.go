package devtenant_test

import (
	"context"
	"strings"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"golang.org/x/oauth2"
)

func TestMSALConfidentialAuthCode(t *testing.T) {
	srv := startTenant(t)
	ctx := context.Background()
	cred, err := confidential.NewCredFromSecret(srv.ClientSecret(webAppID))
	if err != nil {
		t.Fatal(err)
	}
	app, err := confidential.New(srv.Authority(), webAppID, cred,
		confidential.WithHTTPClient(srv.Client()), confidential.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatal(err)
	}
	scopes := []string{"User.Read"}
	authURL, err := app.AuthCodeURL(ctx, webAppID, webRedirect, scopes)
	if err != nil {
		t.Fatal(err)
	}
	verifier := oauth2.GenerateVerifier()
	authURL += "&state=st4te&nonce=n0nce&code_challenge_method=S256&code_challenge=" + oauth2.S256ChallengeFromVerifier(verifier)
	adele := persona(t, srv, "AdeleV")
	resp, err := srv.NewBrowser(adele.Username, adele.Password).Authorize(ctx, authURL)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Params.Get("state") != "st4te" || resp.Params.Get("code") == "" || resp.RedirectURI != webRedirect {
		t.Fatalf("response = %+v", resp)
	}
	res, err := app.AcquireTokenByAuthCode(ctx, resp.Params.Get("code"), webRedirect, scopes, confidential.WithChallenge(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if claimsOf(t, res.IDToken.RawToken)["nonce"] != "n0nce" || res.IDToken.Oid != adele.OID || res.Account.PreferredUsername != adele.Username {
		t.Errorf("id token = %+v account %+v", res.IDToken, res.Account)
	}
	silent, err := app.AcquireTokenSilent(ctx, scopes, confidential.WithSilentAccount(res.Account))
	if err != nil {
		t.Fatal(err)
	}
	if silent.AccessToken != res.AccessToken {
		t.Error("silent call did not return the cached token")
	}
	// A different scope of the same resource forces a refresh-token call.
	refreshed, err := app.AcquireTokenSilent(ctx, []string{"https://graph.microsoft.com/User.Read"}, confidential.WithSilentAccount(res.Account))
	if err != nil {
		t.Fatal(err)
	}
	if refreshed.AccessToken == res.AccessToken || !strings.Contains(strings.Join(refreshed.GrantedScopes, " "), "User.Read") {
		t.Errorf("refresh: %+v", refreshed.GrantedScopes)
	}
}

func TestMSALClientCredentialsSecret(t *testing.T) {
	srv := startTenant(t)
	ctx := context.Background()
	cred, _ := confidential.NewCredFromSecret(srv.ClientSecret(daemonAppID))
	app, err := confidential.New(srv.Authority(), daemonAppID, cred,
		confidential.WithHTTPClient(srv.Client()), confidential.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatal(err)
	}
	res, err := app.AcquireTokenByCredential(ctx, []string{"https://graph.microsoft.com/.default"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := app.AcquireTokenByCredential(ctx, []string{"https://graph.microsoft.com/.default"})
	if err != nil || again.AccessToken != res.AccessToken {
		t.Errorf("second call not from cache: %v", err)
	}
}
