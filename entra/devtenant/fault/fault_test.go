package fault_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/entrakit/entrakit/entra/devtenant/fault"
)

func TestSetTakesInOrderAndCounts(t *testing.T) {
	var s fault.Set
	if f := s.Take(fault.Token); f != nil {
		t.Fatalf("empty set gave %+v", f)
	}
	s.Add(fault.Fault{Endpoint: fault.Graph, Status: 503, Count: 2})
	s.Add(fault.Fault{Endpoint: fault.Graph, Status: 429})
	s.Add(fault.Fault{Endpoint: fault.Token, Status: 500, Count: 1})
	for i, want := range []int{503, 503, 429, 429} {
		if f := s.Take(fault.Graph); f == nil || f.Status != want {
			t.Fatalf("graph request %d: %+v, want status %d", i, f, want)
		}
	}
	if f := s.Take(fault.Token); f == nil || f.Status != 500 {
		t.Fatalf("token: %+v", f)
	}
	if f := s.Take(fault.Token); f != nil {
		t.Fatalf("a Count 1 fault applied twice: %+v", f)
	}
	s.Clear()
	if f := s.Take(fault.Graph); f != nil {
		t.Fatalf("after Clear: %+v", f)
	}
}

func TestFaultWaitAndRetryAfter(t *testing.T) {
	f := fault.Fault{Latency: time.Hour, RetryAfter: 7 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if f.Wait(ctx) {
		t.Fatal("Wait outlived its request's context")
	}
	if !(&fault.Fault{}).Wait(context.Background()) {
		t.Fatal("no latency: Wait must return at once, true")
	}
	h := http.Header{}
	f.SetRetryAfter(h)
	if got := h.Get("Retry-After"); got != "7" {
		t.Fatalf("Retry-After = %q, want 7", got)
	}
	h = http.Header{}
	(&fault.Fault{}).SetRetryAfter(h)
	if _, ok := h["Retry-After"]; ok {
		t.Fatal("Retry-After sent for a fault without one")
	}
}
