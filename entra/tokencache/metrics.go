package tokencache

import (
	"sync/atomic"
	"time"
)

// Metrics counts what the cache does. webapp and daemon expose it through
// Prometheus; the zero value is ready to use and safe for concurrent use.
type Metrics struct {
	Hits          atomic.Int64 // Replace found a blob (or reused the one loaded)
	Misses        atomic.Int64 // Replace found nothing
	Decodes       atomic.Int64 // Replace had to decode a changed blob
	OpenFailures  atomic.Int64 // corrupt, tampered, unknown key or format: treated as a miss
	Writes        atomic.Int64 // Export stored a blob
	Conflicts     atomic.Int64 // compare-and-set conflicts (merged and retried)
	StoreErrors   atomic.Int64 // store unreachable or failing
	DroppedWrites atomic.Int64 // Export without a partition key, after repeated conflicts, or racing a sign-out
	BytesWritten  atomic.Int64
	StoreNanos    atomic.Int64 // time spent in the store
	StoreCalls    atomic.Int64
}

// MetricsSnapshot is a copy of the counters.
type MetricsSnapshot struct {
	Hits, Misses, Decodes, OpenFailures, Writes, Conflicts, StoreErrors, DroppedWrites, BytesWritten int64
	StoreLatency                                                                                     time.Duration // mean
}

// Snapshot copies the counters.
func (m *Metrics) Snapshot() MetricsSnapshot {
	s := MetricsSnapshot{
		Hits: m.Hits.Load(), Misses: m.Misses.Load(), Decodes: m.Decodes.Load(), OpenFailures: m.OpenFailures.Load(),
		Writes: m.Writes.Load(), Conflicts: m.Conflicts.Load(), StoreErrors: m.StoreErrors.Load(),
		DroppedWrites: m.DroppedWrites.Load(), BytesWritten: m.BytesWritten.Load(),
	}
	if n := m.StoreCalls.Load(); n > 0 {
		s.StoreLatency = time.Duration(m.StoreNanos.Load() / n)
	}
	return s
}

func (m *Metrics) observe(start time.Time) {
	m.StoreNanos.Add(int64(time.Since(start)))
	m.StoreCalls.Add(1)
}
