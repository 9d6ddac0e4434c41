package testpg_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/entrakit/entrakit/internal/testpg"
)

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect %s: %v", dsn, err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func TestServer(t *testing.T) {
	t0 := time.Now()
	s := testpg.Start(t)
	t.Logf("Start took %v; DSN %s", time.Since(t0), s.DSN())
	if want := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.Port); s.DSN() != want {
		t.Errorf("DSN = %q, want %q", s.DSN(), want)
	}
	ctx := context.Background()
	conn := connect(t, s.DSN())

	for name, want := range map[string]string{
		"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
		"server_encoding": "UTF8", "client_encoding": "UTF8",
		"listen_addresses": "127.0.0.1", "port": strconv.Itoa(s.Port),
	} {
		var got string
		if err := conn.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	var user, version string
	if err := conn.QueryRow(ctx, "SELECT current_user, version()").Scan(&user, &version); err != nil {
		t.Fatal(err)
	}
	if user != "postgres" {
		t.Errorf("current_user = %q", user)
	}
	t.Log(version)

	// As root the server must run as the postgres user.
	var pid uint32
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	if err == nil {
		if uid := fi.Sys().(*syscall.Stat_t).Uid; os.Geteuid() == 0 && uid == 0 {
			t.Errorf("backend %d runs as root", pid)
		}
	}

	if _, err := conn.Exec(ctx, `CREATE TABLE item (id serial PRIMARY KEY, name text NOT NULL UNIQUE)`); err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"alpha", "Zoë", "日本"} {
		if _, err := tx.Exec(ctx, "INSERT INTO item (name) VALUES ($1)", n); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// A rolled back insert is not seen; a constraint violation is a PgError.
	tx, err = conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO item (name) VALUES ('gone')"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(ctx, "INSERT INTO item (name) VALUES ('alpha')")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
		t.Errorf("duplicate insert: %v, want unique_violation", err)
	}

	rows, err := conn.Query(ctx, "SELECT name, upper(name) FROM item ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var n, up string
		if err := rows.Scan(&n, &up); err != nil {
			t.Fatal(err)
		}
		got = append(got, n+"/"+up)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprint([]string{"alpha/ALPHA", "Zoë/ZOË", "日本/日本"}); fmt.Sprint(got) != want {
		t.Errorf("rows = %v, want %v", got, want)
	}
}

func TestTwoServers(t *testing.T) {
	a, b := testpg.Start(t), testpg.Start(t)
	if a.Port == b.Port || a.DataDir == b.DataDir {
		t.Fatalf("two servers share port %d or data dir %s", a.Port, a.DataDir)
	}
	ctx := context.Background()
	ca, cb := connect(t, a.DSN()), connect(t, b.DSN())
	if _, err := ca.Exec(ctx, "CREATE TABLE only_a (x int); INSERT INTO only_a VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	_, err := cb.Exec(ctx, "SELECT * FROM only_a")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42P01" {
		t.Errorf("table of server a on server b: %v, want undefined_table", err)
	}
	var n int
	if err := ca.QueryRow(ctx, "SELECT count(*) FROM only_a").Scan(&n); err != nil || n != 1 {
		t.Errorf("count = %d, %v", n, err)
	}
}

func TestCreateDatabase(t *testing.T) {
	s := testpg.Start(t)
	ctx := context.Background()
	for _, name := range []string{"app_test", `odd "name"-1 é/x`} {
		dsn := s.CreateDatabase(t, name)
		if dsn != s.DatabaseDSN(name) {
			t.Errorf("CreateDatabase = %q, DatabaseDSN = %q", dsn, s.DatabaseDSN(name))
		}
		conn := connect(t, dsn)
		var db string
		if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil {
			t.Fatal(err)
		}
		if db != name {
			t.Errorf("current_database() = %q, want %q", db, name)
		}
		if _, err := conn.Exec(ctx, "CREATE TABLE t (x int)"); err != nil {
			t.Fatal(err)
		}
	}
	// The databases are separate: "postgres" has no table t.
	var n int
	if err := connect(t, s.DSN()).QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 't'").Scan(&n); err != nil || n != 0 {
		t.Errorf("tables t in postgres: %d, %v", n, err)
	}
}

func TestStopRestart(t *testing.T) {
	s := testpg.Start(t)
	ctx := context.Background()
	conn := connect(t, s.DSN())
	if _, err := conn.Exec(ctx, "CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	if err := conn.Ping(ctx); err == nil {
		t.Error("Ping after Stop succeeded")
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if c, err := pgx.Connect(cctx, s.DSN()); err == nil {
		c.Close(ctx)
		t.Error("Connect after Stop succeeded")
	}
	s.Stop() // twice is fine

	s.Restart(t)
	var x int
	if err := connect(t, s.DSN()).QueryRow(ctx, "SELECT x FROM kept").Scan(&x); err != nil || x != 42 {
		t.Errorf("after Restart: x = %d, %v", x, err)
	}
}
