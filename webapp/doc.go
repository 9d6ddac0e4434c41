// Package webapp is entrakit's web app (Gin): it signs people in with their
// work accounts and calls Microsoft Graph on their behalf (docs/webapp.md).
//
// # A page that calls Graph
//
//  1. Middleware loads the session (sealed, server-side) and requires a
//     signed-in user.
//  2. The handler calls graphCall, which makes the request's token source
//     where the session is known: a userCredential for the session's account
//     and the page's scopes, handed to graphapi with Client.WithCredential.
//     No user travels in a context.
//  3. graphapi asks that credential for a token: the in-process memo, else
//     MSAL's AcquireTokenSilent through entra.TokenCredential over the
//     account's partition of the sealed token cache, refreshed at Entra
//     when due.
//  4. What needs the user (consent, a revoked refresh token, a claims
//     challenge) becomes a trip through sign-in and back to the page; a
//     second trip for the same page within two minutes is shown, not looped.
//
// # Retries
//
// A person is waiting, so little: graphapi's kiota retry handler for 429,
// 503 and 504 within 5 s, then a 503 page with Graph's Retry-After; kiota's
// one resend of a CAE claims challenge with a token for the claims; one more
// run of the call after a 401 without a challenge, with the memoized token
// dropped. Nothing else is retried.
//
// [Config.Validate] reports every problem at once, each an *entra.FieldError
// matching [ErrInvalidConfig].
package webapp
