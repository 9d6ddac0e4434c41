// Package devmode is the one place where a running dev tenant becomes what
// entrakit's apps need, for the commands' dev mode and for tests.
//
// With no AZURE_CLIENT_ID, cmd/webapp and cmd/daemon run against an
// in-process dev tenant (entra/devtenant). Both, and every package's tests
// (over devtenanttest.Start), wire it the same way:
//
//  1. [Start] starts a dev tenant registering infra's app-registration
//     manifest, with the one-click persona picker on its sign-in page (the
//     commands; tests call devtenanttest.Start instead, picker off).
//     [CAFile] is where it keeps its CA for a browser to trust.
//  2. [WebAppConfig] and [DaemonConfig] are the entra.Config of the web app
//     and of the daemon against it: its [Cloud] (authority host = the
//     tenant's URL, Graph endpoint = its Graph emulator), its tenant id, the
//     app's client id from the manifest ([Apps]) and the client secret the
//     tenant generated at start. They accept any [Tenant], so a dev tenant in
//     another process (internal/benchemu) is wired the same way.
//  3. [HTTPClient] trusts the dev tenant's CA (or, against a real tenant,
//     ENTRAKIT_CA_FILE's roots); [GraphScope] is the scope of app-only Graph
//     tokens, which the dev tenant issues for Graph's public identifier
//     whatever host it serves Graph on.
//  4. [TokenCache] opens the sealed token cache both commands use; only in
//     dev mode may it seal with a key generated for the process.
//  5. For cmd/daemon, whose dev mode shows every job and keeps its app
//     token across runs: [DaemonDemoGroupID] (the group it snapshots),
//     [AddExpiringSecret] (a secret its credential report finds) and
//     [CacheKey] (the cache key kept in its dev folder).
//
// When dev mode starts is envconfig's decision (Settings.DevTenant), not
// this package's.
package devmode
