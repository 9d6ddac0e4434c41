package testlog_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/entrakit/entrakit/internal/testlog"
)

func TestConcurrentWritesAllKept(t *testing.T) {
	var b testlog.Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if n, err := b.Write([]byte("line\n")); n != 5 || err != nil {
					t.Errorf("Write = %d, %v", n, err)
				}
			}
		})
	}
	wg.Wait()
	if got := strings.Count(b.String(), "line\n"); got != 800 || b.Len() != 4000 {
		t.Fatalf("%d lines, %d bytes kept, want 800 and 4000", got, b.Len())
	}
}

func TestMaxKeepsTheStart(t *testing.T) {
	b := testlog.Buffer{Max: 10}
	for _, s := range []string{"0123456", "789abc", "def"} {
		if n, err := b.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v: a full buffer must still accept writes", s, n, err)
		}
	}
	if got := b.String(); got != "0123456789" {
		t.Fatalf("kept %q, want the first 10 bytes", got)
	}
}
