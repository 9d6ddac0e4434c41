package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func lookupFrom(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// TestDevModeServesAndShutsDown runs the command as `go run ./cmd/webapp`
// does with no AZURE_CLIENT_ID: the dev tenant starts in-process, the banner
// names the URL and the personas, the app answers, and cancelling the
// context (SIGINT) shuts it down cleanly.
func TestDevModeServesAndShutsDown(t *testing.T) {
	t.Chdir(t.TempDir()) // the dev tenant keeps its CA in ./.devtenant
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, lookupFrom(map[string]string{
			"ENTRAKIT_LISTEN":            "127.0.0.1:0",
			"ENTRAKIT_DEV_TENANT_LISTEN": "127.0.0.1:0",
			"ENTRAKIT_METRICS_LISTEN":    "127.0.0.1:0",
		}), pw, slog.New(slog.NewJSONHandler(io.Discard, nil)))
		pw.Close()
	}()

	var banner strings.Builder
	url, metricsURL := "", ""
	reMetrics := regexp.MustCompile(`metrics on (http://\S+/metrics)`)
	sc := bufio.NewScanner(pr)
	re := regexp.MustCompile(`Open (http://localhost:\d+/)`)
	deadline := time.After(60 * time.Second)
	lines := make(chan string)
	go func() {
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	for url == "" || metricsURL == "" || !strings.Contains(banner.String(), "admin@") {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the command ended: %v\n%s", <-done, banner.String())
			}
			banner.WriteString(l + "\n")
			if m := re.FindStringSubmatch(l); m != nil {
				url = m[1]
			}
			if m := reMetrics.FindStringSubmatch(l); m != nil {
				metricsURL = m[1]
			}
		case <-deadline:
			t.Fatalf("no banner:\n%s", banner.String())
		}
	}
	go func() {
		for range lines {
		}
	}()
	for _, want := range []string{"DEV MODE", "AdeleV@contoso.onmicrosoft.com", "Dev-"} {
		if !strings.Contains(banner.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, banner.String())
		}
	}
	for _, path := range []string{"healthz", "readyz", ""} {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET /%s: %d", path, resp.StatusCode)
		}
		// The home page explains dev mode: whom to sign in as, the CA to trust.
		if path == "" && (!strings.Contains(string(body), `id="devmode"`) || !strings.Contains(string(body), "Adele Vance") ||
			!strings.Contains(string(body), filepath.Join(".devtenant", "ca.pem")+"</code>")) {
			t.Errorf("the dev-mode home page lacks the hints or the CA file:\n%s", body)
		}
	}
	// Metrics on their own listener only (issue 14, item 7).
	for u, want := range map[string]int{metricsURL: http.StatusOK, url + "metrics": http.StatusNotFound} {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || (want == http.StatusOK && !strings.Contains(string(body), "entrakit_http_requests_total")) {
			t.Errorf("GET %s: %d, want %d", u, resp.StatusCode, want)
		}
	}
	if !strings.HasPrefix(metricsURL, "http://127.0.0.1:") {
		t.Errorf("metrics listen on %s, want loopback", metricsURL)
	}
	// /signin goes to the in-process dev tenant, never to Microsoft.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(url + "signin")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "https://127.0.0.1:") && !strings.HasPrefix(loc, "https://localhost:") {
		t.Errorf("/signin redirects to %q", loc)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("shutdown: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no shutdown")
	}
}

func TestBadConfigurationNamesTheVariable(t *testing.T) {
	err := run(context.Background(), lookupFrom(map[string]string{
		"AZURE_CLIENT_ID":     "my-app",
		"ENTRAKIT_DEV_TENANT": "off",
		"ENTRAKIT_LISTEN":     "127.0.0.1:0",
	}), io.Discard, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "AZURE_CLIENT_ID") || !strings.Contains(err.Error(), "ENTRAKIT_TOKEN_CACHE_KEYS") {
		t.Errorf("err = %v", err)
	}
}

// A replica that lost its AZURE_CLIENT_ID but has production Redis and keys
// must stop: dev mode would seal dev sessions with the production key into
// production Redis and print persona passwords (issue 14, item 1).
func TestProductionSettingsNeverStartDevMode(t *testing.T) {
	var out strings.Builder
	err := run(context.Background(), lookupFrom(map[string]string{
		"ENTRAKIT_REDIS_URL":        "redis://127.0.0.1:1/0",
		"ENTRAKIT_TOKEN_CACHE_KEYS": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		"ENTRAKIT_LISTEN":           "127.0.0.1:0",
	}), &out, slog.New(slog.NewJSONHandler(&out, nil)))
	if err == nil || !strings.Contains(err.Error(), "AZURE_CLIENT_ID: required") ||
		!strings.Contains(err.Error(), "ENTRAKIT_REDIS_URL") || !strings.Contains(err.Error(), "ENTRAKIT_TOKEN_CACHE_KEYS") {
		t.Fatalf("err = %v, want AZURE_CLIENT_ID required, naming the production settings", err)
	}
	if strings.Contains(out.String(), "DEV MODE") || strings.Contains(out.String(), "Dev-") {
		t.Fatalf("dev mode started, or printed persona passwords:\n%s", out.String())
	}
}
