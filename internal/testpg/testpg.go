// Package testpg starts a real PostgreSQL server for a test: a fresh cluster
// (trust authentication, UTF8, superuser "postgres") on a free loopback port,
// tuned for speed rather than durability (fsync, synchronous_commit and
// full_page_writes off). Where PostgreSQL is missing the test fails when
// CI=true and is skipped (saying so) otherwise.
//
// The binaries are Debian's (/usr/lib/postgresql/<major>/bin, the highest
// major present; scripts/deps.sh installs the postgresql package), else
// initdb and postgres on PATH.
//
// PostgreSQL refuses to run as root. As root (tests here and in CI run as
// root), initdb and postgres run as the "postgres" system user that Debian's
// package creates, in a directory under os.TempDir() that it owns.
//
// initdb costs seconds of CPU, so it runs once per machine: the cluster it
// makes is kept under os.UserCacheDir()/entrakit-testpg and copied for each
// Start (keyed by the binaries and initdb's options). TESTPG_NO_CACHE=1 runs
// initdb for every Start instead.
package testpg

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/entrakit/entrakit/internal/testlog"
)

// Server is a running PostgreSQL server. Its methods are not safe for
// concurrent use, but two Servers run side by side.
type Server struct {
	Host    string // 127.0.0.1
	Port    int
	User    string // the superuser, "postgres"; no password (trust)
	DataDir string

	bin     string              // directory holding initdb and postgres
	cred    *syscall.Credential // non-nil when running as root
	sockDir string              // unix_socket_directories; "" for none
	log     *testlog.Buffer
	cmd     *exec.Cmd
	done    chan struct{} // closed when cmd has exited
	exitErr error         // cmd.Wait's error, set before done closes
}

const (
	startTimeout = 30 * time.Second
	stopTimeout  = 10 * time.Second
	debianRoot   = "/usr/lib/postgresql"
	maxLog       = 4 << 20
)

// Addr is HOST:PORT.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// DSN is a URL for the "postgres" database that pgx accepts:
// postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable.
func (s *Server) DSN() string { return s.DatabaseDSN("postgres") }

// DatabaseDSN is DSN for the database name (which it does not create).
func (s *Server) DatabaseDSN(name string) string {
	u := url.URL{Scheme: "postgres", User: url.User(s.User), Host: s.Addr(), Path: "/" + name, RawQuery: "sslmode=disable"}
	return u.String()
}

// Log is what the server has printed so far (it is also logged when the test
// fails).
func (s *Server) Log() string { return s.log.String() }

// Start starts a PostgreSQL server with a fresh cluster for t and stops it
// (and removes its files) when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := findBinDir(debianRoot)
	if err != nil {
		missing(t, err)
	}
	s := &Server{Host: "127.0.0.1", User: "postgres", bin: bin, log: &testlog.Buffer{Max: maxLog}}
	if os.Geteuid() == 0 {
		if s.cred, err = postgresUser(); err != nil {
			missing(t, err)
		}
	}
	base, err := s.workDir(t)
	if err != nil {
		t.Fatal(err)
	}
	s.DataDir = filepath.Join(base, "data")
	if err := s.initCluster(t, base); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("testpg: log of the server on %s:\n%s", s.Addr(), s.Log())
		}
	})
	for attempt := 1; ; attempt++ {
		err = s.start(freePort(t))
		if err == nil {
			return s
		}
		if !errors.Is(err, errPortTaken) || attempt == 3 {
			t.Fatalf("%v (its log follows at the end of the test)", err)
		}
	}
}

// Stop shuts the server down (fast shutdown: SIGINT), to test "database
// down"; Start's cleanup calls it too. The cluster stays for Restart.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	p := s.cmd.Process
	_ = p.Signal(syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(stopTimeout):
		_ = p.Signal(syscall.SIGQUIT) // immediate shutdown
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			_ = p.Kill()
			<-s.done
		}
	}
	s.cmd = nil
}

// Restart starts the server again on the same port, with the same cluster
// (after Stop).
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if s.cmd != nil {
		t.Fatal("testpg: Restart of a running server")
	}
	if err := s.start(s.Port); err != nil {
		t.Fatal(err)
	}
}

// CreateDatabase creates the database name (at most 63 bytes; any
// characters) and returns its DSN.
func (s *Server) CreateDatabase(t testing.TB, name string) string {
	t.Helper()
	if name == "" || len(name) > 63 || strings.IndexByte(name, 0) >= 0 {
		t.Fatalf("testpg: bad database name %q", name)
	}
	sql := `CREATE DATABASE "` + strings.ReplaceAll(name, `"`, `""`) + `"`
	if err := simpleQuery(s.Addr(), s.User, "postgres", sql, time.Minute); err != nil {
		t.Fatalf("testpg: %s: %v", sql, err)
	}
	return s.DatabaseDSN(name)
}

