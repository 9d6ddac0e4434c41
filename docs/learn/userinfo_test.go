package learn_test

import (
	"context"
	"fmt"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
)

// Example_scopesAndUserInfo is topic 09: scopes are what the app asks to
// do, claims are what the tokens say. The ID token's claims come from the
// OIDC scopes (openid, profile) and the app's registration (roles); the
// UserInfo endpoint, found in the discovery document, answers with the
// same user for a Graph token carrying openid, and for no app-only token.
func Example_scopesAndUserInfo() {
	d := dev()
	ctx := context.Background()
	// entra.SignIn always asks for openid profile offline_access: name,
	// preferred_username, oid; the app role assignment gives roles.
	_, res, _ := d.webSignIn("AdeleV", "User.Read")
	fmt.Println("ID token: name", res.Identity.Name, "roles", res.Identity.Roles, "email", res.Identity.Email != "")
	// The email scope adds the email claim.
	app, res, _ := d.webSignIn("AdeleV", "User.Read", "email")
	fmt.Println("with the email scope: email", res.Identity.Email != "")

	// The discovery document names the endpoints, UserInfo included.
	status, doc := d.get(d.srv.Authority()+"/v2.0/.well-known/openid-configuration", "")
	fmt.Println("discovery:", status, "scopes_supported:", doc["scopes_supported"])
	userinfo := doc["userinfo_endpoint"].(string)

	graph, err := app.AcquireTokenSilent(ctx, []string{"User.Read"}, confidential.WithSilentAccount(res.Account))
	must(err)
	status, info := d.get(userinfo, graph.AccessToken)
	fmt.Println("UserInfo:", status, keys(info))
	fmt.Println("same sub as the ID token:", info["sub"] == res.Identity.Claims.Subject)

	// The app's own token (client credentials) has no user to describe.
	appOnly, err := app.AcquireTokenByCredential(ctx, []string{"https://graph.microsoft.com/.default"})
	must(err)
	status, _ = d.get(userinfo, appOnly.AccessToken)
	fmt.Println("UserInfo with an app-only token:", status)
	// Output:
	// ID token: name Adele Vance roles [Reader] email false
	// with the email scope: email true
	// discovery: 200 scopes_supported: [openid profile email offline_access]
	// UserInfo: 200 [email family_name given_name name picture sub]
	// same sub as the ID token: true
	// UserInfo with an app-only token: 401
}
