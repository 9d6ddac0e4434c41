package tokencache

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Sign-out and the refresh that races it.
//
// Remove does not delete a partition: it overwrites it with a tombstone, a
// small unsealed record "signed out at T", by compare-and-set. A writer that
// loaded the partition before the sign-out (a silent call whose refresh was
// in flight, a client holding a pending write) writes with the version it
// loaded; the store refuses it (ErrConflict), and where it used to find
// nothing and recreate the partition, it now finds the tombstone and drops
// its tokens. The decision is by version, not by clock: versions never
// repeat, so a writer that conflicts with a tombstone loaded what was there
// before it.
//
// MSAL reads the cache again just before it writes a token response, so the
// usual race is not a conflict: the refreshing client's Replace finds the
// tombstone. A Partition whose client held tokens then empties the client
// and drops its next Export (Partition.dropNext); a client that held none (a
// new one, or one that already forgot) writes over the tombstone with the
// tombstone's version. A sign-in after the sign-out goes through the Router,
// which loads just before it writes, so it replaces the tombstone.
//
// The tombstone lives as long as a partition (Cache.TTL, default 90 days:
// Entra's refresh token inactivity limit): a refresh token from before the
// sign-out that a writer could still hold is expired by then, and the store
// holds at most one tombstone per signed-out partition in place of the
// partition, so sign-outs do not grow it.
//
// The time in the tombstone is for the log (how long after the sign-out a
// write was dropped); nothing compares clocks across replicas.

// tombstonePrefix starts every tombstone. Its first byte is not an envelope
// format, so a tombstone never opens as a sealed blob (a replica that
// predates tombstones sees an unknown format: a miss, and removes it).
const tombstonePrefix = "\x00entrakit/tokencache/signed-out\x00"

// errSignedOut: a write found that its partition was signed out after it
// was loaded; its tokens were dropped.
var errSignedOut = errors.New("tokencache: partition signed out while the write was in flight")

func newTombstone(at time.Time) []byte {
	b := make([]byte, len(tombstonePrefix), len(tombstonePrefix)+8)
	copy(b, tombstonePrefix)
	return binary.BigEndian.AppendUint64(b, uint64(at.UnixNano()))
}

// parseTombstone reports whether blob is a tombstone, and when it was made.
func parseTombstone(blob []byte) (at time.Time, ok bool) {
	if len(blob) != len(tombstonePrefix)+8 || !bytes.HasPrefix(blob, []byte(tombstonePrefix)) {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(blob[len(tombstonePrefix):]))), true
}

func (c *Cache) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Remove signs a partition out: its tokens are replaced by a tombstone, so a
// refresh that was in flight cannot write them back (see above).
func (c *Cache) Remove(ctx context.Context, key string) error {
	m := c.metrics()
	stone := newTombstone(c.now())
	for range 8 {
		start := time.Now()
		_, v, err := c.Store.Get(ctx, key)
		m.observe(start)
		if err != nil && !errors.Is(err, ErrNotFound) {
			m.StoreErrors.Add(1)
			return err
		}
		start = time.Now()
		nv, err := c.Store.Put(ctx, key, stone, v, c.ttl())
		m.observe(start)
		switch {
		case err == nil && nv&localVersion != 0:
			// Layered kept it in its L1 only: other replicas still serve
			// the tokens. Say so, as Delete did.
			m.StoreErrors.Add(1)
			return fmt.Errorf("tokencache: sign-out recorded on this replica only: the shared store did not answer")
		case err == nil:
			return nil
		case !errors.Is(err, ErrConflict):
			m.StoreErrors.Add(1)
			return err
		}
		m.Conflicts.Add(1)
	}
	m.StoreErrors.Add(1)
	return fmt.Errorf("tokencache: sign-out: %w", ErrConflict)
}

// droppedBySignOut counts and logs a write that found a tombstone.
func (c *Cache) droppedBySignOut(ctx context.Context, key string, at time.Time) error {
	c.metrics().DroppedWrites.Add(1)
	c.log().InfoContext(ctx, "tokencache: write dropped: the partition was signed out after it was loaded",
		"partition", hashKey(key), "signed_out_ago", c.now().Sub(at).Round(time.Millisecond))
	return errSignedOut
}
