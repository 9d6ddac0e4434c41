package main

import (
	"bytes"
	"context"
	"log/slog"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/entrakit/entrakit/daemon"
	"github.com/entrakit/entrakit/internal/testlog"
)

// On a terminal the bar is drawn over one line, at most once a tick, and
// erased at the end, leaving the line clean for the summary.
func TestProgressBarTerminal(t *testing.T) {
	var clock atomic.Int64 // nanoseconds since start
	start := time.Now()
	now := func() time.Time { return start.Add(time.Duration(clock.Load())) }
	var out testlog.Buffer
	bar := newProgressBar(&out, "directory-sync", true, now, 0)
	clock.Add(int64(150 * time.Millisecond))
	bar.progress(999)
	bar.progress(1000) // the same tick: not drawn
	clock.Add(int64(time.Second))
	bar.progress(2500)
	bar.done()
	got := out.String()
	for _, want := range []string{"\r\033[Kdirectory-sync ", "█", "░", " 999 items  6660/s  150 ms", " 2500 items  2174/s  1.1 s"} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in %q", want, got)
		}
	}
	if strings.Contains(got, " 1000 items") {
		t.Errorf("drawn twice within a tick: %q", got)
	}
	if !strings.HasSuffix(got, "\r\033[K") || strings.Contains(got, "\n") {
		t.Errorf("not erased at the end, or lines written: %q", got)
	}
}

// A log line on the same terminal erases the bar first, and the bar comes
// back below it.
func TestProgressBarLogLines(t *testing.T) {
	var clock atomic.Int64
	start := time.Now()
	now := func() time.Time { return start.Add(time.Duration(clock.Load())) }
	var out testlog.Buffer // the terminal: stdout and stderr
	bar := newProgressBar(&out, "directory-sync", true, now, 0)
	log := slog.New(bar.logHandler(slog.NewTextHandler(&out, nil))).With("job", "directory-sync")
	clock.Add(int64(time.Second))
	bar.progress(10)
	log.Info("job done")
	log.Info("again") // the bar is gone already: nothing to erase
	clock.Add(int64(time.Second))
	bar.progress(20)
	bar.done()
	got := out.String()
	if !regexp.MustCompile(`^\r\033\[Kdirectory-sync .* 10 items .*\r\033\[Ktime=\S+ level=INFO msg="job done" job=directory-sync\ntime=\S+ level=INFO msg=again job=directory-sync\n\r\033\[Kdirectory-sync .* 20 items .*\r\033\[K$`).MatchString(got) {
		t.Errorf("terminal: %q", got)
	}
	if plain := newProgressBar(&out, "x", false, now, 0); plain.logHandler(log.Handler()) != log.Handler() {
		t.Error("the log's handler is wrapped off a terminal")
	}
}

// While no item arrives (a slow page, a throttling wait) the bar still
// moves.
func TestProgressBarRedraws(t *testing.T) {
	var out testlog.Buffer
	bar := newProgressBar(&out, "group-snapshot", true, time.Now, time.Millisecond)
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(out.String(), "\r\033[K") < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	bar.done()
	if n := strings.Count(out.String(), " 0 items"); n < 3 {
		t.Errorf("%d redraws without items: %q", n, out.String())
	}
}

// Elsewhere (a pipe, a log, CI): a plain line every 10,000 items, no
// control character, nothing when the run is short.
func TestProgressPlain(t *testing.T) {
	var out bytes.Buffer
	bar := newProgressBar(&out, "directory-sync", false, time.Now, barTick)
	for n := 1; n <= 25_000; n += 7 {
		bar.progress(n)
	}
	bar.done()
	if got, want := out.String(), "directory-sync: 10004 items\ndirectory-sync: 20000 items\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
	out.Reset()
	short := newProgressBar(&out, "group-snapshot", false, time.Now, barTick)
	short.progress(5)
	short.done()
	if out.Len() != 0 {
		t.Errorf("a short run printed %q", out.String())
	}
}

func TestIsTerminal(t *testing.T) {
	if isTerminal(&bytes.Buffer{}, env()) {
		t.Error("a buffer is a terminal")
	}
}

func TestTokenSource(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	stats := func(calls, hits, endpoint int64, left time.Duration) *daemon.TokenStats {
		s := &daemon.TokenStats{}
		s.Calls.Store(calls)
		s.CacheHits.Store(hits)
		s.EndpointCalls.Store(endpoint)
		if left != 0 {
			s.LastExpiry.Store(now.Add(left).Unix())
		}
		return s
	}
	for _, tc := range []struct {
		name   string
		st     *daemon.TokenStats
		sealed bool
		want   string
	}{
		{"none asked", stats(0, 0, 0, 0), true, ""},
		{"acquired", stats(1, 0, 1, 3599*time.Second), true,
			"app token: acquired from the dev tenant (1 token request), kept in the encrypted token cache for the next runs; expires in 60 min"},
		{"cached", stats(3, 3, 0, 42*time.Minute), true, "app token: from the encrypted token cache, no token request; expires in 42 min"},
		{"renewed mid-run", stats(4, 2, 2, 90*time.Minute), true,
			"app token: acquired from the dev tenant (2 token requests), kept in the encrypted token cache for the next runs; expires in 1 h 30 min"},
		{"managed identity", stats(1, 0, 1, 24*time.Hour), false, "app token: acquired from the dev tenant (1 token request); expires in 24 h"},
		{"memory hit", stats(2, 1, 0, time.Minute), false, "app token: from the credential's memory, no token request; expires in 1 min"},
		{"expired", stats(1, 1, 0, -time.Minute), true, "app token: from the encrypted token cache, no token request; expired"},
	} {
		if got := tokenSource(tc.st, "the dev tenant", tc.sealed, now); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

// The dev tenant's own log reaches the daemon's at debug level, its
// warnings as warnings.
func TestDebugOnly(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		var out bytes.Buffer
		l := slog.New(debugOnly{slog.NewTextHandler(&out, &slog.HandlerOptions{Level: level})}).With("component", "devtenant")
		if l.Enabled(context.Background(), slog.LevelInfo) != (level == slog.LevelDebug) {
			t.Errorf("level %v: Enabled(info) wrong", level)
		}
		l.Info("request", "path", "/token")
		l.Warn("careful")
		got := out.String()
		if strings.Contains(got, "level=INFO") || (level == slog.LevelDebug) != strings.Contains(got, "level=DEBUG msg=request component=devtenant path=/token") {
			t.Errorf("level %v: %q", level, got)
		}
		if !strings.Contains(got, "level=WARN msg=careful component=devtenant") {
			t.Errorf("level %v: the warning is lost: %q", level, got)
		}
	}
}
