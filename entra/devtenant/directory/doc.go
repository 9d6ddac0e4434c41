// Package directory is the dev tenant's model: what Entra ID and Microsoft
// Graph know about the tenant, with no HTTP in it.
//
//   - Users and groups: a cast of personas (Microsoft 365's sample people, an
//     administrator, a disabled account, a guest) whose passwords are
//     generated per start, plus users added by tests, by Graph (POST /users)
//     or by [Directory.GenerateDirectory] for scale tests.
//   - Applications from infra/app-registration.json ([ParseManifest]), each
//     with its service principal, a client secret generated per start,
//     certificates and federated identity credentials; managed identities.
//   - Resources and permissions ([Resource]): Microsoft Graph's and those
//     the apps expose; delegated consent grants and application permission
//     (app role) grants. The manifest's requiredResourceAccess is granted
//     with admin consent at start, as infra's Bicep does.
//   - The change log: creation order (stable paging), changes (delta
//     queries) and session revocations (continuous access evaluation).
//
// A [Directory] has one lock. Methods on *Directory take it themselves; the
// endpoints read and change the model under [Directory.Lock], through the
// returned [Tx], and never keep a *User or *App beyond Unlock. The identity
// endpoints hold their own lock first, then this one; nothing takes them in
// the other order.
package directory
