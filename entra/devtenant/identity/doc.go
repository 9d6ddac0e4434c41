// Package identity is the dev tenant's Entra ID: the v2.0 endpoints a
// relying party, MSAL or azidentity talks to, the App Service managed
// identity endpoint, and a workload identity issuer.
//
// # The flow
//
//  1. Discovery (discovery.go): /{tenant}/v2.0/.well-known/openid-configuration
//     and the JWKS (keys.go: the key signing now and the next one, retired
//     keys kept for a grace period), plus MSAL's instance discovery.
//  2. Authorize (authorize.go): client and redirect URI checked against the
//     directory (exact match per platform), then response_mode, scopes
//     (scopes.go: one resource per request, as Entra), PKCE, prompt and
//     claims; the request waits in pending under a random ctx.
//  3. Sign-in and consent pages (pages.go, templates/): the password is
//     checked by the directory; an SSO cookie makes the next authorize
//     silent; missing permissions show the consent page, which records a
//     grant in the directory.
//  4. The code goes back to the redirect URI (query, fragment or
//     form_post), bound to client, redirect URI, PKCE challenge and nonce.
//  5. Token (token.go): client authentication (secret, certificate
//     assertion in assertion.go, federated assertion in federation.go), then
//     the grant: authorization_code, refresh_token, client_credentials,
//     on-behalf-of. claims.go mints the access token (v1 or v2, as the
//     resource asks) and the ID token; they are signed outside the lock.
//  6. Logout ends the SSO session.
//
// Several tenants (tenants.go): the provider serves every directory it is
// given, with one key set. A request enters the tenant its path names, or
// on common/organizations the signed-in user's; an app registered in one
// tenant gets a service principal in another at the first consent; a guest
// signs in with their home account.
//
// Managed identities (managedidentity.go) and the workload issuer
// (workload.go) mint through the same code. Errors are Entra's
// (errors.go): AADSTS codes, trace and correlation ids.
//
// A Provider has its own lock for codes, sessions, refresh tokens and
// keys; handlers take it, then every directory's (the home tenant first),
// in that order.
package identity
