package daemon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/entrakit/entrakit/entra"
	"github.com/robfig/cron/v3"
)

// FileConfig is the daemon's job file (JSON):
//
//	{"jobs": [
//	  {"name": "directory-sync", "every": "15m", "timeout": "10m"},
//	  {"name": "expiring-credentials", "cron": "0 6 * * *", "settings": {"within_days": 30, "output_dir": "reports"}},
//	  {"name": "group-snapshot", "every": "1h", "settings": {"groups": ["<group id>"]}},
//	  {"name": "api-usage", "every": "1h", "settings": {"url": "https://app.example.com", "scope": "api://<web app id>/.default", "output_dir": "reports"}}
//	]}
type FileConfig struct {
	Jobs []JobConfig `json:"jobs"`
}

// JobConfig schedules one job: every (a Go duration) or cron (five
// fields), a timeout, and the job's own settings.
type JobConfig struct {
	Name     string          `json:"name"`
	Every    string          `json:"every,omitempty"`
	Cron     string          `json:"cron,omitempty"`
	Timeout  string          `json:"timeout,omitempty"`
	Settings json.RawMessage `json:"settings,omitempty"`

	every   time.Duration
	timeout time.Duration
}

// Interval is the parsed Every (0 for cron jobs).
func (j JobConfig) Interval() time.Duration { return j.every }

// TimeoutDuration is the parsed Timeout (default 30 minutes).
func (j JobConfig) TimeoutDuration() time.Duration {
	if j.timeout == 0 {
		return 30 * time.Minute
	}
	return j.timeout
}

// DefaultConfig is used when no file is given: a directory sync every 15
// minutes, the credential report daily at 06:00, no group snapshot (it
// needs group ids; cmd/daemon's dev mode adds one of a dev tenant group).
const DefaultConfig = `{"jobs": [
  {"name": "directory-sync", "every": "15m", "timeout": "10m", "settings": {"groups": true}},
  {"name": "expiring-credentials", "cron": "0 6 * * *", "timeout": "5m", "settings": {"within_days": 30, "output_dir": "reports"}}
]}`

// ErrInvalidConfig is matched by every error ParseConfig returns: an
// *entra.FieldError named by its JSON path ("jobs[1].every") for each
// problem, or the file's JSON error.
var ErrInvalidConfig = errors.New("daemon: invalid job file")