func missing(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("testpg: %v (make test installs it: scripts/deps.sh)", err)
	}
	t.Skipf("testpg: %v: skipping (run `make deps`); CI fails here instead", err)
}

// findBinDir is the bin directory of the highest PostgreSQL major under root
// (Debian's layout, root/<major>/bin), else that of initdb on PATH.
func findBinDir(root string) (string, error) {
	matches, _ := filepath.Glob(filepath.Join(root, "*", "bin", "initdb"))
	best, bestV := "", []int(nil)
	for _, initdb := range matches {
		dir := filepath.Dir(initdb)
		v := parseVersion(filepath.Base(filepath.Dir(dir)))
		if v == nil || !isExec(initdb) || !isExec(filepath.Join(dir, "postgres")) {
			continue
		}
		if best == "" || versionLess(bestV, v) {
			best, bestV = dir, v
		}
	}
	if best != "" {
		return best, nil
	}
	if initdb, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(initdb); err == nil {
			initdb = real
		}
		dir := filepath.Dir(initdb)
		if isExec(filepath.Join(dir, "postgres")) {
			return dir, nil
		}
	}
	return "", fmt.Errorf("PostgreSQL is not installed (no %s/<major>/bin/initdb, no initdb and postgres on PATH)", root)
}

// parseVersion parses "15" or "9.6"; nil if it is no version.
func parseVersion(s string) []int {
	var v []int
	for _, f := range strings.Split(s, ".") {
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 {
			return nil
		}
		v = append(v, n)
	}
	return v
}

func versionLess(a, b []int) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return len(a) < len(b)
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// postgresUser is the credential of the "postgres" system user, for running
// as root.
func postgresUser() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root and there is no postgres user to run PostgreSQL as (%v)", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("running as root and the postgres user has uid %q, gid %q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// workDir is a fresh directory for the cluster and the socket, removed when
// t ends. As root, t.TempDir() (mode 0700, root's) is out of the postgres
// user's reach: the directory is made under os.TempDir() and given to it.
func (s *Server) workDir(t testing.TB) (string, error) {
	if s.cred == nil {
		return t.TempDir(), nil
	}
	dir, err := os.MkdirTemp("", "testpg-")
	if err != nil {
		return "", fmt.Errorf("testpg: %w", err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("testpg: %v", err)
		}
	})
	if err := s.giveToPostgres(dir); err != nil {
		return "", err
	}
	return dir, nil
}

