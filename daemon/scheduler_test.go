package daemon_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/entrakit/entrakit/daemon"
	"github.com/entrakit/entrakit/entra"
	"github.com/entrakit/entrakit/entra/devtenant"
	"github.com/entrakit/entrakit/entra/tokencache"
	"github.com/entrakit/entrakit/graphapi"
	"github.com/entrakit/entrakit/internal/testredis"
	"github.com/redis/go-redis/v9"
)

// ---- helpers shared by scheduler_test, credential_test and reports_test ----

// mustConfig parses a job file or fails the test.
func mustConfig(t testing.TB, js string) *daemon.FileConfig {
	t.Helper()
	c, err := daemon.ParseConfig([]byte(js))
	if err != nil {
		t.Fatalf("ParseConfig(%s): %v", js, err)
	}
	return c
}

// metric reads one series ("name" or `name{label="v",...}`, labels in
// alphabetical order as the text format writes them) from h's /metrics; 0
// when absent.
func metric(t testing.TB, h http.Handler, series string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d", rec.Code)
	}
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("/metrics: %q: %v", line, err)
			}
			return f
		}
	}
	return 0
}

// logCapture records a scheduler's log lines (Info and above).
type logCapture struct {
	mu   sync.Mutex
	recs []logRecord
	note chan struct{}
}

type logRecord struct {
	at    time.Time
	msg   string
	attrs map[string]slog.Value
}

func newLogCapture() *logCapture { return &logCapture{note: make(chan struct{}, 1)} }

func (c *logCapture) logger() *slog.Logger { return slog.New(&captureHandler{c: c}) }

// find returns the records whose message is one of msgs.
func (c *logCapture) find(msgs ...string) []logRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []logRecord
	for _, r := range c.recs {
		if slices.Contains(msgs, r.msg) {
			out = append(out, r)
		}
	}
	return out
}

// wait returns once n records carry one of msgs, failing after timeout.
func (c *logCapture) wait(t testing.TB, n int, timeout time.Duration, msgs ...string) []logRecord {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if got := c.find(msgs...); len(got) >= n {
			return got
		}
		select {
		case <-c.note:
		case <-deadline.C:
			t.Fatalf("waited %v for %d log lines %q; have %d", timeout, n, msgs, len(c.find(msgs...)))
		}
	}
}

type captureHandler struct {
	c     *logCapture
	attrs []slog.Attr
}

func (h *captureHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }
func (h *captureHandler) WithGroup(string) slog.Handler                { return h }
func (h *captureHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &captureHandler{c: h.c, attrs: append(slices.Clip(h.attrs), as...)}
}
func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{at: r.Time, msg: r.Message, attrs: map[string]slog.Value{}}
	for _, a := range h.attrs {
		rec.attrs[a.Key] = a.Value
	}
	r.Attrs(func(a slog.Attr) bool { rec.attrs[a.Key] = a.Value; return true })
	h.c.mu.Lock()
	h.c.recs = append(h.c.recs, rec)
	h.c.mu.Unlock()
	select {
	case h.c.note <- struct{}{}:
	default:
	}
	return nil
}

// shutdownOnCleanup stops sch when the test ends (a no-op after Shutdown).
func shutdownOnCleanup(t testing.TB, sch *daemon.Scheduler) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = sch.Shutdown(ctx)
	})
}

// ---- config ----

// fieldsOf lists the Field of every *entra.FieldError in err.
func fieldsOf(err error) []string {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	var out []string
	for _, e := range errs {
		var fe *entra.FieldError
		if errors.As(e, &fe) {
			out = append(out, fe.Field)
		}
	}
	sort.Strings(out)
	return out
}

