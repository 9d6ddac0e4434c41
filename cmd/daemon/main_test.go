package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/entrakit/entrakit/daemon"
	"github.com/entrakit/entrakit/internal/devmode"
	"github.com/entrakit/entrakit/internal/testlog"
)

// env is a lookup over a map (the process environment is not read).
func env(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// devEnv is dev mode (no production setting) with the dev tenant on a free
// port; its state, database included, goes under .entrakit/devtenant in the
// working directory (the tests chdir to a temporary one).
func devEnv(kv ...string) func(string) (string, bool) {
	return env(append([]string{"ENTRAKIT_DEV_TENANT_LISTEN", "127.0.0.1:0"}, kv...)...)
}

// logs captures the command's log lines.
// (The scheduler logs from several goroutines: a testlog.Buffer.)
func logs() (*slog.Logger, *testlog.Buffer) {
	b := new(testlog.Buffer)
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// prodEnv is a production configuration (a real tenant's settings; list
// reaches no tenant).
func prodEnv() func(string) (string, bool) {
	return env("AZURE_TENANT_ID", "9b1c2d3e-4f50-4a6b-8c7d-0e1f2a3b4c5d", "AZURE_CLIENT_ID", "5c3a1e7b-2d4f-4e6a-9b8c-1d2e3f4a5b6c",
		"AZURE_CLIENT_SECRET", "s", "ENTRAKIT_TOKEN_CACHE_KEYS", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
}

// Dev mode lists every job, the group snapshot of the dev tenant's demo
// group included; production, with no job file, daemon.DefaultConfig's.
func TestListDefaultJobs(t *testing.T) {
	devCfg, err := devJobs()
	if err != nil {
		t.Fatal(err)
	}
	prodCfg, err := daemon.ParseConfig([]byte(daemon.DefaultConfig))
	if err != nil {
		t.Fatal(err)
	}
	if len(devCfg.Jobs) != 3 || devCfg.Jobs[2].Name != "group-snapshot" || !strings.Contains(string(devCfg.Jobs[2].Settings), devmode.DaemonDemoGroupID()) ||
		!strings.Contains(string(devCfg.Jobs[1].Settings), `".entrakit/devtenant/reports"`) {
		t.Fatalf("dev jobs: %+v", devCfg.Jobs)
	}
	for name, tc := range map[string]struct {
		lookup func(string) (string, bool)
		cfg    *daemon.FileConfig
	}{"dev mode": {env(), devCfg}, "production": {prodEnv(), prodCfg}} {
		t.Run(name, func(t *testing.T) { listDefaultJobs(t, tc.lookup, tc.cfg) })
	}
}

func listDefaultJobs(t *testing.T, lookup func(string) (string, bool), cfg *daemon.FileConfig) {
	t.Chdir(t.TempDir())
	var out bytes.Buffer
	logger, _ := logs()
	before := time.Now()
	if err := run(context.Background(), []string{"list"}, lookup, &out, logger); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(cfg.Jobs) {
		t.Fatalf("list printed %d lines for %d default jobs:\n%s", len(lines), len(cfg.Jobs), out.String())
	}
	next := regexp.MustCompile(`next (\S+)$`)
	for i, jc := range cfg.Jobs {
		line := lines[i]
		if !strings.HasPrefix(line, jc.Name+" ") {
			t.Errorf("line %d %q: want job %s", i, line, jc.Name)
		}
		m := next.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("line %q has no next run time", line)
			continue
		}
		at, err := time.Parse(time.RFC3339, m[1])
		if err != nil {
			t.Errorf("line %q: next run %q: %v", line, m[1], err)
			continue
		}
		// RFC3339 drops the fraction: compare to the second.
		if at.Before(before.Truncate(time.Second)) || at.After(before.Add(25*time.Hour)) {
			t.Errorf("line %q: next run %v is not within a day from now", line, at)
		}
		if jc.Every != "" && !strings.Contains(line, "every "+jc.Every) {
			t.Errorf("line %q does not show the interval %s", line, jc.Every)
		}
		if jc.Cron != "" && !strings.Contains(line, `cron "`+jc.Cron+`"`) {
			t.Errorf("line %q does not show the cron %s", line, jc.Cron)
		}
	}
	if _, err := os.Stat(".entrakit"); err == nil {
		t.Errorf("list created .entrakit: it should not start the dev tenant or open the database")
	}
}

func TestListJobFile(t *testing.T) {
	t.Chdir(t.TempDir())
	path := writeFile(t, "jobs.json", `{"jobs": [
		{"name": "group-snapshot", "every": "1h", "settings": {"groups": ["6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f"]}},
		{"name": "directory-sync", "cron": "*/5 * * * *", "timeout": "2m"},
		{"name": "expiring-credentials", "every": "24h"}
	]}`)
	for _, args := range []struct {
		args   []string
		lookup func(string) (string, bool)
	}{
		{[]string{"-config", path, "list"}, env()},
		{[]string{"list"}, env("ENTRAKIT_DAEMON_CONFIG", path)},
	} {
		var out bytes.Buffer
		logger, _ := logs()
		if err := run(context.Background(), args.args, args.lookup, &out, logger); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 3 {
			t.Fatalf("%v: %d lines:\n%s", args.args, len(lines), out.String())
		}
		for i, want := range []string{"group-snapshot", "directory-sync", "expiring-credentials"} {
			if !strings.HasPrefix(lines[i], want+" ") || !strings.Contains(lines[i], " next ") {
				t.Errorf("%v: line %d %q: want %s with its next run", args.args, i, lines[i], want)
			}
		}
		if !strings.Contains(lines[1], "timeout 2m0s") {
			t.Errorf("line %q does not show the timeout", lines[1])
		}
	}
}

func TestBadJobFile(t *testing.T) {
	t.Chdir(t.TempDir())
	path := writeFile(t, "jobs.json", `{"jobs": [
		{"name": "tidy-up", "every": "15m"},
		{"name": "directory-sync", "every": "soon"}
	]}`)
	var out bytes.Buffer
	logger, _ := logs()
	err := run(context.Background(), []string{"-config", path, "list"}, env(), &out, logger)
	if err == nil {
		t.Fatal("a bad job file was accepted")
	}
	for _, want := range []string{"jobs[0].name", `"tidy-up"`, "jobs[1].every", `"soon"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
	if !errors.Is(err, daemon.ErrInvalidConfig) {
		t.Errorf("error is not ErrInvalidConfig: %v", err)
	}
	if out.Len() != 0 {
		t.Errorf("printed %q", out.String())
	}
	// A missing file names itself.
	missing := filepath.Join(t.TempDir(), "absent.json")
	err = run(context.Background(), []string{"list"}, env("ENTRAKIT_DAEMON_CONFIG", missing), &out, logger)
	if err == nil || !strings.Contains(err.Error(), "absent.json") {
		t.Errorf("missing job file: %v", err)
	}
}

func TestBadEnvironment(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, tc := range []struct {
		env  []string
		want []string
	}{
		{[]string{"ENTRAKIT_DATABASE_URL", "mysql://x"}, []string{"ENTRAKIT_DATABASE_URL"}},
		{[]string{"ENTRAKIT_DATABASE_URL", "mysql://x", "ENTRAKIT_DEV_TENANT", "maybe"}, []string{"ENTRAKIT_DATABASE_URL", "ENTRAKIT_DEV_TENANT"}},
		{[]string{"ENTRAKIT_REDIS_URL", "http://redis"}, []string{"ENTRAKIT_REDIS_URL"}},
	} {
		for _, args := range [][]string{{"list"}, {"run", "directory-sync"}, {}} {
			var out bytes.Buffer
			logger, _ := logs()
			err := run(context.Background(), args, env(tc.env...), &out, logger)
			if err == nil {
				t.Fatalf("%v %v: accepted", tc.env, args)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v %v: error does not name %s: %v", tc.env, args, w, err)
				}
			}
		}
	}
	if _, err := os.Stat(".entrakit"); err == nil {
		t.Errorf("a bad environment still created .entrakit")
	}
}

// A deployment whose AZURE_CLIENT_ID went missing must stop with an error
// naming it, and leave its configured database alone: dev mode would clear
// the sync cursors and sweep the real directory rows (issue 14, item 1).
func TestProductionSettingsNeverStartDevMode(t *testing.T) {
	t.Chdir(t.TempDir())
	prod := filepath.Join(t.TempDir(), "prod.db")
	db, err := daemon.OpenDB(context.Background(), "sqlite://"+prod)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO sync_cursors (stream, link, round_complete, updated_at) VALUES ('users', 'https://graph.microsoft.com/v1.0/users/delta()?$deltatoken=real', 1, '2026-12-01T00:00:00Z')`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, args := range [][]string{{"run", "directory-sync"}, {}} {
		var out bytes.Buffer
		logger, logBuf := logs()
		err := run(context.Background(), args, devEnv("ENTRAKIT_DATABASE_URL", "sqlite://"+prod, "AZURE_TENANT_ID", "9b1c2d3e-4f50-4a6b-8c7d-0e1f2a3b4c5d"), &out, logger)
		if err == nil || !strings.Contains(err.Error(), "AZURE_CLIENT_ID: required") || !strings.Contains(err.Error(), "ENTRAKIT_DATABASE_URL") {
			t.Fatalf("%v: %v, want a configuration error naming AZURE_CLIENT_ID and ENTRAKIT_DATABASE_URL", args, err)
		}
		if strings.Contains(logBuf.String(), "DEV MODE") {
			t.Fatalf("%v: dev mode started:\n%s", args, logBuf)
		}
	}
	db, err = daemon.OpenDB(context.Background(), "sqlite://"+prod)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM sync_cursors`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("the configured database's cursors: %d rows, %v; want the one it had", n, err)
	}
	if _, err := os.Stat(".entrakit"); err == nil {
		t.Errorf("dev state was created")
	}
}

func TestUsage(t *testing.T) {
	t.Chdir(t.TempDir())
	logger, _ := logs()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run"}, "usage: daemon run JOB"},
		{[]string{"run", "a", "b"}, "usage: daemon run JOB"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"-nope"}, "flag provided but not defined"},
	} {
		var out bytes.Buffer
		err := run(context.Background(), tc.args, env(), &out, logger)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

// TestRunJobsDevMode runs each job once in the foreground against the dev
// tenant, as `go run ./cmd/daemon run JOB` does with no configuration: the
// built-in dev jobs, state under .entrakit/devtenant.
func TestRunJobsDevMode(t *testing.T) {
	t.Chdir(t.TempDir())
	lookup := devEnv()
	ctx := context.Background()
	logger, logBuf := logs()
	runJob := func(job string) string {
		t.Helper()
		var out bytes.Buffer
		start := time.Now()
		if err := run(ctx, []string{"run", job}, lookup, &out, logger); err != nil {
			t.Fatalf("run %s: %v\nlogs:\n%s", job, err, logBuf)
		}
		t.Logf("run %s: %v:\n%s", job, time.Since(start), out.String())
		if strings.ContainsAny(out.String(), "\r\033") {
			t.Errorf("run %s: progress bar drawn on a non-terminal: %q", job, out.String())
		}
		if !regexp.MustCompile(`(?m)^app token: (acquired from the dev tenant \(1 token request\), kept in the encrypted token cache for the next runs|from the encrypted token cache, no token request); expires in \d+ min$`).MatchString(out.String()) {
			t.Errorf("run %s: no app token line:\n%s", job, out.String())
		}
		return out.String()
	}

	out := runJob("directory-sync")
	if !regexp.MustCompile(`(?m)^directory-sync done in \d+(\.\d)? m?s: \d+ user changes, \d+ group changes$`).MatchString(out) {
		t.Errorf("no summary line:\n%s", out)
	}
	if !regexp.MustCompile(`(?m)^  database: [1-9]\d* users, [1-9]\d* groups, [1-9]\d* group memberships; this round listed everything \(full round\)$`).MatchString(out) {
		t.Errorf("no database line:\n%s", out)
	}
	if !strings.Contains(logBuf.String(), "DEV MODE") {
		t.Errorf("dev mode not announced in the log:\n%s", logBuf)
	}
	if !strings.Contains(logBuf.String(), "job done") {
		t.Errorf("no job log line:\n%s", logBuf)
	}
	// Dev mode's own database holds the dev tenant's users.
	db, err := daemon.OpenDB(ctx, "sqlite://.entrakit/devtenant/daemon.db")
	if err != nil {
		t.Fatal(err)
	}
	var users int
	if err := db.QueryRow(`SELECT COUNT(*) FROM directory_users`).Scan(&users); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if users == 0 {
		t.Errorf("the sync stored no user")
	}

	// The credential report of dev mode has the dev tenant's secret that
	// expires in 14 days, and nothing of infra's manifest, whose dates are
	// further away.
	out = runJob("expiring-credentials")
	m := regexp.MustCompile(`(?m)^expiring-credentials done in .*: 1 credential expires within 30 days \(0 already expired\); report (\S+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no summary line:\n%s", out)
	}
	if want := fmt.Sprintf(`  entrakit daemon (application): client secret %q expires %s (in 14 days)`, devmode.ExpiringSecretName,
		time.Now().Add(devmode.ExpiringSecretLifetime).UTC().Format("2006-01-02")); !strings.Contains(out, want+"\n") {
		t.Errorf("the report does not list the expiring secret as\n%s\nin:\n%s", want, out)
	}
	reports := filepath.Join(".entrakit", "devtenant", "reports")
	runID := m[1]
	if !strings.Contains(out, "  report: "+filepath.Join(reports, runID)+".json and .csv\n") {
		t.Errorf("the report files are not named:\n%s", out)
	}
	js, err := os.ReadFile(filepath.Join(reports, runID+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var report struct {
		Run         string           `json:"run"`
		Credentials []map[string]any `json:"credentials"`
	}
	if err := json.Unmarshal(js, &report); err != nil {
		t.Fatalf("report JSON: %v", err)
	}
	if report.Run != runID || len(report.Credentials) != 1 || report.Credentials[0]["credentialName"] != devmode.ExpiringSecretName {
		t.Errorf("report %s: run %q, credentials %v", runID, report.Run, report.Credentials)
	}
	f, err := os.Open(filepath.Join(reports, runID+".csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	records, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("report CSV: %v", err)
	}
	if len(records) != len(report.Credentials)+1 || records[0][0] != "objectType" {
		t.Errorf("CSV has %d records for %d credentials; header %v", len(records), len(report.Credentials), records[0])
	}
	fi, err := os.Stat(filepath.Join(reports, runID+".csv"))
	if err == nil && fi.Mode().Perm() != 0o644 {
		t.Errorf("CSV mode %v", fi.Mode().Perm())
	}

	// The demo group's snapshot: its members, first, then no change.
	group := devmode.DaemonDemoGroupID()
	out = runJob("group-snapshot")
	if !regexp.MustCompile(`(?m)^group-snapshot done in .*: 1 group, [1-9]\d* members, 0 added and 0 removed since the last snapshot\n  group ` + group + `: [1-9]\d* members \(first snapshot\)$`).MatchString(out) {
		t.Errorf("first snapshot:\n%s", out)
	}
	out = runJob("group-snapshot")
	if !strings.Contains(out, "  group "+group+": ") || !strings.Contains(out, " members (0 added and 0 removed since the last snapshot)\n") {
		t.Errorf("second snapshot:\n%s", out)
	}
}

// TestRunDirectorySyncTwiceDevMode runs `daemon run directory-sync` twice
// over one database, as a developer does (or as the scheduler does after a
// restart): the second run must work, incrementally or not.
func TestRunDirectorySyncTwiceDevMode(t *testing.T) {
	t.Chdir(t.TempDir())
	lookup := devEnv()
	logger, logBuf := logs()
	for i := range 2 {
		var out bytes.Buffer
		if err := run(context.Background(), []string{"run", "directory-sync"}, lookup, &out, logger); err != nil {
			t.Fatalf("run %d of directory-sync over the same database: %v\nlogs:\n%s", i+1, err, logBuf)
		}
		t.Logf("run %d: %s", i+1, strings.TrimSpace(out.String()))
	}
}

func TestRunUnknownJob(t *testing.T) {
	t.Chdir(t.TempDir())
	var out bytes.Buffer
	logger, _ := logs()
	err := run(context.Background(), []string{"run", "nope"}, devEnv(), &out, logger)
	if err == nil {
		t.Fatal("run nope succeeded")
	}
	if !errors.Is(err, daemon.ErrUnknownJob) || !strings.Contains(err.Error(), "unknown job") || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("run nope: %v", err)
	}
}

// A plaintext remote Redis or an unverified remote PostgreSQL is accepted
// but said at start (issue 14, item 8).
func TestInsecureStoresWarned(t *testing.T) {
	t.Chdir(t.TempDir())
	logger, logBuf := logs()
	var out bytes.Buffer
	_ = run(context.Background(), []string{"list"}, env("AZURE_TENANT_ID", "9b1c2d3e-4f50-4a6b-8c7d-0e1f2a3b4c5d",
		"AZURE_CLIENT_ID", "5c3a1e7b-2d4f-4e6a-9b8c-1d2e3f4a5b6c", "AZURE_CLIENT_SECRET", "s",
		"ENTRAKIT_TOKEN_CACHE_KEYS", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		"ENTRAKIT_REDIS_URL", "redis://cache.internal:6379/0",
		"ENTRAKIT_DATABASE_URL", "postgres://daemon:hunter2@db.internal:5432/x?sslmode=disable"), &out, logger)
	for _, want := range []string{"ENTRAKIT_REDIS_URL: plaintext redis://", "ENTRAKIT_DATABASE_URL: sslmode disable"} {
		if !strings.Contains(logBuf.String(), want) {
			t.Errorf("no warning %q in:\n%s", want, logBuf)
		}
	}
	if strings.Contains(logBuf.String(), "hunter2") {
		t.Errorf("the log quotes the database password")
	}
}

// freeAddr is a loopback address free a moment ago, for two runs that must
// listen on the same one.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// In dev mode the app token outlives the process: the second run takes it
// from the encrypted token cache, sends the dev tenant no token request
// (its request log, at debug level in the daemon's log, says so), and tells
// the person. A new signing key drops the cache instead of failing on it.
func TestSecondRunReusesCachedToken(t *testing.T) {
	t.Chdir(t.TempDir())
	// One authority for every run: MSAL keys its cache by host and port.
	lookup := env("ENTRAKIT_DEV_TENANT_LISTEN", freeAddr(t))
	requests := func(logs, path string) int {
		return len(regexp.MustCompile(`(?m)^.*level=DEBUG msg=request component=devtenant method=\S+ path=`+path+` status=200`).FindAllString(logs, -1))
	}
	for i, tc := range []struct {
		before        func()
		tokenRequests int
		want          string
	}{
		{nil, 1, "app token: acquired from the dev tenant (1 token request), kept in the encrypted token cache for the next runs; expires in "},
		{nil, 0, "app token: from the encrypted token cache, no token request; expires in "},
		{func() { os.Remove(filepath.Join(".entrakit", "devtenant", devSigningKeyFile)) }, 1, "app token: acquired from the dev tenant (1 token request)"},
		{nil, 0, "app token: from the encrypted token cache, no token request; expires in "},
	} {
		if tc.before != nil {
			tc.before()
		}
		logger, logBuf := logs()
		var out bytes.Buffer
		if err := run(context.Background(), []string{"run", "group-snapshot"}, lookup, &out, logger); err != nil {
			t.Fatalf("run %d: %v\nlogs:\n%s", i+1, err, logBuf)
		}
		t.Logf("run %d:\n%s", i+1, out.String())
		if got := requests(logBuf.String(), `/\S+/oauth2/v2.0/token`); got != tc.tokenRequests {
			t.Errorf("run %d: %d token requests in the dev tenant's log, want %d", i+1, got, tc.tokenRequests)
		}
		if requests(logBuf.String(), `/v1.0/groups/\S+`) == 0 {
			t.Errorf("run %d: no Graph request in the dev tenant's log: the count above proves nothing\n%s", i+1, logBuf)
		}
		if !strings.Contains(out.String(), tc.want) {
			t.Errorf("run %d: no %q in:\n%s", i+1, tc.want, out.String())
		}
	}
	for _, name := range []string{devSigningKeyFile, devCacheKeyFile} {
		fi, err := os.Stat(filepath.Join(".entrakit", "devtenant", name))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, want mode 0600", name, err)
		}
	}
}
