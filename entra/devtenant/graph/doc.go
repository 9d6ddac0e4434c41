// Package graph is the dev tenant's Microsoft Graph: the v1.0 slice that
// entrakit and msgraph-sdk-go use, over the tenant's directory.
//
// # The flow
//
//  1. router.go: every request gets request-id and client-request-id
//     headers; injected faults apply; the bearer token is verified by the
//     identity provider (signature, expiry) and must be for Graph; the
//     app's request budget is spent (429 with Retry-After beyond it; a
//     $batch spends one per request it holds, not one for itself); a
//     CAE-capable (cp1) token of a revoked or disabled user gets a 401
//     claims challenge. The caller's delegated scopes or application roles
//     decide what it may read: most routes name the one permission that
//     opens them (a 403 before the handler runs); those a user may call on
//     themselves (/me, photos, memberOf, directReports, getMemberObjects)
//     decide in the handler.
//  2. odata.go, filter.go and search.go parse $select, $filter, $search,
//     $orderby, $top, $count, $expand=manager and $skiptoken as Graph does,
//     and refuse what it refuses, with its messages: the advanced queries
//     (ne, not, endsWith, null, $filter with $orderby) want
//     ConsistencyLevel: eventual and $count=true, $search the header; $search
//     is tokenized. Skip tokens are opaque and bound to their query.
//  3. users.go, groups.go and relations.go answer /me, /users, /groups,
//     members, memberOf, transitiveMemberOf, manager, directReports,
//     getMemberObjects, photos, the deleted items, applications,
//     servicePrincipals and organization, a page at a time in creation
//     order (stable under inserts; deletions leave tombstones).
//  4. delta.go reads the directory's change log: a first round lists all,
//     later rounds what changed since the deltaLink — a soft-deleted user
//     as @removed "changed", a permanently deleted one "deleted", a group's
//     members@delta only the members that joined or left.
//  5. batch.go runs $batch requests through the same handler, each counted
//     against the budget; a write without a body or Content-Type refuses
//     the batch.
//
// Errors are Graph's JSON ({"error":{"code","message","innerError"}}).
package graph
