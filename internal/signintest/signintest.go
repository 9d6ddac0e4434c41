// Package signintest signs dev-tenant personas in for tests, through the
// flows real apps use, with the dev tenant's scripted Browser in place of a
// person:
//
//   - SignIn: the web app's authorization code flow (entra.SignIn Begin,
//     the browser at the authorize endpoint, Complete with the callback);
//   - Interactive: MSAL's interactive flow for a public client (a CLI),
//     the browser delivering the redirect to MSAL's loopback listener.
//
// Both return errors rather than taking a testing.TB, so that Example
// functions can use them too.
package signintest

import (
	"context"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
	"github.com/entrakit/entrakit/entra"
	"github.com/entrakit/entrakit/entra/devtenant"
)

// SignIn signs b's user in to the app behind si, asking for o. It returns
// the transaction too, for its nonce.
func SignIn(ctx context.Context, si *entra.SignIn, b *devtenant.Browser, o entra.BeginOptions) (*entra.SignInResult, *entra.Transaction, error) {
	authURL, txn, err := si.Begin(ctx, o)
	if err != nil {
		return nil, nil, err
	}
	resp, err := b.Authorize(ctx, authURL)
	if err != nil {
		return nil, nil, err
	}
	res, err := si.Complete(ctx, txn, resp.Params)
	if err != nil {
		return nil, nil, err
	}
	return res, txn, nil
}

// Interactive runs app's AcquireTokenInteractive for scopes, with b as the
// system browser MSAL opens.
func Interactive(ctx context.Context, app public.Client, b *devtenant.Browser, scopes []string) (public.AuthResult, error) {
	errc := make(chan error, 1)
	res, err := app.AcquireTokenInteractive(ctx, scopes, public.WithOpenURL(func(u string) error {
		go func() { errc <- deliver(ctx, b, u) }()
		return nil
	}))
	if err != nil {
		return public.AuthResult{}, err
	}
	if err := <-errc; err != nil {
		return public.AuthResult{}, err
	}
	return res, nil
}

// deliver opens authorizeURL in b and takes the response to its redirect
// URI, as a browser does.
func deliver(ctx context.Context, b *devtenant.Browser, authorizeURL string) error {
	resp, err := b.Authorize(ctx, authorizeURL)
	if err != nil {
		return err
	}
	hr, err := resp.Deliver(ctx, b.Client)
	if err != nil {
		return err
	}
	hr.Body.Close()
	return nil
}