// giveToPostgres chowns dir to the postgres user and checks that the user can
// reach it: every parent directory must be searchable by others.
func (s *Server) giveToPostgres(dir string) error {
	if err := os.Chown(dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
		return fmt.Errorf("testpg: %w", err)
	}
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("testpg: %w", err)
		}
		if fi.Mode()&0o001 == 0 {
			return fmt.Errorf("testpg: the postgres user cannot reach %s (%v is not searchable by others): set TMPDIR to a directory it can reach", dir, p)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// initCluster fills s.DataDir with a fresh cluster (from the cached template
// when there is one) and makes the socket directory, both under base.
func (s *Server) initCluster(t testing.TB, base string) error {
	// A unix socket path has at most 107 bytes; with a longer TMPDIR the
	// server listens on TCP only (which is all that DSN uses).
	if sock := filepath.Join(base, "s"); len(sock)+len("/.s.PGSQL.65535.lock") <= 107 {
		if err := os.Mkdir(sock, 0o700); err != nil {
			return fmt.Errorf("testpg: %w", err)
		}
		if s.cred != nil {
			if err := os.Chown(sock, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
				return fmt.Errorf("testpg: %w", err)
			}
		}
		s.sockDir = sock
	}
	if os.Getenv("TESTPG_NO_CACHE") == "" {
		tmpl, err := cachedTemplate(s.bin, s.cred)
		if err == nil {
			return copyTree(tmpl, s.DataDir, s.cred)
		}
		t.Logf("testpg: no cached cluster (%v): running initdb", err)
	}
	return initdb(s.bin, s.DataDir, s.cred)
}

// initdbArgs are initdb's options after -D DIR. --locale=C.UTF-8 gives
// Unicode-aware lower()/upper() with code-point collation; where that locale
// does not exist initdb runs again with C.
var initdbArgs = []string{"--username=postgres", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8",
	"--no-sync", "--wal-segsize=1"}

// initdb makes a cluster in dir (which must not exist; its parent must be
// the postgres user's when cred is set).
func initdb(bin, dir string, cred *syscall.Credential) error {
	run := func(args []string) ([]byte, error) {
		cmd := exec.Command(filepath.Join(bin, "initdb"), append([]string{"-D", dir}, args...)...)
		cmd.Dir = filepath.Dir(dir)
		cmd.Env = environ()
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		return cmd.CombinedOutput()
	}
	out, err := run(initdbArgs)
	if err != nil && bytes.Contains(out, []byte("locale")) {
		_ = os.RemoveAll(dir)
		args := append([]string(nil), initdbArgs...)
		for i, a := range args {
			if strings.HasPrefix(a, "--locale=") {
				args[i] = "--locale=C"
			}
		}
		out, err = run(args)
	}
	if err != nil {
		return fmt.Errorf("testpg: initdb: %v\n%s", err, out)
	}
	return nil
}

var templates struct {
	sync.Mutex
	dir map[string]string
}

// cachedTemplate is a cluster made by initdb with initdbArgs, kept in the
// user's cache directory (made the first time on this machine).
func cachedTemplate(bin string, cred *syscall.Credential) (string, error) {
	key, err := templateKey(bin)
	if err != nil {
		return "", err
	}
	templates.Lock()
	defer templates.Unlock()
	if dir := templates.dir[key]; dir != "" {
		return dir, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	parent := filepath.Join(cache, "entrakit-testpg")
	final := filepath.Join(parent, key)
	if _, err := os.Stat(filepath.Join(final, "PG_VERSION")); err != nil {
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return "", err
		}
		stage, err := os.MkdirTemp(parent, key+".tmp-")
		if err != nil {
			return "", err
		}
		defer os.RemoveAll(stage)
		if cred == nil {
			if err := initdb(bin, filepath.Join(stage, "data"), nil); err != nil {
				return "", err
			}
		} else {
			// The postgres user cannot write to root's cache directory:
			// initdb runs in a directory of its own, copied from there.
			work, err := os.MkdirTemp("", "testpg-initdb-")
			if err != nil {
				return "", err
			}
			defer os.RemoveAll(work)
			s := &Server{cred: cred}
			if err := s.giveToPostgres(work); err != nil {
				return "", err
			}
			if err := initdb(bin, filepath.Join(work, "data"), cred); err != nil {
				return "", err
			}
			if err := copyTree(filepath.Join(work, "data"), filepath.Join(stage, "data"), nil); err != nil {
				return "", err
			}
		}
		// Another test process may have made it meanwhile: then use theirs.
		if err := os.Rename(filepath.Join(stage, "data"), final); err != nil {
			if _, err2 := os.Stat(filepath.Join(final, "PG_VERSION")); err2 != nil {
				return "", err
			}
		}
	}
	if templates.dir == nil {
		templates.dir = map[string]string{}
	}
	templates.dir[key] = final
	return final, nil
}

// templateKey changes with the binaries (path, size, time) and initdbArgs.
func templateKey(bin string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "testpg 1\n%s\n%q\n", bin, initdbArgs)
	for _, name := range []string{"initdb", "postgres"} {
		fi, err := os.Stat(filepath.Join(bin, name))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d %d\n", name, fi.Size(), fi.ModTime().UnixNano())
	}
	return "pg-" + hex.EncodeToString(h.Sum(nil))[:16], nil
}

// copyTree copies the directory src to dst (which must not exist), keeping
// permission bits, and chowns the copy to cred's user when cred is set.
func copyTree(src, dst string, cred *syscall.Credential) error {
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			err = os.Mkdir(target, info.Mode().Perm())
		case d.Type()&fs.ModeSymlink != 0:
			var link string
			if link, err = os.Readlink(p); err == nil {
				err = os.Symlink(link, target)
			}
		case d.Type().IsRegular():
			err = copyFile(p, target, info.Mode().Perm())
		default:
			return fmt.Errorf("%s: not a file or directory", p)
		}
		if err == nil && cred != nil {
			err = os.Lchown(target, int(cred.Uid), int(cred.Gid))
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("testpg: copying the cluster: %w", err)
	}
	return nil
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// environ is the test's environment without PG* variables (PGDATA, PGPORT,
// …), which would steer initdb and postgres.
func environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	return env
}

var errPortTaken = errors.New("testpg: port taken")

