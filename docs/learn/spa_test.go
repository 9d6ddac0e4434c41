package learn_test

import (
	"context"
	"fmt"
	"net/url"

	"github.com/entrakit/entrakit/entra"
	"golang.org/x/oauth2"
)

// Example_spaOnBehalfOf is topic 12: the SPA at /spa/. msal-browser signs
// in with the code flow and PKCE (mandatory for a SPA) and redeems the code
// from the page's origin; the web API validates the SPA's token and
// exchanges it for a Graph token for the same user (on-behalf-of). The
// browser's requests are made here with net/http, as msal-browser sends them.
func Example_spaOnBehalfOf() {
	d := dev()
	ctx := context.Background()
	const spaRedirect, spaOrigin = "http://localhost:8080/spa/", "http://localhost:8080"
	verifier := oauth2.GenerateVerifier()
	q := url.Values{"client_id": {apps.SPA}, "response_type": {"code"}, "response_mode": {"fragment"},
		"redirect_uri": {spaRedirect}, "scope": {apiScope + " openid profile offline_access"}, "state": {"s1"}}
	resp, err := d.browser("AdeleV").Authorize(ctx, d.authorizeURL(q))
	must(err)
	fmt.Println("without PKCE:", aadsts(entra.AuthorizeError(resp.Params)))

	q.Set("code_challenge", oauth2.S256ChallengeFromVerifier(verifier))
	q.Set("code_challenge_method", "S256")
	resp, err = d.browser("AdeleV").Authorize(ctx, d.authorizeURL(q))
	must(err)
	form := url.Values{"grant_type": {"authorization_code"}, "client_id": {apps.SPA}, "code": {resp.Params.Get("code")},
		"redirect_uri": {spaRedirect}, "code_verifier": {verifier}, "scope": {apiScope + " openid profile offline_access"}}
	_, err = d.redeem(form, "")
	fmt.Println("redeemed from a server:", aadsts(err))
	tok, err := d.redeem(form, spaOrigin) // msal-browser's fetch sends Origin
	must(err)
	spaToken := tok["access_token"].(string)
	fmt.Println("redeemed from the page:", spaToken != "", "refresh token:", tok["refresh_token"] != nil)

	// GET /api/me with the SPA's token: the API validates it...
	c, err := d.apiValidator().ValidateAccessToken(ctx, spaToken, entra.AccessPolicy{Scopes: []string{"access_as_user"}})
	fmt.Println("API:", reason(err))
	must(err)
	fmt.Println("caller is the SPA:", c.AuthorizedParty == apps.SPA)
	// ...and exchanges it for Graph, on Adele's behalf.
	api, err := entra.NewConfidentialClient(d.webApp(), entra.ClientOptions{HTTPClient: d.client})
	must(err)
	obo, err := api.AcquireTokenOnBehalfOf(ctx, spaToken, []string{"User.Read"})
	must(err)
	oc := claimsOf(obo.AccessToken)
	fmt.Println("OBO token: for Graph", oc["aud"] == "https://graph.microsoft.com", "client the API", oc["appid"] == apps.WebApp,
		"same user", oc["oid"] == c.ObjectID)
	status, me := d.graph("/v1.0/me", obo.AccessToken)
	fmt.Println("GET /me:", status, me["displayName"])
	// Output:
	// without PKCE: invalid_request AADSTS9002325
	// redeemed from a server: invalid_request AADSTS9002327
	// redeemed from the page: true refresh token: true
	// API: accepted
	// caller is the SPA: true
	// OBO token: for Graph true client the API true same user true
	// GET /me: 200 Adele Vance
}
