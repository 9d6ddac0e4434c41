package tokencache

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/entrakit/entrakit/internal/atomicfile"
)

// FileStore keeps one file per partition in a directory (0700; files 0600),
// named by a hash of the partition key. Writes go through a temporary file,
// fsync and rename, so a reader sees the whole old or the whole new blob even
// if the process dies mid-write; an flock on a per-partition lock file makes
// compare-and-set safe between processes on one machine.
type FileStore struct {
	dir string
	// Now is the clock for expiry; default time.Now.
	Now func() time.Time
}

// NewFileStore opens (creating) dir.
func NewFileStore(dir string) (*FileStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("tokencache: file store: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("tokencache: file store: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, fmt.Errorf("tokencache: file store: %s is readable by others and cannot be fixed: %w", dir, err)
		}
	}
	return &FileStore{dir: dir}, nil
}

const fileHeader = 16 // version (8) + expiry in Unix nanoseconds (8, 0 = never)

func (s *FileStore) path(key string) string {
	h := sha256.Sum256([]byte(key))
	return filepath.Join(s.dir, hex.EncodeToString(h[:16]))
}

// Get implements Store.
func (s *FileStore) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	blob, version, expires, err := s.read(s.path(key))
	if err != nil {
		return nil, 0, err
	}
	if expires != 0 && s.clock().UnixNano() > expires {
		return nil, 0, ErrNotFound
	}
	return blob, version, nil
}

func (s *FileStore) read(path string) ([]byte, uint64, int64, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, 0, ErrNotFound
	}
	if err != nil {
		return nil, 0, 0, err
	}
	if len(b) < fileHeader {
		return nil, 0, 0, ErrNotFound // a foreign or damaged file: not ours to trust
	}
	return b[fileHeader:], binary.BigEndian.Uint64(b[:8]), int64(binary.BigEndian.Uint64(b[8:16])), nil
}

// Put implements Store.
func (s *FileStore) Put(ctx context.Context, key string, blob []byte, expected uint64, ttl time.Duration) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	path := s.path(key)
	unlock, err := lockFile(path + ".lock")
	if err != nil {
		return 0, err
	}
	defer unlock()
	_, have, expires, err := s.read(path)
	switch {
	case errors.Is(err, ErrNotFound):
		have = 0
	case err != nil:
		return 0, err
	case expires != 0 && s.clock().UnixNano() > expires:
		have = 0
	}
	if have != expected {
		return 0, ErrConflict
	}
	version := newVersion()
	var exp int64
	if ttl > 0 {
		exp = s.clock().Add(ttl).UnixNano()
	}
	buf := make([]byte, fileHeader, fileHeader+len(blob))
	binary.BigEndian.PutUint64(buf[:8], version)
	binary.BigEndian.PutUint64(buf[8:16], uint64(exp))
	buf = append(buf, blob...)
	if err := atomicfile.Write(path, buf, 0o600); err != nil {
		return 0, err
	}
	return version, nil
}

// Delete implements Store.
func (s *FileStore) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	path := s.path(key)
	unlock, err := lockFile(path + ".lock")
	if err != nil {
		return err
	}
	defer unlock()
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// lockFile takes an exclusive flock, released by the returned func. A lock
// held by a crashed process is released by the kernel with its descriptor.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

func (s *FileStore) clock() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
