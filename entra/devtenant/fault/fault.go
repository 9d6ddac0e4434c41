// Package fault holds the failures a test injects into the dev tenant's
// endpoints: a status (429, 503, ...) with an optional Retry-After, or
// latency, for the next requests of one endpoint or until cleared. The
// token endpoint and Graph take them; each answers with its own error body.
package fault

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Endpoints a Fault may name.
const (
	Token = "token" // the token endpoint
	Graph = "graph" // every Graph request
)

// Fault is an injected failure of one endpoint: Token or Graph.
type Fault struct {
	Endpoint   string        `json:"endpoint"`
	Status     int           `json:"status,omitempty"`     // e.g. 429 or 503; 0 = latency only
	RetryAfter time.Duration `json:"retryAfter,omitempty"` // sent as Retry-After seconds
	Latency    time.Duration `json:"latency,omitempty"`
	Count      int           `json:"count,omitempty"` // requests it applies to; 0 = until cleared
}

// Wait sleeps for the fault's latency; false when ctx ended first (the
// request is gone: answer nothing).
func (f *Fault) Wait(ctx context.Context) bool {
	if f.Latency <= 0 {
		return true
	}
	select {
	case <-time.After(f.Latency):
		return true
	case <-ctx.Done():
		return false
	}
}

// SetRetryAfter sends the fault's Retry-After, in whole seconds, if it has one.
func (f *Fault) SetRetryAfter(h http.Header) {
	if f.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int(f.RetryAfter/time.Second)))
	}
}

// Set is the faults in force, applied in the order they were added. The
// zero value is empty and ready to use.
type Set struct {
	mu     sync.Mutex
	faults []*Fault
}

// Add adds f.
func (s *Set) Add(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// Clear removes every fault.
func (s *Set) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Take returns the first fault for endpoint, counting one request against
// it, or nil.
func (s *Set) Take(endpoint string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.Endpoint != endpoint {
			continue
		}
		out := *f
		if f.Count > 0 {
			f.Count--
			if f.Count == 0 {
				s.faults = slices.Delete(s.faults, i, i+1)
			}
		}
		return &out
	}
	return nil
}
