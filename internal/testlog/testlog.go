// Package testlog captures what code under test writes to its logger: a
// buffer that the code's goroutines and the test may use at once.
package testlog

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer safe for concurrent use. With Max > 0 it keeps
// the first Max bytes and drops the rest (a server that logs for minutes
// must not grow a test's memory without bound). The zero value is empty
// and ready to use.
type Buffer struct {
	Max int

	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p (what fits under Max) and always reports len(p): a
// logger must not fail because the test stopped keeping its output.
func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.Max <= 0 {
		return l.b.Write(p)
	}
	if room := l.Max - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// String is what was kept so far.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Len is the number of bytes kept.
func (l *Buffer) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}
