package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/entrakit/entrakit/daemon"
	"github.com/mattn/go-isatty"
)

// isTerminal: w is a terminal a person watches, so a progress bar may be
// drawn on it. Never in CI, nor on a dumb terminal, nor into a file or a
// pipe (a log).
func isTerminal(w io.Writer, lookup func(string) (string, bool)) bool {
	f, ok := w.(*os.File)
	if !ok || !(isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())) {
		return false
	}
	if term, _ := lookup("TERM"); term == "dumb" {
		return false
	}
	ci, _ := lookup("CI")
	return ci == "" || ci == "false" || ci == "0"
}

// progressBar shows a foreground run's progress. On a terminal: a bar that
// sweeps while the run lasts (the jobs do not know their total ahead), the
// items so far, their rate and the time, redrawn every tick and erased at
// the end. Elsewhere: a plain line every plainEvery items, nothing else.
type progressBar struct {
	w   io.Writer
	job string
	tty bool
	now func() time.Time

	mu       sync.Mutex
	start    time.Time
	items    int
	lastDraw time.Time
	drawn    bool // the bar is on the line now
	stop     chan struct{}
	stopped  sync.WaitGroup
}

const (
	barWidth   = 24
	barBlock   = 6
	barTick    = 100 * time.Millisecond
	plainEvery = 10_000
)

// newProgressBar starts the bar, redrawn every redraw on a terminal (0:
// only when items arrive); done erases it and stops the redraws.
func newProgressBar(w io.Writer, job string, tty bool, now func() time.Time, redraw time.Duration) *progressBar {
	p := &progressBar{w: w, job: job, tty: tty, now: now, start: now(), stop: make(chan struct{})}
	if tty && redraw > 0 {
		// Redrawn while no item arrives too (a slow page, a throttling
		// wait): a frozen bar looks like a hung run.
		p.stopped.Add(1)
		go func() {
			defer p.stopped.Done()
			t := time.NewTicker(redraw)
			defer t.Stop()
			for {
				select {
				case <-t.C:
					p.mu.Lock()
					p.draw()
					p.mu.Unlock()
				case <-p.stop:
					return
				}
			}
		}()
	}
	return p
}

// progress is the job's RunEnv.Progress: n items done so far.
func (p *progressBar) progress(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	before := p.items
	p.items = n
	if !p.tty {
		if n/plainEvery > before/plainEvery {
			fmt.Fprintf(p.w, "%s: %d items\n", p.job, n)
		}
		return
	}
	if p.now().Sub(p.lastDraw) >= barTick {
		p.draw()
	}
}

// draw writes the bar over the line. Called with mu held.
func (p *progressBar) draw() {
	now := p.now()
	p.lastDraw, p.drawn = now, true
	elapsed := now.Sub(p.start)
	pos := int(elapsed/barTick) % (2 * (barWidth - barBlock)) // there and back
	if pos > barWidth-barBlock {
		pos = 2*(barWidth-barBlock) - pos
	}
	bar := strings.Repeat("░", pos) + strings.Repeat("█", barBlock) + strings.Repeat("░", barWidth-barBlock-pos)
	rate := float64(p.items) / max(elapsed.Seconds(), 0.001)
	fmt.Fprintf(p.w, "\r\033[K%s %s %d items  %.0f/s  %s", p.job, bar, p.items, rate, seconds(elapsed))
}

func (p *progressBar) done() {
	if !p.tty {
		return
	}
	close(p.stop)
	p.stopped.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.erase()
}

// erase clears the bar's line. Called with mu held.
func (p *progressBar) erase() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}

// logHandler wraps the handler of a log that writes to the same terminal
// (stderr): each record first erases the bar, so that the log line starts
// at the left edge and the bar is redrawn below it at the next tick.
func (p *progressBar) logHandler(h slog.Handler) slog.Handler {
	if !p.tty {
		return h
	}
	return barLog{h: h, bar: p}
}

type barLog struct {
	h   slog.Handler
	bar *progressBar
}

func (b barLog) Enabled(ctx context.Context, l slog.Level) bool { return b.h.Enabled(ctx, l) }

func (b barLog) Handle(ctx context.Context, r slog.Record) error {
	b.bar.mu.Lock()
	defer b.bar.mu.Unlock()
	b.bar.erase()
	return b.h.Handle(ctx, r)
}

func (b barLog) WithAttrs(as []slog.Attr) slog.Handler { return barLog{b.h.WithAttrs(as), b.bar} }
func (b barLog) WithGroup(name string) slog.Handler    { return barLog{b.h.WithGroup(name), b.bar} }

// seconds is a short duration for people: 43 ms, 1.4 s, 2m5s.
func seconds(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	return d.Round(time.Second).String()
}

// writeSummary says what a foreground run did: one line, then its details.
func writeSummary(w io.Writer, job string, res daemon.Result, took time.Duration) {
	fmt.Fprintf(w, "%s done in %s: %s\n", job, seconds(took), res.Summary)
	for _, d := range res.Details {
		fmt.Fprintf(w, "  %s\n", d)
	}
}

// tokenSource says where the run's app token came from: the encrypted
// cache (no token request) or the token endpoint of from, and when it
// expires. "" when the run asked for none.
func tokenSource(st *daemon.TokenStats, from string, sealed bool, now time.Time) string {
	if st.Calls.Load() == 0 {
		return ""
	}
	expires := ""
	if exp := st.LastExpiry.Load(); exp > 0 {
		expires = "; expired"
		if left := time.Unix(exp, 0).Sub(now); left > 0 {
			expires = "; expires in " + minutes(left)
		}
	}
	n := st.EndpointCalls.Load()
	switch {
	case n == 0 && sealed:
		return "app token: from the encrypted token cache, no token request" + expires
	case n == 0:
		return "app token: from the credential's memory, no token request" + expires
	}
	requests := "1 token request"
	if n > 1 {
		requests = fmt.Sprintf("%d token requests", n)
	}
	kept := ""
	if sealed {
		kept = ", kept in the encrypted token cache for the next runs"
	}
	return fmt.Sprintf("app token: acquired from %s (%s)%s%s", from, requests, kept, expires)
}

// minutes is a token's remaining life: "60 min", "1 h 29 min", "24 h".
func minutes(d time.Duration) string {
	switch m := int(d.Round(time.Minute) / time.Minute); {
	case m <= 60:
		return fmt.Sprintf("%d min", m)
	case m%60 == 0:
		return fmt.Sprintf("%d h", m/60)
	default:
		return fmt.Sprintf("%d h %d min", m/60, m%60)
	}
}
