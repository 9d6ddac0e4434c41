// Package graphapi is entrakit's Microsoft Graph v1.0 client: the
// msgraph-sdk-go GraphServiceClient built for one Graph host (any national
// cloud, or the dev tenant's Graph emulator), with the few typed helpers the
// web app and the daemon use and Graph's errors as Go errors.
//
// Only this package imports msgraph-sdk-go (internal/deptest enforces it):
// the SDK takes minutes to compile.
//
// # Construction
//
// [New] takes an azcore.TokenCredential (azidentity's, or one over MSAL for
// delegated tokens) and [Options]. It does not use the SDK's
// NewGraphServiceClientWithCredentials: that one allows only Microsoft's
// Graph hosts and sends a request to any other host with no Authorization
// header and no error (kiota's allowed-hosts check compares the host name
// without the port). New allows exactly the host of Options.BaseURL, points
// the adapter at BaseURL + "/v1.0", and puts kiota's middleware in a fixed
// order in front of the caller's transport: Graph telemetry (SdkVersion,
// client-request-id), /me rewriting, User-Agent, $-parameter decoding,
// header inspection, redirects (Authorization dropped on a host change),
// gzip of request bodies, and the retry handler (429, 503, 504; Retry-After
// honoured; Options.MaxRetries). Two defects of the SDK are worked around:
// kiota's resending handlers drop responses without closing them (a leaked
// connection or HTTP/2 stream per retried 429), and NewGraphServiceClient
// writes a global that requests in flight read (a data race when clients
// are built concurrently, e.g. one per signed-in user).
//
// # Helpers
//
// [Client.Me] and [Client.Photo] for the signed-in user; [Client.Users] and
// [Client.GroupMembers] as iter.Seq2 sequences that fetch one page at a time
// following @odata.nextLink (with ConsistencyLevel: eventual on every page of
// an advanced query); [Client.UsersDelta] for one round of a delta query;
// [Client.Batch] for JSON batching with dependsOn; and
// [Client.ExpiringCredentials] over applications and service principals.
// Anything else goes through [Client.Graph] and [Client.MapError].
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
