// Package daemon runs entrakit's scheduled Microsoft Graph jobs with the
// app's own identity (application permissions): the directory sync by delta
// query into SQLite or PostgreSQL, the expiring-credentials report and the
// group snapshots (docs/daemon.md).
//
// # A run
//
//  1. The [Scheduler] (gocron) ticks a job; with a [RedisLocker], one replica
//     wins the tick.
//  2. The run gets a [RunEnv]: the Graph client, the database, a logger.
//     Its Graph requests carry app tokens from the credential [NewCredential]
//     built once, with entra.NewAppTokenCredential (MSAL with the sealed
//     token cache for a secret or certificate, azidentity for workload and
//     managed identity), counted in [TokenStats].
//  3. The job pages through Graph and commits each page with the link that
//     follows it, so a crash, a cancel or a timeout resumes from there.
//  4. The result, or a [*RunError] with its kind, goes to the log and the
//     metrics.
//
// # Retries
//
// Two stages that never repeat each other's work: graphapi's kiota retry
// handler resends a throttled or unavailable request within its budget
// (cmd/daemon: 10 retries, 60 s of waiting); a 429 still standing after it
// makes the run wait Retry-After and continue from its last checkpoint, at
// most 5 times within the job's timeout. Anything else fails the run, and
// the next tick is the retry.
//
// Job files are checked all at once by [ParseConfig]: each problem is an
// *entra.FieldError named by its JSON path, matching [ErrInvalidConfig].
package daemon
