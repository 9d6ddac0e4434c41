package daemon

import (
	"context"
	"errors"
	"fmt"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/entrakit/entrakit/graphapi"
	"github.com/go-co-op/gocron/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/robfig/cron/v3"
)

// Scheduler runs the configured jobs on their schedules with gocron: one
// run of a job at a time (a tick that finds the previous run still going is
// skipped), each run bounded by its timeout, and — with a Locker — one
// replica per tick.
type Scheduler struct {
	Config *FileConfig
	Graph  *graphapi.Client
	// Credential is the app's credential, handed to jobs (RunEnv.Credential).
	Credential azcore.TokenCredential
	DB         *DB
	// Locker, when several replicas run (RedisLocker); nil for one.
	Locker gocron.Locker
	Logger *slog.Logger
	// Tokens are the credential's counters, exported as metrics.
	Tokens *TokenStats

	once    sync.Once
	metrics *metrics
	sched   gocron.Scheduler
	jobs    map[string]Job
}

func (s *Scheduler) init() {
	s.once.Do(func() {
		if s.Logger == nil {
			s.Logger = slog.Default()
		}
		if s.Tokens == nil {
			s.Tokens = &TokenStats{}
		}
		s.metrics = newMetrics(s.Tokens)
		s.jobs = map[string]Job{}
	})
}

// Jobs lists the configured jobs with their schedules.
func (s *Scheduler) Jobs() []JobConfig { return s.Config.Jobs }

// Start schedules every job and returns; Shutdown stops them.
func (s *Scheduler) Start() error {
	s.init()
	opts := []gocron.SchedulerOption{gocron.WithStopTimeout(time.Minute), gocron.WithLogger(gocronLogger{s.Logger})}
	if s.Locker != nil {
		if rl, ok := s.Locker.(*RedisLocker); ok && rl.Hold == nil {
			rl.Hold = s.hold
		}
		opts = append(opts, gocron.WithDistributedLocker(s.Locker))
	}
	sched, err := gocron.NewScheduler(opts...)
	if err != nil {
		return err
	}
	for _, jc := range s.Config.Jobs {
		job, err := NewJob(jc)
		if err != nil {
			return err
		}
		s.jobs[jc.Name] = job
		var def gocron.JobDefinition
		var extra []gocron.JobOption
		if iv := jc.Interval(); iv > 0 {
			def = gocron.DurationJob(iv)
			// Ticks on multiples of the interval (wall clock), so that the
			// replicas' ticks coincide and the lock decides between them.
			extra = append(extra, gocron.WithStartAt(gocron.WithStartDateTime(time.Now().Truncate(iv).Add(iv))))
		} else {
			def = gocron.CronJob(jc.Cron, false)
		}
		jc := jc
		opts := append([]gocron.JobOption{
			gocron.WithName(jc.Name),
			// Overlapping runs of one job are never allowed: a tick that
			// finds the last run going is dropped.
			gocron.WithSingletonMode(gocron.LimitModeReschedule),
		}, extra...)
		_, err = sched.NewJob(def,
			gocron.NewTask(func(ctx context.Context) { _, _ = s.run(ctx, jc, job, nil) }),
			opts...)
		if err != nil {
			return fmt.Errorf("daemon: scheduling %s: %w", jc.Name, err)
		}
	}
	s.sched = sched
	sched.Start()
	return nil
}

// hold: a job's lock lives at least half its interval from the tick (30 s
// for cron jobs, whose ticks are a minute apart at least: replicas' clocks
// must agree within that) and at most its timeout plus a minute. Interval
// ticks are aligned to the wall clock, so replicas tick together.
func (s *Scheduler) hold(job string) (time.Duration, time.Duration) {
	for _, jc := range s.Config.Jobs {
		if jc.Name == job {
			minHold := jc.Interval() / 2
			if minHold == 0 {
				minHold = 30 * time.Second
			}
			return minHold, max(jc.TimeoutDuration()+time.Minute, minHold)
		}
	}
	return 30 * time.Second, 31 * time.Minute
}

// Shutdown cancels running jobs (each checkpoints: its committed work
// stays) and waits for them, up to ctx.
func (s *Scheduler) Shutdown(ctx context.Context) error {
	if s.sched == nil {
		return nil
	}
	return s.sched.ShutdownWithContext(ctx)
}

