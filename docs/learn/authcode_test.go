package learn_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/entrakit/entrakit/entra"
)

// Example_authorizationCodeFlow is topic 03: the web app's sign-in with
// entra.SignIn. The browser carries a one-time code, never a token; state
// ties the callback to the browser that started the sign-in; the code is
// worth nothing without the app's secret and PKCE verifier, and only once.
func Example_authorizationCodeFlow() {
	d := dev()
	ctx := context.Background()
	cfg := d.webApp()
	app, err := entra.NewConfidentialClient(cfg, entra.ClientOptions{HTTPClient: d.client})
	must(err)
	si := &entra.SignIn{Client: app, Config: cfg, Validator: entra.NewValidator(cfg, d.keys)}

	// 1. GET /signin: the app redirects the browser to the authorize endpoint.
	authURL, txn, err := si.Begin(ctx, entra.BeginOptions{Scopes: []string{"User.Read"}})
	must(err)
	u, err := url.Parse(authURL)
	must(err)
	q := u.Query()
	fmt.Println("response_type:", q.Get("response_type"), "PKCE:", q.Get("code_challenge_method"))
	fmt.Println("state and nonce sent:", q.Get("state") == txn.State, q.Get("nonce") == txn.Nonce)
	fmt.Println("secret or verifier in the URL:", strings.Contains(authURL, cfg.Credential.ClientSecret) ||
		strings.Contains(authURL, txn.CodeVerifier))

	// 2. Adele signs in at the dev tenant; the browser comes back with a code.
	resp, err := d.browser("AdeleV").Authorize(ctx, authURL)
	must(err)
	fmt.Println("callback:", resp.Mode, keys(resp.Params))

	// 3. GET /auth/callback. Checked against another pending sign-in (the
	// state this browser was given is not this one), it is refused before
	// any token request...
	_, other, err := si.Begin(ctx, entra.BeginOptions{})
	must(err)
	_, err = si.Complete(ctx, other, resp.Params)
	fmt.Println("other sign-in's state:", errors.Is(err, entra.ErrStateMismatch))
	// ...this one redeems the code (with secret and verifier) for tokens.
	res, err := si.Complete(ctx, txn, resp.Params)
	must(err)
	fmt.Println("signed in:", res.Identity.Name)

	// 4. Replays: the transaction is single use, and so is the code at Entra.
	_, err = si.Complete(ctx, txn, resp.Params)
	fmt.Println("callback replayed:", errors.Is(err, entra.ErrTransactionUsed))
	_, err = app.AcquireTokenByAuthCode(ctx, resp.Params.Get("code"), webRedirect, []string{"User.Read"},
		confidential.WithChallenge(txn.CodeVerifier))
	fmt.Println("code redeemed twice:", aadsts(err))
	// Output:
	// response_type: code PKCE: S256
	// state and nonce sent: true true
	// secret or verifier in the URL: false
	// callback: query [code session_state state]
	// other sign-in's state: true
	// signed in: Adele Vance
	// callback replayed: true
	// code redeemed twice: invalid_grant AADSTS54005
}
