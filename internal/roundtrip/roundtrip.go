// Package roundtrip adapts a function to http.RoundTripper, for the small
// transports that count or time requests (webapp's Graph metrics, the
// daemon's token endpoint counters).
package roundtrip

import "net/http"

// Func is an http.RoundTripper made of a function, as http.HandlerFunc is
// an http.Handler.
type Func func(*http.Request) (*http.Response, error)

// RoundTrip calls f.
func (f Func) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

var _ http.RoundTripper = Func(nil)
