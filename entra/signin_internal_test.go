package entra

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// A callback must not scan every completed sign-in (a flood of callbacks
// would make each one slower under one mutex): consume sweeps expired states
// from the front of a queue, and what it keeps is only what is still live.
func TestConsumeKeepsOnlyLiveStates(t *testing.T) {
	var s SignIn
	start := time.Unix(1_700_000_000, 0)
	const life = 10 * time.Minute
	for i := range 5000 {
		now := start.Add(time.Duration(i) * time.Second)
		txn := &Transaction{State: fmt.Sprint("state-", i), Expires: now.Add(life)}
		if err := s.consume(txn, now); err != nil {
			t.Fatalf("consume %d: %v", i, err)
		}
		if err := s.consume(txn, now); !errors.Is(err, ErrTransactionUsed) {
			t.Fatalf("replay %d: %v, want ErrTransactionUsed", i, err)
		}
	}
	// 600 s of life at one completion a second: about 600 live states.
	if n, q := len(s.completed), len(s.expiries); n > 602 || q > 602 {
		t.Fatalf("%d states and %d queued kept after 5000 completions, want about 600 (the live ones)", n, q)
	}
}