func TestParseConfigErrorsNameTheField(t *testing.T) {
	const guid = "6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b"
	cases := []struct {
		name   string
		js     string
		fields []string // every field named, sorted
		msg    []string // substrings of the message
	}{
		{"second job's every", `{"jobs":[{"name":"directory-sync","every":"15m"},{"name":"expiring-credentials","every":"10x"}]}`,
			[]string{"jobs[1].every"}, []string{`jobs[1].every: want a duration of at least 1s, got "10x"`}},
		{"every under a second", `{"jobs":[{"name":"directory-sync","every":"500ms"}]}`,
			[]string{"jobs[0].every"}, []string{`"500ms"`}},
		{"unknown job", `{"jobs":[{"name":"nightly","every":"1h"}]}`,
			[]string{"jobs[0].name"}, []string{`unknown job "nightly"`, "directory-sync"}},
		{"no name", `{"jobs":[{"every":"1h"}]}`, []string{"jobs[0].name"}, []string{"jobs[0].name: required"}},
		{"declared twice", `{"jobs":[{"name":"directory-sync","every":"1h"},{"name":"directory-sync","every":"2h"}]}`,
			[]string{"jobs[1].name"}, []string{"declared twice"}},
		{"every and cron", `{"jobs":[{"name":"directory-sync","every":"1h","cron":"0 6 * * *"}]}`,
			[]string{"jobs[0]"}, []string{"jobs[0]: set every or cron, not both"}},
		{"neither every nor cron", `{"jobs":[{"name":"directory-sync"}]}`, []string{"jobs[0]"}, []string{"set every"}},
		{"bad cron", `{"jobs":[{"name":"expiring-credentials","cron":"61 * * * *"}]}`, []string{"jobs[0].cron"}, []string{"jobs[0].cron: "}},
		{"bad timeout", `{"jobs":[{"name":"directory-sync","every":"1h","timeout":"soon"}]}`,
			[]string{"jobs[0].timeout"}, []string{`jobs[0].timeout: want a positive duration, got "soon"`}},
		{"negative timeout", `{"jobs":[{"name":"directory-sync","every":"1h","timeout":"-1s"}]}`, []string{"jobs[0].timeout"}, nil},
		{"unknown settings field", `{"jobs":[{"name":"directory-sync","every":"1h","settings":{"grups":true}}]}`,
			[]string{"jobs[0].settings"}, []string{`jobs[0].settings: unknown field "grups"`}},
		{"group id not a GUID", `{"jobs":[{"name":"group-snapshot","every":"1h","settings":{"groups":["` + guid + `","Engineering"]}}]}`,
			[]string{"jobs[0].settings"}, []string{`not a group id (GUID): "Engineering"`}},
		{"group snapshot without groups", `{"jobs":[{"name":"group-snapshot","every":"1h"}]}`, []string{"jobs[0].settings"}, []string{"groups"}},
		{"within_days out of range", `{"jobs":[{"name":"expiring-credentials","every":"24h","settings":{"within_days":5000}}]}`,
			[]string{"jobs[0].settings"}, []string{"within_days"}},
		{"all problems at once", `{"jobs":[
			{"name":"nightly","every":"10x"},
			{"name":"directory-sync","every":"1m","cron":"0 6 * * *"},
			{"name":"expiring-credentials","cron":"61 * * * *","timeout":"soon"},
			{"name":"group-snapshot","every":"1h","settings":{"groups":["not-a-guid"]}},
			{"name":"directory-sync","every":"1m","settings":{"grups":true}}]}`,
			[]string{"jobs[0].every", "jobs[0].name", "jobs[1]", "jobs[2].cron", "jobs[2].timeout", "jobs[3].settings", "jobs[4].name", "jobs[4].settings"},
			[]string{"jobs[0].name", "jobs[4].settings"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := daemon.ParseConfig([]byte(tc.js))
			if err == nil {
				t.Fatalf("accepted: %+v", c)
			}
			if !errors.Is(err, daemon.ErrInvalidConfig) {
				t.Errorf("errors.Is(err, ErrInvalidConfig) is false: %v", err)
			}
			if got := fieldsOf(err); !slices.Equal(got, tc.fields) {
				t.Errorf("fields %q, want %q (error: %v)", got, tc.fields, err)
			}
			for _, m := range tc.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not contain %q", err, m)
				}
			}
		})
	}
}

