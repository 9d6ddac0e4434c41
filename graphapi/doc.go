// Package graphapi is entrakit's Microsoft Graph v1.0 client: kiota's
// request adapter from msgraph-sdk-go-core, built for one Graph host (any
// national cloud, or the dev tenant's Graph emulator), the few requests the
// web app and the daemon make, parsed into msgraph-sdk-go's models, and
// Graph's errors as Go errors.
//
// Only this package imports msgraph-sdk-go (internal/deptest enforces it),
// and only its models package: the SDK's root package and its request
// builders take minutes to compile (all 87 packages of the SDK; users and
// groups alone carry every navigation property of Graph), so the requests
// are built here with kiota's RequestInformation from the same URL
// templates, query options, Accept headers and OData error mapping as the
// SDK's request builders (Microsoft's advice: msgraph-sdk-go#129, #243).
//
// # Construction
//
// [New] takes an azcore.TokenCredential (azidentity's, or entra's
// TokenCredential over MSAL) and [Options]. It does not use the SDK's
// NewGraphServiceClientWithCredentials: that one allows only Microsoft's
// Graph hosts and sends a request to any other host with no Authorization
// header and no error (kiota's allowed-hosts check compares the host name
// without the port). New allows exactly the host of Options.BaseURL, points
// the adapter at BaseURL + "/v1.0", and puts kiota's middleware in a fixed
// order in front of the caller's transport: Graph telemetry (SdkVersion,
// client-request-id, as the SDK's client sends them), /me rewriting,
// User-Agent, $-parameter decoding, header inspection, redirects
// (Authorization dropped on a host change), gzip of request bodies, and the
// retry handler. Two defects of the SDK are worked around: kiota's
// resending handlers drop responses without closing them (a leaked
// connection or HTTP/2 stream per retried 429), and NewGraphServiceClient
// writes a global that every model constructor reads without a lock (a data
// race when clients are built while requests are in flight): New writes no
// global, and its adapter has its own serializer registries (JSON, text,
// form, multipart, as the SDK registers them).
//
// # Token source
//
// Every request names its token source. A Client built for an app (the
// daemon) uses the credential given to New. A Client shared by many users
// (the web app) is asked for a view per request, [Client.WithCredential],
// with a credential for that user: the view shares the adapter and its
// connections and costs two small allocations, and its requests, every page
// and retry included, carry the view's tokens (a kiota request option read
// by the client's authentication provider; nothing travels in the
// context). A 401 with a CAE claims challenge is resent once by kiota with
// a token the credential gets for the claims.
//
// # Helpers
//
// The helpers return this package's small types, so the apps never see the
// SDK's models: [Client.Me] a [Profile] and [Client.Photo] the photo's
// bytes, for the signed-in user; [Client.UsersPage] one [UserPage] of
// Profiles with the $skiptoken of the next (the web app's directory);
// [Client.User] a Profile by id or userPrincipalName;
// [Client.GroupMembers] the [Member]s of a group and
// [Client.UsersDeltaPages] / [Client.GroupsDeltaPages] the [DeltaPage]s of
// a delta round (the daemon); [Client.ExpiringCredentials] over
// applications and service principals (the daemon). [Client.Users] pages
// through users as the SDK's models, for the package example and the
// paging benchmark. Anything else is a kiota RequestInformation given to
// [Client.Send], which parses the response into a model and maps errors.
//
// # Retries
//
// The retry handler resends a 429, 503 or 504 up to Options.MaxRetries
// times (kiota's default 3; at most 10), honouring Retry-After, else
// backing off exponentially from 3 s, as long as the waits fit
// Options.MaxRetryWait (60 s by default): a Retry-After beyond the budget
// comes back at once as a *[ThrottledError] whose RetryAfter the caller
// can honour or pass on. That is this package's whole retry policy; the
// web app (5 s budget, then 503 to the browser) and the daemon (10 retries,
// then a wait at the run level) say what they add on top, and neither
// repeats it.
//
// # Errors
//
// Graph's OData errors become *[Error] (status, code, message, request-id),
// matched by [ErrNotFound] (404) and [ErrForbidden] (403) with errors.Is; a
// 429 left after the retries is a *[ThrottledError] with its Retry-After; a
// 401 carrying a CAE claims challenge (WWW-Authenticate error=
// "insufficient_claims") that kiota's one retry with the claims did not
// satisfy is a *[ClaimsChallengeError] with the decoded claims. Errors never
// carry a token.
package graphapi
