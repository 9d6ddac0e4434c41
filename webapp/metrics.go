package webapp

import (
	"net/http"
	"strconv"
	"time"

	"github.com/entrakit/entrakit/entra/tokencache"
	"github.com/entrakit/entrakit/internal/roundtrip"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the app's Prometheus metrics, in a registry of its own (no
// global state: two apps in one process do not collide).
type metrics struct {
	reg           *prometheus.Registry
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	signIns       *prometheus.CounterVec
	tokens        *prometheus.CounterVec
	obo           *prometheus.CounterVec
	reauth        *prometheus.CounterVec
	graphRequests *prometheus.CounterVec
	graphDuration prometheus.Histogram
}

func newMetrics(cache *tokencache.Metrics) *metrics {
	counters := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	counter := func(name, help string, f func() int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f()) })
	}
	m := &metrics{
		reg:      prometheus.NewRegistry(),
		requests: counters("entrakit_http_requests_total", "HTTP requests served, by route and status code.", "method", "route", "code"),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "entrakit_http_request_duration_seconds", Help: "Time to serve an HTTP request.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
		signIns:       counters("entrakit_signins_total", "Sign-ins by outcome: started, completed, cancelled, stale_state, error.", "result"),
		tokens:        counters("entrakit_token_acquisitions_total", "Silent token acquisitions: served from the cache, refreshed at Entra, or failed.", "source"),
		obo:           counters("entrakit_obo_acquisitions_total", "The API's on-behalf-of Graph tokens: from this process's memo, the shared sealed cache, exchanged at Entra, or failed.", "source"),
		reauth:        counters("entrakit_reauthentications_total", "Trips back through sign-in a page started, by reason.", "reason"),
		graphRequests: counters("entrakit_graph_requests_total", "HTTP requests to Microsoft Graph, by status code.", "code"),
		graphDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "entrakit_graph_request_duration_seconds", Help: "Latency of HTTP requests to Microsoft Graph.",
			Buckets: prometheus.DefBuckets,
		}),
	}
	m.reg.MustRegister(m.requests, m.duration, m.signIns, m.tokens, m.obo, m.reauth, m.graphRequests, m.graphDuration,
		counter("entrakit_token_cache_hits_total", "Token cache reads that found the partition.", cache.Hits.Load),
		counter("entrakit_token_cache_misses_total", "Token cache reads that found nothing.", cache.Misses.Load),
		counter("entrakit_token_cache_open_failures_total", "Sealed blobs that did not open (corrupt, unknown key): treated as misses.", cache.OpenFailures.Load),
		counter("entrakit_token_cache_writes_total", "Token cache writes.", cache.Writes.Load),
		counter("entrakit_token_cache_store_errors_total", "Token cache store failures.", cache.StoreErrors.Load),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

func (m *metrics) observeRequest(method, route string, code int, d time.Duration) {
	switch method {
	case http.MethodGet, http.MethodPost, http.MethodHead:
	default:
		// Any token is a method to net/http: a label per method sent
		// would let anyone grow the metrics without bound.
		method = "other"
	}
	m.requests.WithLabelValues(method, route, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

// graphTransport counts and times the requests to Graph.
func (m *metrics) graphTransport(next http.RoundTripper) http.RoundTripper {
	return roundtrip.Func(func(r *http.Request) (*http.Response, error) {
		start := time.Now()
		resp, err := next.RoundTrip(r)
		m.graphDuration.Observe(time.Since(start).Seconds())
		code := "error"
		if err == nil {
			code = strconv.Itoa(resp.StatusCode)
		}
		m.graphRequests.WithLabelValues(code).Inc()
		return resp, err
	})
}