// start runs postgres on port and waits until it accepts connections.
func (s *Server) start(port int) error {
	s.Port = port
	logFrom := s.log.Len()
	args := []string{"-D", s.DataDir, "-p", strconv.Itoa(port), "-k", s.sockDir}
	for _, c := range []string{
		"listen_addresses=127.0.0.1",
		"fsync=off",
		"synchronous_commit=off",
		"full_page_writes=off",
		"wal_level=minimal",
		"max_wal_senders=0",
		"shared_buffers=16MB",
		"max_connections=50",
		"logging_collector=off",
		"log_destination=stderr",
		"ssl=off",
		"huge_pages=off",
	} {
		args = append(args, "-c", c)
	}
	cmd := exec.Command(filepath.Join(s.bin, "postgres"), args...)
	cmd.Dir = s.DataDir
	cmd.Env = environ()
	cmd.Stdout, cmd.Stderr = s.log, s.log
	// Backends keep the log pipe open a moment after the postmaster exits.
	cmd.WaitDelay = 5 * time.Second
	// SIGQUIT (immediate shutdown) if the test process dies without its
	// cleanup, so that no server outlives it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGQUIT}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("testpg: %w", err)
	}
	done := make(chan struct{})
	s.cmd, s.done = cmd, done
	go func() {
		s.exitErr = cmd.Wait()
		close(done)
	}()
	deadline := time.Now().Add(startTimeout)
	for {
		err := simpleQuery(s.Addr(), s.User, "postgres", "", time.Second)
		if err == nil {
			return nil
		}
		select {
		case <-done:
			s.cmd = nil
			log := s.log.String()[logFrom:]
			if strings.Contains(log, "could not bind") || strings.Contains(log, "could not create any TCP/IP sockets") {
				return fmt.Errorf("%w: %d", errPortTaken, port)
			}
			return fmt.Errorf("testpg: postgres exited while starting: %v", s.exitErr)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("testpg: postgres on %s did not accept connections within %v: %v", s.Addr(), startTimeout, err)
		}
	}
}

// simpleQuery connects to addr as user (trust: no password) to database db,
// runs sql unless it is empty, and disconnects: enough of the wire protocol
// to wait for the server and to create databases.
func simpleQuery(addr, user, db, sql string, timeout time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	msg := binary.BigEndian.AppendUint32(make([]byte, 4), 3<<16) // protocol 3.0
	for _, s := range []string{"user", user, "database", db, ""} {
		msg = append(append(msg, s...), 0)
	}
	binary.BigEndian.PutUint32(msg, uint32(len(msg)))
	if _, err := c.Write(msg); err != nil {
		return err
	}
	r := bufio.NewReader(c)
	if err := readUntilReady(r); err != nil {
		return err
	}
	if sql != "" {
		msg = append(append([]byte{'Q', 0, 0, 0, 0}, sql...), 0)
		binary.BigEndian.PutUint32(msg[1:], uint32(len(msg)-1))
		if _, err := c.Write(msg); err != nil {
			return err
		}
		if err := readUntilReady(r); err != nil {
			return err
		}
	}
	_, _ = c.Write([]byte{'X', 0, 0, 0, 4}) // Terminate
	return nil
}

// readUntilReady reads messages up to ReadyForQuery and returns the first
// ErrorResponse, if any (a server that refuses a connection sends one and
// closes it).
func readUntilReady(r *bufio.Reader) error {
	var first error
	for {
		var hdr [5]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if first != nil {
				return first
			}
			return err
		}
		n := int(binary.BigEndian.Uint32(hdr[1:])) - 4
		if n < 0 || n > 1<<24 {
			return fmt.Errorf("bad message length %d", n)
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			return err
		}
		switch hdr[0] {
		case 'R': // Authentication*
			if n < 4 || binary.BigEndian.Uint32(body) != 0 {
				return errors.New("the server asks for a password: the cluster should trust every local connection")
			}
		case 'E':
			if first == nil {
				first = parseError(body)
			}
		case 'Z':
			return first
		}
	}
}

// parseError formats an ErrorResponse's body as "SEVERITY CODE: MESSAGE".
func parseError(body []byte) error {
	f := map[byte]string{}
	for len(body) > 1 && body[0] != 0 {
		end := bytes.IndexByte(body[1:], 0)
		if end < 0 {
			break
		}
		f[body[0]] = string(body[1 : 1+end])
		body = body[2+end:]
	}
	return fmt.Errorf("%s %s: %s", f['S'], f['C'], f['M'])
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