// RunOnce runs the named job now, in the foreground, with progress. A
// directory sync's result says in its Details what the database holds.
func (s *Scheduler) RunOnce(ctx context.Context, name string, progress func(done int)) (Result, error) {
	res, err := s.runOnce(ctx, name, progress)
	if err == nil && name == "directory-sync" && len(res.Details) == 0 {
		// For the person who asked; the run itself succeeded either way.
		if details, derr := syncDetails(ctx, s.DB); derr == nil {
			res.Details = details
		}
	}
	return res, err
}

func (s *Scheduler) runOnce(ctx context.Context, name string, progress func(done int)) (Result, error) {
	s.init()
	for _, jc := range s.Config.Jobs {
		if jc.Name != name {
			continue
		}
		job, err := NewJob(jc)
		if err != nil {
			return Result{}, err
		}
		return s.run(ctx, jc, job, progress)
	}
	if _, ok := knownJobs[name]; ok {
		// Known but not scheduled in the file: run it with defaults.
		jc := JobConfig{Name: name}
		job, err := NewJob(jc)
		if err != nil {
			return Result{}, err
		}
		return s.run(ctx, jc, job, progress)
	}
	return Result{}, fmt.Errorf("%w: %q", ErrUnknownJob, name)
}

// maxThrottleWaits bounds the run-level waits for Graph throttling (see
// run); minThrottleWait is the least of them, for a 429 without Retry-After.
const (
	maxThrottleWaits = 5
	minThrottleWait  = 5 * time.Second
)

// run does one run: timeout, throttling waits, metrics, one log line.
//
// Retries of the daemon's Graph calls have two stages that never repeat
// each other's work. Per request, graphapi's kiota retry handler resends a
// 429, 503 or 504 while the waits, Retry-After honoured, fit its budget
// (cmd/daemon: 10 retries within 60 s). Per run, a 429 that is still
// answered after that budget, or whose Retry-After is beyond it, is a
// *graphapi.ThrottledError: the run waits Retry-After (at least 5 s) and
// the job continues from its last checkpoint, at most maxThrottleWaits
// times, within the job's timeout. Anything else fails the run; the next
// tick is the retry.
func (s *Scheduler) run(ctx context.Context, jc JobConfig, job Job, progress func(int)) (Result, error) {
	start := time.Now()
	timeout := jc.TimeoutDuration()
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, ErrTimeout)
	defer cancel()
	env := &RunEnv{Graph: s.Graph, Credential: s.Credential, DB: s.DB, Log: s.Logger.With("job", jc.Name), Progress: progress}
	var res Result
	var err error
	for attempt := 0; ; attempt++ {
		res, err = job.Run(ctx, env)
		var thr *graphapi.ThrottledError
		if err == nil || !errors.As(err, &thr) || attempt >= maxThrottleWaits {
			break
		}
		// Still throttled after graphapi's own retries: slow down and
		// continue from the last checkpoint rather than fail the run.
		wait := max(thr.RetryAfter, minThrottleWait)
		env.Log.Warn("throttled by Graph; waiting", "retry_after", wait, "attempt", attempt+1)
		s.metrics.throttleWaits.WithLabelValues(jc.Name).Inc()
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			err = ctx.Err()
			break
		}
	}
	d := time.Since(start)
	s.metrics.duration.WithLabelValues(jc.Name).Observe(d.Seconds())
	s.metrics.items.WithLabelValues(jc.Name).Add(float64(res.Items))
	if err != nil {
		err = classify(ctx, jc.Name, err)
		kind := kindLabel(err)
		s.metrics.runs.WithLabelValues(jc.Name, "failure").Inc()
		s.metrics.failures.WithLabelValues(jc.Name, kind).Inc()
		env.Log.Error("job failed", "kind", kind, "items", res.Items, "duration", d, "err", err)
		return res, err
	}
	s.metrics.runs.WithLabelValues(jc.Name, "success").Inc()
	s.metrics.lastSuccess.WithLabelValues(jc.Name).Set(float64(time.Now().Unix()))
	env.Log.Info("job done", "items", res.Items, "duration", d, "summary", res.Summary)
	return res, nil
}

