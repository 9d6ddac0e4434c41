// Package tokencache is entrakit's token cache for MSAL Go, shared by the web
// app and the daemon: encrypted always, partitioned, and correct under
// concurrency.
//
// Its one job is to keep MSAL's cache serialization safe and fast:
//
//   - Partitions. One blob per partition key — a user's home account id (web
//     app), a tenant+client key (daemon), the hash of an OBO assertion (web
//     API) — so a silent call costs the same with 1 or 10,000 users, where
//     MSAL's default cache scans every entry.
//   - One MSAL client per partition ([Clients], a bounded golang-lru/v2
//     cache), each over its own [Partition] accessor whose Replace decodes
//     only when the stored blob changed. One client shared by goroutines over
//     a partitioned cache is wrong: MSAL locks only while loading, so a
//     concurrent call can swap another user's cache in before the read. The
//     calls that create a partition (redeeming an authorization code) go
//     through one shared client over [Cache.Router], which starts each write
//     from an empty cache under MSAL's write lock.
//   - Sealing ([KeyRing]). AES-256-GCM with a random nonce in a versioned
//     envelope (format, key id, nonce); the format, key id and partition key
//     are additional data, so a blob moved to another user's partition does
//     not open. Seal with the primary key, open with any: keys rotate without
//     losing sessions.
//   - Stores ([Store]): [MemoryStore] (bounded by entries and bytes, with
//     expiry), [FileStore] (0600 files, atomic rename, flock), [RedisStore]
//     (Lua compare-and-set), and [Layered] (a memory L1 over Redis or files).
//     Every write is a compare-and-set on a version; a conflict merges the
//     two blobs, so two writers never silently lose a refresh token.
//   - Sign-out ([Cache.Remove]) leaves a tombstone in the partition, with the
//     time and the cache's TTL: a refresh that was in flight during the
//     sign-out finds it and drops its tokens instead of recreating the
//     partition; a sign-in after it ([Cache.Router]) replaces it.
//   - Failures degrade to a miss, never a crash and never another user's
//     tokens: a blob that does not open is removed and counted ([Metrics]); a
//     store that does not answer is logged and counted, and the request goes
//     on with what the client holds or a token refresh.
package tokencache