func TestParseConfigRejectsMalformedFiles(t *testing.T) {
	for _, tc := range []struct{ name, js, msg string }{
		{"unknown top-level field", `{"job":[]}`, `unknown field "job"`},
		{"unknown job field", `{"jobs":[{"name":"directory-sync","every":"1h","retries":3}]}`, `unknown field "retries"`},
		{"not JSON", `jobs: []`, "invalid character"},
		{"wrong type", `{"jobs":{"name":"directory-sync"}}`, "cannot unmarshal"},
		// A second object (two files concatenated) must not be ignored.
		{"trailing data", `{"jobs":[{"name":"directory-sync","every":"1h"}]} {"jobs":[{"name":"nightly"}]}`, ""},
	} {
		c, err := daemon.ParseConfig([]byte(tc.js))
		if err == nil {
			t.Errorf("%s: accepted %s as %+v", tc.name, tc.js, c.Jobs)
		} else if !errors.Is(err, daemon.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: error %v: want ErrInvalidConfig mentioning %q", tc.name, err, tc.msg)
		}
	}
}

func TestDefaultConfigAndLoadConfig(t *testing.T) {
	def, err := daemon.LoadConfig("")
	if err != nil {
		t.Fatalf("DefaultConfig does not parse: %v", err)
	}
	if _, err := daemon.ParseConfig([]byte(daemon.DefaultConfig)); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, j := range def.Jobs {
		names = append(names, j.Name)
		if _, err := daemon.NewJob(j); err != nil {
			t.Errorf("NewJob(%s): %v", j.Name, err)
		}
	}
	if !slices.Equal(names, []string{"directory-sync", "expiring-credentials"}) {
		t.Errorf("default jobs %q", names)
	}
	if d := def.Jobs[0]; d.Interval() != 15*time.Minute || d.TimeoutDuration() != 10*time.Minute {
		t.Errorf("directory-sync: every %v timeout %v", d.Interval(), d.TimeoutDuration())
	}
	if e := def.Jobs[1]; e.Interval() != 0 || e.Cron != "0 6 * * *" || e.TimeoutDuration() != 5*time.Minute {
		t.Errorf("expiring-credentials: every %v cron %q timeout %v", e.Interval(), e.Cron, e.TimeoutDuration())
	}
	if got := (daemon.JobConfig{}).TimeoutDuration(); got != 30*time.Minute {
		t.Errorf("default timeout %v, want 30m", got)
	}

	path := filepath.Join(t.TempDir(), "jobs.json")
	if err := os.WriteFile(path, []byte(`{"jobs":[{"name":"group-snapshot","every":"1h","settings":{"groups":["6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b"]}}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := daemon.LoadConfig(path); err != nil || len(c.Jobs) != 1 || c.Jobs[0].Interval() != time.Hour {
		t.Errorf("LoadConfig(file): %+v, %v", c, err)
	}
	if _, err := daemon.LoadConfig(filepath.Join(t.TempDir(), "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadConfig(missing): %v", err)
	}
	if _, err := daemon.NewJob(daemon.JobConfig{Name: "nightly"}); !errors.Is(err, daemon.ErrUnknownJob) {
		t.Errorf("NewJob(nightly): %v", err)
	}
}

func TestNextRuns(t *testing.T) {
	now := time.Date(2026, 3, 2, 5, 50, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, js string
		want     [][]string // substrings of each line
	}{
		{"default", daemon.DefaultConfig, [][]string{
			// The next multiple of 15 minutes, as Start schedules it.
			{"directory-sync", "every 15m", "timeout 10m0s", "next 2026-03-02T06:00:00Z"},
			{"expiring-credentials", `cron "0 6 * * *"`, "timeout 5m0s", "next 2026-03-02T06:00:00Z"},
		}},
		{"cron tomorrow, default timeout", `{"jobs":[{"name":"expiring-credentials","cron":"30 5 * * *"}]}`, [][]string{
			{"expiring-credentials", `cron "30 5 * * *"`, "timeout 30m0s", "next 2026-03-03T05:30:00Z"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines := daemon.NextRuns(mustConfig(t, tc.js), now)
			if len(lines) != len(tc.want) {
				t.Fatalf("%d lines, want %d: %q", len(lines), len(tc.want), lines)
			}
			for i, want := range tc.want {
				for _, w := range want {
					if !strings.Contains(lines[i], w) {
						t.Errorf("line %q lacks %q", lines[i], w)
					}
				}
			}
		})
	}
	// On a tick: the one after.
	if l := daemon.NextRuns(mustConfig(t, daemon.DefaultConfig), now.Add(10*time.Minute))[0]; !strings.Contains(l, "next 2026-03-02T06:15:00Z") {
		t.Errorf("at 06:00: %q, want the next run at 06:15", l)
	}
}

// ---- scheduling ----

// lockHook counts a replica's lock attempts (SET NX) and the ones it won.
type lockHook struct {
	attempts, wins atomic.Int64
	events         chan struct{}
}

func (h *lockHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *lockHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (h *lockHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if bc, ok := cmd.(*redis.BoolCmd); ok && cmd.Name() == "set" {
			h.attempts.Add(1)
			if bc.Val() {
				h.wins.Add(1)
			}
			select {
			case h.events <- struct{}{}:
			default:
			}
		}
		return err
	}
}

// TestTwoSchedulersShareRedisOneRunPerTick: two replicas with the same job
// file and one redis-server; at each tick both try the lock and one runs.
func TestTwoSchedulersShareRedisOneRunPerTick(t *testing.T) {
	t.Parallel()
	rs := testredis.Start(t)
	srv := startTenant(t, 50)
	const ticks = 4
	events := make(chan struct{}, 64)
	type replica struct {
		sch  *daemon.Scheduler
		hook *lockHook
	}
	var reps []replica
	for range 2 {
		opts, err := redis.ParseURL(rs.URL())
		if err != nil {
			t.Fatal(err)
		}
		rc := redis.NewClient(opts)
		t.Cleanup(func() { rc.Close() })
		hook := &lockHook{events: events}
		rc.AddHook(hook)
		sch := &daemon.Scheduler{
			Config: mustConfig(t, `{"jobs":[{"name":"directory-sync","every":"1s","timeout":"30s","settings":{"groups":false}}]}`),
			Graph:  newGraph(t, srv, nil, nil), DB: openSQLite(t), Logger: discardLogger(),
			Locker: &daemon.RedisLocker{Client: rc},
		}
		reps = append(reps, replica{sch, hook})
	}
	for _, r := range reps {
		if err := r.sch.Start(); err != nil {
			t.Fatal(err)
		}
		shutdownOnCleanup(t, r.sch)
	}
	deadline := time.After(30 * time.Second)
	for reps[0].hook.attempts.Load()+reps[1].hook.attempts.Load() < 2*ticks {
		select {
		case <-events:
		case <-deadline:
			t.Fatalf("lock attempts after 30 s: %d and %d", reps[0].hook.attempts.Load(), reps[1].hook.attempts.Load())
		}
	}
	for _, r := range reps {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := r.sch.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		cancel()
	}
	var attempts, wins, maxAttempts int64
	for i, r := range reps {
		a, w := r.hook.attempts.Load(), r.hook.wins.Load()
		h := r.sch.Handler()
		ok := metric(t, h, `entrakit_daemon_job_runs_total{job="directory-sync",result="success"}`)
		failed := metric(t, h, `entrakit_daemon_job_runs_total{job="directory-sync",result="failure"}`)
		t.Logf("replica %d: %d lock attempts, %d won, %d skipped; runs: %v ok, %v failed", i, a, w, a-w, ok, failed)
		// Every run held the lock, and every lock won led to a run.
		if int64(ok+failed) != w {
			t.Errorf("replica %d ran %v times but won the lock %d times", i, ok+failed, w)
		}
		attempts, wins, maxAttempts = attempts+a, wins+w, max(maxAttempts, a)
	}
	// One run per tick, never two: at most one winner per tick.
	if wins > maxAttempts {
		t.Errorf("%d runs over %d ticks: some tick ran on both replicas", wins, maxAttempts)
	}
	if wins < 2 {
		t.Errorf("%d runs over %d ticks: the lock was not released between ticks", wins, maxAttempts)
	}
	// The replica that did not run a tick tried and was turned away.
	if losses := attempts - wins; losses < wins-1 {
		t.Errorf("%d lock refusals for %d runs: the other replica should have been turned away at each tick", losses, wins)
	}
}

// TestSchedulerNeverOverlapsAJob: the first run outlasts the interval (each
// of its Graph requests is delayed); the tick that finds it running is
// skipped, so runs follow each other.
func TestSchedulerNeverOverlapsAJob(t *testing.T) {
	t.Parallel()
	srv := startTenant(t, 50)
	g, traffic := graphVia(t, srv, secretCredential(t, srv, nil, nil), 0)
	logs := newLogCapture()
	sch := &daemon.Scheduler{Config: mustConfig(t, `{"jobs":[{"name":"directory-sync","every":"1s","timeout":"30s"}]}`),
		Graph: g, DB: openSQLite(t), Logger: logs.logger()}
	// Users and groups pages of the first run: 700 ms each.
	srv.InjectFault(devtenant.Fault{Endpoint: "graph", Latency: 700 * time.Millisecond, Count: 2})
	if err := sch.Start(); err != nil {
		t.Fatal(err)
	}
	shutdownOnCleanup(t, sch)
	logs.wait(t, 2, 20*time.Second, "job done", "job failed")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sch.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	runs := logs.find("job done", "job failed")
	for i, r := range runs {
		t.Logf("run %d: %s, %v", i, r.msg, r.attrs["duration"])
		if r.msg != "job done" {
			t.Errorf("run %d failed: %v", i, r.attrs["err"])
		}
	}
	if d := runs[0].attrs["duration"].Duration(); d <= time.Second {
		t.Fatalf("the first run took %v, not longer than its 1 s interval: the test proves nothing", d)
	}
	for i := 1; i < len(runs); i++ {
		start := runs[i].at.Add(-runs[i].attrs["duration"].Duration())
		if start.Before(runs[i-1].at) {
			t.Errorf("run %d started %v before run %d ended", i, runs[i-1].at.Sub(start), i-1)
		}
	}
	if m := traffic.maxFlight.Load(); m != 1 {
		t.Errorf("%d Graph requests in flight at once: two runs overlapped", m)
	}
	if n := metric(t, sch.Handler(), `entrakit_daemon_job_runs_total{job="directory-sync",result="success"}`); int(n) != len(runs) {
		t.Errorf("metrics count %v runs, the log %d", n, len(runs))
	}
}

// TestRunOnceTimeout: a run that outlasts its timeout fails as a timeout,
// and what it committed leaves the database consistent.
func TestRunOnceTimeout(t *testing.T) {
	t.Parallel()
	srv := startTenant(t, 50)
	db := openSQLite(t)
	g := newGraph(t, srv, nil, nil)
	long := &daemon.Scheduler{Config: mustConfig(t, `{"jobs":[{"name":"directory-sync","every":"1h","timeout":"1m"}]}`),
		Graph: g, DB: db, Logger: discardLogger()}
	ctx := context.Background()
	if _, err := long.RunOnce(ctx, "directory-sync", nil); err != nil {
		t.Fatal(err)
	}
	sameUsers(t, directoryUsers(srv), dbUsers(t, db))

	for i, tc := range []struct {
		name   string
		faults []devtenant.Fault
	}{
		{"in the users page", []devtenant.Fault{{Endpoint: "graph", Latency: 10 * time.Second, Count: 1}}},
		// The users page goes through (a fault that does nothing), the
		// groups page hangs: users are committed, groups are not (unless the
		// machine is so slow that 200 ms end in the users page).
		{"in the groups page", []devtenant.Fault{{Endpoint: "graph", Count: 1}, {Endpoint: "graph", Latency: 10 * time.Second, Count: 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			users := srv.Users()
			if _, err := srv.AddUser(devtenant.User{UserPrincipalName: "timeout" + strconv.Itoa(i) + "@" + srv.Domain(),
				DisplayName: "Timeout " + strconv.Itoa(i), AccountEnabled: true}, "Unused-Pass-1"); err != nil {
				t.Fatal(err)
			}
			if err := srv.DeleteUser(users[len(users)-1-i].ID); err != nil {
				t.Fatal(err)
			}
			short := &daemon.Scheduler{Config: mustConfig(t, `{"jobs":[{"name":"directory-sync","every":"1h","timeout":"200ms"}]}`),
				Graph: g, DB: db, Logger: discardLogger()}
			for _, f := range tc.faults {
				srv.InjectFault(f)
			}
			_, err := short.RunOnce(ctx, "directory-sync", nil)
			srv.ClearFaults()
			var re *daemon.RunError
			if !errors.As(err, &re) || re.Job != "directory-sync" || re.Kind != daemon.ErrTimeout {
				t.Fatalf("err = %#v, want a *RunError of kind ErrTimeout", err)
			}
			if !errors.Is(err, daemon.ErrTimeout) || errors.Is(err, daemon.ErrCancelled) {
				t.Errorf("errors.Is: timeout %v, cancelled %v", errors.Is(err, daemon.ErrTimeout), errors.Is(err, daemon.ErrCancelled))
			}
			h := short.Handler()
			if n := metric(t, h, `entrakit_daemon_job_failures_total{job="directory-sync",kind="timeout"}`); n != 1 {
				t.Errorf("failures{kind=timeout} = %v, want 1", n)
			}
			if n := metric(t, h, `entrakit_daemon_job_runs_total{job="directory-sync",result="failure"}`); n != 1 {
				t.Errorf("runs{result=failure} = %v, want 1", n)
			}
			if _, err := long.RunOnce(ctx, "directory-sync", nil); err != nil {
				t.Fatal(err)
			}
			sameUsers(t, directoryUsers(srv), dbUsers(t, db))
		})
	}
}

// TestRunErrorKinds: failed runs are typed and counted by kind.
func TestRunErrorKinds(t *testing.T) {
	t.Parallel()
	srv := startTenant(t, 50)
	badSecret := appConfig(srv)
	badSecret.Credential.ClientSecret = "not-the-secret"
	ring, _ := tokencache.ParseKeyRing(tokencache.GenerateKey())
	badCred, err := daemon.NewCredential(badSecret, daemon.CredentialOptions{HTTPClient: srv.Client(),
		Cache: &tokencache.Cache{Store: tokencache.NewMemoryStore(tokencache.MemoryOptions{}), Keys: ring}})
	if err != nil {
		t.Fatal(err)
	}
	badGraph, _ := graphVia(t, srv, badCred, 0)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	closedDB := openSQLite(t)
	closedDB.Close()
	for _, tc := range []struct {
		name  string
		ctx   context.Context
		graph *graphapi.Client
		db    *daemon.DB
		fault *devtenant.Fault
		kind  error
		label string
	}{
		{name: "forbidden", fault: &devtenant.Fault{Endpoint: "graph", Status: http.StatusForbidden, Count: 1}, kind: daemon.ErrForbidden, label: "forbidden"},
		{name: "auth", graph: badGraph, kind: daemon.ErrAuth, label: "auth"},
		{name: "cancelled", ctx: cancelled, kind: daemon.ErrCancelled, label: "cancelled"},
		{name: "database", db: closedDB, kind: daemon.ErrDatabase, label: "database"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sch := &daemon.Scheduler{Config: mustConfig(t, `{"jobs":[{"name":"directory-sync","every":"1h"}]}`),
				Graph: tc.graph, DB: tc.db, Logger: discardLogger()}
			if sch.Graph == nil {
				sch.Graph = newGraph(t, srv, nil, nil)
			}
			if sch.DB == nil {
				sch.DB = openSQLite(t)
			}
			ctx := tc.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			if tc.fault != nil {
				srv.InjectFault(*tc.fault)
				defer srv.ClearFaults()
			}
			_, err := sch.RunOnce(ctx, "directory-sync", nil)
			var re *daemon.RunError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want a *RunError", err)
			}
			if re.Kind != tc.kind || !errors.Is(err, tc.kind) {
				t.Errorf("kind %v, want %v (err: %v)", re.Kind, tc.kind, err)
			}
			if n := metric(t, sch.Handler(), `entrakit_daemon_job_failures_total{job="directory-sync",kind="`+tc.label+`"}`); n != 1 {
				t.Errorf("failures{kind=%s} = %v, want 1", tc.label, n)
			}
		})
	}
	t.Run("unknown job", func(t *testing.T) {
		sch := &daemon.Scheduler{Config: mustConfig(t, `{"jobs":[]}`), Graph: newGraph(t, srv, nil, nil), DB: openSQLite(t), Logger: discardLogger()}
		if _, err := sch.RunOnce(context.Background(), "nightly", nil); !errors.Is(err, daemon.ErrUnknownJob) {
			t.Errorf("err = %v, want ErrUnknownJob", err)
		}
	})
}

// TestThrottlingSlowsInsteadOfFailing: 429s with Retry-After are waited
// out, by kiota's retries or, past them, by the scheduler.
func TestThrottlingSlowsInsteadOfFailing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		maxRetries  int // graphapi.Options.MaxRetries
		count       int // 429s in a row
		schedWaits  float64
		wantThrottl int64
	}{
		{"kiota retries absorb it", 0, 2, 0, 2},
		{"the scheduler waits it out", -1, 1, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := startTenant(t, 50)
			db := openSQLite(t)
			g, traffic := graphVia(t, srv, secretCredential(t, srv, nil, nil), tc.maxRetries)
			sch := &daemon.Scheduler{Config: mustConfig(t, `{"jobs":[{"name":"directory-sync","every":"15m","timeout":"1m"}]}`),
				Graph: g, DB: db, Logger: discardLogger()}
			srv.InjectFault(devtenant.Fault{Endpoint: "graph", Status: http.StatusTooManyRequests, RetryAfter: time.Second, Count: tc.count})
			res, err := sch.RunOnce(context.Background(), "directory-sync", nil)
			if err != nil {
				t.Fatalf("throttled run failed: %v", err)
			}
			if got := traffic.throttled.Load(); got != tc.wantThrottl {
				t.Errorf("%d responses were 429, want %d", got, tc.wantThrottl)
			}
			if res.Items < len(srv.Users()) {
				t.Errorf("run applied %d changes", res.Items)
			}
			sameUsers(t, directoryUsers(srv), dbUsers(t, db))
			h := sch.Handler()
			if n := metric(t, h, `entrakit_daemon_throttle_waits_total{job="directory-sync"}`); n != tc.schedWaits {
				t.Errorf("throttle waits %v, want %v", n, tc.schedWaits)
			}
			if n := metric(t, h, `entrakit_daemon_job_runs_total{job="directory-sync",result="success"}`); n != 1 {
				t.Errorf("runs{success} = %v", n)
			}
		})
	}
}

// TestShutdownStopsTheRunningJob: Shutdown cancels a run in the middle and
// returns once it has stopped; what it committed is kept, and the next run
// continues from there.
func TestShutdownStopsTheRunningJob(t *testing.T) {
	t.Parallel()
	srv := startTenant(t, 50)
	db := openSQLite(t)
	g, traffic := graphVia(t, srv, secretCredential(t, srv, nil, nil), 0)
	logs := newLogCapture()
	sch := &daemon.Scheduler{Config: mustConfig(t, `{"jobs":[{"name":"directory-sync","every":"1s","timeout":"1m"}]}`),
		Graph: g, DB: db, Logger: logs.logger()}
	// The users page goes through; the groups page hangs.
	srv.InjectFault(devtenant.Fault{Endpoint: "graph", Count: 1})
	srv.InjectFault(devtenant.Fault{Endpoint: "graph", Latency: time.Minute})
	if err := sch.Start(); err != nil {
		t.Fatal(err)
	}
	shutdownOnCleanup(t, sch)
	deadline := time.After(20 * time.Second)
	for n := int64(0); n < 2; {
		select {
		case n = <-traffic.started:
		case <-deadline:
			t.Fatal("the groups page was never requested")
		}
	}
	if runs := logs.find("job done", "job failed"); len(runs) != 0 {
		t.Fatalf("the run ended before Shutdown: %v", runs[0].attrs["err"])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sch.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	// The run ended (and said so) before Shutdown returned.
	runs := logs.find("job done", "job failed")
	if len(runs) != 1 || runs[0].msg != "job failed" || runs[0].attrs["kind"].String() != "cancelled" {
		t.Fatalf("after Shutdown the log has %d runs: %+v", len(runs), runs)
	}
	if n := metric(t, sch.Handler(), `entrakit_daemon_job_failures_total{job="directory-sync",kind="cancelled"}`); n != 1 {
		t.Errorf("failures{kind=cancelled} = %v", n)
	}
	// The users stream was committed with its delta link; groups were not.
	var link string
	var complete int
	if err := db.QueryRow(`SELECT link, round_complete FROM sync_cursors WHERE stream = 'users'`).Scan(&link, &complete); err != nil || complete != 1 || link == "" {
		t.Errorf("users cursor: %q complete=%d, %v", link, complete, err)
	}
	var groupCursors int
	db.QueryRow(`SELECT COUNT(*) FROM sync_cursors WHERE stream = 'groups'`).Scan(&groupCursors)
	if groupCursors != 0 {
		t.Errorf("a groups cursor was committed by the cancelled page")
	}
	sameUsers(t, directoryUsers(srv), dbUsers(t, db))

	srv.ClearFaults()
	if _, err := srv.AddUser(devtenant.User{UserPrincipalName: "after.shutdown@" + srv.Domain(), DisplayName: "After Shutdown", AccountEnabled: true}, "Unused-Pass-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := sch.RunOnce(context.Background(), "directory-sync", nil); err != nil {
		t.Fatal(err)
	}
	sameUsers(t, directoryUsers(srv), dbUsers(t, db))
	var groups int
	db.QueryRow(`SELECT COUNT(*) FROM directory_groups`).Scan(&groups)
	if groups != len(srv.Groups()) {
		t.Errorf("%d groups synced, the directory has %d", groups, len(srv.Groups()))
	}
}

// TestHealthzAndMetrics serves the ops listener.
func TestHealthzAndMetrics(t *testing.T) {
	t.Parallel()
	srv := startTenant(t, 50)
	stats := &daemon.TokenStats{}
	db := openSQLite(t)
	sch := &daemon.Scheduler{Config: mustConfig(t, daemon.DefaultConfig), Graph: newGraph(t, srv, nil, stats), DB: db,
		Logger: discardLogger(), Tokens: stats}
	ops := httptest.NewServer(sch.Handler())
	defer ops.Close()
	get := func(path string) (int, string) {
		resp, err := ops.Client().Get(ops.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if _, err := sch.RunOnce(context.Background(), "directory-sync", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := sch.RunOnce(context.Background(), "directory-sync", nil); err != nil {
		t.Fatal(err)
	}
	code, body := get("/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		`entrakit_daemon_job_runs_total{job="directory-sync",result="success"} 2`,
		`entrakit_daemon_job_duration_seconds_count{job="directory-sync"} 2`,
		`entrakit_daemon_job_items_total{job="directory-sync"} `,
		`entrakit_daemon_job_last_success_timestamp_seconds{job="directory-sync"} `,
		`entrakit_daemon_token_requests_total `,
		`entrakit_daemon_token_cache_hits_total `,
		`entrakit_daemon_token_endpoint_requests_total 1`,
		`go_goroutines `,
	} {
		if !strings.Contains(body, "\n"+want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	h := sch.Handler()
	if calls, hits := metric(t, h, "entrakit_daemon_token_requests_total"), metric(t, h, "entrakit_daemon_token_cache_hits_total"); calls < 2 || hits != calls-1 {
		t.Errorf("token requests %v, cache hits %v: want all but the first from the cache", calls, hits)
	}
	if ts := metric(t, h, `entrakit_daemon_job_last_success_timestamp_seconds{job="directory-sync"}`); ts <= 0 {
		t.Errorf("last success %v", ts)
	}
	if items := metric(t, h, `entrakit_daemon_job_items_total{job="directory-sync"}`); items < float64(len(srv.Users())) {
		t.Errorf("items %v for %d users", items, len(srv.Users()))
	}
	if code, _ := get("/nothing"); code != http.StatusNotFound {
		t.Errorf("/nothing: %d", code)
	}
	db.Close()
	if code, body := get("/healthz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "database") {
		t.Errorf("/healthz with the database closed: %d %q", code, body)
	}
}
