package webapp_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestSignInRateLimit: one client may start 30 sign-ins a minute; the next
// gets 429 with Retry-After (each sign-in stores a transaction).
func TestSignInRateLimit(t *testing.T) {
	tt := startTenant(t)
	a := startApp(t, tt, appOptions{})
	u := newUser(t, tt, "AdeleV")
	for i := 0; i < 30; i++ {
		if p := u.get(a.URL + "/signin"); p.Status != http.StatusFound {
			t.Fatalf("sign-in %d: %d", i+1, p.Status)
		}
	}
	p := u.get(a.URL + "/signin")
	if p.Status != http.StatusTooManyRequests || p.Header.Get("Retry-After") == "" {
		t.Fatalf("31st sign-in: %d, Retry-After %q", p.Status, p.Header.Get("Retry-After"))
	}
	if strings.Contains(p.Header.Get("Location"), "authorize") {
		t.Error("a refused sign-in still went to the authorize endpoint")
	}
}

// TestMetricsMethodLabelIsBounded: methods are any token to net/http; the
// metrics must not get a series per method a client invents.
func TestMetricsMethodLabelIsBounded(t *testing.T) {
	tt := startTenant(t)
	a := startApp(t, tt, appOptions{})
	u := newUser(t, tt, "AdeleV")
	for _, m := range []string{"FOO1", "FOO2", "BREW"} {
		req, _ := http.NewRequest(m, a.URL+"/", nil)
		u.do(req)
	}
	body := metricsText(t, a)
	if strings.Contains(body, `method="FOO1"`) || strings.Contains(body, `method="BREW"`) {
		t.Error("an invented method became a metrics label")
	}
	if !strings.Contains(body, `method="other"`) {
		t.Error("invented methods are not counted as other")
	}
}
