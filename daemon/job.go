package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/entrakit/entrakit/graphapi"
)

// Job is one kind of scheduled work.
type Job interface {
	Name() string
	// Run does one run. It must stop soon after ctx ends, leaving what it
	// committed consistent (the next run continues from there).
	Run(ctx context.Context, env *RunEnv) (Result, error)
}

// RunEnv is what a run gets.
type RunEnv struct {
	Graph *graphapi.Client
	// Credential is the app's credential, for jobs that call other APIs
	// than Graph (api-usage); nil when the scheduler was given none.
	Credential azcore.TokenCredential
	DB         *DB
	Log        *slog.Logger
	// Progress, when set, is told the number of items processed so far.
	Progress func(done int)
}

// clock is a job's Now field, or time.Now when it is unset.
func clock(now func() time.Time) func() time.Time {
	if now != nil {
		return now
	}
	return time.Now
}

func (e *RunEnv) progress(n int) {
	if e.Progress != nil {
		e.Progress(n)
	}
}

// Result is what a run did.
type Result struct {
	Items   int    // items processed
	Summary string // one line for the log
	// Details list what the run found, a line each, for a person reading
	// `daemon run` (the log has Summary only).
	Details []string
}

// Error kinds, for errors.Is and the failure metric's label.
var (
	ErrThrottled  = errors.New("daemon: throttled by Graph")
	ErrForbidden  = errors.New("daemon: Graph refused the app's permissions")
	ErrAuth       = errors.New("daemon: no app token")
	ErrTimeout    = errors.New("daemon: the run timed out")
	ErrCancelled  = errors.New("daemon: the run was cancelled")
	ErrDatabase   = errors.New("daemon: database")
	ErrUnknownJob = errors.New("daemon: unknown job")
)

// RunError is a failed run, with its kind.
type RunError struct {
	Job  string
	Kind error // one of the Err* kinds above, or nil when unclassified
	Err  error
}

func (e *RunError) Error() string { return fmt.Sprintf("daemon: %s: %v", e.Job, e.Err) }
func (e *RunError) Unwrap() []error {
	if e.Kind == nil {
		return []error{e.Err}
	}
	return []error{e.Kind, e.Err}
}

// dbErr marks a database failure (not a cancellation) as ErrDatabase.
func dbErr(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrDatabase) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrDatabase, err)
}

// kindLabel names an error's kind for metrics.
func kindLabel(err error) string {
	for _, k := range []struct {
		err   error
		label string
	}{{ErrTimeout, "timeout"}, {ErrCancelled, "cancelled"}, {ErrThrottled, "throttled"}, {ErrForbidden, "forbidden"},
		{ErrAuth, "auth"}, {ErrDatabase, "database"}} {
		if errors.Is(err, k.err) {
			return k.label
		}
	}
	return "other"
}
