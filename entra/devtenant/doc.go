// Package devtenant is a local, faithful emulator of Microsoft Entra ID's v2.0
// endpoints: the other side of the wire for every entrakit test, and the
// embedded default when no real tenant is configured.
//
// It imports no other entrakit package and never msgraph-sdk-go
// (internal/deptest enforces it). It is judged by the real clients: MSAL Go,
// azidentity, go-oidc, msgraph-sdk-go and msal-browser must not tell it from
// Entra and Graph for the flows entrakit uses.
//
// # Packages
//
// This package is thin: [Options], [New], Start/Close, the CA and TLS, the
// admin API, and the operations tests use. The work is done by one package
// per protocol, each with a doc comment that walks its flow:
//
//   - directory: the tenant model — users, groups, apps, managed
//     identities, consent and app-role grants, the change log. Its own lock,
//     no HTTP.
//   - identity: Entra ID's v2.0 endpoints (below) and the managed identity
//     endpoint.
//   - workload: a small OIDC issuer of workload tokens (federation).
//   - graph: the Microsoft Graph emulator (/v1.0 users, groups, photos,
//     delta, $batch, applications, service principals, organization; OData
//     $select, $filter, $search, $orderby, $count, $top and skip tokens;
//     per-app throttling; continuous access evaluation), on its own
//     listener at [Server.GraphURL].
//   - fault: failures tests inject into the token endpoint or Graph.
//   - devtenanttest: Start(t) for tests, like go-oidc's oidctest.
//
// # The flow
//
// A Server serves HTTPS on a loopback port with its own CA ([Server.CertPool],
// [Server.Client]). Its authority is https://localhost:PORT/{tenant}, where
// {tenant} is the tenant id, its domain, "common" or "organizations".
//
//  1. Discovery: GET /{tenant}/v2.0/.well-known/openid-configuration (the
//     {tenantid} issuer template for multi-tenant authorities) and the JWKS at
//     /discovery/v2.0/keys and /{tenant}/discovery/v2.0/keys (kid = x5t, x5c).
//     Two keys are published: the one signing now and the next one, so
//     rotation ([Server.RotateKeys]) never surprises a relying party that
//     caches the JWKS; retired keys stay published for Options.KeyGrace.
//  2. Authorize: GET or POST /{tenant}/oauth2/v2.0/authorize checks the client
//     and the redirect URI (exact match per platform: web, spa, publicClient;
//     loopback public-client URIs match any port). A mismatch shows an error
//     page and never redirects. Then state, nonce, PKCE (S256 or plain; a
//     SPA must use it), prompt, login_hint and claims.
//  3. Sign-in form (no JavaScript): POST /{tenant}/login with fields ctx,
//     username, password — or ctx and sso=continue to keep the signed-in
//     account. The page's form has id "login"; an error carries
//     data-aadsts="NNNN". A successful sign-in sets the SSO cookie ESTSAUTH,
//     so a second authorize is silent unless prompt=login.
//  4. Consent page, when a requested permission is not yet granted: POST
//     /{tenant}/consent with ctx, decision=accept|decline, and
//     consent_for_org=on (administrators only: tenant-wide consent).
//     Permissions that need an administrator show "Need admin approval".
//  5. The response goes to the redirect URI by query, fragment or form_post
//     (a form with id "response" posting code, state and session_state).
//  6. Token: POST /{tenant}/oauth2/v2.0/token with authorization_code (single
//     use: a replay is AADSTS54005 and leaves the first tokens valid, as
//     Entra does; PKCE; redirect URI bound; 10 minutes; without scope, the
//     authorize request's scopes), refresh_token (a new one each time), client_credentials
//     (<resource>/.default) and the on-behalf-of jwt-bearer grant. Clients
//     authenticate with client_secret (POST or Basic), private_key_jwt
//     (a certificate registered with [Server.AddClientCertificate]) or a
//     federated assertion: a token of an external OIDC issuer trusted by a
//     federated identity credential of the app ([Server.AddFederatedCredential],
//     or federatedIdentityCredentials in the manifest), checked against the
//     issuer's discovery document and JWKS fetched over HTTPS.
//  7. Logout: /{tenant}/oauth2/v2.0/logout ends the SSO session and returns
//     to post_logout_redirect_uri when it is one of the app's registered
//     redirect URIs.
//
// Two tenants share the server and its signing keys, as all of Entra's
// tenants share Entra's: Contoso, the manifest's, and Fabrikam
// ([Server.GuestHome]), the home of the B2B guest persona. A multi-tenant
// app (signInAudience AzureADMultipleOrgs) signs Fabrikam's people in
// through /organizations or /common; the first consent there provisions
// its service principal; tokens name the user's tenant in iss and tid.
//
// Two more sources of tokens serve workloads:
//
//   - Managed identity, App Service style: [Server.ManagedIdentity] gives the
//     IDENTITY_ENDPOINT (plain HTTP on 127.0.0.1, as App Service's) and the
//     IDENTITY_HEADER secret (random per start) that make
//     azidentity.NewManagedIdentityCredential use the tenant's
//     system-assigned identity; [Server.AddUserAssignedIdentity] adds
//     user-assigned ones. Their tokens are app-only, like client credentials
//     ones, with Graph's User.Read.All, GroupMember.Read.All and
//     Application.Read.All.
//   - Workload identity federation: [Server.WorkloadIssuer] is a small OIDC
//     issuer served by the tenant (its own key) and [Server.IssueWorkloadToken]
//     makes tokens like a Kubernetes service-account token, for
//     azidentity.NewWorkloadIdentityCredential.
//
// Errors are Entra's: JSON with error, error_description
// ("AADSTSnnnn: ...\r\nTrace ID: ...\r\nCorrelation ID: ...\r\nTimestamp: ..."),
// error_codes, timestamp, trace_id, correlation_id, error_uri, and suberror
// and claims where Entra sends them.
//
// The tenant model comes from infra/app-registration.json (apps in the shape
// of Graph's application resource; their requiredResourceAccess is granted
// with admin consent at start, as the Bicep does) plus a cast of personas
// with passwords generated per start ([Server.Personas]). Tests and
// operators change it through Go methods ([Server.AddUser],
// [Server.SetUserEnabled], [Server.RevokeUser], [Server.GrantConsent],
// [Server.RotateKeys], [Server.AdvanceClock], [Server.InjectFault],
// [Server.AddFederatedCredential], [Server.AddUserAssignedIdentity]) or the
// same operations over /admin/ with Authorization: Bearer <AdminKey>.
package devtenant