// LoadConfig reads a job file; path "" is DefaultConfig.
func LoadConfig(path string) (*FileConfig, error) {
	if path == "" {
		return ParseConfig([]byte(DefaultConfig))
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseConfig(b)
}

// knownJobs are the jobs this build has, with a check of their settings.
var knownJobs = map[string]func(json.RawMessage) error{
	"directory-sync":       func(r json.RawMessage) error { _, err := parseSyncSettings(r); return err },
	"expiring-credentials": func(r json.RawMessage) error { _, err := parseCredentialSettings(r); return err },
	"group-snapshot":       func(r json.RawMessage) error { _, err := parseSnapshotSettings(r); return err },
	"api-usage":            func(r json.RawMessage) error { _, err := parseAPIUsageSettings(r); return err },
}

// KnownJob reports whether this build has a job of that name.
func KnownJob(name string) bool { _, ok := knownJobs[name]; return ok }

// ParseConfig parses and checks a job file, reporting every problem at once.
func ParseConfig(b []byte) (*FileConfig, error) {
	var c FileConfig
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: unexpected data after the job file's JSON object", ErrInvalidConfig)
	}
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &entra.FieldError{Field: field, Msg: fmt.Sprintf(format, args...), Err: ErrInvalidConfig})
	}
	seen := map[string]bool{}
	for i := range c.Jobs {
		j := &c.Jobs[i]
		f := fmt.Sprintf("jobs[%d]", i)
		check, ok := knownJobs[j.Name]
		switch {
		case j.Name == "":
			bad(f+".name", "required")
		case !ok:
			bad(f+".name", "unknown job %q (known: directory-sync, expiring-credentials, group-snapshot, api-usage)", j.Name)
		case seen[j.Name]:
			bad(f+".name", "%q is declared twice", j.Name)
		}
		seen[j.Name] = true
		switch {
		case j.Every == "" && j.Cron == "":
			bad(f, "set every (e.g. \"15m\") or cron (e.g. \"0 6 * * *\")")
		case j.Every != "" && j.Cron != "":
			bad(f, "set every or cron, not both")
		case j.Every != "":
			d, err := time.ParseDuration(j.Every)
			if err != nil || d < time.Second {
				bad(f+".every", "want a duration of at least 1s, got %q", j.Every)
			}
			j.every = d
		default:
			if _, err := cron.ParseStandard(j.Cron); err != nil {
				bad(f+".cron", "%v", err)
			}
		}
		if j.Timeout != "" {
			d, err := time.ParseDuration(j.Timeout)
			if err != nil || d <= 0 {
				bad(f+".timeout", "want a positive duration, got %q", j.Timeout)
			}
			j.timeout = d
		}
		if ok {
			if err := check(j.Settings); err != nil {
				bad(f+".settings", "%s", strings.TrimPrefix(err.Error(), "json: "))
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &c, nil
}

// strictJSON decodes settings, refusing unknown fields; empty is {}.
func strictJSON(r json.RawMessage, v any) error {
	if len(bytes.TrimSpace(r)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(r))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

type syncSettings struct {
	Groups *bool `json:"groups"`
}

func parseSyncSettings(r json.RawMessage) (syncSettings, error) {
	var s syncSettings
	return s, strictJSON(r, &s)
}

type credentialSettings struct {
	WithinDays int    `json:"within_days"`
	OutputDir  string `json:"output_dir"`
}

func parseCredentialSettings(r json.RawMessage) (credentialSettings, error) {
	s := credentialSettings{WithinDays: 30}
	if err := strictJSON(r, &s); err != nil {
		return s, err
	}
	if s.WithinDays < 0 || s.WithinDays > 3650 {
		return s, fmt.Errorf("within_days: want 0..3650, got %d", s.WithinDays)
	}
	return s, nil
}

type snapshotSettings struct {
	Groups []string `json:"groups"`
}

func parseSnapshotSettings(r json.RawMessage) (snapshotSettings, error) {
	var s snapshotSettings
	if err := strictJSON(r, &s); err != nil {
		return s, err
	}
	if len(s.Groups) == 0 {
		return s, errors.New("groups: list the group ids to snapshot")
	}
	for _, g := range s.Groups {
		if !entra.IsGUID(g) {
			return s, fmt.Errorf("groups: not a group id (GUID): %q", g)
		}
	}
	return s, nil
}

// NewJob builds the job a JobConfig names.
func NewJob(j JobConfig) (Job, error) {
	switch j.Name {
	case "directory-sync":
		s, err := parseSyncSettings(j.Settings)
		if err != nil {
			return nil, err
		}
		return &DirectorySync{Groups: s.Groups == nil || *s.Groups}, nil
	case "expiring-credentials":
		s, err := parseCredentialSettings(j.Settings)
		if err != nil {
			return nil, err
		}
		return &ExpiringCredentials{Within: time.Duration(s.WithinDays) * 24 * time.Hour, OutputDir: s.OutputDir}, nil
	case "group-snapshot":
		s, err := parseSnapshotSettings(j.Settings)
		if err != nil {
			return nil, err
		}
		return &GroupSnapshot{Groups: s.Groups}, nil
	case "api-usage":
		s, err := parseAPIUsageSettings(j.Settings)
		if err != nil {
			return nil, err
		}
		return &APIUsage{URL: s.URL, Scope: s.Scope, OutputDir: s.OutputDir}, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownJob, j.Name)
}
