// Package entra is entrakit's identity core for Microsoft Entra ID: the part
// a Go developer imports on its own.
//
// Its one job is to describe an Entra application ([Config]: cloud, tenant,
// client id, credential, redirect URI, allowed tenants) and to do the
// security-critical half of the protocol that MSAL Go leaves to the
// application. MSAL Go's confidential AuthCodeURL has no state, nonce or PKCE,
// and MSAL never checks an ID token's signature or nonce; entrakit does.
//
// # Sign-in (OIDC authorization code + PKCE)
//
//  1. [SignIn.Begin] makes state and nonce (256 bits from crypto/rand each) and
//     a PKCE verifier with its S256 challenge, and returns MSAL's authorize URL
//     with them added, plus a [Transaction] the caller keeps server-side,
//     bound to the browser (a short-lived cookie holding the state).
//  2. Entra sends the browser back with code and state (query or form_post).
//  3. [SignIn.Complete] consumes the transaction (single use, expiring),
//     compares the state in constant time, turns error= into an
//     [*AADSTSError] (errors.Is [ErrUserCancelled], [ErrInteractionRequired],
//     ...), redeems the code with the verifier through MSAL, and validates the
//     ID token (RS256 signature against the issuer's JWKS, iss, aud, exp, nbf,
//     iat, nonce, tid, ver) before returning the [Identity].
//
// # Web APIs
//
// [Validator.ValidateAccessToken] checks bearer tokens (v2, and v1 when
// enabled) against an [AccessPolicy] (scopes, app roles, app-only, allowed
// clients); [Bearer] is the net/http middleware answering per RFC 6750. The
// claims path is a small purpose-built scanner ([Claims]), so validation
// costs little more than the RSA verification itself.
//
// # Tokens for resources
//
// Token acquisition has one home: MSAL Go under an azcore.TokenCredential,
// the interface graphapi (kiota) and the Azure SDKs take.
// [NewConfidentialClient] builds the MSAL client of an app registration;
// [TokenCredential] adapts it, for one signed-in account (delegated tokens,
// AcquireTokenSilent: under the web app's per-request credential of the
// session's user) or for the app itself (client credentials: the daemon).
// [NewAppTokenCredential] picks the app-only credential cfg names: that
// adapter for a secret or certificate, azidentity's for workload identity
// and managed identity. [FromCache] tells a cache hit from a trip to the
// token endpoint. Nothing here adds a retry: azidentity's credentials retry a
// token request in their azcore pipeline, MSAL's client of a secret or
// certificate does not; the retry policies of Graph calls are in the
// graphapi, webapp and daemon docs.
//
// # Keys, errors, challenges
//
// [RemoteKeySet] caches the JWKS found by [Discover], refetches at most once
// per interval on an unknown kid (single flight), and keeps serving cached
// keys when the endpoint is down. [FromMSAL] and [ParseTokenError] turn
// Entra's error responses into [*AADSTSError]. [ClaimsChallenge] reads a CAE
// claims challenge from a resource's WWW-Authenticate header, and
// [MergeClaims] adds client capabilities to it for the next sign-in.
//
// The package never imports gin or msgraph-sdk-go; internal/deptest enforces it.
package entra