// classify wraps err in a *RunError with its kind.
func classify(ctx context.Context, job string, err error) error {
	var kind error
	var thr *graphapi.ThrottledError
	switch {
	case errors.Is(context.Cause(ctx), ErrTimeout):
		kind = ErrTimeout
	case errors.Is(err, context.Canceled) || ctx.Err() != nil:
		kind = ErrCancelled
	case errors.As(err, &thr):
		kind = ErrThrottled
	case errors.Is(err, ErrAuth):
		kind = ErrAuth
	case errors.Is(err, graphapi.ErrForbidden):
		kind = ErrForbidden
	case errors.Is(err, ErrDatabase):
		kind = ErrDatabase
	}
	return &RunError{Job: job, Kind: kind, Err: err}
}

// Handler serves /healthz and /metrics.
func (s *Scheduler) Handler() http.Handler {
	s.init()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := s.DB.PingContext(ctx); err != nil {
			http.Error(w, "database: unavailable", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	return mux
}

// NextRuns describes when each job runs next (for `daemon list`).
func NextRuns(c *FileConfig, now time.Time) []string {
	var out []string
	for _, j := range c.Jobs {
		sched := "every " + j.Every
		// Interval jobs tick on multiples of their interval (Start).
		next := now.Truncate(j.Interval()).Add(j.Interval())
		if j.Cron != "" {
			sched = "cron " + strconv.Quote(j.Cron)
			if cs, err := cron.ParseStandard(j.Cron); err == nil {
				next = cs.Next(now)
			}
		}
		out = append(out, fmt.Sprintf("%-22s %-24s timeout %-6s next %s", j.Name, sched, j.TimeoutDuration(), next.Format(time.RFC3339)))
	}
	return out
}

type metrics struct {
	reg           *prometheus.Registry
	runs          *prometheus.CounterVec
	failures      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	items         *prometheus.CounterVec
	lastSuccess   *prometheus.GaugeVec
	throttleWaits *prometheus.CounterVec
}

func newMetrics(t *TokenStats) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "entrakit_daemon_job_runs_total",
			Help: "Job runs by result (success, failure)."}, []string{"job", "result"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "entrakit_daemon_job_failures_total",
			Help: "Failed runs by kind: timeout, cancelled, throttled, forbidden, auth, database, other."}, []string{"job", "kind"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "entrakit_daemon_job_duration_seconds",
			Help: "Run durations.", Buckets: prometheus.ExponentialBuckets(0.05, 2, 16)}, []string{"job"}),
		items: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "entrakit_daemon_job_items_total",
			Help: "Items processed (changes applied, credentials reported, members read)."}, []string{"job"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "entrakit_daemon_job_last_success_timestamp_seconds",
			Help: "Unix time of each job's last successful run."}, []string{"job"}),
		throttleWaits: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "entrakit_daemon_throttle_waits_total",
			Help: "Times a run waited out Graph throttling."}, []string{"job"}),
	}
	counter := func(name, help string, f func() int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f()) })
	}
	m.reg.MustRegister(m.runs, m.failures, m.duration, m.items, m.lastSuccess, m.throttleWaits,
		counter("entrakit_daemon_token_requests_total", "App token requests (GetToken calls).", t.Calls.Load),
		counter("entrakit_daemon_token_cache_hits_total", "App token requests served from a cache.", t.CacheHits.Load),
		counter("entrakit_daemon_token_endpoint_requests_total", "HTTP requests to a token endpoint.", t.EndpointCalls.Load),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// gocronLogger routes gocron's logs to slog.
type gocronLogger struct{ l *slog.Logger }

func (g gocronLogger) Debug(msg string, args ...any) { g.l.Debug("gocron: "+msg, args...) }
func (g gocronLogger) Error(msg string, args ...any) { g.l.Error("gocron: "+msg, args...) }
func (g gocronLogger) Info(msg string, args ...any)  { g.l.Debug("gocron: "+msg, args...) }
func (g gocronLogger) Warn(msg string, args ...any)  { g.l.Warn("gocron: "+msg, args...) }
