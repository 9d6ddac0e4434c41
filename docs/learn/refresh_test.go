package learn_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
	"github.com/entrakit/entrakit/entra"
)

// Example_refreshToken is topic 04: silent renewal. After one interactive
// sign-in, MSAL answers from its cache while the access token is fresh and
// otherwise redeems the refresh token, with no browser; once the user's
// sessions are revoked, the refresh token is dead and only a new sign-in
// helps — while the access token already issued lives until it expires.
func Example_refreshToken() {
	d := dev()
	ctx := context.Background()
	diego := d.persona("DiegoS") // revoked below: no other example uses him
	app, _ := d.cliSignIn("DiegoS", "User.Read")
	accounts, err := app.Accounts(ctx)
	must(err)
	silent := func(scopes ...string) (public.AuthResult, error) {
		return app.AcquireTokenSilent(ctx, scopes, public.WithSilentAccount(accounts[0]))
	}

	res, err := silent("User.Read")
	must(err)
	fmt.Println("User.Read again:", source(res))
	// Another resource: a new access token from the refresh token.
	res, err = silent(apiScope)
	must(err)
	fmt.Println("the web API:", source(res))
	fmt.Println("its audience is the API:", claimsOf(res.AccessToken)["aud"] == apps.WebApp)

	// An administrator revokes Diego's sessions (or he resets his password).
	must(d.srv.RevokeUser(diego.OID))
	res, err = silent("User.Read")
	must(err)
	fmt.Println("after revocation, User.Read:", source(res))
	// A scope set the cache holds no token for needs the refresh token.
	_, err = silent("https://graph.microsoft.com/.default")
	fmt.Println("after revocation, a refresh:", aadsts(err), errors.Is(entra.FromMSAL(err), entra.ErrInteractionRequired))
	// Output:
	// User.Read again: from the cache
	// the web API: from the token endpoint
	// its audience is the API: true
	// after revocation, User.Read: from the cache
	// after revocation, a refresh: invalid_grant AADSTS50173 true
}

// source says where MSAL's token came from.
func source(res public.AuthResult) string {
	if res.Metadata.TokenSource == public.TokenSourceCache {
		return "from the cache"
	}
	return "from the token endpoint"
}
