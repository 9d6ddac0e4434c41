package learn_test

import (
	"context"
	"fmt"

	"github.com/entrakit/entrakit/entra"
)

// Example_idToken is topic 07: OpenID Connect's ID token, from the web
// app's sign-in. It is for the app (aud), answers this sign-in (nonce), and
// says who signed in; it grants nothing, so an API refuses it.
func Example_idToken() {
	d := dev()
	ctx := context.Background()
	adele := d.persona("AdeleV")
	_, res, txn := d.webSignIn("AdeleV", "User.Read")

	c := claimsOf(res.IDToken)
	fmt.Println("aud is the web app:", c["aud"] == apps.WebApp)
	fmt.Println("nonce is this sign-in's:", c["nonce"] == txn.Nonce)
	fmt.Println("iss is the tenant:", c["iss"] == d.srv.Issuer(), "tid:", c["tid"] == d.srv.TenantID())
	fmt.Println("oid is Adele:", c["oid"] == adele.OID, "sub is not:", c["sub"] != adele.OID)
	for _, name := range []string{"name", "preferred_username", "roles", "scp"} {
		fmt.Printf("%s: %t\n", name, c[name] != nil)
	}
	fmt.Println("identity:", res.Identity.Name, res.Identity.Roles)

	// Validated again with another sign-in's nonce: a replay.
	v := entra.NewValidator(d.webApp(), d.keys)
	_, err := v.ValidateIDToken(ctx, res.IDToken, "another sign-in's nonce")
	fmt.Println("other nonce:", reason(err))
	// Sent to the web API as a bearer token.
	_, err = d.apiValidator().ValidateAccessToken(ctx, res.IDToken, entra.AccessPolicy{Scopes: []string{"access_as_user"}})
	fmt.Println("as an access token:", reason(err))
	// Output:
	// aud is the web app: true
	// nonce is this sign-in's: true
	// iss is the tenant: true tid: true
	// oid is Adele: true sub is not: true
	// name: true
	// preferred_username: true
	// roles: true
	// scp: false
	// identity: Adele Vance [Reader]
	// other nonce: refused: nonce mismatch
	// as an access token: refused: wrong token type
}
