// Package entra is entrakit's identity core for Microsoft Entra ID.
//
// Its one job is to describe an Entra application ([Config]: cloud, tenant,
// client id, credential, redirect URI, allowed tenants) and to do the
// security-critical half of the protocol that MSAL Go leaves to the
// application: the authorization code + PKCE sign-in transaction, ID token and
// access token validation against the issuer's JWKS, Entra (AADSTS) errors and
// claims challenges.
//
// The package never imports gin or msgraph-sdk-go; internal/deptest enforces it.
package entra
